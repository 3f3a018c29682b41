"""Hand-written sentence templates and inflection tables for the ru->en test corpus.

Each template pairs a Russian sentence with its English translation. Slots name an entity
and, in Russian, the grammatical case it takes: ``{A.nom}`` (leader A, nominative),
``{X.acc}`` (city X, accusative), ``{P.ins}`` (country P, instrumental), ``{M}`` (month,
prepositional in Russian), ``{N}`` (a number). The English side uses the bare slot (``{A}``).
:func:`expand` fills the slots with a seeded RNG, so the corpus is the same on every build.
"""

from __future__ import annotations

import random
import re

# name: (nominative, genitive/accusative, dative, instrumental, English, home country key)
LEADERS: dict[str, tuple[str, str, str, str, str, str]] = {
    "putin": ("Путин", "Путина", "Путину", "Путиным", "Putin", "ru"),
    "tokayev": ("Токаев", "Токаева", "Токаеву", "Токаевым", "Tokayev", "kz"),
    "japarov": ("Жапаров", "Жапарова", "Жапарову", "Жапаровым", "Japarov", "kg"),
    "rahmon": ("Рахмон", "Рахмона", "Рахмону", "Рахмоном", "Rahmon", "tj"),
    "mirziyoyev": ("Мирзиёев", "Мирзиёева", "Мирзиёеву", "Мирзиёевым", "Mirziyoyev", "uz"),
    "lukashenko": ("Лукашенко", "Лукашенко", "Лукашенко", "Лукашенко", "Lukashenko", "by"),
    "pashinyan": ("Пашинян", "Пашиняна", "Пашиняну", "Пашиняном", "Pashinyan", "am"),
    "berdimuhamedov": (
        "Бердымухамедов", "Бердымухамедова", "Бердымухамедову", "Бердымухамедовым",
        "Berdimuhamedov", "tm",
    ),
    "aliyev": ("Алиев", "Алиева", "Алиеву", "Алиевым", "Aliyev", "az"),
    "xi": ("Си Цзиньпин", "Си Цзиньпина", "Си Цзиньпину", "Си Цзиньпином", "Xi Jinping", "cn"),
}

# key: (nominative, accusative, prepositional, genitive, English)
CITIES: dict[str, tuple[str, str, str, str, str]] = {
    "moscow": ("Москва", "Москву", "Москве", "Москвы", "Moscow"),
    "astana": ("Астана", "Астану", "Астане", "Астаны", "Astana"),
    "bishkek": ("Бишкек", "Бишкек", "Бишкеке", "Бишкека", "Bishkek"),
    "dushanbe": ("Душанбе", "Душанбе", "Душанбе", "Душанбе", "Dushanbe"),
    "tashkent": ("Ташкент", "Ташкент", "Ташкенте", "Ташкента", "Tashkent"),
    "minsk": ("Минск", "Минск", "Минске", "Минска", "Minsk"),
    "yerevan": ("Ереван", "Ереван", "Ереване", "Еревана", "Yerevan"),
    "ashgabat": ("Ашхабад", "Ашхабад", "Ашхабаде", "Ашхабада", "Ashgabat"),
    "baku": ("Баку", "Баку", "Баку", "Баку", "Baku"),
    "beijing": ("Пекин", "Пекин", "Пекине", "Пекина", "Beijing"),
    "spb": ("Санкт-Петербург", "Санкт-Петербург", "Санкт-Петербурге", "Санкт-Петербурга",
            "St. Petersburg"),
    "almaty": ("Алматы", "Алматы", "Алматы", "Алматы", "Almaty"),
    "samarkand": ("Самарканд", "Самарканд", "Самарканде", "Самарканда", "Samarkand"),
    "sochi": ("Сочи", "Сочи", "Сочи", "Сочи", "Sochi"),
}

