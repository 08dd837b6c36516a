"""Conversion between the preflight.v1 messages and the core's plain data. No matching here.

Unknown enum numbers (a newer client, or garbage) become field violations named by their path.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from index.errors import FieldViolation, ValidationError
from index.model import (
    Area,
    Channel,
    ContentLine,
    Evidence,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentSummary,
    Location,
    Match,
    Party,
    PartyResult,
    PartyRole,
    Query,
    ReasonCode,
    Result,
    Stoplight,
    SubstanceClass,
)
from preflight.v1 import preflight_pb2 as pb
from service.outcomes import Listed, OutcomeRequest
from service.refresh import IndexStatus
from service.store.base import PutOutcome
from service.store.outcomes import Outcome

_ROLES: dict[Any, Any] = {
    pb.PARTY_ROLE_UNSPECIFIED: PartyRole.OTHER,
    pb.PARTY_ROLE_EXPORTER: PartyRole.EXPORTER,
    pb.PARTY_ROLE_IMPORTER: PartyRole.IMPORTER,
    pb.PARTY_ROLE_OTHER: PartyRole.OTHER,
}
_CHANNELS: dict[Any, Any] = {
    pb.CHANNEL_UNSPECIFIED: Channel.UNKNOWN,
    pb.CHANNEL_LETTER_POST: Channel.LETTER_POST,
    pb.CHANNEL_PARCEL_POST: Channel.PARCEL_POST,
    pb.CHANNEL_EXPRESS: Channel.EXPRESS,
    pb.CHANNEL_AIR_CARGO: Channel.AIR_CARGO,
    pb.CHANNEL_SEA_FREIGHT: Channel.SEA_FREIGHT,
    pb.CHANNEL_ROAD: Channel.ROAD,
}
_KINDS: dict[Any, Any] = {
    pb.INCIDENT_KIND_SEIZURE: IncidentKind.SEIZURE,
    pb.INCIDENT_KIND_SUSPICIOUS_SHIPMENT: IncidentKind.SUSPICIOUS_SHIPMENT,
    pb.INCIDENT_KIND_ILLICIT_MANUFACTURE: IncidentKind.ILLICIT_MANUFACTURE,
    pb.INCIDENT_KIND_PRECURSOR_DIVERSION: IncidentKind.PRECURSOR_DIVERSION,
    pb.INCIDENT_KIND_OTHER: IncidentKind.OTHER,
}
_STATUSES: dict[Any, Any] = {
    pb.INCIDENT_STATUS_UNSPECIFIED: IncidentStatus.ACTIVE,
    pb.INCIDENT_STATUS_ACTIVE: IncidentStatus.ACTIVE,
    pb.INCIDENT_STATUS_RETRACTED: IncidentStatus.RETRACTED,
}
_SUBSTANCES: dict[Any, Any] = {
    pb.SUBSTANCE_CLASS_UNSPECIFIED: SubstanceClass.UNKNOWN,
    **{
        getattr(pb, f"SUBSTANCE_CLASS_{s.name}"): s
        for s in SubstanceClass
        if s is not SubstanceClass.UNKNOWN
    },
}
_STOPLIGHTS: dict[Any, Any] = {
    Stoplight.GREEN: pb.STOPLIGHT_GREEN,
    Stoplight.AMBER: pb.STOPLIGHT_AMBER,
    Stoplight.RED: pb.STOPLIGHT_RED,
}
_OUTCOMES: dict[Any, Any] = {
    PutOutcome.CREATED: pb.PUT_OUTCOME_CREATED,
    PutOutcome.UPDATED: pb.PUT_OUTCOME_UPDATED,
    PutOutcome.UNCHANGED: pb.PUT_OUTCOME_UNCHANGED,
    PutOutcome.STALE: pb.PUT_OUTCOME_STALE,
}


def _reverse(mapping: dict[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for number, value in mapping.items():
        out.setdefault(value, number) if number == 0 else out.__setitem__(value, number)
    return out


_ROLE_NUMBERS = _reverse(_ROLES)
_CHANNEL_NUMBERS = _reverse(_CHANNELS)
_KIND_NUMBERS = _reverse(_KINDS)
_STATUS_NUMBERS = _reverse(_STATUSES)
_SUBSTANCE_NUMBERS = _reverse(_SUBSTANCES)


def _enum(mapping: dict[int, Any], number: int, path: str, violations: list[FieldViolation]) -> Any:
    value = mapping.get(number)
    if value is None:
        violations.append(FieldViolation(path, f"unknown value {number}"))
    return value


def _location(message: pb.Location) -> Location:
    return Location(message.lat, message.lon)


def party_from_pb(message: pb.Party, path: str, violations: list[FieldViolation]) -> Party:
    return Party(
        role=_enum(_ROLES, message.role, f"{path}.role", violations) or PartyRole.OTHER,
        name=message.name,
        business_name=message.business_name,
        address_lines=tuple(message.address_lines),
        postcode=message.postcode,
        city=message.city,
        country_subdivision=message.country_subdivision,
        country_code=message.country_code,
        location=_location(message.location) if message.HasField("location") else None,
        area=Area(tuple(_location(v) for v in message.area)) if message.area else None,
        phones=tuple(message.phones),
        emails=tuple(message.emails),
        web_domains=tuple(message.web_domains),
        customs_reference=message.customs_reference,
    )


def query_from_pb(message: pb.ScreenRequest) -> Query:
    """The core's query; enum violations raise here, the rest when the core validates."""
    violations: list[FieldViolation] = []
    channel = _enum(_CHANNELS, message.item.channel, "item.channel", violations)
    query = Query(
        item_id=message.item.item_id,
        channel=channel or Channel.UNKNOWN,
        parties=tuple(
            party_from_pb(p, f"parties[{i}]", violations) for i, p in enumerate(message.parties)
        ),
        contents=tuple(
            ContentLine(c.description, c.hs_code, c.origin_country) for c in message.item.contents
        ),
    )
    if violations:
        raise ValidationError(violations)
    return query


