"""The labelled evaluation set and its quality figures.

Positives are variants of recorded incident parties that a screener must catch; negatives are
parties that are not associated with any incident. The ground truth is decided without the
index: negatives are checked by brute force against every incident party (no equal name core
in any token order, no phone or e-mail in common, no incident point within the policy's
radius), so the figures measure the index, never agree with it by construction.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import numpy.typing as npt
import phonenumbers
from anyascii import anyascii
from faker import Faker

from index import _core
from index.model import Incident, Party, PartyRole, Query, Result, Stoplight
from index.synthetic import (
    GENERIC_WORDS,
    LEGAL_FORMS,
    LOCALES,
    MAX_HOUSE_NUMBER,
    TODAY,
    Generator,
    LocalePool,
    item_query,
    offset,
)  # fmt: skip

POSITIVE_FAMILIES = (
    "typo", "transliteration", "legal_form", "reorder", "abbreviation", "alias", "gps_jitter",
    "same_building", "alias_same_address", "geocoder_drift", "title", "middle_name", "initial",
    "joined_words", "identifier_spelling", "distinctive_word",
)  # fmt: skip
NEGATIVE_FAMILIES = (
    "other_name", "nearby_other", "generic_tokens", "shared_surname", "same_street_neighbour",
    "short_name", "generic_word_only",
)  # fmt: skip
# How name variants carry an address (the rest carry only the city).
EARTH_RADIUS_M = 6_371_008.8
SAME_ADDRESS_SHARE = 0.5
# A word of at most this many recorded names is rare: a firm's own word, not a common surname.
RARE_WORD_PARTIES = 10
OTHER_ADDRESS_SHARE = 0.25
_ABBREVIATIONS = {
    "International": "Intl", "Technology": "Tech", "Trading": "Trdg", "Logistics": "Logistic",
    "Pharma": "Pharmaceuticals", "Import Export": "Impex", "Industrial": "Industries",
    "Chemical": "Chemicals", "Services": "Svcs", "Group": "Grp",
}  # fmt: skip
# How address lines are written differently by another sender or system: street-type words
# long and short (postal abbreviations of the UPU's and national postal standards).
_STREET_WORDS = (
    ("Street", "St."), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"),
    ("Drive", "Dr."), ("Lane", "Ln"), ("Straße", "Str."), ("straße", "str."), ("Straße", "Strasse"),
    ("Calle", "C/"), ("Avenida", "Av."), ("Rua", "R."), ("avenue", "av."), ("rue", "r."),
    ("boulevard", "bd"), ("ulica", "ul."), ("aleja", "al."), ("Via", "V."), ("Piazza", "P.zza"),
    ("улица", "ул."), ("ул.", "улица"), ("пер.", "переулок"), ("пр.", "проспект"),
    ("вулиця", "вул."), ("Đường", "Đ."), ("đường", "Duong"), ("straat", "str."),
)  # fmt: skip
_UNITS = ("Apt 3", "Suite 210", "Floor 2", "Unit 7", "Room 1204", "2nd floor")
# What another sender adds around a street: a district or quarter.
_DISTRICTS = ("Central District", "Old Town", "Downtown", "Centro", "Mitte", "Industrial Zone")
_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "163.com", "mail.ru")
_TRANSLIT_VARIANTS = (
    ("ya", "ia"), ("yu", "iu"), ("kh", "h"), ("y", "i"), ("ts", "tz"), ("j", "dj"),
    ("sh", "ch"), ("ou", "u"), ("iy", "y"), ("zh", "j"), ("ie", "ye"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    family: str
    positive: bool
    query: Query
    target_incident: str = ""


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    incidents: tuple[Incident, ...]
    cases: tuple[Case, ...]


@dataclass(slots=True)
class FamilyFigures:
    cases: int = 0
    alerts: int = 0
    reds: int = 0

    def as_dict(self, positive: bool) -> dict[str, float | int | bool]:
        rate = self.alerts / self.cases if self.cases else 0.0
        out: dict[str, float | int | bool] = {"cases": self.cases, "positive": positive}
        if positive:
            out["recall_alert"] = round(rate, 4)
            out["recall_red"] = round(self.reds / self.cases if self.cases else 0.0, 4)
        else:
            out["false_alert_rate"] = round(rate, 4)
            out["red_rate"] = round(self.reds / self.cases if self.cases else 0.0, 4)
        return out


@dataclass(slots=True)
class Figures:
    by_family: dict[str, FamilyFigures] = field(default_factory=dict)

    def _sum(self, positive: bool) -> FamilyFigures:
        families = POSITIVE_FAMILIES if positive else NEGATIVE_FAMILIES
        total = FamilyFigures()
        for name in families:
            fig = self.by_family.get(name, FamilyFigures())
            total.cases += fig.cases
            total.alerts += fig.alerts
            total.reds += fig.reds
        return total

    def as_dict(self) -> dict[str, object]:
        pos, neg = self._sum(True), self._sum(False)
        reds = pos.reds + neg.reds
        return {
            "positives": pos.cases,
            "negatives": neg.cases,
            "recall_alert": round(pos.alerts / pos.cases, 4) if pos.cases else 0.0,
            "recall_red": round(pos.reds / pos.cases, 4) if pos.cases else 0.0,
            "false_alert_rate": round(neg.alerts / neg.cases, 4) if neg.cases else 0.0,
            "red_precision": round(pos.reds / reds, 4) if reds else 1.0,
            "by_family": {
                name: fig.as_dict(name in POSITIVE_FAMILIES) for name, fig in self.by_family.items()
            },
        }


def is_alert(result: Result, target: str) -> tuple[bool, bool]:
    """(alert, red) for a positive case: the item is AMBER/RED *because of* the target."""
    for party in result.parties:
        for match in party.matches:
            if match.incident.incident_id == target and match.stoplight is not Stoplight.GREEN:
                return result.stoplight is not Stoplight.GREEN, result.stoplight is Stoplight.RED
    return False, False


def evaluate(screen: Callable[[Query], Result], cases: Sequence[Case]) -> Figures:
    figures = Figures()
    for case in cases:
        result = screen(case.query)
        fig = figures.by_family.setdefault(case.family, FamilyFigures())
        fig.cases += 1
        if case.positive:
            alert, red = is_alert(result, case.target_incident)
        else:
            alert = result.stoplight is not Stoplight.GREEN
            red = result.stoplight is Stoplight.RED
        fig.alerts += alert
        fig.reds += red
    return figures


# --- building the set ----------------------------------------------------------------------


def _edit(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if op == 0:
        return word[:i] + letter + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    if op == 2:
        return word[:i] + letter + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _typo(rng: random.Random, name: str) -> str:
    words = anyascii(name).split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    words[longest] = _edit(rng, words[longest])
    return " ".join(words)


def _transliterate(rng: random.Random, name: str) -> str:
    latin = anyascii(name)
    for a, b in rng.sample(_TRANSLIT_VARIANTS, 3):
        if a in latin.lower():
            latin = re.sub(a, b, latin, count=1, flags=re.IGNORECASE)
    return latin


def _strip_legal(name: str) -> str:
    for forms in LEGAL_FORMS.values():
        for form in forms:
            if name.endswith(" " + form):
                return name[: -len(form) - 1]
    return name


def _legal_form(rng: random.Random, name: str, country: str) -> str:
    base = _strip_legal(name)
    forms = LEGAL_FORMS.get(country, ("Ltd", "Limited", "LLC", "Co., Ltd."))
    return base if rng.random() < 0.4 else f"{base} {rng.choice(forms)}"


def _reorder(rng: random.Random, name: str, is_person: bool) -> str:
    words = name.split()
    if is_person and len(words) >= 2:
        return f"{words[-1].upper()}, {' '.join(words[:-1])}"
    base = _strip_legal(name)
    words = base.split()
    if len(words) >= 2:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words) + name[len(base) :]


def _abbreviate(rng: random.Random, name: str, is_person: bool) -> str:
    for word, short in _ABBREVIATIONS.items():
        if word in name:
            return name.replace(word, short)
    if is_person:
        words = name.split()
        return f"{words[0]} {rng.choice('ABCDEFGHJKLMNPRST')}. {' '.join(words[1:])}"
    return f"{_strip_legal(name)} {rng.choice(('Co', 'Company', 'Ltd'))}"


def _address_variant(rng: random.Random, lines: tuple[str, ...]) -> tuple[str, ...]:
    """The same street address as another sender writes it."""
    text = ", ".join(lines)
    roll = rng.random()
    if roll < 0.2:
        return lines
    if roll < 0.35:
        return (anyascii(text),)
    if roll < 0.5:
        return (re.sub(r"[.,]", " ", anyascii(text)).upper(),)
    if roll < 0.75:
        for long, short in rng.sample(_STREET_WORDS, len(_STREET_WORDS)):
            word = re.compile(rf"(?<!\w){re.escape(long)}(?!\w)")
            if word.search(text):
                return (word.sub(short, text, count=1),)
        return (text,)
    if roll < 0.88:
        number = re.search(r"[0-9]+[a-zA-Z]?", text)
        if number is None:
            return (text,)
        rest = (text[: number.start()] + text[number.end() :]).strip(" ,")
        moved = f"{number.group()} {rest}" if number.start() > 0 else f"{rest} {number.group()}"
        return (re.sub(r"\s+", " ", moved),)
    if roll < 0.94:
        return (text, rng.choice(_UNITS))
    return (f"{text}, {rng.choice(_DISTRICTS)}",)


def _address_key(party: Party) -> tuple[str, str, str, str] | None:
    """Ground truth's own, loose notion of one building: the city, the house number (the first
    number) and the first word of the address. Loose on purpose: a negative that may share a
    building with an incident party is left out rather than counted as a false alert."""
    text = anyascii(" ".join(party.address_lines)).casefold()
    number = re.search(r"[0-9]+", text)
    words = re.findall(r"[a-z]+", text)
    if number is None or not words:
        return None
    return (party.country_code, party.city.casefold(), number.group(), words[0])


def _national_phone(phone: str) -> str:
    """ "+49 1512345678" as written at home: the national format, with the country's own trunk
    prefix where it has one (phonenumbers' metadata)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def _name_key(raw: str) -> str:
    """Names with the same core tokens in any order are the same name ("Fogaça Novaes")."""
    return " ".join(sorted(_core.normalize_name(raw)[1]))


def _identifiers(party: Party) -> set[str]:
    found = _core.identifiers(list(party.phones), list(party.emails), [], party.country_code)
    return {value for _, value in found}


def haversine_m(
    lat: float, lon: float, lats: npt.NDArray[np.float64], lons: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Great-circle metres from one point to many (the ground truth's own, not the index's)."""
    phi1, phi2 = math.radians(lat), np.radians(lats)
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * np.cos(phi2) * np.sin((np.radians(lons) - math.radians(lon)) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))), np.float64)


class _Truth:
    """Brute-force ground truth over every incident party, independent of the index."""

    def __init__(self, incidents: Sequence[Incident]) -> None:
        self.cores: set[str] = set()
        self.token_sets: list[frozenset[str]] = []
        self.names_with: dict[str, list[int]] = {}
        self.identifiers: set[str] = set()
        self.addresses: set[tuple[str, str, str, str]] = set()
        lats: list[float] = []
        lons: list[float] = []
        for incident in incidents:
            for party in incident.parties:
                for raw in party.names():
                    self.cores.add(_name_key(raw))
                    self._add_tokens(raw)
                self.identifiers.update(_identifiers(party))
                address = _address_key(party)
                if address is not None:
                    self.addresses.add(address)
                if party.location is not None:
                    lats.append(party.location.lat)
                    lons.append(party.location.lon)
        self.lats = np.array(lats)
        self.lons = np.array(lons)

    def _add_tokens(self, raw: str) -> None:
        tokens = frozenset(_core.normalize_name(raw)[1])
        if len(tokens) >= 2:
            for token in tokens:
                self.names_with.setdefault(token, []).append(len(self.token_sets))
            self.token_sets.append(tokens)

    def parties_with(self, token: str) -> int:
        """How many recorded names (of two words or more) hold the word."""
        return len(self.names_with.get(token, ()))

    def _nests(self, raw: str) -> bool:
        """A recorded name holds all of this name's words, or this name all of a recorded
        name's: the same person with a given name more or fewer, as far as anyone can tell."""
        tokens = frozenset(_core.normalize_name(raw)[1])
        if len(tokens) == 1:
            return any(token in self.names_with for token in tokens)  # a word of a record's
        if len(tokens) < 2:
            return False
        shared = Counter(i for token in tokens for i in self.names_with.get(token, ()))
        return any(
            count == len(tokens) or count == len(self.token_sets[i]) for i, count in shared.items()
        )

    def is_clean(self, party: Party, radius_m: float) -> bool:
        if any(_name_key(raw) in self.cores or self._nests(raw) for raw in party.names()):
            return False
        if not self.identifiers.isdisjoint(_identifiers(party)):
            return False  # a phone or e-mail of an incident party is an association
        if _address_key(party) in self.addresses:
            return False  # the same premises as an incident party
        if party.location is not None:
            loc = party.location
            dist = haversine_m(loc.lat, loc.lon, self.lats, self.lons)
            if len(dist) and float(dist.min()) <= radius_m:
                return False
        return True


def build_evaluation_set(
    seed: int = 2026,
    background: int = 20_000,
    per_family: int = 250,
    negative_radius_m: float = 300.0,
) -> EvaluationSet:
    """A reproducible labelled set: `background` incidents, `per_family` cases per family."""
    gen = Generator(seed)
    rng = gen.rng
    incidents = tuple(gen.incidents(background))
    truth = _Truth(incidents)
    named = [
        (incident, party)
        for incident in incidents
        for party in incident.parties
        if party.names() and party.area is None
    ]
    cases: list[Case] = []

    def positive(family: str, make: Callable[[Incident, Party], Party | None]) -> None:
        made = 0
        while made < per_family:
            incident, target = rng.choice(named)
            query_party = make(incident, target)
            if query_party is None:
                continue
            cases.append(Case(family, True, item_query(rng, (query_party,)), incident.incident_id))
            made += 1

    def name_only(target: Party, name: str) -> Party:
        is_person = bool(target.name)
        return Party(
            role=target.role,
            name=name if is_person else "",
            business_name="" if is_person else name,
            city=target.city,
            country_code=target.country_code,
        )

    def name_variant(target: Party, name: str) -> Party:
        """A spelling of the target's name as a shipment would carry it: half the time with
        the target's own address, a quarter with another address in its country (moved,
        another site) and a quarter with nothing but the city."""
        party = name_only(target, name)
        roll = rng.random()
        if roll < SAME_ADDRESS_SHARE:
            return replace(party, address_lines=target.address_lines, postcode=target.postcode)
        if roll < SAME_ADDRESS_SHARE + OTHER_ADDRESS_SHARE:
            pool = next(p for p in gen.pools if p.country == target.country_code)
            elsewhere = gen.party(target.role, pool)
            return replace(
                party, address_lines=elsewhere.address_lines, postcode=elsewhere.postcode,
                city=elsewhere.city, location=elsewhere.location,
            )  # fmt: skip
        return party

    def primary(target: Party) -> str:
        return target.name or target.business_name

    positive("typo", lambda _, t: name_variant(t, _typo(rng, primary(t))))
    positive(
        "transliteration",
        lambda _, t: (
            name_variant(t, _transliterate(rng, primary(t))) if not primary(t).isascii() else None
        ),
    )
    positive(
        "legal_form",
        lambda _, t: (
            name_variant(t, _legal_form(rng, t.business_name, t.country_code))
            if t.business_name
            else None
        ),
    )
    positive("reorder", lambda _, t: name_variant(t, _reorder(rng, primary(t), bool(t.name))))
    positive(
        "abbreviation", lambda _, t: name_variant(t, _abbreviate(rng, primary(t), bool(t.name)))
    )

    def alias(_: Incident, target: Party) -> Party | None:
        if not (target.phones or target.emails):
            return None
        other = gen.party(target.role)
        return replace(other, phones=target.phones, emails=target.emails, location=None)

    positive("alias", alias)

    def jitter(_: Incident, target: Party) -> Party | None:
        if target.location is None:
            return None
        moved = offset(target.location, rng.uniform(0, 150), rng.uniform(0, 360))
        return replace(name_only(target, primary(target)), location=moved)

    positive("gps_jitter", jitter)

    def same_building(_: Incident, target: Party) -> Party | None:
        if target.location is None:
            return None
        other = gen.party(target.role)
        moved = offset(target.location, rng.uniform(0, 20), rng.uniform(0, 360))
        return replace(other, location=moved, phones=(), emails=())

    positive("same_building", same_building)

    def pool_of(country: str) -> LocalePool:
        return next(p for p in gen.pools if p.country == country)

    def alias_same_address(_: Incident, target: Party) -> Party | None:
        """Another registered name of the entity at its recorded street address."""
        if target.location is None or not target.address_lines:
            return None
        other = gen.party(target.role, pool_of(target.country_code))
        return replace(
            other, address_lines=_address_variant(rng, target.address_lines),
            postcode=target.postcode if rng.random() < 0.6 else "", city=target.city,
            location=offset(target.location, rng.uniform(0, 150), rng.uniform(0, 360)),
            phones=(), emails=(),
        )  # fmt: skip

    positive("alias_same_address", alias_same_address)

    def geocoder_drift(_: Incident, target: Party) -> Party | None:
        """The recorded name at the recorded address, placed by another geocoder."""
        if target.location is None:
            return None
        name = primary(target) if rng.random() < 0.6 else _typo(rng, primary(target))
        return replace(
            name_only(target, name), address_lines=_address_variant(rng, target.address_lines),
            location=offset(target.location, rng.uniform(150, 1000), rng.uniform(0, 360)),
        )  # fmt: skip

    positive("geocoder_drift", geocoder_drift)
    fakers = {country: Faker(locale) for locale, country, _ in LOCALES}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + i)

    def honorific(country: str) -> str:
        fake = fakers[country]
        for _ in range(5):
            title = str(fake.prefix()).strip()
            if title:
                return title
        return rng.choice(("Mr", "Mrs", "Dr.", "Frau Dr.", "Herr", "Sheikh", "Haji", "Prof."))

    positive(
        "title",
        lambda _, t: name_variant(t, f"{honorific(t.country_code)} {t.name}") if t.name else None,
    )

    def middle_name(_: Incident, target: Party) -> Party | None:
        words = target.name.split()
        if len(words) < 2:
            return None
        if len(words) >= 3 and rng.random() < 0.5:
            del words[rng.randrange(1, len(words) - 1)]  # a middle name dropped
        else:
            given = rng.choice(pool_of(target.country_code).first_names).split()[0]
            words.insert(len(words) - 1, given)  # a middle name or patronymic added
        return name_variant(target, " ".join(words))

    positive("middle_name", middle_name)

    def initial(_: Incident, target: Party) -> Party | None:
        words = anyascii(target.name).split()
        if len(words) < 2 or not words[0][:1].isalpha():
            return None
        return name_variant(target, " ".join([f"{words[0][0]}.", *words[1:]]))

    positive("initial", initial)

    def joined_words(_: Incident, target: Party) -> Party | None:
        words = anyascii(target.business_name).split()
        if len(words) < 3:
            return None
        return name_variant(
            target, " ".join([words[0].capitalize() + words[1].capitalize(), *words[2:]])
        )

    positive("joined_words", joined_words)

    def identifier_spelling(_: Incident, target: Party) -> Party | None:
        """The recorded phone or e-mail as a smuggler writes it, under another name."""
        other = gen.party(target.role, pool_of(target.country_code))
        if target.emails and (not target.phones or rng.random() < 0.5):
            email = target.emails[0]
            written = rng.choice(
                (f"mailto:{email}", f"<{email}>", email.upper(), email.replace("e", "\u0435", 1))
            )
            return replace(other, emails=(written,), phones=(), location=None)
        if target.phones:
            phone = target.phones[0]
            if rng.random() < 0.5:
                written = _national_phone(phone)
            else:
                written = (
                    phone.replace("0", "O", 1) if "0" in phone[4:] else phone.replace("1", "l", 1)
                )
            return replace(other, phones=(written,), emails=(), location=None)
        return None

    positive("identifier_spelling", identifier_spelling)

    def distinctive_word(_: Incident, target: Party) -> Party | None:
        """A firm's own word alone ("Hongda" for "Shanghai Hongda Chemical"), in its city."""
        if not target.business_name:
            return None
        words = [w for w in _core.normalize_name(target.business_name)[1] if len(w) >= 4]
        rare = [w for w in words if truth.parties_with(w) <= RARE_WORD_PARTIES]
        originals = [w for w in target.business_name.split() if anyascii(w).casefold() in rare]
        if not originals:
            return None
        return name_variant(target, rng.choice(originals))

    positive("distinctive_word", distinctive_word)

    def negative(family: str, make: Callable[[], Party | None]) -> None:
        made = 0
        while made < per_family:
            party = make()
            if party is None or not truth.is_clean(party, negative_radius_m):
                continue
            cases.append(Case(family, False, item_query(rng, (party,))))
            made += 1

    negative("other_name", lambda: gen.party(rng.choice(list(PartyRole))))

    def nearby_other() -> Party | None:
        _, target = rng.choice(named)
        if target.location is None:
            return None
        moved = offset(target.location, rng.uniform(300, 2000), rng.uniform(0, 360))
        return replace(gen.party(target.role), location=moved, country_code=target.country_code)

    negative("nearby_other", nearby_other)

    def generic_tokens() -> Party | None:
        _, target = rng.choice(named)
        if not target.business_name:
            return None
        pool = next(p for p in gen.pools if p.country == target.country_code)
        words = [w for w in GENERIC_WORDS if w in target.business_name] or [
            rng.choice(GENERIC_WORDS)
        ]
        name = f"{rng.choice(pool.last_names)} {words[0]} {rng.choice(('Ltd', 'Co., Ltd.', ''))}"
        return Party(
            target.role, business_name=name.strip(), city=target.city,
            country_code=target.country_code,
        )  # fmt: skip

    negative("generic_tokens", generic_tokens)

    def shared_surname() -> Party | None:
        _, target = rng.choice(named)
        if not target.name:
            return None
        pool = next(p for p in gen.pools if p.country == target.country_code)
        surname = target.name.split()[-1]
        return Party(
            target.role, name=f"{rng.choice(pool.first_names)} {surname}",
            city=target.city, country_code=target.country_code,
        )  # fmt: skip

    negative("shared_surname", shared_surname)

    def same_street_neighbour() -> Party | None:
        """Another name a few doors down the same street, 60-200 m away."""
        _, target = rng.choice(named)
        key = _address_key(target)
        if key is None:
            return None
        number = int(key[2])
        step = rng.choice((-1, 1)) * rng.randint(8, 25)
        if not 0 < number + step < MAX_HOUSE_NUMBER:
            step = -step
        line = " ".join(target.address_lines)
        match = re.search(r"[0-9]+", line)
        assert match is not None
        moved = line[: match.start()] + str(number + step) + line[match.end() :]
        pool = pool_of(target.country_code)
        other = gen.party(target.role, pool)
        template = next(
            (t for t in pool.streets if re.sub(r"\{[nu]\}", "", t).strip() in line), None
        )
        location = (
            gen.street_point(target.city, template, number + step)
            if template is not None and target.location is not None
            else None
        )
        return replace(
            other, address_lines=(moved,), city=target.city, location=location,
            postcode=target.postcode, phones=(), emails=(),
        )  # fmt: skip

    negative("same_street_neighbour", same_street_neighbour)

    def short_name() -> Party | None:
        _, target = rng.choice(named)
        letters = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") for _ in range(rng.randint(1, 2)))
        return Party(
            target.role, business_name=rng.choice((letters, letters.lower(), f"{letters}.")),
            city=target.city, country_code=target.country_code,
        )  # fmt: skip

    negative("short_name", short_name)

    def generic_word_only() -> Party | None:
        _, target = rng.choice(named)
        word = rng.choice(GENERIC_WORDS)
        return Party(
            target.role, business_name=rng.choice((word, f"{word} Co", f"{word} Ltd")),
            city=target.city, country_code=target.country_code,
        )  # fmt: skip

    negative("generic_word_only", generic_word_only)
    return EvaluationSet(incidents, tuple(cases))


def screening_date() -> date:
    return TODAY


__all__ = [
    "NEGATIVE_FAMILIES",
    "POSITIVE_FAMILIES",
    "Case",
    "EvaluationSet",
    "Figures",
    "build_evaluation_set",
    "evaluate",
    "screening_date",
]
