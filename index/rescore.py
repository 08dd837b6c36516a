"""Scoring candidates someone else found: the re-scoring step of a database-backed screener.

A screener built on a general-purpose store (PostGIS, Redis) finds candidate incident parties
with the store's own indexes, then needs the same evidence, weights and stoplights as the
Snapshot to give a comparable verdict. PartyRecord is an incident party normalised once, when
it is loaded into such a store; `screen_records` scores a query against the records a store
returned, pair by pair, with the policy the Snapshot uses, and assembles the same Result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from index import geo, names
from index.model import (
    Channel,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentSummary,
    Match,
    Party,
    PartyRole,
    Query,
    Result,
    SubstanceClass,
    validate_query,
)
from index.normalize import normalize_name, normalize_place, normalize_postcode
from index.policy import Policy
from index.scoring import (
    PairEvidence,
    incident_weight,
)
from index.snapshot import explained_match, finish_party, identifiers_of, result_of


@dataclass(frozen=True, slots=True)
class PartyRecord:
    """One incident party with its incident's summary, normalised for re-scoring."""

    incident: IncidentSummary
    role: PartyRole
    names: tuple[str, ...]  # normalised name cores
    lat: float | None
    lon: float | None
    country: str
    postcode: str  # normalised
    city: str  # normalised
    identifiers: tuple[tuple[str, str], ...]  # (kind, canonical value)


def summary_of(incident: Incident) -> IncidentSummary:
    return IncidentSummary(
        incident_id=incident.incident_id,
        version=incident.version,
        kind=incident.kind,
        reported_on=incident.reported_on,
        substance_class=incident.substance_class,
        reporting_country=incident.reporting_country,
        agency=incident.agency,
        contact_ref=incident.contact_ref,
        channel=incident.channel,
    )


def party_records(incident: Incident) -> list[PartyRecord]:
    """The records of an active incident's located or named parties (none when retracted)."""
    if incident.status is IncidentStatus.RETRACTED:
        return []
    summary = summary_of(incident)
    records = []
    for party in incident.parties:
        normalized = tuple(n.core for n in map(normalize_name, party.names()) if n.tokens)
        location = party.location
        records.append(
            PartyRecord(
                incident=summary,
                role=party.role,
                names=normalized,
                lat=location.lat if location else None,
                lon=location.lon if location else None,
                country=party.country_code,
                postcode=normalize_postcode(party.postcode),
                city=normalize_place(party.city),
                identifiers=tuple(identifiers_of(party)),
            )
        )
    return records


def record_to_dict(record: PartyRecord) -> dict[str, Any]:
    s = record.incident
    return {
        "i": [s.incident_id, s.version, s.kind.value, s.reported_on.toordinal(),
              s.substance_class.value, s.reporting_country, s.agency, s.contact_ref,
              s.channel.value],
        "r": record.role.value, "n": list(record.names), "la": record.lat, "lo": record.lon,
        "c": record.country, "p": record.postcode, "t": record.city,
        "x": [list(pair) for pair in record.identifiers],
    }  # fmt: skip


def record_from_dict(data: dict[str, Any]) -> PartyRecord:
    i = data["i"]
    return PartyRecord(
        incident=IncidentSummary(
            incident_id=i[0],
            version=i[1],
            kind=IncidentKind(i[2]),
            reported_on=date.fromordinal(i[3]),
            substance_class=SubstanceClass(i[4]),
            reporting_country=i[5],
            agency=i[6],
            contact_ref=i[7],
            channel=Channel(i[8]),
        ),
        role=PartyRole(data["r"]),
        names=tuple(data["n"]),
        lat=data["la"],
        lon=data["lo"],
        country=data["c"],
        postcode=data["p"],
        city=data["t"],
        identifiers=tuple((kind, value) for kind, value in data["x"]),
    )


@dataclass(frozen=True, slots=True)
class _QueryParty:
    names: tuple[str, ...]
    point: tuple[float, float] | None
    country: str
    postcode: str
    city: str
    identifiers: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, party: Party) -> _QueryParty:
        location = party.location
        return cls(
            names=tuple(n.core for n in map(normalize_name, party.names()) if n.tokens),
            point=(location.lat, location.lon) if location else None,
            country=party.country_code,
            postcode=normalize_postcode(party.postcode),
            city=normalize_place(party.city),
            identifiers=frozenset(identifiers_of(party)),
        )


def _match(query: _QueryParty, record: PartyRecord, policy: Policy, as_of: date) -> Match | None:
    best_similarity, query_name, incident_name = 0.0, "", ""
    for q in query.names:
        for form in record.names:
            similarity = names.similarity(q, form)
            if similarity > best_similarity or not query_name:
                best_similarity, query_name, incident_name = similarity, q, form
    distance = None
    if query.point is not None and record.lat is not None and record.lon is not None:
        distance = geo.point_distance_m(*query.point, record.lat, record.lon)
    shared = frozenset(
        kind for kind, value in record.identifiers if (kind, value) in query.identifiers
    )
    ev = PairEvidence(
        name_similarity=best_similarity,
        distance_m=distance,
        in_area=False,
        identifiers=shared,
        postcode_match=query.postcode == record.postcode
        if query.postcode and record.postcode
        else None,
        city_match=bool(query.city) and query.city == record.city,
        country_match=None
        if not (query.country and record.country)
        else query.country == record.country,
    )
    summary = record.incident
    weight = incident_weight(
        policy,
        summary.kind,
        summary.substance_class,
        as_of.toordinal() - summary.reported_on.toordinal(),
    )
    return explained_match(
        policy, ev, weight, summary, record.role, lambda: (query_name, incident_name)
    )


def screen_records(
    query: Query,
    candidates: Sequence[Sequence[PartyRecord]],
    policy: Policy,
    as_of: date,
    *,
    generation: int = 0,
    incident_count: int = 0,
) -> Result:
    """The verdict for `query` when `candidates[i]` are the records found for its party i.
    Records of parties recorded as areas are not handled (a store's radius search finds
    points)."""
    validate_query(query)
    results = []
    for i, (party, found) in enumerate(zip(query.parties, candidates, strict=True)):
        prepared = _QueryParty.of(party)
        matches = [m for r in found if (m := _match(prepared, r, policy, as_of)) is not None]
        results.append(finish_party(i, party, matches, policy))
    return result_of(query, results, policy, generation, incident_count)


__all__ = [
    "PartyRecord",
    "party_records",
    "record_from_dict",
    "record_to_dict",
    "screen_records",
    "summary_of",
]
