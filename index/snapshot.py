"""The immutable Snapshot, the Delta laid over it, and screening.

A Snapshot is built in bulk from incidents and never changes. It keeps no incident objects:
every field a verdict needs lives in NumPy columns and packed UTF-8 buffers, and every key
(names, identifiers, H3 cells) in one Postings table, so memory per incident stays small and
a reader never takes a lock. An IndexView is a Snapshot plus a Delta: a small overlay
Snapshot of recent upserts and the base rows they replace or delete. Compaction is a fresh
build of everything; the view it replaces answers the same in the meantime.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from itertools import accumulate
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from index import geo, names
from index.model import (
    STOPLIGHT_RANK,
    Area,
    Channel,
    Evidence,
    Incident,
    IncidentStatus,
    IncidentSummary,
    Match,
    Party,
    PartyResult,
    PartyRole,
    Query,
    ReasonCode,
    Result,
    Stoplight,
    validate_query,
)
from index.normalize import (
    NormalizedName,
    canonical_domain,
    canonical_email,
    canonical_phone,
    normalize_name,
    normalize_place,
    normalize_postcode,
)
from index.policy import Policy
from index.postings import Int32Array, Int64Array, Postings
from index.scoring import (
    DOMAIN,
    EMAIL,
    KINDS,
    PHONE,
    SUBSTANCE_CLASSES,
    PairEvidence,
    combine_scores,
    evidence_points,
    incident_weights,
    points_for,
    points_upper_bound,
    score_of,
    stoplight_of,
)

_KINDS = KINDS
_SUBSTANCES = SUBSTANCE_CLASSES
_CHANNELS = tuple(Channel)
_ROLES = tuple(PartyRole)
_NAME_SEP = "\x1e"
_REASON_ORDER = {code: i for i, code in enumerate(ReasonCode)}
_IDENTIFIER_FAMILIES = {PHONE: names.PHONE, EMAIL: names.EMAIL, DOMAIN: names.DOMAIN}


def _country_code(code: str) -> int:
    return (ord(code[0]) << 8) | ord(code[1]) if len(code) == 2 else 0


def _place_key(text: str) -> int:
    """32-bit key of a normalised place or postcode; 0 means unknown."""
    return (hash(text) & 0xFFFF_FFFF) or 1 if text else 0


class PackedStrings:
    """Many short strings in one UTF-8 buffer: a few bytes of overhead each, not ~60. The
    offsets are a stdlib array: indexing it gives Python ints, several times cheaper than
    NumPy scalars on the hot path."""

    __slots__ = ("_blob", "_offsets")

    def __init__(self, strings: Iterable[str]) -> None:
        encoded = [s.encode() for s in strings]
        self._blob = b"".join(encoded)
        typecode = "i" if len(self._blob) < 2**31 else "q"
        self._offsets = array(typecode, accumulate(map(len, encoded), initial=0))

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, npt.NDArray[np.generic]], name: str
    ) -> PackedStrings:
        """The strings stored as the `name.blob` and `name.offsets` columns."""
        blob = np.asarray(columns[f"{name}.blob"], np.uint8)
        offsets = np.asarray(columns[f"{name}.offsets"], np.int64)
        if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(blob):
            raise ValueError("packed string offsets do not fit their buffer")
        if len(offsets) > 1 and bool(np.any(offsets[1:] < offsets[:-1])):
            raise ValueError("packed string offsets go backwards")
        packed = cls(())
        packed._blob = blob.tobytes()
        packed._offsets = array("i" if len(blob) < 2**31 else "q", offsets.tolist())
        return packed

    def columns(self) -> tuple[npt.NDArray[np.uint8], Int64Array]:
        return np.frombuffer(self._blob, np.uint8), np.array(self._offsets, np.int64)

    def __getitem__(self, i: int) -> str:
        return self._blob[self._offsets[i] : self._offsets[i + 1]].decode()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._offsets.itemsize * len(self._offsets)


@dataclass(frozen=True, slots=True)
class PreparedParty:
    """A query party turned into lookup keys once, then matched against any snapshot."""

    party: Party
    names: tuple[NormalizedName, ...]
    keys: Int64Array  # name keys, then identifier keys, then cell keys
    name_weights: npt.NDArray[np.float64]
    token_groups: list[int]  # per name key, the query token it stands for as a whole, or -1
    identifier_kinds: tuple[str, ...]
    n_cells: int
    country: int
    postcode: int
    city: int


def prepare_party(party: Party) -> PreparedParty:
    normalized = tuple(n for n in map(normalize_name, party.names()) if n.tokens)
    name_keys: dict[int, float] = {}
    groups: dict[int, int] = {}
    for n, name in enumerate(normalized):
        looked_up, whole_tokens = names.query_name_keys(name)
        for k, w in looked_up.items():
            name_keys[k] = max(w, name_keys.get(k, 0.0))
        for t, token_keys in enumerate(whole_tokens):
            for k in token_keys:
                groups.setdefault(k, n * _MAX_TOKENS + t)
    identifier_keys: dict[int, str] = {}
    for kind, value in identifiers_of(party):
        identifier_keys[names.key(_IDENTIFIER_FAMILIES[kind], value)] = kind
    cells = []
    if party.location is not None:
        cells = [c ^ names.CELL for c in geo.disk_cells(party.location.lat, party.location.lon)]
    keys = np.array([*name_keys, *identifier_keys, *cells], dtype=np.int64)
    return PreparedParty(
        party=party,
        names=normalized,
        keys=keys,
        name_weights=np.fromiter(name_keys.values(), np.float64, len(name_keys)),
        token_groups=[groups.get(k, -1) for k in name_keys],
        identifier_kinds=tuple(identifier_keys.values()),
        n_cells=len(cells),
        country=_country_code(party.country_code),
        postcode=_place_key(normalize_postcode(party.postcode)),
        city=_place_key(normalize_place(party.city)),
    )


def identifiers_of(
    party: Party, phone_of: Callable[[str, str], str | None] = canonical_phone
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for raw in party.phones:
        phone = phone_of(raw, party.country_code)
        if phone:
            found.append((PHONE, phone))
    for raw in party.emails:
        email = canonical_email(raw)
        if email:
            found.append((EMAIL, email))
    for raw in party.web_domains:
        domain = canonical_domain(raw)
        if domain:
            found.append((DOMAIN, domain))
    return found


def _pack_names(normalized: list[NormalizedName]) -> str:
    return _NAME_SEP.join(name.core for name in normalized)


def _unpack_names(packed: str) -> list[str]:
    if not packed:
        return []
    return packed.split(_NAME_SEP) if _NAME_SEP in packed else [packed]


_NAME_KEY, _IDENTIFIER_KEY, _CELL_KEY = 0, 1, 2
_SAME_CITY_BONUS = 1.0  # about an eighth of a rare token's IDF weight: tie-breaks
_SAME_POSTCODE_BONUS = 2.0
_MAX_TOKENS = 1 << 10  # token groups of one party's names: name index · this + token index


def _agree(query_key: int, incident_key: int) -> bool | None:
    """Whether two place keys agree; None when either is unknown (0)."""
    return query_key == incident_key if query_key and incident_key else None


def _pair(owners: Int64Array, parties: Int32Array) -> Int64Array:
    """(query party, incident party) in one int64: owner in the high half."""
    return np.asarray((owners.astype(np.int64) << 32) | parties.astype(np.int64), np.int64)


def _top_per_owner(pairs: Int64Array, scores: npt.NDArray[np.float64], k: int) -> Int64Array:
    """The k best-scoring pairs of each owner (ties: lower party id first)."""
    if not len(pairs):
        return pairs
    order = np.lexsort((pairs, -scores, pairs >> 32))
    owners = (pairs >> 32)[order]
    rank = np.arange(len(order)) - np.searchsorted(owners, owners, side="left")
    return pairs[order[rank < k]]


@dataclass(frozen=True, slots=True)
class _Batch:
    """The keys of many prepared query parties, looked up in one go."""

    size: int
    owners: Int64Array  # query party of each key
    kinds: npt.NDArray[np.int8]
    weights: npt.NDArray[np.float64]  # name keys' weights, 0 for the others
    groups: npt.NDArray[np.int64]  # token group of whole-token name keys, -1 for the others
    identifier_kinds: list[str]  # per key, "" unless an identifier key
    key_ranges: list[tuple[int, int]]  # each owner's [first, last) key index
    starts: Int64Array
    ends: Int64Array
    counts: Int64Array
    lats: npt.NDArray[np.float64]  # per owner, NaN without a location
    lons: npt.NDArray[np.float64]
    postcodes: npt.NDArray[np.uint32]
    cities: npt.NDArray[np.uint32]

    @classmethod
    def of(cls, prepared: Sequence[PreparedParty], postings: Postings) -> _Batch:
        key_ranges: list[tuple[int, int]] = []
        kinds: list[int] = []
        weights: list[float] = []
        groups: list[int] = []
        identifier_kinds: list[str] = []
        position = 0
        for party in prepared:
            n_names, n_ids = len(party.name_weights), len(party.identifier_kinds)
            kinds += [_NAME_KEY] * n_names + [_IDENTIFIER_KEY] * n_ids + [_CELL_KEY] * party.n_cells
            weights += party.name_weights.tolist() + [0.0] * (n_ids + party.n_cells)
            groups += party.token_groups + [-1] * (n_ids + party.n_cells)
            identifier_kinds += [""] * n_names + list(party.identifier_kinds)
            identifier_kinds += [""] * party.n_cells
            key_ranges.append((position, position + len(party.keys)))
            position += len(party.keys)
        keys = np.concatenate([p.keys for p in prepared]) if prepared else np.empty(0, np.int64)
        starts, ends = postings.find(keys)
        starts = starts.astype(np.int64)
        ends = ends.astype(np.int64)
        locations = [p.party.location for p in prepared]
        return cls(
            size=len(prepared),
            owners=np.repeat(np.arange(len(prepared)), [len(p.keys) for p in prepared]),
            kinds=np.array(kinds, np.int8),
            weights=np.array(weights, np.float64),
            groups=np.array(groups, np.int64),
            identifier_kinds=identifier_kinds,
            key_ranges=key_ranges,
            starts=starts,
            ends=ends,
            counts=ends - starts,
            lats=np.array([loc.lat if loc else math.nan for loc in locations], np.float64),
            lons=np.array([loc.lon if loc else math.nan for loc in locations], np.float64),
            postcodes=np.array([p.postcode for p in prepared], np.uint32),
            cities=np.array([p.city for p in prepared], np.uint32),
        )


class Snapshot:
    """An immutable index of incident parties. Build it with `build_snapshot`."""

    def __init__(
        self,
        *,
        generation: int,
        incident_ids: PackedStrings,
        id_hashes: Int64Array,
        id_rows: Int32Array,
        versions: Int32Array,
        kinds: npt.NDArray[np.int8],
        substances: npt.NDArray[np.int8],
        channels: npt.NDArray[np.int8],
        reported_on: Int32Array,
        reporting_countries: npt.NDArray[np.uint16],
        agency_ids: Int32Array,
        agencies: tuple[str, ...],
        contact_refs: PackedStrings,
        party_incident: Int32Array,
        party_role: npt.NDArray[np.int8],
        party_lat: npt.NDArray[np.float64],
        party_lon: npt.NDArray[np.float64],
        party_country: npt.NDArray[np.uint16],
        party_postcode: npt.NDArray[np.uint32],
        party_city: npt.NDArray[np.uint32],
        party_names: PackedStrings,
        postings: Postings,
        areas: geo.AreaIndex,
    ) -> None:
        self.generation = generation
        self._incident_ids = incident_ids
        self._id_hashes = id_hashes
        self._id_rows = id_rows
        self._versions = versions
        self._kinds = kinds
        self._substances = substances
        self._channels = channels
        self._reported_on = reported_on
        self._reporting_countries = reporting_countries
        self._agency_ids = agency_ids
        self._agencies = agencies
        self._contact_refs = contact_refs
        self._party_incident = party_incident
        self._party_role = party_role
        self._party_lat = party_lat
        self._party_lon = party_lon
        self._party_country = party_country
        self._party_postcode = party_postcode
        self._party_city = party_city
        self._party_names = party_names
        self._postings = postings
        self._areas = areas
        self._log_parties = math.log(max(len(party_incident), 1) + 1.0)

    # --- as flat arrays ---------------------------------------------------------------

    _ARRAYS: Mapping[str, type[np.generic]] = MappingProxyType({
        "id_hashes": np.int64, "id_rows": np.int32, "versions": np.int32, "kinds": np.int8,
        "substances": np.int8, "channels": np.int8, "reported_on": np.int32,
        "reporting_countries": np.uint16, "agency_ids": np.int32, "party_incident": np.int32,
        "party_role": np.int8, "party_lat": np.float64, "party_lon": np.float64,
        "party_country": np.uint16, "party_postcode": np.uint32, "party_city": np.uint32,
    })  # fmt: skip
    _PACKED = ("incident_ids", "contact_refs", "party_names")

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        """Everything the snapshot holds, as named flat arrays (no Python objects), for a
        caller to keep elsewhere; `from_columns` gives the same snapshot back. Its keys are
        keyed hashes of this process (see index.names): only a process with the same hash
        seed may restore them."""
        columns: dict[str, npt.NDArray[np.generic]] = {
            name: getattr(self, f"_{name}") for name in self._ARRAYS
        }
        for name in self._PACKED:
            blob, offsets = getattr(self, f"_{name}").columns()
            columns[f"{name}.blob"], columns[f"{name}.offsets"] = blob, offsets
        agencies = PackedStrings(self._agencies).columns()
        columns["agencies.blob"], columns["agencies.offsets"] = agencies
        columns["postings.keys"] = self._postings.keys
        columns["postings.starts"] = self._postings.starts
        columns["postings.values"] = self._postings.values
        for name, values in self._areas.columns().items():
            columns[f"areas.{name}"] = values
        return columns

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, npt.NDArray[np.generic]], generation: int
    ) -> Snapshot:
        """The snapshot `columns()` described. Raises ValueError (or KeyError for a missing
        column) when the columns do not describe one."""
        arrays = {name: np.asarray(columns[name], cls._ARRAYS[name]) for name in cls._ARRAYS}
        packed = {
            name: PackedStrings.from_columns(columns, name) for name in (*cls._PACKED, "agencies")
        }
        starts = columns["postings.starts"]
        postings = Postings(
            np.asarray(columns["postings.keys"], np.int64),
            np.asarray(starts, np.int64 if starts.dtype == np.int64 else np.int32),
            np.asarray(columns["postings.values"], np.int32),
        )
        areas = geo.AreaIndex.from_columns(
            {k.removeprefix("areas."): v for k, v in columns.items() if k.startswith("areas.")}
        )
        rows = len(packed["incident_ids"])
        parties = len(arrays["party_incident"])
        for name, values in arrays.items():
            expected = parties if name.startswith("party_") else rows
            if len(values) != expected:
                raise ValueError(f"column {name} has {len(values)} rows, not {expected}")
        if len(packed["contact_refs"]) != rows or len(packed["party_names"]) != parties:
            raise ValueError("packed columns disagree with the row counts")
        if len(postings.starts) != len(postings.keys) + 1:
            raise ValueError("postings offsets disagree with their keys")
        agencies = packed["agencies"]
        return cls(
            generation=generation,
            incident_ids=packed["incident_ids"],
            id_hashes=arrays["id_hashes"],
            id_rows=arrays["id_rows"],
            versions=arrays["versions"],
            kinds=arrays["kinds"],
            substances=arrays["substances"],
            channels=arrays["channels"],
            reported_on=arrays["reported_on"],
            reporting_countries=arrays["reporting_countries"],
            agency_ids=arrays["agency_ids"],
            agencies=tuple(agencies[i] for i in range(len(agencies))),
            contact_refs=packed["contact_refs"],
            party_incident=arrays["party_incident"],
            party_role=arrays["party_role"],
            party_lat=arrays["party_lat"],
            party_lon=arrays["party_lon"],
            party_country=arrays["party_country"],
            party_postcode=arrays["party_postcode"],
            party_city=arrays["party_city"],
            party_names=packed["party_names"],
            postings=postings,
            areas=areas,
        )

    # --- facts ---------------------------------------------------------------------------

    @property
    def incident_count(self) -> int:
        return len(self._incident_ids)

    @property
    def party_count(self) -> int:
        return len(self._party_incident)

    @property
    def nbytes(self) -> int:
        """Bytes held in the snapshot's arrays and buffers (not counting the R-tree)."""
        arrays = (
            self._id_hashes, self._id_rows, self._versions, self._kinds, self._substances,
            self._channels, self._reported_on, self._reporting_countries, self._agency_ids,
            self._party_incident, self._party_role, self._party_lat, self._party_lon,
            self._party_country, self._party_postcode, self._party_city,
        )  # fmt: skip
        packed = self._incident_ids.nbytes + self._contact_refs.nbytes + self._party_names.nbytes
        return int(sum(a.nbytes for a in arrays)) + packed + self._postings.nbytes

    def rows_of(self, incident_ids: Iterable[str]) -> set[int]:
        """Rows of the given incident ids that this snapshot holds."""
        rows: set[int] = set()
        for incident_id in incident_ids:
            h = hash(incident_id)
            pos = int(np.searchsorted(self._id_hashes, h))
            while pos < len(self._id_hashes) and self._id_hashes[pos] == h:
                row = int(self._id_rows[pos])
                if self._incident_ids[row] == incident_id:
                    rows.add(row)
                pos += 1
        return rows

    def summary(self, row: int) -> IncidentSummary:
        code = int(self._reporting_countries[row])
        return IncidentSummary(
            incident_id=self._incident_ids[row],
            version=int(self._versions[row]),
            kind=_KINDS[self._kinds[row]],
            reported_on=date.fromordinal(int(self._reported_on[row])),
            substance_class=_SUBSTANCES[self._substances[row]],
            reporting_country=chr(code >> 8) + chr(code & 0xFF),
            agency=self._agencies[self._agency_ids[row]],
            contact_ref=self._contact_refs[row],
            channel=_CHANNELS[self._channels[row]],
        )

    # --- matching ------------------------------------------------------------------------

    def _expand(
        self, starts: Int64Array, ends: Int64Array, selected: Int64Array
    ) -> tuple[Int32Array, Int64Array]:
        """The postings of the selected keys laid end to end, and each entry's key index."""
        lengths = ends[selected] - starts[selected]
        total = int(lengths.sum())
        if not total:
            return np.empty(0, np.int32), np.empty(0, np.int64)
        key_of_entry = np.repeat(selected, lengths)
        first_entry = np.repeat(np.cumsum(lengths) - lengths, lengths)
        offsets = np.arange(total) - first_entry + np.repeat(starts[selected], lengths)
        return self._postings.values[offsets], key_of_entry

    def _name_pairs(self, batch: _Batch, policy: Policy) -> Int64Array:
        """(owner, party) pairs sharing name keys, at most `name_candidates` per query party,
        best first by IDF-weighted hits."""
        counts = batch.counts
        is_name = batch.kinds == _NAME_KEY
        rare = np.flatnonzero(is_name & (counts > 0) & (counts <= policy.name_df_cap))
        parties, key_index = self._expand(batch.starts, batch.ends, rare)
        owners = batch.owners[key_index]
        idf = np.maximum(self._log_parties - np.log(np.maximum(counts[key_index], 1)), 0.1)
        weights = batch.weights[key_index] * idf
        found = np.bincount(owners, minlength=batch.size)
        common = is_name & (counts > policy.name_df_cap) & (counts <= policy.common_key_df_cap)
        common &= batch.groups >= 0
        extra_parties: list[Int32Array] = []
        extra_owners: list[int] = []
        common_per_owner = np.bincount(batch.owners[common], minlength=batch.size)
        short = (found < policy.name_candidates) & (common_per_owner >= 2)
        for owner in np.flatnonzero(short).tolist():
            first, last = batch.key_ranges[owner]
            mine = first + np.flatnonzero(common[first:last])
            mine = mine[np.argsort(counts[mine], kind="stable")]
            _, first_of_group = np.unique(batch.groups[mine], return_index=True)
            mine = mine[np.sort(first_of_group)]
            if len(mine) >= 2:
                # Only common whole tokens hit ("John Jane PHAM", "Luo Iang"): parties holding
                # two of them (the rarest key of each token) are candidates too.
                pairs = self._common_key_pairs(mine, batch.starts, batch.ends, counts)
                extra_parties.append(pairs)
                extra_owners.extend([owner] * len(pairs))
        if extra_parties:
            parties = np.concatenate([parties, *extra_parties])
            owners = np.concatenate([owners, np.array(extra_owners, np.int64)])
            weights = np.concatenate([weights, np.ones(len(extra_owners))])
        if not len(parties):
            return np.empty(0, np.int64)
        unique, inverse = np.unique(_pair(owners, parties), return_inverse=True)
        totals = np.asarray(np.bincount(inverse, weights=weights), np.float64)
        self._add_common_hits(batch, np.flatnonzero(common), unique, totals)
        # Many parties can carry one name ("Jane Bui"): the ones at the query's postcode and
        # in its city first.
        owners, parties = unique >> 32, unique & 0xFFFF_FFFF
        cities, postcodes = batch.cities[owners], batch.postcodes[owners]
        totals += _SAME_CITY_BONUS * ((cities != 0) & (self._party_city[parties] == cities))
        totals += _SAME_POSTCODE_BONUS * (
            (postcodes != 0) & (self._party_postcode[parties] == postcodes)
        )
        return _top_per_owner(unique, totals, policy.name_candidates)

    def _add_common_hits(
        self, batch: _Batch, common: Int64Array, pairs: Int64Array, totals: npt.NDArray[np.float64]
    ) -> None:
        """Weigh common whole-token keys into the candidates' totals: among the many "Luo"
        parties, the ones under the query's other, common, token ("Iang" → "Yang") first."""
        values = self._postings.values
        for k in common.tolist():
            owner = int(batch.owners[k])
            lo, hi = np.searchsorted(pairs, [owner << 32, (owner + 1) << 32])
            if lo == hi:
                continue
            candidates = pairs[lo:hi] & 0xFFFF_FFFF
            posting = values[batch.starts[k] : batch.ends[k]]
            at = np.minimum(np.searchsorted(posting, candidates), len(posting) - 1)
            idf = max(self._log_parties - math.log(int(batch.counts[k])), 0.1)
            totals[lo:hi] += batch.weights[k] * idf * (posting[at] == candidates)

    def _common_key_pairs(
        self, common: Int64Array, starts: Int64Array, ends: Int64Array, counts: Int64Array
    ) -> Int32Array:
        """Parties under the rarest common key and one of the next two rarest."""
        rarest = common[np.argsort(counts[common], kind="stable")][:3]
        values = self._postings.values
        smallest = values[starts[rarest[0]] : ends[rarest[0]]]
        found = []
        for other in rarest[1:]:
            larger = values[starts[other] : ends[other]]
            pos = np.minimum(np.searchsorted(larger, smallest), len(larger) - 1)
            found.append(smallest[larger[pos] == smallest])
        return np.unique(np.concatenate(found))

    def _geo_pairs(self, batch: _Batch, policy: Policy) -> Int64Array:
        """(owner, party) pairs within the policy's radius, nearest `geo_candidates` each."""
        cells = np.flatnonzero((batch.kinds == _CELL_KEY) & (batch.counts > 0))
        parties, key_index = self._expand(batch.starts, batch.ends, cells)
        if not len(parties):
            return np.empty(0, np.int64)
        owners = batch.owners[key_index]
        dist = geo.haversine_pairs_m(
            batch.lats[owners],
            batch.lons[owners],
            self._party_lat[parties],
            self._party_lon[parties],
        )
        near = dist <= policy.near_radius_m
        return _top_per_owner(
            _pair(owners[near], parties[near]), -dist[near], policy.geo_candidates
        )

    def _identifier_hits(self, batch: _Batch, policy: Policy) -> dict[int, set[str]]:
        """Identifier kinds shared, per (owner, party) pair."""
        hits: dict[int, set[str]] = {}
        selected = (batch.kinds == _IDENTIFIER_KEY) & (batch.counts > 0)
        selected &= batch.counts <= policy.identifier_df_cap
        for k in np.flatnonzero(selected).tolist():
            owner = int(batch.owners[k])
            kind = batch.identifier_kinds[k]
            for party in self._postings.values[batch.starts[k] : batch.ends[k]].tolist():
                hits.setdefault((owner << 32) | party, set()).add(kind)
        return hits

    def _area_hits(self, prepared: Sequence[PreparedParty]) -> set[int]:
        hits: set[int] = set()
        if not len(self._areas):
            return hits
        for owner, party in enumerate(prepared):
            location = party.party.location
            if location is not None:
                hits.update(
                    (owner << 32) | p for p in self._areas.containing(location.lat, location.lon)
                )
        return hits

    def match_parties(
        self,
        prepared: Sequence[PreparedParty],
        policy: Policy,
        as_of: date,
        excluded_rows: frozenset[int] = frozenset(),
    ) -> list[list[Match]]:
        """For each query party, its matches with a score of at least the policy's report score,
        in no particular order (one incident may appear once per matching party).

        All the parties of a batch share each NumPy step, so a customs batch pays the fixed
        cost of a step once, not once per party."""
        batch = _Batch.of(prepared, self._postings)
        identifier_hits = self._identifier_hits(batch, policy)
        area_hits = self._area_hits(prepared)
        special = np.array([*identifier_hits, *area_hits], np.int64)
        pairs = np.unique(
            np.concatenate(
                [self._name_pairs(batch, policy), self._geo_pairs(batch, policy), special]
            )
        )
        owners, parties = pairs >> 32, (pairs & 0xFFFF_FFFF).astype(np.int32)
        if excluded_rows and len(pairs):
            excluded = np.fromiter(excluded_rows, np.int32, len(excluded_rows))
            keep = ~np.isin(self._party_incident[parties], excluded)
            pairs, owners, parties = pairs[keep], owners[keep], parties[keep]
        results: list[list[Match]] = [[] for _ in prepared]
        if not len(pairs):
            return results
        similarity, names_of = self._pair_similarity(prepared, owners, parties)
        distance = geo.haversine_pairs_m(
            batch.lats[owners],
            batch.lons[owners],
            self._party_lat[parties],
            self._party_lon[parties],
        )
        address = np.where(
            batch.postcodes[owners] != 0,
            policy.postcode_weight * (self._party_postcode[parties] == batch.postcodes[owners]),
            0.0,
        ) + np.where(
            batch.cities[owners] != 0,
            policy.city_weight * (self._party_city[parties] == batch.cities[owners]),
            0.0,
        )
        rows = self._party_incident[parties]
        weight = incident_weights(
            policy,
            self._kinds[rows],
            self._substances[rows],
            as_of.toordinal() - self._reported_on[rows],
        )
        bound = points_upper_bound(policy, similarity, distance, address) * weight
        worth = bound >= points_for(policy, policy.report_score)
        if len(special):
            worth |= np.isin(pairs, special)
        for i in np.flatnonzero(worth).tolist():
            pair = int(pairs[i])
            owner, party = pair >> 32, int(parties[i])
            match = self._match(
                prepared[owner],
                party=party,
                similarity=float(similarity[i]),
                names_shown=partial(names_of, i),
                distance=float(distance[i]),
                identifiers=identifier_hits.get(pair, set()),
                in_area=pair in area_hits,
                weight=float(weight[i]),
                policy=policy,
            )
            if match is not None:
                results[owner].append(match)
        return results

    def _pair_similarity(
        self, prepared: Sequence[PreparedParty], owners: Int64Array, parties: Int32Array
    ) -> tuple[npt.NDArray[np.float64], Callable[[int], tuple[str, str]]]:
        """Best name similarity of each (owner, party) pair over all their names, and a
        lookup of the (query, incident) names that give it, for the few pairs explained:
        every combination is laid out with NumPy and scored in one call."""
        query_counts = np.array([len(p.names) for p in prepared], np.int64)
        query_starts = np.cumsum(query_counts) - query_counts
        query_forms = [n.core for p in prepared for n in p.names]
        unique, which = np.unique(parties, return_inverse=True)
        forms_per_party = [_unpack_names(self._party_names[p]) for p in unique.tolist()]
        form_counts = np.array([len(f) for f in forms_per_party], np.int64)
        form_starts = np.cumsum(form_counts) - form_counts
        incident_forms = [f for forms in forms_per_party for f in forms]

        per_pair = query_counts[owners] * form_counts[which]
        total = int(per_pair.sum())
        if not total:
            return np.zeros(len(parties)), lambda i: ("", "")
        pair = np.repeat(np.arange(len(parties)), per_pair)
        first_of_pair = np.cumsum(per_pair) - per_pair
        within = np.arange(total) - np.repeat(first_of_pair, per_pair)
        n_forms = form_counts[which][pair]
        query_index = (query_starts[owners][pair] + within // n_forms).tolist()
        form_index = (form_starts[which][pair] + within % n_forms).tolist()
        scores = names.pairwise_similarity(
            [query_forms[i] for i in query_index], [incident_forms[i] for i in form_index]
        )
        # The first best combination of each pair (query names, then incident names, in order).
        best = np.lexsort((-scores, pair))[np.minimum(first_of_pair, total - 1)]
        similarity = np.where(per_pair > 0, scores[best], 0.0)

        def names_of(i: int) -> tuple[str, str]:
            if not per_pair[i]:
                return "", ""
            b = int(best[i])
            return query_forms[query_index[b]], incident_forms[form_index[b]]

        return np.asarray(similarity, np.float64), names_of

    def _match(
        self,
        prepared: PreparedParty,
        *,
        party: int,
        similarity: float,
        names_shown: Callable[[], tuple[str, str]],
        distance: float,
        identifiers: set[str],
        in_area: bool,
        weight: float,
        policy: Policy,
    ) -> Match | None:
        """The explained match of one candidate, or None below the report score."""
        row = int(self._party_incident[party])
        country = int(self._party_country[party])
        ev = PairEvidence(
            name_similarity=similarity,
            distance_m=None if math.isnan(distance) else distance,
            in_area=in_area,
            identifiers=frozenset(identifiers),
            postcode_match=_agree(prepared.postcode, int(self._party_postcode[party])),
            city_match=prepared.city != 0 and prepared.city == int(self._party_city[party]),
            country_match=None
            if not (country and prepared.country)
            else country == prepared.country,
        )
        return explained_match(
            policy,
            ev,
            weight,
            self.summary(row),
            _ROLES[self._party_role[party]],
            names_shown,
        )


def explained_match(  # noqa: PLR0917
    policy: Policy,
    ev: PairEvidence,
    weight: float,
    incident: IncidentSummary,
    incident_party_role: PartyRole,
    names_shown: Callable[[], tuple[str, str]],
) -> Match | None:
    """The explained match of one scored pair, or None below the report score; the (query,
    incident) names shown are only worked out for a reported match."""
    points, reasons = evidence_points(policy, ev)
    score = score_of(policy, points * weight)
    if score < policy.report_score:
        return None
    query_name, incident_name = names_shown()
    return Match(
        incident=incident,
        incident_party_role=incident_party_role,
        score=round(score, 2),
        stoplight=stoplight_of(policy, score),
        reasons=reasons,
        evidence=Evidence(
            name_similarity=round(ev.name_similarity, 4),
            query_name=query_name,
            incident_name=incident_name,
            distance_m=None if ev.distance_m is None else round(ev.distance_m, 1),
            in_area=ev.in_area,
            identifiers=tuple(sorted(ev.identifiers)),
            postcode_match=ev.postcode_match is True,
            city_match=ev.city_match,
            country_match=ev.country_match,
        ),
        incident_weight=round(weight, 4),
    )


_normalize_uncached = normalize_name.__wrapped__
_place_uncached = normalize_place.__wrapped__
_phone_uncached = canonical_phone.__wrapped__  # the caches are for queries, not for builds


_BUILD_TOKEN_CACHE = 1 << 17  # tokens whose keys a build remembers (dropped with the build)


def build_snapshot(incidents: Iterable[Incident], generation: int = 0) -> Snapshot:
    """Index every active incident; retracted ones are left out and can never match."""
    ids: list[str] = []
    contact_refs: list[str] = []
    versions = array("i")
    kinds = array("b")
    substances = array("b")
    channels = array("b")
    reported_on = array("i")
    reporting_countries = array("H")
    agency_ids = array("i")
    agency_index: dict[str, int] = {}
    party_incident = array("i")
    party_role = array("b")
    party_lat = array("d")
    party_lon = array("d")
    party_country = array("H")
    party_postcode = array("I")
    party_city = array("I")
    party_names: list[str] = []
    key_column = array("q")
    party_column = array("i")
    areas: list[tuple[int, Area]] = []
    kind_index = {k: i for i, k in enumerate(_KINDS)}
    substance_index = {s: i for i, s in enumerate(_SUBSTANCES)}
    channel_index = {c: i for i, c in enumerate(_CHANNELS)}
    role_index = {r: i for i, r in enumerate(_ROLES)}
    token_keys = lru_cache(maxsize=_BUILD_TOKEN_CACHE)(names.index_token_keys)

    for incident in incidents:
        if incident.status is IncidentStatus.RETRACTED:
            continue
        row = len(ids)
        ids.append(incident.incident_id)
        contact_refs.append(incident.contact_ref)
        versions.append(incident.version)
        kinds.append(kind_index[incident.kind])
        substances.append(substance_index[incident.substance_class])
        channels.append(channel_index[incident.channel])
        reported_on.append(incident.reported_on.toordinal())
        reporting_countries.append(_country_code(incident.reporting_country))
        agency_ids.append(agency_index.setdefault(incident.agency, len(agency_index)))
        for party in incident.parties:
            pid = len(party_incident)
            party_incident.append(row)
            party_role.append(role_index[party.role])
            normalized = [n for n in map(_normalize_uncached, party.names()) if n.tokens]
            party_names.append(_pack_names(normalized))
            party_keys: set[int] = set()
            for name in normalized:
                party_keys |= names.index_name_keys(name, token_keys)
            for kind, value in identifiers_of(party, _phone_uncached):
                party_keys.add(names.key(_IDENTIFIER_FAMILIES[kind], value))
            if party.location is not None:
                party_lat.append(party.location.lat)
                party_lon.append(party.location.lon)
                party_keys.add(geo.cell_of(party.location.lat, party.location.lon) ^ names.CELL)
            else:
                party_lat.append(math.nan)
                party_lon.append(math.nan)
            if party.area is not None:
                areas.append((pid, party.area))
            party_country.append(_country_code(party.country_code))
            party_postcode.append(_place_key(normalize_postcode(party.postcode)))
            party_city.append(_place_key(_place_uncached(party.city)))
            key_column.extend(party_keys)
            party_column.extend([pid] * len(party_keys))

    id_hashes = np.array([hash(i) for i in ids], dtype=np.int64)
    id_order = np.argsort(id_hashes, kind="stable").astype(np.int32)
    return Snapshot(
        generation=generation,
        incident_ids=PackedStrings(ids),
        id_hashes=id_hashes[id_order],
        id_rows=id_order,
        versions=np.frombuffer(versions, np.int32).copy(),
        kinds=np.frombuffer(kinds, np.int8).copy(),
        substances=np.frombuffer(substances, np.int8).copy(),
        channels=np.frombuffer(channels, np.int8).copy(),
        reported_on=np.frombuffer(reported_on, np.int32).copy(),
        reporting_countries=np.frombuffer(reporting_countries, np.uint16).copy(),
        agency_ids=np.frombuffer(agency_ids, np.int32).copy(),
        agencies=tuple(agency_index),
        contact_refs=PackedStrings(contact_refs),
        party_incident=np.frombuffer(party_incident, np.int32).copy(),
        party_role=np.frombuffer(party_role, np.int8).copy(),
        party_lat=np.frombuffer(party_lat, np.float64).copy(),
        party_lon=np.frombuffer(party_lon, np.float64).copy(),
        party_country=np.frombuffer(party_country, np.uint16).copy(),
        party_postcode=np.frombuffer(party_postcode, np.uint32).copy(),
        party_city=np.frombuffer(party_city, np.uint32).copy(),
        party_names=PackedStrings(party_names),
        postings=Postings.build(
            np.frombuffer(key_column, np.int64), np.frombuffer(party_column, np.int32)
        ),
        areas=geo.AreaIndex(areas),
    )


Columns = Mapping[str, npt.NDArray[np.generic]]


def _concat_packed(parts: Sequence[Columns], name: str) -> dict[str, npt.NDArray[np.generic]]:
    blobs = [np.asarray(p[f"{name}.blob"], np.uint8) for p in parts]
    starts = np.cumsum([0, *(len(b) for b in blobs)])
    offsets = [np.asarray(p[f"{name}.offsets"], np.int64)[:-1] + start
               for p, start in zip(parts, starts, strict=False)]  # fmt: skip
    return {
        f"{name}.blob": np.concatenate(blobs),
        f"{name}.offsets": np.concatenate([*offsets, np.array([starts[-1]], np.int64)]),
    }


def _merged_postings(
    parts: Sequence[Columns], party_offsets: Sequence[int]
) -> dict[str, npt.NDArray[np.generic]]:
    """One CSR table from the parts' tables. Each part's party ids are above the previous
    part's, so a stable sort by key alone keeps every key's ids ascending."""
    keys = np.concatenate([
        np.repeat(np.asarray(p["postings.keys"], np.int64), np.diff(p["postings.starts"]))
        for p in parts
    ])  # fmt: skip
    values = np.concatenate([
        np.asarray(p["postings.values"], np.int64) + offset
        for p, offset in zip(parts, party_offsets, strict=True)
    ])  # fmt: skip
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else (
        np.empty(0, np.int64))  # fmt: skip
    starts = np.empty(len(first) + 1, np.int32 if len(keys) < 2**31 else np.int64)
    starts[:-1] = first
    starts[-1] = len(keys)
    return {"postings.keys": keys[first], "postings.starts": starts,
            "postings.values": values.astype(np.int32)}  # fmt: skip


# Columns that hold row numbers, party numbers or agency numbers: a merge renumbers them.
_RENUMBERED_ON_MERGE = frozenset({"party_incident", "id_hashes", "id_rows", "agency_ids"})


def merge_columns(parts: Sequence[Columns]) -> dict[str, npt.NDArray[np.generic]]:
    """The columns of one snapshot holding the parts' incidents in order: merging the builds
    of consecutive slices of the incidents gives exactly the columns of one build of them all
    (so slices can be built in parallel processes)."""
    rows = [len(p["versions"]) for p in parts]
    parties = [len(p["party_incident"]) for p in parts]
    row_offsets = np.cumsum([0, *rows[:-1]]).tolist()
    party_offsets = np.cumsum([0, *parties[:-1]]).tolist()
    merged: dict[str, npt.NDArray[np.generic]] = {}
    for name in Snapshot._ARRAYS.keys() - _RENUMBERED_ON_MERGE:
        merged[name] = np.concatenate([p[name] for p in parts])
    merged["party_incident"] = np.concatenate([
        np.asarray(p["party_incident"], np.int64) + offset
        for p, offset in zip(parts, row_offsets, strict=True)
    ]).astype(np.int32)  # fmt: skip

    hashes = []
    for part in parts:
        in_row_order = np.empty(len(part["id_hashes"]), np.int64)
        in_row_order[np.asarray(part["id_rows"], np.int64)] = part["id_hashes"]
        hashes.append(in_row_order)
    all_hashes = np.concatenate(hashes)
    id_order = np.argsort(all_hashes, kind="stable")
    merged["id_hashes"] = all_hashes[id_order]
    merged["id_rows"] = id_order.astype(np.int32)

    agencies: dict[str, int] = {}
    agency_ids = []
    for part in parts:
        names = PackedStrings.from_columns(part, "agencies")
        remap = np.array([agencies.setdefault(names[i], len(agencies))
                          for i in range(len(names))], np.int32)  # fmt: skip
        agency_ids.append(remap[np.asarray(part["agency_ids"], np.int64)])
    merged["agency_ids"] = np.concatenate(agency_ids).astype(np.int32)
    agency_blob, agency_offsets = PackedStrings(agencies).columns()
    merged["agencies.blob"], merged["agencies.offsets"] = agency_blob, agency_offsets

    for name in Snapshot._PACKED:
        merged |= _concat_packed(parts, name)
    merged |= _merged_postings(parts, party_offsets)
    merged["areas.party_ids"] = np.concatenate([
        np.asarray(p["areas.party_ids"], np.int64) + offset
        for p, offset in zip(parts, party_offsets, strict=True)
    ]).astype(np.int32)  # fmt: skip
    merged["areas.vertex_counts"] = np.concatenate([p["areas.vertex_counts"] for p in parts])
    merged["areas.vertices"] = np.concatenate([p["areas.vertices"] for p in parts])
    merged["areas.hints"] = np.unique(np.concatenate([p["areas.hints"] for p in parts]))
    return merged


def finish_party(index: int, party: Party, matches: list[Match], policy: Policy) -> PartyResult:
    """A query party's verdict from its matches: the best match per incident, ranked."""
    best: dict[str, Match] = {}
    for match in matches:
        current = best.get(match.incident.incident_id)
        if current is None or (match.score, match.evidence.name_similarity) > (
            current.score,
            current.evidence.name_similarity,
        ):
            best[match.incident.incident_id] = match
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.incident.incident_id))
    score = combine_scores(policy, [m.score for m in ranked])
    return PartyResult(
        party_index=index,
        role=party.role,
        stoplight=stoplight_of(policy, score),
        score=round(score, 2),
        matches=tuple(ranked[: policy.max_matches_per_party]),
    )


