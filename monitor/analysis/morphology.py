"""Word forms of the region's languages: one normalisation and one set of suffix inventories.

Both word matchers use this module: watchlist matching (:mod:`monitor.analysis.watchlists.engine`) and
story evidence (:mod:`monitor.analysis.story_text`). :func:`normalize` is the one case-, width- and
apostrophe-insensitive form of text; :func:`stem_key` is the short stem story evidence
compares in languages without a Snowball stemmer.

A watchlist word in its dictionary form (``Тоқаев``, ``Oʻzbekiston``, ``Մոսկվա``,
``საქართველო``) must find its case, plural and possessive forms in text
(``Тоқаевтың``, ``Oʻzbekiston'da``, ``Մոսկվայում``, ``საქართველოში``). Instead of
"any word that starts with it" (which lets short words hit unrelated words), a token
matches a word when the rest of the token, after the word, can be cut entirely into
known endings of the language (at most :data:`MAX_PARTS` of them):

    Тоқаев + тың          kk genitive
    Қазақстан + ға        kk dative
    Oʻzbekiston + 'da     uz locative after an apostrophe
    Мәскеу + лік + тер    kk derivation + plural (only with ``derived: true``)

The inventories below are noun endings only (plural, possessive, case, and the
attributive/relational endings that follow case), with every vowel-harmony variant
listed; vowel harmony itself is not checked. A few languages change the end of the
stem before an ending (Kazakh кітап → кітабы, Georgian პრეზიდენტი → პრეზიდენტის,
Ukrainian Україна → України): :func:`stem_alternants` gives those alternative stems;
an alternant always needs at least one ending after it.

Derivational endings (adjectives and demonyms of place names: Kazakhstani,
казахстанский, мәскеулік, toshkentlik, маскавӣ, մոսկովյան, მოსკოველი) are a separate
inventory, used only for words marked ``derived: true`` in a watchlist.

Everything here is pure: data and functions on normalised (casefolded) strings.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_APOSTROPHE_MAP = {"’": "'", "‘": "'", "ʼ": "'", "ʻ": "'", "`": "'", "´": "'"}
APOSTROPHES = str.maketrans(_APOSTROPHE_MAP)  # every apostrophe the region writes -> "'"
_FOLD = str.maketrans({**_APOSTROPHE_MAP, "ё": "е", "\u0307": None})


def normalize(text: str) -> str:
    """Case- and Unicode-insensitive form: NFKC, casefold, ё→е, one apostrophe (``'``)."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)


MAX_PARTS = 4  # endings after one stem, e.g. Kazakh -лар-ы-ның-дағы
MIN_STEM = 3  # shorter watchlist words match exactly (or with a joined affix, see below)
JOINERS = "'"  # normalised apostrophe: Tokayev's, Oʻzbekiston'da

# Language -> noun endings (casefolded). Written out per language, all harmony variants.
_KK = """лар лер дар дер тар тер
ым ім м ың ің ң ы і сы сі ымыз іміз мыз міз ыңыз іңіз ңыз ңіз
ның нің дың дің тың тің
ға ге қа ке а е на не на
ны ні ды ді ты ті н
да де та те нда нде
дан ден тан тен нан нен
мен бен пен
дағы дегі тағы тегі ндағы ндегі ғы гі қы кі
нікі дікі тікі ша ше дай дей тай тей
ға дейін"""
_KY = """лар лер лор лөр дар дер дор дөр тар тер тор төр
ым им ум үм м ың иң уң үң ң ы и у ү сы си су сү ыбыз ибиз убуз үбүз быз биз буз бүз
ыңыз иңиз уңуз үңүз ңыз ңиз ңуз ңүз
нын нин нун нүн дын дин дун дүн тын тин тун түн
га ге го гө ка ке ко кө а е о ө на не но нө
ны ни ну нү ды ди ду дү ты ти ту тү н
да де до дө та те то тө нда нде ндо ндө
дан ден дон дөн тан тен тон төн нан нен нон нөн
дагы деги догу дөгү тагы теги тогу төгү ндагы ндеги ндогу ндөгү
ныкы ники нуку нүкү дыкы дики дуку дүкү
менен минен
ча че чо чө дай дей дой дөй тай тей той төй"""
_UZ_LATN = """lar
im m ing ng i si imiz miz ingiz ngiz
ning ni ga ka qa da ta dan tan
dagi dan dagi niki gacha kacha qacha day dek
ning siz"""
_UZ_CYRL = """лар
им м инг нг и си имиз миз ингиз нгиз
нинг ни га ка қа да та дан тан
даги ники гача кача қача дай дек"""
_TK = """lar ler
ym im um üm m yň iň uň üň ň y i sy si ymyz imiz umyz ümiz myz miz yňyz iňiz ňyz ňiz
nyň niň nuň nüň yň iň uň üň
a e ga ge ka ke na ne ýa ýe
y i ny ni ý
da de ta te nda nde
dan den tan ten ndan nden
daky däki taky täki ndaky ndäki
ça çe"""
_AZ = """lar lər
ım im um üm m ın in un ün n ı i u ü sı si su sü ımız imiz umuz ümüz mız miz muz müz
ınız iniz unuz ünüz nız niz nuz nüz
nın nin nun nün ın in un ün
a ə ya yə na nə
nı ni nu nü yı yi yu yü
da də nda ndə
dan dən ndan ndən
dakı dəki ndakı ndəki
la lə yla ylə"""
_TG = """ҳо он ён гон вон ҳои и йи ро ам ат аш амон атон ашон ям ят яш ямон ятон яшон
е ем ед ем ҳоямон ҳоятон ҳояшон ҳоро ҳоям ҳоят ҳояш"""
_HY = """ներ եր ը ն ի ու ան վա ոջ ից ով ում ս դ յ ին ից ում ում ով ու ուն"""
_KA = """ი ის ს მა მ ით თ ად დ ო ებ ები ებს ების ებით ებად ებმა ებო
ში ზე თან დან გან ისგან თვის ისთვის მდე ამდე ივით სავით ისკენ კენ ზედ შია"""
_UK = """а я у ю и і ї е є о й ом ем єм ою ею єю ам ям ах ях ами ями ів їв ей ові еві єві
ий ій ого ього ому ьому им ім ої ою ую юю их іх ими іми ього"""
_BE = """а я у ю і ы е о й ам ем ом ём ай ой ёй аю ою ёю ям ах ях амі ямі аў яў оў ёў ей ым ім
ага яга аму яму ая ае ое ую яя ых іх ымі імі"""
_RU = """а я у ю и ы е о ом ем ём ой ей ою ею ам ям ах ях ами ями ов ев ёв ий ый
ого его ому ему им ым ая ое ее ие ые ую юю их ых ими ыми"""
_EN = """s es 's '"""

SUFFIXES: dict[str, frozenset[str]] = {
    "kk": frozenset(_KK.split()), "ky": frozenset(_KY.split()),
    "uz": frozenset(_UZ_LATN.split()) | frozenset(_UZ_CYRL.split()),
    "tk": frozenset(_TK.split()), "az": frozenset(_AZ.split()), "tg": frozenset(_TG.split()),
    "hy": frozenset(_HY.split()), "ka": frozenset(_KA.split()), "uk": frozenset(_UK.split()),
    "be": frozenset(_BE.split()), "ru": frozenset(_RU.split()), "en": frozenset(_EN.split()),
}

# Derivational endings: adjectives and demonyms of place names (used with ``derived: true``).
# Any inflection of the same language may follow them.
_RU_ADJ = "ий ый ой ая яя ое ее ие ые ого его ому ему им ым ими ыми их ых ую юю ей"
DERIVATIONAL: dict[str, frozenset[str]] = {
    "en": frozenset("i n an ian ese ite ites ish er ers".split()),
    "ru": frozenset(f"ск{a}" for a in _RU_ADJ.split()) | frozenset(f"овск{a}" for a in _RU_ADJ.split())
    | frozenset(f"ц{a}" for a in "ы ев ам ами ах ев".split()) | {"ец", "цы", "ка"},
    "uk": frozenset(f"ськ{a}" for a in "ий ого ому им ій ої ою у і их ими а е".split())
    | frozenset(f"цьк{a}" for a in "ий ого ому им ій ої ою у і их ими а е".split()),
    "be": frozenset(f"ск{a}" for a in "і ага аму ім ая ай ую ае ія іх імі".split()),
    "kk": frozenset("лық лік дық дік тық тік шы ші".split()),
    "ky": frozenset("лык лик лук лүк дык дик дук дүк тык тик тук түк чы чи чу чү".split()),
    "uz": frozenset("lik лик cha ча".split()),
    "tk": frozenset("ly li lyk lik".split()),
    "az": frozenset("lı li lu lü lıq lik".split()),
    "tg": frozenset("ӣ гӣ вӣ ги ви ӣи".split()),
    "hy": frozenset("ական յան ցի եցի ական".split()),
    "ka": frozenset("ელი ური ული ურ ულ ელ".split()),
}

# Affixes that follow a number or an abbreviation after a hyphen (9-го, 80-жылы is a word,
# 9-шы, 2-nchi, ЕАЭО-ға, OFAC-ning): the token is folded into the one before it.
ORDINAL_AFFIXES: frozenset[str] = frozenset(
    "го й я е ое ого ому ом ым ми х ых ти ю ая ей м ий ый ой ї ої ий ій "
    "ші шы інші ыншы ншіншы чи чы инчи ынчы нчи нчы chi nchi inchi "
    "nji njy inji ynjy ci cı cu cü ncı nci ncu ncü ум юм уми юми "
    "րդ th st nd rd".split())

# Language -> (stem ending, replacement) pairs: the stem before a vowel-initial ending.
_ALTERNATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "kk": (("к", "г"), ("қ", "ғ"), ("п", "б")),
    "ky": (("к", "г"), ("п", "б")),
    "uz": (("k", "g"), ("q", "g'"), ("к", "г"), ("қ", "ғ")),
    "tk": (("k", "g"), ("p", "b"), ("ç", "j"), ("t", "d")),
    "az": (("k", "y"), ("q", "ğ")),
}
# Languages whose nouns lose a final vowel before endings (Georgian -ი/-ა, East Slavic).
_DROP_FINAL: dict[str, str] = {"ka": "ია", "uk": "аяоеєіїийь", "be": "аяоеёіыйь", "ru": "аяоеёийыь",
                               "hy": "", "tg": ""}
