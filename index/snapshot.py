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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
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
    IncidentKind,
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
    SubstanceClass,
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
    PHONE,
    PairEvidence,
    combine_scores,
    evidence_points,
    incident_weight,
    points_for,
    points_upper_bound,
    score_of,
    stoplight_of,
)

_KINDS = tuple(IncidentKind)
_SUBSTANCES = tuple(SubstanceClass)
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
    """Many short strings in one UTF-8 buffer: a few bytes of overhead each, not ~60."""

    __slots__ = ("_blob", "_offsets")

    def __init__(self, strings: Iterable[str]) -> None:
        encoded = [s.encode() for s in strings]
        sizes = np.fromiter((len(e) for e in encoded), np.int64, len(encoded))
        total = int(sizes.sum())
        offsets = np.zeros(len(encoded) + 1, dtype=np.int32 if total < 2**31 else np.int64)
        np.cumsum(sizes, out=offsets[1:])
        self._blob = b"".join(encoded)
        self._offsets = offsets

    def __getitem__(self, i: int) -> str:
        return self._blob[self._offsets[i] : self._offsets[i + 1]].decode()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def nbytes(self) -> int:
        return len(self._blob) + int(self._offsets.nbytes)


@dataclass(frozen=True, slots=True)
class PreparedParty:
    """A query party turned into lookup keys once, then matched against any snapshot."""

    party: Party
    names: tuple[NormalizedName, ...]
    keys: Int64Array  # name keys, then identifier keys, then cell keys
    name_weights: npt.NDArray[np.float64]
    identifier_kinds: tuple[str, ...]
    n_cells: int
    country: int
    postcode: int
    city: int


def prepare_party(party: Party) -> PreparedParty:
    normalized = tuple(n for n in map(normalize_name, party.names()) if n.tokens)
    name_keys: dict[int, float] = {}
    for name in normalized:
        for k, w in names.query_name_keys(name).items():
            name_keys[k] = max(w, name_keys.get(k, 0.0))
    identifier_keys: dict[int, str] = {}
    for kind, value in _identifiers(party):
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
        identifier_kinds=tuple(identifier_keys.values()),
        n_cells=len(cells),
        country=_country_code(party.country_code),
        postcode=_place_key(normalize_postcode(party.postcode)),
        city=_place_key(normalize_place(party.city)),
    )


