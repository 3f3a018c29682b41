"""What a report says about its event, in its own language: the evidence story decisions weigh.

Pure functions, no I/O. :func:`story_text` reduces a title and lead to a :class:`StoryText`:

* **terms**: content words reduced to a stem, tagged with their language. Languages with a
  Snowball stemmer that works for news (English, Russian) use it; the others (Kazakh, Kyrgyz,
  Uzbek, Turkmen, Azerbaijani, Tajik, Armenian, Georgian, Belarusian, Ukrainian) are
  agglutinative or richly inflected and have none, so a word is cut to a stem prefix
  (:data:`PREFIX` letters), which keeps case and possessive endings from splitting one word
  into many. Uzbek Cyrillic is transliterated to Latin first so both scripts agree.
  Function words, reporting verbs, titles (president, press secretary, ...), country and
  capital words of every region language and boilerplate ("Read more", "Subscribe to ...",
  datelines in capitals) are not terms: they say who speaks, not what happened.
* **names**: capitalised words inside a sentence (and a sentence's first word when it is
  capitalised elsewhere), as Latin consonant skeletons shared with :mod:`monitor.analysis.neardup`, so
  ``Tokayev``, ``Тоқаев`` and ``Токаевым`` agree across scripts. Names say who, never which event.
* **numbers**, **years**, **dates** (day and month, in every region language's month names
  and hyphenated forms such as ``9-may``, ``15-февралда``, ``aprelin 23-də``) and **months**.
* **cues** of a change: negation and words for cancelled / postponed / refused / reversed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import snowballstemmer

from monitor.analysis.morphology import APOSTROPHES, stem_key
from monitor.analysis.neardup import _norm_number, _skeleton
from monitor.analysis.translit import name_to_latin, uz_cyrillic_to_latin

__all__ = ["PREFIX", "PLACE", "StoryText", "story_text", "base_language"]

PREFIX = 5  # letters kept of a word in languages without a stemmer
PLACE = "@"  # marks a name that is a capital or big city

_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’‘ʻʼ`][^\W\d_]+)*|\d+(?:[.,]\d+)*", re.UNICODE)
_SENTENCE_RE = re.compile(r"(?<=[.!?。։])\s+|\n+")

_SNOWBALL = {"en": "english", "ru": "russian"}


def base_language(lang: str | None) -> str:
    return (lang or "").lower().split("-")[0].split("_")[0]


@lru_cache(maxsize=4)
def _stemmer(lang: str) -> snowballstemmer.Stemmer | None:
    name = _SNOWBALL.get(lang)
    return snowballstemmer.stemmer(name) if name else None


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words, reporting verbs and titles: not evidence of an event. Matched on the
# lower-cased word (and, for the prefix languages, on its stem prefix too).
_STOP: dict[str, frozenset[str]] = {
    "en": _words("""a an the and or but of to in on at by for from with without into onto over under about
        after before during since until as is are was were be been being has have had do does did will would
        shall should can could may might must it its this that these those he she they we you i his her their
        our your them him us who whom which what when where why how than then there here also not no yes
        said says say saying told tells according added stated reported report reports announced statement
        on monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow week weeks
        day days year years month months new first last next latest more most other another all some any
        president presidential prime minister ministers leader leaders head spokesman spokeswoman spokesperson
        press secretary office government officials official kremlin administration state country
        mr ms mrs his hers its two three one four five several"""),
    "ru": _words("""и в во на с со к ко по за из от до о об обо при для у же ли бы не ни а но или что чтобы как
        так также уже еще ещё этот эта это эти тот та те то его ее её их он она оно они мы вы я был была было
        были будет будут быть который которая которое которые которых где когда после перед между над под
        через около более менее только все всё всех весь вся сообщил сообщила сообщили сообщает заявил
        заявила заявили отметил отметила сказал сказала рассказал пресс служба пресс-служба пресс-секретарь
        президент президента президентом премьер министр министра глава главы лидер лидеры лидеров
        правительство кремль кремле кремля журналистам году года лет также кроме того этом"""),
    "uk": _words("""і й та в у на з із зі до від по за про при для що щоб як це цей ця ці той та ті його її їх
        він вона вони ми ви я був була було були буде будуть який яка яке які де коли після перед між над під
        через також вже ще не ні а але або повідомив повідомила повідомили заявив заявила сказав сказала
        президент президента президентом прем'єр міністр голова офіс речник року році"""),
    "be": _words("""і й ды ў у на з са да ад па за пра пры для што каб як гэта гэты гэтая гэтыя той тая тыя
        яго яе іх ён яна яны мы вы я быў была было былі будзе будуць які якая якое якія дзе калі пасля перад
        паміж над пад праз таксама ўжо яшчэ не ні а але або паведаміў паведаміла паведамілі заявіў заявіла
        сказаў сказала прэзідэнт прэзідэнта прэс-служба прэс-сакратар кіраўнік кіраўніка года годзе"""),
    "kk": _words("""және мен бен пен да де та те ма ме ба бе па пе бұл осы сол ол олар біз сіз мен ең еді
        деп деді делінген туралы үшін бойынша арқылы кейін дейін бірге арасында сондай ақ хабарлады
        мәлімдеді айтты атап өтті жазды мемлекет басшысы президент президенті президентінің баспасөз
        хатшысы қызметі ақорда ақорданың премьер министр жылы жылғы күні айтуынша"""),
    "ky": _words("""жана менен дагы да де ал бул ошол ал алар биз сиз мен эң эле деп деди тууралуу үчүн боюнча
        аркылуу кийин чейин бирге ортосунда билдирди кабарлады маалымдады айтты мамлекет башчы
        башчысы президент президенти басма сөз кызматы жылы жылдын күнү"""),
    "uz": _words("""va bilan ham esa bu shu u ular biz siz men eng edi deb dedi haqida uchun bo'yicha orqali
        keyin qadar birga o'rtasida xabar berdi ma'lum qildi aytdi bildirdi prezident prezidenti
        prezidentining matbuot kotibi xizmati davlatimiz rahbari davlat rahbari yil yili yilda kuni
        tomonidan mumkin"""),
    "tg": _words("""ва бо ба дар аз то барои ки ин он онҳо мо шумо ман ҳам низ баъд пеш аз рӯи тибқи хабар
        дод гуфт изҳор кард кард карданд шуд шуданд мешавад мекунад президент президенти сарвари давлат
        хадамоти матбуоти сол соли рӯзи"""),
    "hy": _words("""և ու է են էր էին եմ ես ենք եք այս այդ այն նա նրանք մենք դուք ես որ որը որոնք թե իսկ բայց
        կամ համար հետ մեջ վրա մասին նաև արդեն հայտնում հայտնեց հայտարարեց ասաց նշեց վարչապետ
        վարչապետի նախագահ նախագահի մամուլի քարտուղար քարտուղարը կառավարությունից կառավարությունը
        տարի թվականի"""),
    "ka": _words("""და თუ რომ ეს ის იგი ისინი ჩვენ თქვენ მე არის იყო იქნება ასევე უკვე მაგრამ ან ან თან
        შესახებ მიერ განაცხადა იუწყება აცხადებს თქვა პრემიერ მინისტრი პრემიერ-მინისტრი პრეზიდენტი
        მთავრობის ადმინისტრაცია წელს წლის"""),
    "tk": _words("""we bilen hem-de hem bu şu ol olar biz siz men iň diýip diýdi barada üçin boýunça arkaly
        soň çenli bilelikde arasynda habar berdi aýtdy belläp geçdi prezidenti prezident döwlet
        baştutany baştutanymyz ýyl ýylda güni"""),
    "az": _words("""və ilə ya da bu o onlar biz siz mən ən idi deyə dedi haqqında üçün üzrə vasitəsilə sonra
        qədər birlikdə arasında bildirib məlumat verib açıqlayıb deyib qeyd edib prezident prezidenti
        prezidentin mətbuat xidməti il ilin günü"""),
}
# Words of diplomatic and official reporting that every meeting, call or visit has: they tell
# the kind of news, not the event (stems, matched on a word's stem).
_GENERIC: dict[str, frozenset[str]] = {
    "en": _words("talk discuss met meet visit held hold phone call convers cooper relat bilater issu agre side "
                 "parti took part particip topic sign agreement document includ also"),
    "ru": _words("перег обсуд встре визит пров телеф разго сотру отнош двуст вопро согла сторо прин участ "
                 "подпи докум обсуж"),
    "uk": _words("перем обгов зустр візит пров телеф розмо співп відно двост питан домов сторо взяв участ "
                 "підпи докум"),
    "be": _words("перам абмер сустр візіт прав тэлеф размо супра адно двух пытан дамов бакі узяў удзел "
                 "падпі дакум"),
    "kk": _words("келіс талқы кезде сапар өткіз телеф сөйле ынтым қатын екіжа мәсел тарап қатыс қол құжат"),
    "ky": _words("сүйлө талку жолук сапар өткө телеф кызма мамил эки масел тарап катыш кол документ"),
    "uz": _words("muzok muhok uchra tashr otkaz telef gapla hamko munos ikki masal tomon ishti imzo hujja"),
    "tg": _words("гуфту баррас мулоқ сафар телеф сӯҳба ҳамко муноси масъа тараф ширка имзо санад"),
    "hy": _words("բանակ քննար հանդի այց հեռախ համագ հարաբ երկկո հարցե կողմե մասնա ստորա փաստա"),
    "ka": _words("მოლაპ განიხ შეხვდ შეხვე ვიზიტ სატელ საუბრ თანამ ურთიე ორმხრ საკით მხარე მონაწ ხელი დოკუმ"),
    "tk": _words("gepleş ara alyp duşuş sapar geçir telef gürle hyzma gatna ikit mesel tarap gol resmin"),
    "az": _words("danış müzak görüş səfər keçir telef əməkd münas ikitə məsəl tərəf iştir imzal sənəd"),
}