_ALL_SUFFIXES = frozenset().union(*SUFFIXES.values())


def has_inventory(language: str | None) -> bool:
    return language is not None and language in SUFFIXES


# Languages where a stem without its final vowel also stands alone (Georgian adjectives before
# a noun: წითელი -> "წითელ მოედანზე"); elsewhere an alternant needs an ending after it.
_BARE_ALTERNANTS = frozenset({"ka"})


def alternant_needs_ending(language: str) -> bool:
    return language not in _BARE_ALTERNANTS


def stem_alternants(language: str, word: str) -> tuple[str, ...]:
    """Other spellings of ``word``'s stem before an ending (never the word itself)."""
    out: list[str] = []
    for end, repl in _ALTERNATIONS.get(language, ()):
        if word.endswith(end) and len(word) > MIN_STEM:
            out.append(word[: -len(end)] + repl)
    drop = _DROP_FINAL.get(language, "")
    if drop and word[-1:] in drop and len(word) - 1 >= MIN_STEM:
        out.append(word[:-1])
    return tuple(dict.fromkeys(o for o in out if o != word))


# Vowels of the languages whose endings never meet vowel to vowel: Turkic inserts a
# consonant (Moskva-ya, сапар-ы-на), East Slavic endings do not stack vowels. Tajik
# (-ҳо-и), Armenian and Georgian are left out.
_TURKIC_SLAVIC_VOWELS = frozenset("аәеёиоөуұүыіэюяїєaäeiıoöuüəy")
_NO_HIATUS: dict[str, frozenset[str]] = {
    lang: _TURKIC_SLAVIC_VOWELS - (frozenset("y") if lang in ("uz", "az") else frozenset())
    for lang in ("kk", "ky", "uz", "tk", "az", "ru", "uk", "be")
}


