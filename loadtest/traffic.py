"""The screening traffic the load tests send, regenerated from seeds.

Parties are drawn like real postal traffic: mostly people and firms with no record, a few
percent near-misses of recorded parties (a typo or a swapped token, as a clerk would type
them), and under one percent true hits (a recorded party as recorded). Incident `n` of the
store's seed is regenerated on demand (`Generator.incident_at`), so no 1M-incident list is held.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from index.model import Party, PartyRole, s10_check_digit
from index.synthetic import Generator, offset
from preflight.v1 import preflight_pb2 as pb

STORE_SEED = 5
CLEAN_SEED = 77
NEAR_SHARE = 0.04
HIT_SHARE = 0.008
BATCH_ITEMS = 500  # the customs scenario's ScreenBatch size
ROLES = {PartyRole.EXPORTER: pb.PARTY_ROLE_EXPORTER, PartyRole.IMPORTER: pb.PARTY_ROLE_IMPORTER,
         PartyRole.OTHER: pb.PARTY_ROLE_EXPORTER}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mix:
    clean: int
    near: int
    hit: int


def s10(n: int) -> str:
    digits = f"{n % 10**8:08d}"
    return f"RR{digits}{s10_check_digit(digits)}DE"


def party_pb(party: Party, role: PartyRole, renamed: str | None = None) -> pb.Party:
    """The party as a request carries it; `renamed` replaces its name (identifiers dropped)."""
    person, business = party.name, party.business_name
    if renamed is not None:
        if person:
            person = renamed
        else:
            business = renamed
    message = pb.Party(
        role=ROLES[role],
        name=person,
        business_name=business,
        address_lines=list(party.address_lines),
        postcode=party.postcode,
        city=party.city,
        country_code=party.country_code,
        phones=list(party.phones) if renamed is None else [],
        emails=list(party.emails) if renamed is None else [],
    )
    if party.location is not None:
        message.location.CopyFrom(pb.Location(lat=party.location.lat, lon=party.location.lon))
    return message


SYLLABLES = ("ka", "ro", "mi", "tel", "dan", "vor", "sha", "lin", "qu", "zer", "po", "bex",
             "ul", "fen", "tri", "mo", "sa", "gor", "ni", "ved")  # fmt: skip
CLEAN_SPREAD_M = (15_000.0, 60_000.0)


def _unrecorded_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


def _unrecorded(rng: random.Random, party: Party) -> Party:
    """A party no incident records. The synthetic corpus draws names from finite per-locale
    pools and places parties within 12 km of a few city centres, so at 1M incidents nearly
    every pooled name and many doorsteps are recorded; real clean traffic is not like that.
    The surname (or the firm's first word) becomes a made-up word and the address moves
    15-60 km out of town."""
    if party.name:
        first = party.name.split()[0]
        renamed = replace(party, name=f"{first} {_unrecorded_word(rng)}")
    else:
        words = party.business_name.split()
        renamed = replace(party, business_name=" ".join([_unrecorded_word(rng), *words[1:]]))
    if renamed.location is None:
        return renamed
    moved = offset(renamed.location, rng.uniform(*CLEAN_SPREAD_M), rng.uniform(0, 360))
    return replace(renamed, location=moved)


def _near_miss(rng: random.Random, text: str) -> str:
    """A recorded name as a clerk might type it: two letters swapped, or two tokens."""
    tokens = text.split()
    if len(tokens) > 1 and rng.random() < 0.5:
        i = rng.randrange(len(tokens) - 1)
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        return " ".join(tokens)
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


class Traffic:
    """Screen requests with the postal mix, from a seed; `incidents` is the store's size."""

    def __init__(self, seed: int, incidents: int) -> None:
        self._rng = random.Random(seed)
        self._incidents = incidents
        self._clean = Generator(CLEAN_SEED * 1000 + seed)
        self._recorded = Generator(STORE_SEED)
        self._serial = seed * 10_000_000
        self.mix = Mix(0, 0, 0)

    def _recorded_party(self) -> Party:
        incident = self._recorded.incident_at(self._rng.randrange(self._incidents))
        return self._rng.choice([p for p in incident.parties if p.names()] or incident.parties)

    def request(self) -> pb.ScreenRequest:
        draw = self._rng.random()
        exporter = _unrecorded(self._rng, self._clean.party(PartyRole.EXPORTER))
        importer = _unrecorded(self._rng, self._clean.party(PartyRole.IMPORTER))
        parties = [party_pb(exporter, PartyRole.EXPORTER), party_pb(importer, PartyRole.IMPORTER)]
        slot = self._rng.randrange(2)
        role = (PartyRole.EXPORTER, PartyRole.IMPORTER)[slot]
        if draw < HIT_SHARE:
            parties[slot] = party_pb(self._recorded_party(), role)
            self.mix = Mix(self.mix.clean, self.mix.near, self.mix.hit + 1)
        elif draw < HIT_SHARE + NEAR_SHARE:
            recorded = self._recorded_party()
            name = _near_miss(self._rng, recorded.name or recorded.business_name)
            parties[slot] = party_pb(recorded, role, renamed=name)
            self.mix = Mix(self.mix.clean, self.mix.near + 1, self.mix.hit)
        else:
            self.mix = Mix(self.mix.clean + 1, self.mix.near, self.mix.hit)
        self._serial += 1
        return pb.ScreenRequest(
            item=pb.Item(item_id=s10(self._serial), channel=pb.CHANNEL_PARCEL_POST),
            parties=parties,
        )

    def batch(self, size: int) -> pb.ScreenBatchRequest:
        return pb.ScreenBatchRequest(items=[self.request() for _ in range(size)])