def _match_to_pb(match: Match) -> pb.Match:
    incident = match.incident
    evidence = match.evidence
    message = pb.Match(
        incident=pb.IncidentSummary(
            incident_id=incident.incident_id,
            version=incident.version,
            kind=_KIND_NUMBERS[incident.kind],
            reported_on=incident.reported_on.isoformat(),
            substance_class=_SUBSTANCE_NUMBERS[incident.substance_class],
            reporting_country=incident.reporting_country,
            agency=incident.agency,
            contact_ref=incident.contact_ref,
            channel=_CHANNEL_NUMBERS[incident.channel],
        ),
        incident_party_role=_ROLE_NUMBERS[match.incident_party_role],
        score=match.score,
        stoplight=_STOPLIGHTS[match.stoplight],
        reason_codes=[r.value for r in match.reasons],
        evidence=pb.Evidence(
            name_similarity=evidence.name_similarity,
            query_name=evidence.query_name,
            incident_name=evidence.incident_name,
            in_area=evidence.in_area,
            identifiers=list(evidence.identifiers),
            postcode_match=evidence.postcode_match,
            city_match=evidence.city_match,
        ),
        incident_weight=match.incident_weight,
    )
    if evidence.distance_m is not None:
        message.evidence.distance_m = evidence.distance_m
    if evidence.country_match is not None:
        message.evidence.country_match = evidence.country_match
    return message


def _party_to_pb(result: PartyResult) -> pb.PartyVerdict:
    return pb.PartyVerdict(
        party_index=result.party_index,
        role=_ROLE_NUMBERS[result.role],
        stoplight=_STOPLIGHTS[result.stoplight],
        score=result.score,
        matches=[_match_to_pb(m) for m in result.matches],
    )


def response_to_pb(result: Result, age_seconds: float) -> pb.ScreenResponse:
    return pb.ScreenResponse(
        item_id=result.item_id,
        stoplight=_STOPLIGHTS[result.stoplight],
        score=result.score,
        parties=[_party_to_pb(p) for p in result.parties],
        reason_codes=[r.value for r in result.reasons],
        index=pb.IndexInfo(
            generation=result.generation,
            age_seconds=age_seconds,
            incidents=result.incident_count,
        ),
        policy_version=result.policy_version,
    )