@lru_cache(maxsize=200_000)
def is_chain(language: str, rest: str, parts: int = MAX_PARTS) -> bool:
    """``rest`` is one to ``parts`` endings of ``language`` (``"*"``: of any language).

    Between two endings a vowel never meets a vowel in the Turkic and East Slavic
    languages, so "i" + "a" + "n" is not an Azerbaijani chain (Iran is not Iranian).
    """
    if not rest or parts <= 0:
        return False
    inv = _ALL_SUFFIXES if language == "*" else SUFFIXES.get(language)
    if not inv:
        return False
    if rest in inv:
        return True
    vowels = _NO_HIATUS.get(language, frozenset())
    for i in range(1, min(len(rest), 7)):
        if rest[:i] in inv and not (rest[i - 1] in vowels and rest[i] in vowels) \
                and is_chain(language, rest[i:], parts - 1):
            return True
    return False


@lru_cache(maxsize=200_000)
def is_derived(language: str, rest: str) -> bool:
    """``rest`` is a derivational ending of ``language``, optionally followed by endings."""
    inv = DERIVATIONAL.get(language)
    if not inv or not rest:
        return False
    for i in range(1, min(len(rest), 9) + 1):
        if rest[:i] in inv and (i == len(rest) or is_chain(language, rest[i:], MAX_PARTS - 1)):
            return True
    return False