# key: (nominative, accusative, prepositional, genitive, instrumental, English)
COUNTRIES: dict[str, tuple[str, str, str, str, str, str]] = {
    "ru": ("Россия", "Россию", "России", "России", "Россией", "Russia"),
    "kz": ("Казахстан", "Казахстан", "Казахстане", "Казахстана", "Казахстаном", "Kazakhstan"),
    "kg": ("Киргизия", "Киргизию", "Киргизии", "Киргизии", "Киргизией", "Kyrgyzstan"),
    "tj": ("Таджикистан", "Таджикистан", "Таджикистане", "Таджикистана", "Таджикистаном",
           "Tajikistan"),
    "uz": ("Узбекистан", "Узбекистан", "Узбекистане", "Узбекистана", "Узбекистаном",
           "Uzbekistan"),
    "by": ("Белоруссия", "Белоруссию", "Белоруссии", "Белоруссии", "Белоруссией", "Belarus"),
    "am": ("Армения", "Армению", "Армении", "Армении", "Арменией", "Armenia"),
    "tm": ("Туркмения", "Туркмению", "Туркмении", "Туркмении", "Туркменией", "Turkmenistan"),
    "az": ("Азербайджан", "Азербайджан", "Азербайджане", "Азербайджана", "Азербайджаном",
           "Azerbaijan"),
    "cn": ("Китай", "Китай", "Китае", "Китая", "Китаем", "China"),
}

MONTHS: list[tuple[str, str]] = [
    ("январе", "January"), ("феврале", "February"), ("марте", "March"), ("апреле", "April"),
    ("мае", "May"), ("июне", "June"), ("июле", "July"), ("августе", "August"),
    ("сентябре", "September"), ("октябре", "October"), ("ноябре", "November"),
    ("декабре", "December"),
]

TEMPLATES: list[tuple[str, str]] = [
    ("{A.nom} прибыл в {X.acc} на парад Победы.", "{A} arrived in {X} for the Victory Day parade."),
    ("{A.nom} прибыл в {X.acc} с официальным визитом.", "{A} arrived in {X} on an official visit."),
    ("{A.nom} прибыл в {X.acc} с государственным визитом.", "{A} arrived in {X} on a state visit."),
    ("{A.nom} прибыл в {X.acc}.", "{A} arrived in {X}."),
    ("{A.nom} прилетел в {X.acc}.", "{A} flew to {X}."),
    ("{A.nom} посетит {P.acc} в {M}.", "{A} will visit {P} in {M}."),
    ("{A.nom} и {B.nom} провели переговоры в {X.prep}.", "{A} and {B} held talks in {X}."),
    ("{A.nom} примет участие в саммите ОДКБ в {X.prep}.",
     "{A} will take part in the CSTO summit in {X}."),
    ("{A.nom} примет участие в саммите ЕАЭС.", "{A} will take part in the EAEU summit."),
    ("{A.nom} посетит парад Победы в {X.prep}.", "{A} will attend the Victory Day parade in {X}."),
    ("{A.nom} встретился с {B.ins} в {X.prep}.", "{A} met with {B} in {X}."),
    ("{A.nom} провел телефонный разговор с {B.ins}.", "{A} held a phone call with {B}."),
    ("{A.nom} поздравил {B.gen} с днем рождения.", "{A} congratulated {B} on his birthday."),
    ("{A.nom} выступил на заседании Высшего Евразийского экономического совета в {X.prep}.",
     "{A} spoke at a meeting of the Supreme Eurasian Economic Council in {X}."),
    ("{A.nom} вернулся в {X.acc} из {Y.gen}.", "{A} returned to {X} from {Y}."),
    ("Товарооборот между {P.ins} и {Q.ins} вырос на {N}%.", "Trade between {P} and {Q} grew by {N}%."),
    ("Товарооборот между {P.ins} и {Q.ins} сократился на {N}%.",
     "Trade between {P} and {Q} fell by {N}%."),
    ("Экспорт из {P.gen} в {Q.acc} вырос на {N}%.", "Exports from {P} to {Q} grew by {N}%."),
    ("ЕС ввел новые санкции против {P.gen}.", "The EU imposed new sanctions on {P}."),
    ("США ввели санкции против компаний из {P.gen}.",
     "The United States imposed sanctions on companies from {P}."),
    ("{A.nom} обсудил с {B.ins} вопросы торговли и энергетики.",
     "{A} discussed trade and energy with {B}."),
    ("{A.nom} и {B.nom} обсудили санкции и торговлю.", "{A} and {B} discussed sanctions and trade."),
    ("{A.nom} заявил, что санкции не остановят развитие {P.gen}.",
     "{A} said that sanctions will not stop the development of {P}."),
    ("Саммит ЕАЭС пройдет в {X.prep} в {M}.", "The EAEU summit will be held in {X} in {M}."),
    ("Саммит ОДКБ пройдет в {X.prep} в {M}.", "The CSTO summit will be held in {X} in {M}."),
    ("Министры иностранных дел стран ОДКБ собрались в {X.prep}.",
     "The foreign ministers of the CSTO countries gathered in {X}."),
    ("Парад Победы прошел в {X.prep}.", "The Victory Day parade took place in {X}."),
    ("{A.nom} подписал соглашение о торговле с {P.ins}.", "{A} signed a trade agreement with {P}."),
    ("Президент {H.gen} {A.nom} прибыл в {X.acc}.", "The president of {H}, {A}, arrived in {X}."),
    ("{A.nom} пригласил {B.gen} посетить {P.acc}.", "{A} invited {B} to visit {P}."),
    ("Встреча {A.gen} и {B.gen} состоится в {X.prep} в {M}.",
     "The meeting between {A} and {B} will take place in {X} in {M}."),
    ("{P.nom} и {Q.nom} договорились расширить торговлю.", "{P} and {Q} agreed to expand trade."),
    ("{A.nom} проведет переговоры с {B.ins} в {M}.", "{A} will hold talks with {B} in {M}."),
    ("{A.nom} прибыл в {P.acc} с визитом.", "{A} arrived in {P} on a visit."),
    ("{A.nom} и {B.nom} прибыли в {X.acc} на парад Победы.",
     "{A} and {B} arrived in {X} for the Victory Day parade."),
]