# Words of the stem-prefix languages that say "who/where" in general: country, capital and
# nationality stems of the region in its scripts (also lower-case adjectives: "казахстанский").
_COUNTRY_PREFIXES = tuple(sorted(set("""
    russ росси рф орус rossi rusiy русия русі расі
    kazak казах қазақ qozog qazax gazag kazakh
    kyrgy киргиз кыргыз қирғиз qirg'iz qirgiz qırğız gyrgyz
    uzbek узбек өзбек ўзбек o'zbe ozbek özbek ӯзбек
    tajik таджи тоҷик тожик tojik täjik tacik
    turkm туркм түркм türkm
    armen армян армен арман ermen ҳаяст ҳаёст
    georg грузи gürcü
    belar белар белор belor
    ukrai украи україн ukray
    azerb азерб озарб azərb
    china китай қытай xitoy hytay çin кітай хитой chines
    soviet совет савец nazi нацист фашист
    europ европ еўроп yevrop ýewrop avrop
    """.split()), key=len, reverse=True))
# Capitals and big cities: the place of an event (evidence), but never an actor in common.
_PLACE_PREFIXES = tuple(sorted(set("""
    moscow moskv москв маскав мәскеу moskw maskav astan астан остона bishk бишкек bişk
    tashk ташкен тошкен toshk daşke daşkə dushanb душанб düşənb dushanbe ashgab ашхаб ашгаб aşgab
    yerev ереван тбилис tbilis minsk минск мінск kyiv kiev киев київ baku баку бакі bakı bakü
    beijing пекин бээжин pekin brussel брюссел washingt вашингт vaşinqt
    """.split()), key=len, reverse=True))
