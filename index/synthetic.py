"""Seeded, realistic synthetic incidents and the labelled evaluation set.

Names come from Faker's locales (persons and companies in their own scripts, with their own
legal forms), places from real city centres with a few kilometres of spread, phones from each
country's calling code. Pools are drawn once per seed, then combined with Python's `random`,
so a million incidents take seconds, and the same seed always gives the same data.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import phonenumbers
from faker import Faker

from index.model import (
    Area,
    Channel,
    Incident,
    IncidentKind,
    Location,
    Party,
    PartyRole,
    Query,
    SubstanceClass,
    s10_check_digit,
)

# (Faker locale, country, [(city, lat, lon)], postcode digits)
LOCALES: tuple[tuple[str, str, tuple[tuple[str, float, float], ...]], ...] = (
    ("zh_CN", "CN", (("Shanghai", 31.2304, 121.4737), ("Wuhan", 30.5928, 114.3055),
                     ("Guangzhou", 23.1291, 113.2644), ("Tianjin", 39.3434, 117.3616))),
    ("zh_TW", "TW", (("Taipei", 25.0330, 121.5654),)),
    ("en_IN", "IN", (("Mumbai", 19.0760, 72.8777), ("Hyderabad", 17.3850, 78.4867))),
    ("de_DE", "DE", (("Berlin", 52.5200, 13.4050), ("Hamburg", 53.5511, 9.9937))),
    ("nl_NL", "NL", (("Rotterdam", 51.9244, 4.4777), ("Amsterdam", 52.3676, 4.9041))),
    ("fr_FR", "FR", (("Paris", 48.8566, 2.3522), ("Lyon", 45.7640, 4.8357))),
    ("it_IT", "IT", (("Milano", 45.4642, 9.1900),)),
    ("es_ES", "ES", (("Madrid", 40.4168, -3.7038), ("Barcelona", 41.3874, 2.1686))),
    ("es_MX", "MX", (("Ciudad de Mexico", 19.4326, -99.1332), ("Guadalajara", 20.6597, -103.3496))),
    ("pt_BR", "BR", (("Sao Paulo", -23.5505, -46.6333),)),
    ("ru_RU", "RU", (("Moskva", 55.7558, 37.6173), ("Sankt-Peterburg", 59.9311, 30.3609))),
    ("uk_UA", "UA", (("Kyiv", 50.4501, 30.5234),)),
    ("tr_TR", "TR", (("Istanbul", 41.0082, 28.9784),)),
    ("fa_IR", "IR", (("Tehran", 35.6892, 51.3890),)),
    ("en_US", "US", (("New York", 40.7128, -74.0060), ("Los Angeles", 34.0522, -118.2437))),
    ("en_GB", "GB", (("London", 51.5074, -0.1278),)),
    ("vi_VN", "VN", (("Ho Chi Minh", 10.8231, 106.6297),)),
    ("th_TH", "TH", (("Bangkok", 13.7563, 100.5018),)),
    ("bg_BG", "BG", (("Sofia", 42.6977, 23.3219),)),
    ("hr_HR", "HR", (("Zagreb", 45.8150, 15.9819),)),
    ("pl_PL", "PL", (("Warszawa", 52.2297, 21.0122),)),
    ("cs_CZ", "CZ", (("Praha", 50.0755, 14.4378),)),
    ("ko_KR", "KR", (("Seoul", 37.5665, 126.9780),)),
    ("el_GR", "GR", (("Athina", 37.9838, 23.7275),)),
    ("en_CA", "CA", (("Toronto", 43.6532, -79.3832),)),
)  # fmt: skip

GENERIC_WORDS = (
    "Trading", "Chemical", "Technology", "International", "Logistics", "Pharma", "Biotech",
    "Industrial", "Import Export", "Supply", "Global", "Group", "Science", "Services",
)  # fmt: skip
LEGAL_FORMS = {
    "CN": ("Co., Ltd.", "Co. Ltd", "Limited", "Youxian Gongsi"),
    "IN": ("Pvt. Ltd.", "Private Limited", "Pvt Ltd"),
    "DE": ("GmbH", "AG", "GmbH & Co. KG"),
    "RU": ("OOO", "LLC", "ZAO"),
    "TR": ("Ltd. Şti.", "A.Ş."),
    "HR": ("d.o.o.", "d.d."),
    "PL": ("sp. z o.o.", "S.A."),
    "MX": ("S.A. de C.V.", "S. de R.L. de C.V."),
    "US": ("LLC", "Inc.", "Corp."),
}
SUBSTANCES = {
    SubstanceClass.FENTANYL: ("fentanyl", "carfentanil", "acetylfentanyl"),
    SubstanceClass.OTHER_SYNTHETIC_OPIOID: ("isotonitazene", "protonitazene", "brorphine"),
    SubstanceClass.PRECURSOR: ("NPP", "ANPP", "4-AP", "1-boc-4-AP", "P2P", "PMK glycidate"),
    SubstanceClass.SYNTHETIC_CATHINONE: ("3-MMC", "alpha-PVP"),
    SubstanceClass.SYNTHETIC_CANNABINOID: ("MDMB-4en-PINACA", "ADB-BUTINACA"),
    SubstanceClass.ATS: ("methamphetamine", "MDMA"),
    SubstanceClass.ADULTERANT: ("xylazine",),
    SubstanceClass.EQUIPMENT: ("tablet press", "encapsulator", "punches and dies"),
    SubstanceClass.DESIGNER_BENZODIAZEPINE: ("bromazolam", "etizolam"),
}
TODAY = date(2026, 11, 24)
POOL_SIZE = 400
_FEW_SURNAMES = 30
# Along a street, house numbers step about this far apart; a street starts somewhere in its
# city and runs on one bearing, so neighbours on one street are tens to hundreds of metres apart.
HOUSE_STEP_M = 8.0
MAX_HOUSE_NUMBER = 300
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class LocalePool:
    locale: str
    country: str
    cities: tuple[tuple[str, float, float], ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    companies: tuple[str, ...]
    # street addresses as the locale writes them, the house number as {n}, other numbers
    # (flats, blocks) as {u}
    streets: tuple[str, ...]

    @property
    def company_words(self) -> tuple[str, ...]:
        """Words firms are named after: surnames, and given names too where there are few
        surnames (Vietnam has ten common ones; "Minh Phát", "Hoàng Long" name firms)."""
        if len(self.last_names) >= _FEW_SURNAMES:
            return self.last_names
        given = (word for name in self.first_names for word in name.split())
        return tuple(dict.fromkeys((*self.last_names, *given)))


def _given_name(fake: Faker, locale: str) -> str:
    # Faker's vi_VN first_name() only says "John" or "Jane"; Vietnamese given names come
    # with a middle name ("Văn Nam", "Thị Linh").
    if locale == "vi_VN":
        given = fake.first_name_male() if fake.random.random() < 0.5 else fake.first_name_female()
        return f"{fake.middle_name()} {given}"
    return str(fake.first_name())


def street_template(address: str) -> str:
    """A Faker street address with its first number as {n} and any others as {u}."""
    parts = _DIGITS.split(address.replace("{", "").replace("}", ""))
    if len(parts) == 1:
        joiner = "" if any("\u4e00" <= c <= "\u9fff" for c in address) else " "
        return f"{address}{joiner}{{n}}{'号' if not joiner else ''}"
    out = parts[0]
    for i, rest in enumerate(parts[1:]):
        out += ("{n}" if i == 0 else "{u}") + rest
    return out


def build_pools(seed: int, size: int = POOL_SIZE) -> tuple[LocalePool, ...]:
    pools = []
    for i, (locale, country, cities) in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 1000 + i)
        pools.append(
            LocalePool(
                locale=locale,
                country=country,
                cities=cities,
                first_names=tuple(dict.fromkeys(_given_name(fake, locale) for _ in range(size))),
                last_names=tuple(dict.fromkeys(fake.last_name() for _ in range(size))),
                companies=tuple(dict.fromkeys(fake.company() for _ in range(size))),
                streets=tuple(
                    dict.fromkeys(street_template(fake.street_address()) for _ in range(size))
                ),
            )
        )
    return tuple(pools)


def offset(loc: Location, metres: float, bearing_deg: float) -> Location:
    """The point `metres` away from `loc` on the given bearing (spherical earth)."""
    radius = 6_371_008.8
    d = metres / radius
    lat1, lon1, b = math.radians(loc.lat), math.radians(loc.lon), math.radians(bearing_deg)
    lat2 = math.asin(math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(b))
    lon2 = lon1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(lat1), math.cos(d) - math.sin(lat1) * math.sin(lat2)
    )
    return Location(math.degrees(lat2), (math.degrees(lon2) + 540.0) % 360.0 - 180.0)


class Generator:
    """Realistic parties and incidents from one seed."""

    def __init__(self, seed: int, pools: tuple[LocalePool, ...] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.pools = pools if pools is not None else build_pools(seed)
        self._streets: dict[tuple[str, str], tuple[Location, float]] = {}

    def incident_at(self, number: int) -> Incident:
        """Incident `number` of this seed, the same whatever was generated before it, so a
        benchmark can regenerate a sample instead of keeping one alive."""
        self.rng = random.Random(self.seed * 1_000_003 + number)
        return self.incident(number)

    def pool(self) -> LocalePool:
        return self.rng.choice(self.pools)

    def person_name(self, pool: LocalePool) -> str:
        """Given name and surname; half the time a second surname or given name as well, so
        that full names repeat about as rarely as real ones do."""
        rng = self.rng
        name = f"{rng.choice(pool.first_names)} {rng.choice(pool.last_names)}"
        roll = rng.random()
        if roll < 0.25:
            return f"{name} {rng.choice(pool.last_names)}"
        if roll < 0.5:
            return f"{rng.choice(pool.first_names)} {name}"
        return name

    def company_name(self, pool: LocalePool) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return rng.choice(pool.companies)
        words = pool.company_words
        core = f"{rng.choice(words)} {rng.choice(words)}"
        name = f"{core} {rng.choice(GENERIC_WORDS)}"
        forms = LEGAL_FORMS.get(pool.country)
        return f"{name} {rng.choice(forms)}" if forms else name

    def place(self, pool: LocalePool, spread_m: float = 12_000.0) -> tuple[str, Location]:
        city, lat, lon = self.rng.choice(pool.cities)
        spot = offset(
            Location(lat, lon), abs(self.rng.gauss(0.0, spread_m)), self.rng.uniform(0, 360)
        )
        return city, spot

    def street_point(self, city: str, template: str, number: int) -> Location:
        """Where house `number` of a street stands: the street starts at a point of its city
        fixed by its name and runs on a bearing fixed by its name too."""
        street = self._streets.get((city, template))
        if street is None:
            spot = next(c for pool in self.pools for c in pool.cities if c[0] == city)
            anchor = random.Random(zlib.crc32(f"{self.seed}|{city}|{template}".encode()))
            centre = Location(spot[1], spot[2])
            start = offset(centre, abs(anchor.gauss(0.0, 12_000.0)), anchor.uniform(0, 360))
            street = self._streets[(city, template)] = (start, anchor.uniform(0, 360))
        return offset(street[0], number * HOUSE_STEP_M, street[1])

    def street_address(
        self, pool: LocalePool, template: str | None = None, number: int | None = None
    ) -> tuple[str, tuple[str, ...], Location]:
        """(city, address lines, point) of an address in one of the pool's cities."""
        rng = self.rng
        city = rng.choice(pool.cities)[0]
        template = template or rng.choice(pool.streets)
        number = number or rng.randrange(1, MAX_HOUSE_NUMBER)
        text = template.replace("{n}", str(number)).replace("{u}", str(rng.randrange(1, 99)))
        lines = tuple(line.strip() for line in text.split("\n") if line.strip())
        return city, lines, self.street_point(city, template, number)

    def phone(self, country: str) -> str:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        digits = len(str(example.national_number)) if example else 9
        national = str(example.national_number)[:3] if example else "5"
        rest = "".join(str(self.rng.randrange(10)) for _ in range(digits - len(national)))
        return f"+{phonenumbers.country_code_for_region(country)} {national}{rest}"

    def party(self, role: PartyRole, pool: LocalePool | None = None) -> Party:
        rng = self.rng
        pool = pool or self.pool()
        city, lines, spot = self.street_address(pool)
        is_company = rng.random() < 0.6
        return Party(
            role=role,
            name="" if is_company else self.person_name(pool),
            business_name=self.company_name(pool) if is_company else "",
            address_lines=lines,
            postcode=f"{rng.randrange(10000, 99999)}",
            city=city,
            country_code=pool.country,
            location=spot if rng.random() < 0.85 else None,
            phones=(self.phone(pool.country),) if rng.random() < 0.6 else (),
            emails=(f"info{rng.randrange(10**6)}@mail{rng.randrange(500)}.example",)
            if rng.random() < 0.3
            else (),
        )

    def incident(self, number: int) -> Incident:
        rng = self.rng
        kind = rng.choices(list(IncidentKind), weights=(40, 35, 5, 15, 5))[0]
        substance = rng.choice(list(SUBSTANCES))
        reporter = self.pool()
        parties = [self.party(PartyRole.EXPORTER), self.party(PartyRole.IMPORTER)]
        if kind is IncidentKind.ILLICIT_MANUFACTURE and rng.random() < 0.3:
            site_pool = self.pool()
            _, spot = self.place(site_pool)
            half = rng.uniform(0.001, 0.004)
            site = Area.box(spot.lat - half, spot.lon - half, spot.lat + half, spot.lon + half)
            parties[0] = Party(
                PartyRole.OTHER,
                business_name=self.company_name(site_pool),
                country_code=site_pool.country,
                area=site,
            )
        return Incident(
            incident_id=f"ION-{2014 + number % 13}-{number:07d}",
            kind=kind,
            reported_on=TODAY - timedelta(days=rng.randrange(0, 6 * 365)),
            reporting_country=reporter.country,
            agency=f"{reporter.country} Customs",
            contact_ref=f"{reporter.country}-FP-{rng.randrange(1, 400):03d}",
            channel=rng.choice(
                (Channel.PARCEL_POST, Channel.EXPRESS, Channel.LETTER_POST, Channel.AIR_CARGO)
            ),
            substance_class=substance,
            substances=(rng.choice(SUBSTANCES[substance]),),
            parties=tuple(parties),
        )

    def incidents(self, count: int, first: int = 0) -> Iterator[Incident]:
        for number in range(first, first + count):
            yield self.incident(number)


def s10(rng: random.Random) -> str:
    serial = f"{rng.randrange(10**8):08d}"
    return f"{rng.choice(('EE', 'RR', 'CP', 'LX', 'UA'))}{serial}{s10_check_digit(serial)}FR"


def item_query(rng: random.Random, parties: tuple[Party, ...]) -> Query:
    return Query(item_id=s10(rng), parties=parties, channel=Channel.PARCEL_POST)
