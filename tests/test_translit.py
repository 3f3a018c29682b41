"""Uzbek Cyrillic -> Latin (official 1995 alphabet), before translation with NLLB (uzn_Latn)."""

from __future__ import annotations

import pytest

from monitor.analysis.translit import uz_cyrillic_to_latin

O, T = "\u02bb", "\u02bc"  # noqa: E741 (O: the letter it marks) oʻ/gʻ and the tutuq belgisi


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("шаҳар", "shahar"),  # ш -> sh, ҳ -> h
        ("чой", "choy"),  # ч -> ch
        ("ғалаба", f"g{O}alaba"),  # ғ -> gʻ
        ("ўзбек", f"o{O}zbek"),  # ў -> oʻ
        ("Ўзбекистон", f"O{O}zbekiston"),
        ("Ғалаба", f"G{O}alaba"),
        ("ер", "yer"),  # е at the start of a word -> ye
        ("Ердан", "Yerdan"),
        ("келди", "keldi"),  # е after a consonant -> e
        ("поезд", "poyezd"),  # е after a vowel -> ye
        ("Мирзиёев", "Mirziyoyev"),  # ё -> yo, е after a vowel
        ("цирк", "sirk"),  # ц at the start -> s
        ("концерт", "konsert"),  # ц after a consonant -> s
        ("милиция", "militsiya"),  # ц after a vowel -> ts
        ("маъно", f"ma{T}no"),  # ъ -> ʼ
        ("съезд", "syezd"),  # ъ before е is dropped, е -> ye
        ("апрель", "aprel"),  # ь dropped
        ("юлдуз", "yulduz"),
        ("ясси", "yassi"),
        ("қишлоқ", "qishloq"),  # қ -> q
        ("хабар", "xabar"),  # х -> x
        ("Тошкентда ҳарбий парад бўлиб ўтди.", f"Toshkentda harbiy parad bo{O}lib o{O}tdi."),
        ("Шавкат Мирзиёев", "Shavkat Mirziyoyev"),  # digraph in a capitalised word: Sh
        ("ШАҲАР", "SHAHAR"),  # in an all-caps word: SH
        ("ЎЗБЕКИСТОН", f"O{O}ZBEKISTON"),
        ("2024 йил, 9-май!", "2024 yil, 9-may!"),  # digits and punctuation pass through
        ("Ташкент (Tashkent)", "Tashkent (Tashkent)"),  # Latin passes through
    ],
)
def test_official_rules(cyrillic: str, latin: str) -> None:
    assert uz_cyrillic_to_latin(cyrillic) == latin


def test_output_has_no_cyrillic_left() -> None:
    text = "Ўзбекистон Республикаси Президенти Шавкат Мирзиёев фармонга имзо чекди; ғалла ҳосили юқори."
    out = uz_cyrillic_to_latin(text)
    assert not any("\u0400" <= ch <= "\u04ff" for ch in out)