_PLACE_NATIVE = ("մոսկվ", "երևան", "մինսկ", "բրյուսել", "վաշինգտ", "ბაქ", "მოსკოვ", "თბილის", "ერევან")

_COUNTRY_NATIVE = ("հայաստ", "հայկ", "ադրբեջ", "ռուսաստ", "საქართველ", "ქართ", "აზერბაიჯ", "რუსეთ", "სომხეთ")


_BOILERPLATE = tuple(s.casefold() for s in (
    "read more", "read also", "subscribe", "follow us", "newsletter", "all rights reserved", "our live page",
    "читайте также", "подписывайтесь", "подпишитесь", "наш telegram", "наш канал",
    "читайте також", "підписуйтесь", "падпісвайцеся", "наш канал",
    "толығырақ", "оқыңыз", "арнамыздан", "кененирээк", "окуңуз",
    "kuzatib boring", "kanalimizda", "batafsil", "кузатиб боринг",
    "пайгирӣ кунед", "кարդացեք", "կարդացեք", "բաժանորդագրվեք", "გამოიწერეთ", "წაიკითხეთ",
    "kanalymyzda", "okaň", "oxuyun", "izləyin", "kanalımızda", "telegram",
))

# Cues of a change to an earlier report: negation, cancelled, postponed, refused, reversed.
# (prefix of a lower-cased word, language or "*" for all); suffixes for negative verb forms.
_CUE_PREFIXES: dict[str, tuple[str, ...]] = {
    "en": ("not", "won't", "cancel", "postpon", "call off", "called", "scrap", "withdr", "revers", "delay",
           "declin", "pull", "no longer", "after all", "suspend", "halt", "deferr", "defer"),
    "ru": ("не", "отмен", "перенес", "перенос", "отлож", "отказ", "отозва", "приостанов", "сорва"),
    "uk": ("не", "скасов", "перенес", "перенос", "відклад", "відмов", "зірва"),
    "be": ("не", "адмен", "перанес", "перанос", "адклад", "адмов"),
    "kk": ("емес", "тоқтат", "кейінге", "шегер", "жойыл", "бас тарт", "қалдыр"),
    "ky": ("эмес", "жокко", "кийинкиге", "жылдыр", "калтыр", "баш тарт", "токтот"),
    "uz": ("emas", "bekor", "qoldiril", "ko'chiril", "kochiril", "rad", "to'xtatil", "toxtatil"),
    "tg": ("нест", "наме", "нахоҳ", "нарафт", "бекор", "таъхир", "мавқуф", "рад", "қатъ"),
    "hy": ("չ", "հետաձգ", "հրաժար"),
    "ka": ("არ", "ვერ", "გაუქმ", "გადაიდო", "გადადებ", "გადაიტან", "უარ"),
    "tk": ("däl", "ýatyryl", "süýşür", "goýbolsun", "boýun gaçyr", "saklanyl"),
    "az": ("deyil", "ləğv", "təxirə", "imtina", "dayandırıl"),
}
_CUE_SUFFIXES: dict[str, tuple[str, ...]] = {  # negative verb forms of the Turkic languages
    "kk": ("майды", "мейді", "байды", "бейді", "пайды", "пейді", "мады", "меді", "бады", "беді", "пады", "педі"),
    "ky": ("байт", "бейт", "пайт", "пейт", "майт", "мейт", "байм", "пайм", "баган", "паган", "маган"),
    "uz": ("maydi", "masligi", "magan", "mayapti"),
    "tk": ("maz", "mez", "madyk", "medik", "mady", "medi"),
    "az": ("mayacaq", "məyəcək", "madı", "mədi", "mayıb", "məyib"),
}

