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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import numpy.typing as npt
from anyascii import anyascii

from index import _core
from index.model import Incident, Party, PartyRole, Query, Result, Stoplight
from index.synthetic import GENERIC_WORDS, LEGAL_FORMS, TODAY, Generator, item_query, offset

POSITIVE_FAMILIES = (
    "typo", "transliteration", "legal_form", "reorder", "abbreviation", "alias", "gps_jitter",
    "same_building",
)  # fmt: skip
NEGATIVE_FAMILIES = ("other_name", "nearby_other", "generic_tokens", "shared_surname")
# How name variants carry an address (the rest carry only the city).
EARTH_RADIUS_M = 6_371_008.8
SAME_ADDRESS_SHARE = 0.5
OTHER_ADDRESS_SHARE = 0.25
_ABBREVIATIONS = {
    "International": "Intl", "Technology": "Tech", "Trading": "Trdg", "Logistics": "Logistic",
    "Pharma": "Pharmaceuticals", "Import Export": "Impex", "Industrial": "Industries",
    "Chemical": "Chemicals", "Services": "Svcs", "Group": "Grp",
}  # fmt: skip
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
        self.identifiers: set[str] = set()
        lats: list[float] = []
        lons: list[float] = []
        for incident in incidents:
            for party in incident.parties:
                for raw in party.names():
                    self.cores.add(_name_key(raw))
                self.identifiers.update(_identifiers(party))
                if party.location is not None:
                    lats.append(party.location.lat)
                    lons.append(party.location.lon)
        self.lats = np.array(lats)
        self.lons = np.array(lons)

    def is_clean(self, party: Party, radius_m: float) -> bool:
        if any(_name_key(raw) in self.cores for raw in party.names()):
            return False
        if not self.identifiers.isdisjoint(_identifiers(party)):
            return False  # a phone or e-mail of an incident party is an association
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