def item_error_to_pb(exc: ValidationError) -> pb.ItemError:
    return pb.ItemError(
        message=str(exc)[:1000],
        field_violations=[
            pb.FieldViolation(field=v.field, description=v.description) for v in exc.violations
        ],
    )


def incident_from_pb(message: pb.Incident, path: str, violations: list[FieldViolation]) -> Incident:
    reported_on = date(1970, 1, 1)
    try:
        reported_on = date.fromisoformat(message.reported_on)
    except ValueError:
        violations.append(FieldViolation(f"{path}.reported_on", "must be a date as YYYY-MM-DD"))
    kind = _enum(_KINDS, message.kind, f"{path}.kind", violations)
    return Incident(
        incident_id=message.incident_id,
        version=message.version or 1,
        kind=kind or IncidentKind.OTHER,
        reported_on=reported_on,
        reporting_country=message.reporting_country,
        agency=message.agency,
        contact_ref=message.contact_ref,
        channel=_enum(_CHANNELS, message.channel, f"{path}.channel", violations) or Channel.UNKNOWN,
        status=_enum(_STATUSES, message.status, f"{path}.status", violations)
        or IncidentStatus.ACTIVE,
        substance_class=_enum(
            _SUBSTANCES, message.substance_class, f"{path}.substance_class", violations
        )
        or SubstanceClass.UNKNOWN,
        substances=tuple(message.substances),
        parties=tuple(
            party_from_pb(p, f"{path}.parties[{i}]", violations)
            for i, p in enumerate(message.parties)
        ),
    )


def _party_pb(party: Party) -> pb.Party:
    message = pb.Party(
        role=_ROLE_NUMBERS[party.role],
        name=party.name,
        business_name=party.business_name,
        address_lines=list(party.address_lines),
        postcode=party.postcode,
        city=party.city,
        country_subdivision=party.country_subdivision,
        country_code=party.country_code,
        phones=list(party.phones),
        emails=list(party.emails),
        web_domains=list(party.web_domains),
        customs_reference=party.customs_reference,
    )
    if party.location is not None:
        message.location.CopyFrom(pb.Location(lat=party.location.lat, lon=party.location.lon))
    if party.area is not None:
        message.area.extend(pb.Location(lat=v.lat, lon=v.lon) for v in party.area.vertices)
    return message


def incident_to_pb(incident: Incident) -> pb.Incident:
    return pb.Incident(
        incident_id=incident.incident_id,
        version=incident.version,
        kind=_KIND_NUMBERS[incident.kind],
        reported_on=incident.reported_on.isoformat(),
        reporting_country=incident.reporting_country,
        agency=incident.agency,
        contact_ref=incident.contact_ref,
        channel=_CHANNEL_NUMBERS[incident.channel],
        status=_STATUS_NUMBERS[incident.status],
        substance_class=_SUBSTANCE_NUMBERS[incident.substance_class],
        substances=list(incident.substances),
        parties=[_party_pb(p) for p in incident.parties],
    )


def outcome_to_pb(outcome: PutOutcome) -> pb.PutOutcome.ValueType:
    return pb.PutOutcome.ValueType(_OUTCOMES[outcome])


def _timestamp(seconds: float) -> Timestamp | None:
    if not seconds:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


_FINDINGS: dict[Any, Outcome] = {
    pb.OUTCOME_SEIZED: Outcome.SEIZED,
    pb.OUTCOME_CLEARED_FALSE_MATCH: Outcome.CLEARED_FALSE_MATCH,
    pb.OUTCOME_CLEARED_OTHER: Outcome.CLEARED_OTHER,
}
_FINDING_NUMBERS = {v: k for k, v in _FINDINGS.items()}
_STOPLIGHT_BY_NAME: dict[str, Any] = {
    "GREEN": pb.STOPLIGHT_GREEN, "AMBER": pb.STOPLIGHT_AMBER, "RED": pb.STOPLIGHT_RED,
}  # fmt: skip


def outcome_request_from_pb(message: pb.RecordOutcomeRequest) -> OutcomeRequest:
    """The request as plain data; an unknown or unset outcome becomes None (a violation)."""
    return OutcomeRequest(
        item_id=message.item_id,
        incident_id=message.incident_id,
        outcome=_FINDINGS.get(message.outcome),
        party_index=message.party_index if message.HasField("party_index") else None,
    )