_MONTHS: tuple[tuple[str, int], ...] = tuple(sorted({
    **{m: i for i, m in enumerate("januar februar march april may june july august septemb octob novemb decemb"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("январ феврал март апрел ма июн июл август сентябр октябр ноябр декабр"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("січн лют берез квітн травн червн липн серпн вересн жовтн листопад грудн"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("студзен лютаг сакав красав травен чэрвен ліпен жнів верас кастрыч лістапад снеж"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("қаңтар ақпан наурыз сәуір мамыр маусым шілде тамыз қыркүйек қазан қараша желтоқсан"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("yanvar fevral mart aprel may iyun iyul avgust sentyabr oktyabr noyabr dekabr"
                                  .split(), 1)},
    "sentabr": 9, "oktabr": 10, "avqust": 8, "май": 5, "мая": 5, "мае": 5, "мамырда": 5,
    **{m: i for i, m in enumerate("ýanwar fewral mart aprel maý iýun iýul awgust sentýabr oktýabr noýabr dekabr"
                                  .split(), 1)},
    **{m: i for i, m in enumerate("հունվար փետրվար մարտ ապրիլ մայիս հունիս հուլիս օգոստոս սեպտեմբեր հոկտեմբեր "
                                  "նոյեմբեր դեկտեմբեր".split(), 1)},
    **{m: i for i, m in enumerate("იანვ თებერვ მარტ აპრილ მაის ივნის ივლის აგვისტ სექტემბ ოქტომბ ნოემბ დეკემბ"
                                  .split(), 1)},
}.items(), key=lambda kv: -len(kv[0])))
_MONTH_SUFFIX_MAX = 6  # "сентября", "15-февралда", "aprelin", "awgustda"

@dataclass(frozen=True)
class StoryText:
    """The evidence one report carries about its event (see the module docstring)."""

    language: str  # base language of the terms
    terms: frozenset[str]  # "<lang>:<stem>"
    names: frozenset[str]  # consonant skeletons; places (capitals, big cities) marked with PLACE

    @cached_property
    def actors(self) -> frozenset[str]:
        """Names that are not places."""
        return frozenset(n for n in self.names if not n.startswith(PLACE))
    numbers: frozenset[str]  # normalised numbers, years and small day numbers excluded
    years: frozenset[str]
    dates: frozenset[str]  # "<month>-<day>"
    months: frozenset[int]
    cues: frozenset[str]  # cue words of a change (negation, cancelled, postponed, ...)

    def to_json(self) -> dict[str, object]:
        return {"l": self.language, "t": sorted(self.terms), "n": sorted(self.names), "#": sorted(self.numbers),
                "y": sorted(self.years), "d": sorted(self.dates), "m": sorted(self.months), "c": sorted(self.cues)}

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> StoryText:  # "l" a str, the rest lists (as to_json writes them)
        return cls(str(o["l"]), frozenset(o["t"]), frozenset(o["n"]), frozenset(o["#"]), frozenset(o["y"]),
                   frozenset(o["d"]), frozenset(int(m) for m in o["m"]), frozenset(o["c"]))

    def merged(self, other: StoryText) -> StoryText:
        """This text's evidence plus another's (a translation's English terms)."""
        return StoryText(self.language, self.terms | other.terms, self.names | other.names,
                         self.numbers | other.numbers, self.years | other.years, self.dates | other.dates,
                         self.months | other.months, self.cues | other.cues)


def _norm(text: str, lang: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    if lang == "uz" and re.search(r"[\u0400-\u04ff]", text):
        text = uz_cyrillic_to_latin(text)
    return text.translate(APOSTROPHES)


def _strip_boilerplate(text: str) -> list[str]:
    """Sentences without boilerplate, a leading all-capitals dateline removed."""
    out = []
    for s in _SENTENCE_RE.split(text):
        s = s.strip()
        folded = s.casefold()
        if not s or _BOILERPLATE_RE.search(folded):
            continue
        out.append(s)
    if out:
        out[0] = _strip_dateline(out[0])
        if not out[0]:
            out = out[1:]
    return out


_BOILERPLATE_RE = re.compile("|".join(map(re.escape, _BOILERPLATE)))  # one pass, not one per phrase
_DASH_RE = re.compile(r"\s[—–-]\s")


def _strip_dateline(first: str) -> str:
    """Drop a leading agency dateline: "MOSCOW, May 9 (Steppe Wire) - ...", "BISHKEK - ...",
    "АСТАНА. ...", "АСТАНА, 6 мая." (a capitalised place name opens it)."""
    words = first.split(None, 1)
    if not words:
        return first
    lead = words[0].strip(",.:")
    if len(lead) < 3 or not lead.isupper():
        return first
    m = _DASH_RE.search(first[:80])
    if m:
        return first[m.end():]
    if len(first) <= 40:  # the dateline split off as a sentence of its own
        return ""
    return words[1] if words[0].endswith(".") and len(words) > 1 else first


@lru_cache(maxsize=50_000)
def _stem(word: str, lang: str) -> str:
    st = _stemmer(lang)
    w = word.replace("'", "")
    if st is not None:
        return str(st.stemWord(w))
    return stem_key(lang, w, PREFIX)


@lru_cache(maxsize=100_000)
def _name_of(low: str, lang: str) -> str | None:
    """Skeleton of a name (a place marked with PLACE), or None.

    The name is the same in every script: Armenian and Georgian letters are spelt in Latin
    (``Փաշինյան`` -> ``pshn``, as ``Pashinyan``), and an ``h`` after the first letter is
    dropped (``Rahmon``, ``Раҳмон``, ``Рахмон`` all give ``rmn``). Case endings of the
    Turkic languages are left on (``Жапаровпен``): cutting them also cuts names that end
    like an ending (``Путин``, ``Тоқаевтың``)."""
    sk = _skeleton(name_to_latin(low)) or (f"{lang}:{low[:PREFIX]}" if len(low) >= 3 else "")
    if sk and ":" not in sk:
        sk = sk[0] + sk[1:].replace("h", "")
    if len(sk) < 2:
        return None
    return PLACE + sk if low.startswith(_PLACE_PREFIXES) or low.startswith(_PLACE_NATIVE) else sk


@lru_cache(maxsize=100_000)
def _term_of(low: str, lang: str) -> str | None:
    """"<lang>:<stem>" of a lower-case content word, or None for stop, generic and country words."""
    stop = _STOP.get(lang, frozenset())
    stem = _stem(low, lang)
    if stem in stop or len(stem) < 3 or _is_generic(stem, lang):
        return None
    return f"{lang}:{stem}"


@lru_cache(maxsize=100_000)
def _is_generic(stem: str, lang: str) -> bool:
    generic = _GENERIC.get(lang) or frozenset()
    return bool(generic) and any(stem.startswith(g) or g.startswith(stem) for g in generic if len(g) >= 3)


@lru_cache(maxsize=100_000)
def _is_country(low: str) -> bool:
    return low.startswith(_COUNTRY_PREFIXES) or low.startswith(_COUNTRY_NATIVE)


_MONTHS_BY_INITIAL: dict[str, tuple[tuple[str, int], ...]] = {
    c: tuple(m for m in _MONTHS if m[0][0] == c) for c in {m[0][0] for m in _MONTHS}}


@lru_cache(maxsize=100_000)
def _month_of(low: str) -> int | None:
    for stem, month in _MONTHS_BY_INITIAL.get(low[:1], ()):  # longest stems first, as in _MONTHS
        if low.startswith(stem) and len(low) - len(stem) <= _MONTH_SUFFIX_MAX:
            return month
    return None


_CUE_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {  # two-word cues ("call off"): (first word, prefix of the second)
    lang: tuple((p.split(" ", 1)[0], p.split(" ", 1)[1]) for p in ps if " " in p) for lang, ps in _CUE_PREFIXES.items()}


def _is_cue(low: str, prev: str, lang: str) -> bool:
    if _is_cue_word(low, lang):
        return True
    return any(prev == first and low.startswith(second) for first, second in _CUE_PAIRS.get(lang, ()))


@lru_cache(maxsize=100_000)
def _is_cue_word(low: str, lang: str) -> bool:
    """A cue by itself, whatever the word before (cached per word, not per pair of words)."""
    for p in _CUE_PREFIXES.get(lang, ()):
        if " " in p:
            continue
        if p in ("не", "not", "არ", "ვერ", "rad", "рад", "емес", "эмес", "emas", "däl", "deyil", "нест"):
            if low == p or (lang == "hy" and low.startswith(p)):
                return True
        elif low.startswith(p):
            return True
    return low.endswith(_CUE_SUFFIXES.get(lang, ())) and len(low) > 5


def story_text(title: str, summary: str, language: str | None) -> StoryText:
    """The evidence of a report (title and lead) in its own language."""
    lang = base_language(language) or "und"
    stop = _STOP.get(lang, frozenset())
    sentences = [_norm(title, lang).strip()] + _strip_boilerplate(_norm(summary, lang))
    terms: set[str] = set()
    names: set[str] = set()
    numbers: set[str] = set()
    years: set[str] = set()
    dates: set[str] = set()
    months: set[int] = set()
    cues: set[str] = set()
    toks_by_sentence = [_TOKEN_RE.findall(s) for s in sentences]
    mid_capitals = {t.lower() for toks in toks_by_sentence for t in toks[1:] if t[:1].isupper()}
    # a capitalised word also written in lower case ("Victory Day" ... "the victory") is no name
    lower_seen = {t for toks in toks_by_sentence for t in toks if t[:1].islower()}
    for toks in toks_by_sentence:
        lows = [t.lower() for t in toks]
        for i, tok in enumerate(toks):
            low = lows[i]
            if tok[0].isdigit():
                num = _norm_number(tok)
                month = None
                for j in (i + 1, i + 2, i - 1):  # "9 May", "9-го мая", "May 9", "aprelin 23-də"
                    if 0 <= j < len(toks) and not toks[j][0].isdigit():
                        month = _month_of(lows[j])
                        if month is not None:
                            break
                if len(num) == 4 and num[:2] in ("19", "20"):
                    years.add(num)
                elif month is not None and num.isdigit() and 1 <= int(num) <= 31:
                    dates.add(f"{month}-{int(num)}")
                elif not (num.isdigit() and int(num) <= 31):
                    numbers.add(num)
                continue
            prev = lows[i - 1] if i else ""
            if _is_cue(low, prev, lang):
                cues.add(low)
                continue
            month = _month_of(low)
            if month is not None:
                months.add(month)
                continue
            if low in stop or len(low) < 3:
                continue
            if _is_country(low):
                continue
            capital = tok[0].isupper() and not tok.isupper() or (tok.isupper() and len(tok) <= 6)
            follows = i + 1 < len(toks) and toks[i + 1][:1].isupper()  # "Vladimir Putin watched"
            if capital and (i > 0 or low in mid_capitals or follows) and low not in lower_seen:
                name = _name_of(low, lang)
                if name:
                    names.add(name)
                continue
            term = _term_of(low, lang)
            if term:
                terms.add(term)
    return StoryText(lang, frozenset(terms), frozenset(names), frozenset(numbers), frozenset(years),
                     frozenset(dates), frozenset(months), frozenset(cues))