def ending_matches(rest: str, languages: tuple[str, ...], derived: bool = False) -> bool:
    """Whether a token that is a watchlist word plus ``rest`` is a form of that word.

    ``languages``: the word's own language and the item's language (either may supply the
    endings). After an apostrophe any language's endings are accepted (the apostrophe marks
    the boundary: Tokayev's, Oʻzbekiston'da, Путин'ге).
    """
    if not rest:
        return True
    if rest[0] in JOINERS:
        tail = rest[1:]
        return not tail or tail == "s" or is_chain("*", tail)
    for lang in languages:
        if is_chain(lang, rest) or (derived and is_derived(lang, rest)):
            return True
    return False


def is_joined_affix(previous: str, affix: str) -> bool:
    """Whether ``affix`` (after ``previous`` and a hyphen) is an ending, not a word of its own.

    Only after a number or an abbreviation written in capitals (9-го, 2024-yilda is a word,
    ЕАЭО-ға, OFAC-ning); ``previous`` is the raw token, ``affix`` normalised.
    """
    if len(affix) > 6:
        return False
    if previous.isdigit():
        return affix in ORDINAL_AFFIXES or (len(affix) <= 4 and is_chain("*", affix, 2))
    if len(previous) >= 2 and previous.isupper():
        return is_chain("*", affix)
    return False


@lru_cache(maxsize=200_000)
def stem_key(language: str, word: str, keep: int) -> str:
    """A normalised word cut to its first ``keep`` letters, which meets most case and possessive
    forms of one word. A word of at most ``keep`` letters that is a short stem and a chain of
    ``language``'s endings (Kazakh ``жол-ы``, ``жол-да``, ``су-ға``) gives the stem instead, so
    short words meet their forms too (longer words keep the prefix: ``парад-ына`` is not
    ``пар``). Apostrophes are not letters here."""
    w = word.replace("'", "")
    if language in SUFFIXES and len(w) <= keep:
        for i in range(MIN_STEM, min(keep, len(w))):
            if is_chain(language, w[i:]):
                return w[:i]
    return w[:keep]