_SLOT = re.compile(r"\{([A-Z])(?:\.(\w+))?\}")
_LEADER_CASES = {"nom": 0, "gen": 1, "acc": 1, "dat": 2, "ins": 3}
_CITY_CASES = {"nom": 0, "acc": 1, "prep": 2, "gen": 3}
_COUNTRY_CASES = {"nom": 0, "acc": 1, "prep": 2, "gen": 3, "ins": 4}


def _fill(template: str, values: dict[str, tuple[str, ...]], english: bool) -> str:
    """Replace every slot in one template with the chosen entity's form."""

    def form(match: re.Match[str]) -> str:
        slot, case = match.group(1), match.group(2)
        entity = values[slot]
        if slot in "AB":
            return entity[4] if english else entity[_LEADER_CASES[case]]
        if slot in "XY":
            return entity[4] if english else entity[_CITY_CASES[case]]
        if slot in "PQH":
            return entity[5] if english else entity[_COUNTRY_CASES[case]]
        if slot == "M":
            return entity[1] if english else entity[0]
        return entity[0]  # N

    return _SLOT.sub(form, template)


def expand(per_template: int = 40, seed: int = 20261125) -> list[tuple[str, str]]:
    """All templates filled ``per_template`` times with distinct random entities."""
    rng = random.Random(seed)
    leaders = [LEADERS[k] for k in sorted(LEADERS)]
    cities = [CITIES[k] for k in sorted(CITIES)]
    countries = [COUNTRIES[k] for k in sorted(COUNTRIES)]
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for ru_t, en_t in TEMPLATES:
        made = 0
        for _ in range(per_template * 20):
            if made >= per_template:
                break
            a, b = rng.sample(leaders, 2)
            x, y = rng.sample(cities, 2)
            p, q = rng.sample(countries, 2)
            values: dict[str, tuple[str, ...]] = {
                "A": a, "B": b, "X": x, "Y": y, "P": p, "Q": q,
                "H": COUNTRIES[a[5]],
                "M": rng.choice(MONTHS),
                "N": (str(rng.randint(2, 45)),),
            }
            ru, en = _fill(ru_t, values, False), _fill(en_t, values, True)
            if ru in seen:
                continue
            seen.add(ru)
            if rng.random() < 0.2:  # headline style: no final full stop
                ru, en = ru.rstrip("."), en.rstrip(".")
            pairs.append((ru, en))
            made += 1
    return pairs


if __name__ == "__main__":
    for ru, en in expand():
        print(f"{ru}\t{en}")