@dataclass(frozen=True, slots=True)
class Delta:
    """Recent changes laid over a base snapshot: upserts (as an overlay snapshot) and deletions."""

    upserts: Mapping[str, Incident] = field(default_factory=lambda: MappingProxyType({}))
    deleted: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.upserts) + len(self.deleted)


@dataclass(frozen=True, slots=True)
class IndexView:
    """What screening reads: a base snapshot, its delta, and the generation that names both."""

    base: Snapshot
    delta: Delta = field(default_factory=Delta)
    generation: int = 0
    overlay: Snapshot | None = None
    masked_rows: frozenset[int] = frozenset()

    @classmethod
    def of(cls, base: Snapshot) -> IndexView:
        return cls(base=base, generation=base.generation)

    @property
    def incident_count(self) -> int:
        overlay = self.overlay.incident_count if self.overlay else 0
        return self.base.incident_count - len(self.masked_rows) + overlay

    @property
    def party_count(self) -> int:
        """Parties held in the index structures (a changed incident's old parties stay in the
        base, masked, until the next compaction)."""
        return self.base.party_count + (self.overlay.party_count if self.overlay else 0)

    def apply(
        self,
        upserts: Iterable[Incident] = (),
        deletions: Iterable[str] = (),
        generation: int | None = None,
    ) -> IndexView:
        """A new view with these changes; this one is left as it was."""
        pending = dict(self.delta.upserts)
        deleted = set(self.delta.deleted)
        for incident in upserts:
            pending[incident.incident_id] = incident
            deleted.discard(incident.incident_id)
        for incident_id in deletions:
            pending.pop(incident_id, None)
            deleted.add(incident_id)
        delta = Delta(MappingProxyType(pending), frozenset(deleted))
        changed = set(pending) | deleted
        return IndexView(
            base=self.base,
            delta=delta,
            generation=self.generation + 1 if generation is None else generation,
            overlay=build_snapshot(pending.values()) if pending else None,
            masked_rows=frozenset(self.base.rows_of(changed)),
        )

    def screen(self, query: Query, policy: Policy, as_of: date) -> Result:
        """The explained verdict for one item. Deterministic for the same view, policy and day."""
        return self.screen_many([query], policy, as_of)[0]

    def screen_many(self, queries: Sequence[Query], policy: Policy, as_of: date) -> list[Result]:
        """Verdicts for many items, screened together (a customs batch). Every query must be
        valid: a ValidationError names the first offending one's fields."""
        for query in queries:
            validate_query(query)
        prepared = [prepare_party(party) for query in queries for party in query.parties]
        matches = self.base.match_parties(prepared, policy, as_of, self.masked_rows)
        if self.overlay is not None:
            recent = self.overlay.match_parties(prepared, policy, as_of)
            matches = [old + new for old, new in zip(matches, recent, strict=True)]
        results = []
        position = 0
        for query in queries:
            parties = [
                finish_party(i, party, matches[position + i], policy)
                for i, party in enumerate(query.parties)
            ]
            position += len(query.parties)
            results.append(result_of(query, parties, policy, self.generation, self.incident_count))
        return results


def result_of(
    query: Query,
    results: Sequence[PartyResult],
    policy: Policy,
    generation: int,
    incident_count: int,
) -> Result:
    """The item's verdict: its most alarming party's, with every reason that explains it."""
    top = max(results, key=lambda r: (r.score, STOPLIGHT_RANK[r.stoplight]))
    reasons = {code for r in results for m in r.matches for code in m.reasons}
    if any(len(r.matches) > 1 for r in results):
        reasons.add(ReasonCode.MULTIPLE_INCIDENTS)
    return Result(
        item_id=query.item_id,
        stoplight=top.stoplight if top.matches else Stoplight.GREEN,
        score=top.score,
        parties=tuple(results),
        reasons=tuple(sorted(reasons, key=_REASON_ORDER.__getitem__)),
        generation=generation,
        policy_version=policy.version,
        incident_count=incident_count,
    )