def _identifiers(
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

    def _name_candidates(
        self, prepared: PreparedParty, starts: Int64Array, ends: Int64Array, policy: Policy
    ) -> Int32Array:
        """Parties sharing name keys with the query, best first by IDF-weighted hits."""
        n_names = len(prepared.name_weights)
        counts = ends[:n_names] - starts[:n_names]
        rare = np.flatnonzero((counts > 0) & (counts <= policy.name_df_cap))
        values = self._postings.values
        parts = [
            values[a:b] for a, b in zip(starts[rare].tolist(), ends[rare].tolist(), strict=True)
        ]
        idf = np.maximum(self._log_parties - np.log(counts[rare].astype(np.float64)), 0.1)
        weights = prepared.name_weights[rare] * idf
        found = int(counts[rare].sum())
        if found < policy.name_candidates:
            common = np.flatnonzero(
                (counts > policy.name_df_cap)
                & (counts <= policy.common_key_df_cap)
                & (prepared.name_weights >= names.NAME_FAMILY_WEIGHTS[names.TOKEN])
            )
            if len(common) >= 2:
                # Only common whole tokens hit ("John Jane PHAM"): parties holding two of
                # them are candidates too.
                pairs = self._common_key_pairs(common, starts, ends, counts)
                parts.append(pairs)
                weights = np.append(weights, 1.0)
                found += len(pairs)
        if not parts:
            return np.empty(0, np.int32)
        ids = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if found <= policy.name_candidates:
            return np.unique(ids)
        unique, inverse = np.unique(ids, return_inverse=True)
        totals = np.bincount(inverse, weights=np.repeat(weights, [len(p) for p in parts]))
        best = np.lexsort((unique, -totals))[: policy.name_candidates]
        return unique[best]

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

    def _geo_candidates(
        self, prepared: PreparedParty, starts: Int64Array, ends: Int64Array, policy: Policy
    ) -> Int32Array:
        """Parties within the policy's radius, nearest first, at most `geo_candidates`."""
        location = prepared.party.location
        if location is None:
            return np.empty(0, np.int32)
        first = len(prepared.keys) - prepared.n_cells
        parts = [
            self._postings.values[a:b]
            for a, b in zip(starts[first:].tolist(), ends[first:].tolist(), strict=True)
            if b > a
        ]
        if not parts:
            return np.empty(0, np.int32)
        ids = np.concatenate(parts) if len(parts) > 1 else parts[0]
        dist = geo.haversine_m(
            location.lat, location.lon, self._party_lat[ids], self._party_lon[ids]
        )
        near = dist <= policy.near_radius_m
        ids, dist = ids[near], dist[near]
        if len(ids) > policy.geo_candidates:
            ids = ids[np.lexsort((ids, dist))[: policy.geo_candidates]]
        return ids

    def _identifier_hits(
        self, prepared: PreparedParty, starts: Int64Array, ends: Int64Array, policy: Policy
    ) -> dict[int, set[str]]:
        hits: dict[int, set[str]] = {}
        first = len(prepared.name_weights)
        for j, kind in enumerate(prepared.identifier_kinds):
            start, end = int(starts[first + j]), int(ends[first + j])
            if 0 < end - start <= policy.identifier_df_cap:
                for party in self._postings.values[start:end].tolist():
                    hits.setdefault(party, set()).add(kind)
        return hits

    def match_party(
        self,
        prepared: PreparedParty,
        policy: Policy,
        as_of: date,
        excluded_rows: frozenset[int] = frozenset(),
    ) -> list[Match]:
        """Matches of one query party with a score of at least the policy's report score, in
        no particular order (one incident may appear once per matching party)."""
        starts, ends = self._postings.find(prepared.keys)
        identifier_hits = self._identifier_hits(prepared, starts, ends, policy)
        location = prepared.party.location
        area_hits: set[int] = set()
        if location is not None and len(self._areas):
            area_hits = set(self._areas.containing(location.lat, location.lon))
        pieces = [
            self._name_candidates(prepared, starts, ends, policy),
            self._geo_candidates(prepared, starts, ends, policy),
        ]
        if identifier_hits or area_hits:
            pieces.append(np.array([*identifier_hits, *area_hits], np.int32))
        candidates = np.unique(np.concatenate(pieces))
        if excluded_rows and len(candidates):
            excluded = np.fromiter(excluded_rows, np.int32, len(excluded_rows))
            candidates = candidates[~np.isin(self._party_incident[candidates], excluded)]
        if not len(candidates):
            return []
        candidate_list = candidates.tolist()
        similarity, best_names = self._name_similarity(prepared, candidate_list)
        distance = np.full(len(candidate_list), np.nan)
        if location is not None:
            distance = geo.haversine_m(
                location.lat, location.lon, self._party_lat[candidates], self._party_lon[candidates]
            )
        worth = points_upper_bound(policy, similarity, distance) >= points_for(
            policy, policy.report_score
        )
        if identifier_hits or area_hits:
            special = np.array([*identifier_hits, *area_hits], np.int32)
            worth |= np.isin(candidates, special)
        scored: list[Match] = []
        for i in np.flatnonzero(worth).tolist():
            party = candidate_list[i]
            match = self._match(
                prepared,
                party=party,
                similarity=float(similarity[i]),
                incident_name=best_names[i],
                distance=float(distance[i]),
                identifiers=identifier_hits.get(party, set()),
                in_area=party in area_hits,
                policy=policy,
                as_of=as_of,
            )
            if match is not None:
                scored.append(match)
        return scored

    def _name_similarity(
        self, prepared: PreparedParty, candidate_list: list[int]
    ) -> tuple[npt.NDArray[np.float64], list[str]]:
        """Best similarity per candidate over all name pairs, and the candidate's best name."""
        similarity = np.zeros(len(candidate_list))
        best_names = [""] * len(candidate_list)
        if not prepared.names:
            return similarity, best_names
        flat: list[str] = []
        owner: list[int] = []
        for i, packed in enumerate(self._party_names[p] for p in candidate_list):
            if not packed:
                continue
            forms = packed.split(_NAME_SEP) if _NAME_SEP in packed else [packed]
            flat.extend(forms)
            owner.extend([i] * len(forms))
        if flat:
            per_form = names.similarity_matrix([n.core for n in prepared.names], flat).max(axis=0)
            np.maximum.at(similarity, np.array(owner), per_form)
            for form, i, value in zip(flat, owner, per_form.tolist(), strict=True):
                if not best_names[i] or value >= similarity[i]:
                    best_names[i] = form
        return similarity, best_names

    def _match(
        self,
        prepared: PreparedParty,
        *,
        party: int,
        similarity: float,
        incident_name: str,
        distance: float,
        identifiers: set[str],
        in_area: bool,
        policy: Policy,
        as_of: date,
    ) -> Match | None:
        """The explained match of one candidate, or None below the report score."""
        row = int(self._party_incident[party])
        weight = incident_weight(
            policy,
            _KINDS[self._kinds[row]],
            _SUBSTANCES[self._substances[row]],
            as_of.toordinal() - int(self._reported_on[row]),
        )
        country = int(self._party_country[party])
        ev = PairEvidence(
            name_similarity=similarity,
            distance_m=None if math.isnan(distance) else distance,
            in_area=in_area,
            identifiers=frozenset(identifiers),
            postcode_match=prepared.postcode != 0
            and prepared.postcode == int(self._party_postcode[party]),
            city_match=prepared.city != 0 and prepared.city == int(self._party_city[party]),
            country_match=None
            if not (country and prepared.country)
            else country == prepared.country,
        )
        points, reasons = evidence_points(policy, ev)
        score = score_of(policy, points * weight)
        if score < policy.report_score:
            return None
        best_query = max(
            prepared.names, key=lambda n: names.similarity(n.core, incident_name), default=None
        )
        return Match(
            incident=self.summary(row),
            incident_party_role=_ROLES[self._party_role[party]],
            score=round(score, 2),
            stoplight=stoplight_of(policy, score),
            reasons=reasons,
            evidence=Evidence(
                name_similarity=round(similarity, 4),
                query_name=best_query.core if best_query else "",
                incident_name=incident_name,
                distance_m=None if ev.distance_m is None else round(ev.distance_m, 1),
                in_area=in_area,
                identifiers=tuple(sorted(identifiers)),
                postcode_match=ev.postcode_match,
                city_match=ev.city_match,
                country_match=ev.country_match,
            ),
            incident_weight=round(weight, 4),
        )


_normalize_uncached = normalize_name.__wrapped__
_place_uncached = normalize_place.__wrapped__
_phone_uncached = canonical_phone.__wrapped__  # the caches are for queries, not for builds


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
                party_keys |= names.index_name_keys(name)
            for kind, value in _identifiers(party, _phone_uncached):
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


def _finish_party(index: int, party: Party, matches: list[Match], policy: Policy) -> PartyResult:
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
        validate_query(query)
        results = []
        for i, party in enumerate(query.parties):
            prepared = prepare_party(party)
            matches = self.base.match_party(prepared, policy, as_of, self.masked_rows)
            if self.overlay is not None:
                matches += self.overlay.match_party(prepared, policy, as_of)
            results.append(_finish_party(i, party, matches, policy))
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
            generation=self.generation,
            policy_version=policy.version,
            incident_count=self.incident_count,
        )