def recorded_outcome_to_pb(listed: Listed) -> pb.RecordedOutcome:
    record = listed.stored.record
    return pb.RecordedOutcome(
        item_id=record.item_id,
        incident_id=record.incident_id,
        incident_version=record.incident_version,
        outcome=_FINDING_NUMBERS[record.outcome],
        party_index=record.party_index,
        agency=record.agency,
        caller=record.caller,
        recorded_at=_timestamp(record.at),
        suppressed_until=_timestamp(listed.suppressed_until or 0.0),
        in_effect=listed.in_effect,
        stoplight=_STOPLIGHT_BY_NAME.get(record.stoplight, pb.STOPLIGHT_UNSPECIFIED),
        reason_codes=list(record.reason_codes),
        policy_version=record.policy_version,
    )


def status_to_pb(status: IndexStatus, now: float) -> pb.IndexStatus:
    return pb.IndexStatus(
        loaded=status.loaded,
        generation=status.generation,
        incidents=status.incidents,
        delta_changes=status.delta_changes,
        store_cursor=status.store_cursor,
        built_at=_timestamp(status.built_at),
        last_change_applied_at=_timestamp(status.last_change_applied_at),
        staleness_seconds=max(now - status.last_poll_ok_at, 0.0) if status.last_poll_ok_at else 0.0,
        store_reachable=status.store_reachable,
        build_seconds=status.build_seconds,
        last_error=status.last_error,
        invalid_documents=status.invalid_documents,
        parties=status.parties,
    )


def query_to_pb(query: Query) -> pb.ScreenRequest:
    """The request a caller would send for `query` (the inverse of query_from_pb)."""
    return pb.ScreenRequest(
        item=pb.Item(
            item_id=query.item_id,
            channel=_CHANNEL_NUMBERS[query.channel],
            contents=[
                pb.ContentLine(
                    description=c.description, hs_code=c.hs_code, origin_country=c.origin_country
                )
                for c in query.contents
            ],
        ),
        parties=[_party_pb(p) for p in query.parties],
    )


_STOPLIGHT_OF = {number: stoplight for stoplight, number in _STOPLIGHTS.items()}


def _match_from_pb(message: pb.Match) -> Match:
    incident = message.incident
    evidence = message.evidence
    return Match(
        incident=IncidentSummary(
            incident_id=incident.incident_id,
            version=incident.version,
            kind=_KINDS[incident.kind],
            reported_on=date.fromisoformat(incident.reported_on),
            substance_class=_SUBSTANCES[incident.substance_class],
            reporting_country=incident.reporting_country,
            agency=incident.agency,
            contact_ref=incident.contact_ref,
            channel=_CHANNELS[incident.channel],
        ),
        incident_party_role=_ROLES[message.incident_party_role],
        score=message.score,
        stoplight=_STOPLIGHT_OF[message.stoplight],
        reasons=tuple(ReasonCode(r) for r in message.reason_codes),
        evidence=Evidence(
            name_similarity=evidence.name_similarity,
            query_name=evidence.query_name,
            incident_name=evidence.incident_name,
            distance_m=evidence.distance_m if evidence.HasField("distance_m") else None,
            in_area=evidence.in_area,
            identifiers=tuple(evidence.identifiers),
            postcode_match=evidence.postcode_match,
            city_match=evidence.city_match,
            country_match=evidence.country_match if evidence.HasField("country_match") else None,
        ),
        incident_weight=message.incident_weight,
    )


def result_from_pb(message: pb.ScreenResponse) -> Result:
    """The core's plain verdict of a response (the inverse of response_to_pb)."""
    return Result(
        item_id=message.item_id,
        stoplight=_STOPLIGHT_OF[message.stoplight],
        score=message.score,
        parties=tuple(
            PartyResult(
                party_index=p.party_index,
                role=_ROLES[p.role],
                stoplight=_STOPLIGHT_OF[p.stoplight],
                score=p.score,
                matches=tuple(_match_from_pb(m) for m in p.matches),
            )
            for p in message.parties
        ),
        reasons=tuple(ReasonCode(r) for r in message.reason_codes),
        generation=message.index.generation,
        policy_version=message.policy_version,
        incident_count=message.index.incidents,
    )
