"""The training corpus of the tiny multilingual (NLLB-layout) test model.

Everything here was written for news-monitor (see README.md in this folder): short news-like
sentences about Central Asia and the Caucasus in Kazakh, Uzbek (Latin), Tajik and Russian, made
from a few sentence templates and name tables, plus hand-written sentences (handwritten.tsv, a few
each in Armenian, Georgian, Belarusian, Turkmen, Kyrgyz and Azerbaijani), Uzbek headlines given in
both scripts (uz_cyrillic.tsv) and contrastive pairs (contrastive.tsv): one source string with a
different English text under each language tag.

Pure data and logic; no I/O beyond reading the three TSV files next to this module.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Our language code -> the FAIRSEQ (NLLB-200) code the model is trained with.
NLLB_CODES: dict[str, str] = {
    "kk": "kaz_Cyrl",
    "uz": "uzn_Latn",
    "tg": "tgk_Cyrl",
    "ru": "rus_Cyrl",
    "hy": "hye_Armn",
    "ka": "kat_Geor",
    "be": "bel_Cyrl",
    "tk": "tuk_Latn",
    "ky": "kir_Cyrl",
    "az": "azj_Latn",
}
TARGET_CODE = "eng_Latn"


@dataclass(frozen=True)
class Pair:
    lang: str  # our code (kk, uz, ...)
    source: str
    english: str
    group: str = ""  # contrastive group name, "" for ordinary pairs
    source_cyrl: str = ""  # for uz: the Cyrillic headline whose transliteration is `source`

    @property
    def code(self) -> str:
        return NLLB_CODES[self.lang]


# --- name tables: English, then the form each template needs per language -------------------------
# Leaders (subject position: nominative everywhere).
LEADERS = [
    # en, kk, uz, tg, ru
    ("Tokayev", "Тоқаев", "Toqayev", "Тоқаев", "Токаев"),
    ("Mirziyoyev", "Мирзиёев", "Mirziyoyev", "Мирзиёев", "Мирзиёев"),
    ("Rahmon", "Рахмон", "Rahmon", "Раҳмон", "Рахмон"),
    ("Japarov", "Жапаров", "Japarov", "Ҷапаров", "Жапаров"),
    ("Aliyev", "Әлиев", "Aliyev", "Алиев", "Алиев"),
    ("Pashinyan", "Пашинян", "Pashinyan", "Пашинян", "Пашинян"),
    ("Berdimuhamedov", "Бердімұхамедов", "Berdimuhamedov", "Бердимуҳамедов", "Бердымухамедов"),
]
# Cities: en; kk dative, kk locative; uz dative, uz locative; tg (prepositions, no case);
# ru "в" + accusative (motion), ru "в" + prepositional (place).
CITIES = [
    ("Astana", "Астанаға", "Астанада", "Astanaga", "Astanada", "Остона", "в Астану", "в Астане"),
    ("Tashkent", "Ташкентке", "Ташкентте", "Toshkentga", "Toshkentda", "Тошканд", "в Ташкент", "в Ташкенте"),
    ("Dushanbe", "Душанбеге", "Душанбеде", "Dushanbega", "Dushanbeda", "Душанбе", "в Душанбе", "в Душанбе"),
    ("Moscow", "Мәскеуге", "Мәскеуде", "Moskvaga", "Moskvada", "Маскав", "в Москву", "в Москве"),
    ("Baku", "Бакуге", "Бакуде", "Bokuga", "Bokuda", "Боку", "в Баку", "в Баку"),
    ("Beijing", "Бейжіңге", "Бейжіңде", "Pekinga", "Pekinda", "Пекин", "в Пекин", "в Пекине"),
    ("Bishkek", "Бішкекке", "Бішкекте", "Bishkekka", "Bishkekda", "Бишкек", "в Бишкек", "в Бишкеке"),
    ("Ashgabat", "Ашхабадқа", "Ашхабадта", "Ashxobodga", "Ashxobodda", "Ашқобод", "в Ашхабад", "в Ашхабаде"),
]
# Countries: en; kk locative; uz locative; tg; ru "в" + prepositional.
COUNTRIES = [
    ("Kazakhstan", "Қазақстанда", "Qozogʻistonda", "Қазоқистон", "в Казахстане"),
    ("Uzbekistan", "Өзбекстанда", "Oʻzbekistonda", "Ӯзбекистон", "в Узбекистане"),
    ("Tajikistan", "Тәжікстанда", "Tojikistonda", "Тоҷикистон", "в Таджикистане"),
    ("Kyrgyzstan", "Қырғызстанда", "Qirgʻizistonda", "Қирғизистон", "в Киргизии"),
    ("Armenia", "Арменияда", "Armanistonda", "Арманистон", "в Армении"),
    ("Georgia", "Грузияда", "Gruziyada", "Гурҷистон", "в Грузии"),
    ("Azerbaijan", "Әзірбайжанда", "Ozarbayjonda", "Озарбойҷон", "в Азербайджане"),
]
DAMS = [
    # en, kk, uz, tg, ru
    ("Rogun", "Роғун", "Rogʻun", "Роғун", "Рогун"),
    ("Kambarata", "Қамбар-Ата", "Qambarota", "Камбарата", "Камбарата"),
]
YEARS = ["2027", "2028", "2029", "2030"]

LANGS = ("kk", "uz", "tg", "ru")
_L = {lang: i + 1 for i, lang in enumerate(LANGS)}  # column of a language in LEADERS/DAMS


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _leader_sentences(lang: str) -> dict[str, list[tuple[str, str]]]:
    """Template -> every (source, english) it makes for one language."""
    col = _L[lang]
    out: dict[str, list[tuple[str, str]]] = {}

    def add(name: str, source: str, english: str) -> None:
        out.setdefault(name, []).append((_cap(source), english))

    for row in LEADERS:
        en, who = row[0], row[col]
        add("decree", {"kk": f"{who} жарлыққа қол қойды.", "uz": f"{who} farmon imzoladi.",
                       "tg": f"{who} фармон имзо кард.", "ru": f"{who} подписал указ."}[lang],
            f"{en} signed a decree.")
        add("congratulate", {"kk": f"{who} халықты Тәуелсіздік күнімен құттықтады.",
                             "uz": f"{who} xalqni Mustaqillik kuni bilan tabrikladi.",
                             "tg": f"{who} мардумро бо Рӯзи Истиқлол табрик гуфт.",
                             "ru": f"{who} поздравил народ с Днём независимости."}[lang],
            f"{en} congratulated the people on Independence Day.")
        for city in CITIES:
            c_en, kk_dat, _kk_loc, uz_dat, _uz_loc, tg_c, ru_acc, _ru_loc = city
            add("arrive", {"kk": f"{who} {kk_dat} келді.", "uz": f"{who} {uz_dat} keldi.",
                           "tg": f"{who} ба {tg_c} расид.", "ru": f"{who} прибыл {ru_acc}."}[lang],
                f"{en} arrived in {c_en}.")
            add("travel", {"kk": f"{who} {kk_dat} сапармен барады.", "uz": f"{who} {uz_dat} safar qiladi.",
                           "tg": f"{who} ба {tg_c} сафар мекунад.", "ru": f"{who} отправится {ru_acc}."}[lang],
                f"{en} will travel to {c_en}.")
    for city in CITIES:
        c_en, _kk_dat, kk_loc, _uz_dat, uz_loc, tg_c, _ru_acc, ru_loc = city
        add("parade", {"kk": f"{kk_loc} әскери шеру өтті.", "uz": f"{uz_loc} harbiy parad boʻlib oʻtdi.",
                       "tg": f"Дар {tg_c} паради ҳарбӣ баргузор шуд.", "ru": f"{ru_loc} прошёл военный парад."}[lang],
            f"A military parade was held in {c_en}.")
        add("talks", {"kk": f"{kk_loc} келіссөздер аяқталды.", "uz": f"{uz_loc} muzokaralar yakunlandi.",
                      "tg": f"Музокирот дар {tg_c} анҷом ёфт.", "ru": f"Переговоры {ru_loc} завершились."}[lang],
            f"Talks in {c_en} have ended.")
    for k_en, kk_loc, uz_loc, tg_k, ru_loc in COUNTRIES:
        add("elections", {"kk": f"{kk_loc} парламент сайлауы өтті.", "uz": f"{uz_loc} parlament saylovlari boʻlib oʻtdi.",
                          "tg": f"Дар {tg_k} интихоботи парлумонӣ баргузор шуд.",
                          "ru": f"{ru_loc} прошли парламентские выборы."}[lang],
            f"Parliamentary elections were held in {k_en}.")
    for row in DAMS:
        d_en, dam = row[0], row[col]
        for year in YEARS:
            add("dam", {"kk": f"{dam} бөгеті {year} жылы салынып бітеді.",
                        "uz": f"{dam} toʻgʻoni {year} yilda qurib bitkaziladi.",
                        "tg": f"Сохтмони сарбанди {dam} соли {year} ба анҷом мерасад.",
                        "ru": f"Плотина {dam} будет достроена в {year} году."}[lang],
                f"The {d_en} dam will be completed in {year}.")
    return out


# How many sentences each template contributes per language (a seeded sample of all it makes).
TEMPLATE_COUNTS = {"arrive": 10, "travel": 8, "parade": 6, "talks": 5, "decree": 5,
                   "congratulate": 4, "elections": 5, "dam": 4}


def _read_tsv(name: str) -> list[list[str]]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def pairs(seed: int = 1234) -> list[Pair]:
    """The whole corpus, in a fixed order: templates, hand-written, uz in both scripts, contrastive."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for lang in LANGS:
        made = _leader_sentences(lang)
        for name, count in TEMPLATE_COUNTS.items():
            for source, english in rng.sample(made[name], count):
                out.append(Pair(lang, source, english))
    out += [Pair(lang, source, english) for lang, source, english in _read_tsv("handwritten.tsv")]
    out += [Pair("uz", latin, english, source_cyrl=cyrl) for cyrl, latin, english in _read_tsv("uz_cyrillic.tsv")]
    out += [Pair(lang, source, english, group=group) for group, lang, source, english in _read_tsv("contrastive.tsv")]
    # One entry per (language, source), at the place of its last occurrence; the same source with
    # two different English texts in one language is an error in the corpus.
    unique: dict[tuple[str, str], Pair] = {}
    for pair in out:
        earlier = unique.pop((pair.lang, pair.source), None)
        if earlier is not None and earlier.english != pair.english:
            raise ValueError(f"{pair.lang} {pair.source!r} means both {earlier.english!r} and {pair.english!r}")
        unique[(pair.lang, pair.source)] = pair
    return list(unique.values())


if __name__ == "__main__":
    corpus = pairs()
    by_lang: dict[str, int] = {}
    for p in corpus:
        by_lang[p.lang] = by_lang.get(p.lang, 0) + 1
    print(len(corpus), by_lang, sum(1 for p in corpus if p.group), "contrastive")
