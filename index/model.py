"""The core's plain data: incidents and their parties, screening queries, and explained results.

Field names follow the WCO Data Model and UPU ITMATT vocabulary (snake_cased) so that the
service maps its contract onto them mechanically. Validation names the offending field by its
path in the request (`parties[1].country_code`) and reports every violation at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from index.countries import is_country_code
from index.errors import FieldViolation, ValidationError

MAX_NAME_CHARS = 300
MAX_ADDRESS_LINES = 6
MAX_ADDRESS_LINE_CHARS = 200
MAX_SHORT_FIELD_CHARS = 64
MAX_IDENTIFIERS_PER_KIND = 8
MAX_IDENTIFIER_CHARS = 254
MAX_PARTIES_PER_QUERY = 8
MAX_PARTIES_PER_INCIDENT = 16
MAX_CONTENT_LINES = 64
MAX_DESCRIPTION_CHARS = 500
MAX_AREA_VERTICES = 256
MAX_SUBSTANCES = 32
MAX_ID_CHARS = 128


class PartyRole(StrEnum):
    EXPORTER = "exporter"  # sender / consignor
    IMPORTER = "importer"  # addressee / consignee
    OTHER = "other"  # forwarder, shipping agent, notify party…


class IncidentKind(StrEnum):
    SEIZURE = "seizure"
    SUSPICIOUS_SHIPMENT = "suspicious_shipment"
    ILLICIT_MANUFACTURE = "illicit_manufacture"
    PRECURSOR_DIVERSION = "precursor_diversion"
    OTHER = "other"


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    RETRACTED = "retracted"


class Channel(StrEnum):
    LETTER_POST = "letter_post"
    PARCEL_POST = "parcel_post"
    EXPRESS = "express"  # EMS and express courier
    AIR_CARGO = "air_cargo"
    SEA_FREIGHT = "sea_freight"
    ROAD = "road"
    UNKNOWN = "unknown"


POSTAL_CHANNELS = frozenset({Channel.LETTER_POST, Channel.PARCEL_POST})


class SubstanceClass(StrEnum):
    FENTANYL = "fentanyl"  # fentanyl and analogues (carfentanil, acetylfentanyl…)
    OTHER_SYNTHETIC_OPIOID = "other_synthetic_opioid"  # nitazenes, brorphine…
    SYNTHETIC_CATHINONE = "synthetic_cathinone"
    SYNTHETIC_CANNABINOID = "synthetic_cannabinoid"
    PHENETHYLAMINE = "phenethylamine"
    TRYPTAMINE = "tryptamine"
    DESIGNER_BENZODIAZEPINE = "designer_benzodiazepine"
    ADULTERANT = "adulterant"  # xylazine and other adulterants
    ATS = "ats"  # methamphetamine, MDMA
    COCAINE = "cocaine"
    PRECURSOR = "precursor"  # NPP, ANPP, 4-AP, P2P, PMK glycidate…
    EQUIPMENT = "equipment"  # tablet presses, encapsulators, punches and dies
    OTHER = "other"
    UNKNOWN = "unknown"


class Stoplight(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


STOPLIGHT_RANK = {Stoplight.GREEN: 0, Stoplight.AMBER: 1, Stoplight.RED: 2}


class ReasonCode(StrEnum):
    NAME_EXACT = "NAME_EXACT"
    NAME_STRONG = "NAME_STRONG"
    NAME_PARTIAL = "NAME_PARTIAL"
    GEO_SAME_BUILDING = "GEO_SAME_BUILDING"
    GEO_NEAR = "GEO_NEAR"
    GEO_IN_AREA = "GEO_IN_AREA"
    PHONE_EXACT = "PHONE_EXACT"
    EMAIL_EXACT = "EMAIL_EXACT"
    DOMAIN_EXACT = "DOMAIN_EXACT"
    POSTCODE_MATCH = "POSTCODE_MATCH"
    CITY_MATCH = "CITY_MATCH"
    COUNTRY_MISMATCH = "COUNTRY_MISMATCH"
    POSTCODE_MISMATCH = "POSTCODE_MISMATCH"
    LOCATION_FAR = "LOCATION_FAR"
    MULTIPLE_INCIDENTS = "MULTIPLE_INCIDENTS"
    ADDRESS_SAME = "ADDRESS_SAME"
    ADDRESS_SAME_STREET = "ADDRESS_SAME_STREET"
    ADDRESS_OTHER_NUMBER = "ADDRESS_OTHER_NUMBER"
    SUPPRESSED_BY_OUTCOME = "SUPPRESSED_BY_OUTCOME"


@dataclass(frozen=True, slots=True)
class Location:
    """WGS 84 degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Area:
    """A site larger than a point (a lab compound, an industrial zone): a simple polygon."""

    vertices: tuple[Location, ...]

    @classmethod
    def box(cls, south: float, west: float, north: float, east: float) -> Area:
        return cls(
            (
                Location(south, west),
                Location(south, east),
                Location(north, east),
                Location(north, west),
            )
        )


@dataclass(frozen=True, slots=True)
class Party:
    """A shipment party (sender/exporter, addressee/importer) as declared or as recorded."""

    role: PartyRole = PartyRole.OTHER
    name: str = ""
    business_name: str = ""
    address_lines: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country_subdivision: str = ""
    country_code: str = ""
    location: Location | None = None
    area: Area | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    web_domains: tuple[str, ...] = ()
    customs_reference: str = ""

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.name, self.business_name) if n.strip())


@dataclass(frozen=True, slots=True)
class Incident:
    """One IONICS incident: what happened, who recorded it, and the parties involved."""

    incident_id: str
    kind: IncidentKind
    reported_on: date
    reporting_country: str
    agency: str = ""
    contact_ref: str = ""
    channel: Channel = Channel.UNKNOWN
    status: IncidentStatus = IncidentStatus.ACTIVE
    substance_class: SubstanceClass = SubstanceClass.UNKNOWN
    substances: tuple[str, ...] = ()
    parties: tuple[Party, ...] = ()
    version: int = 1


@dataclass(frozen=True, slots=True)
class ContentLine:
    """One line of the CN 23 declaration."""

    description: str = ""
    hs_code: str = ""
    origin_country: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """One postal item or shipment to screen."""

    item_id: str
    parties: tuple[Party, ...]
    channel: Channel = Channel.UNKNOWN
    contents: tuple[ContentLine, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """What a screening officer needs to know about a matched incident and whom to call."""

    incident_id: str
    version: int
    kind: IncidentKind
    reported_on: date
    substance_class: SubstanceClass
    reporting_country: str
    agency: str
    contact_ref: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a query party was associated with an incident party."""

    name_similarity: float
    query_name: str
    incident_name: str
    distance_m: float | None
    in_area: bool
    identifiers: tuple[str, ...]
    postcode_match: bool
    city_match: bool
    country_match: bool | None


@dataclass(frozen=True, slots=True)
class Match:
    incident: IncidentSummary
    incident_party_role: PartyRole
    score: float
    stoplight: Stoplight
    reasons: tuple[ReasonCode, ...]
    evidence: Evidence
    incident_weight: float


@dataclass(frozen=True, slots=True)
class PartyResult:
    party_index: int
    role: PartyRole
    stoplight: Stoplight
    score: float
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class Result:
    item_id: str
    stoplight: Stoplight
    score: float
    parties: tuple[PartyResult, ...]
    reasons: tuple[ReasonCode, ...]
    generation: int
    policy_version: str
    incident_count: int = field(default=0)


# --- validation ---------------------------------------------------------------------------

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10_PATTERN = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_HS_CODE_PATTERN = re.compile(r"[0-9]{6,10}")
_RESERVED_S10_SERVICE_LETTERS = frozenset("JKSTW")


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number."""
    total = sum(int(digit) * weight for digit, weight in zip(serial, S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_problem(item_id: str) -> str | None:
    """Why `item_id` is not a valid UPU S10 identifier, or None when it is."""
    if not _S10_PATTERN.fullmatch(item_id):
        return "must be a UPU S10 id: 2 letters, 8 digits, a check digit, 2-letter country"
    if item_id[0] in _RESERVED_S10_SERVICE_LETTERS:
        return f"service indicator {item_id[:2]} is reserved by the UPU"
    if s10_check_digit(item_id[2:10]) != int(item_id[10]):
        return f"check digit {item_id[10]} is wrong for serial {item_id[2:10]}"
    if not is_country_code(item_id[11:]):
        return f"{item_id[11:]} is not an ISO 3166-1 country code"
    return None


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"longer than {limit} characters"
    if _CONTROL_RE.search(value):
        return "contains control characters"
    return None


def _check_text(out: list[FieldViolation], path: str, value: str, limit: int) -> None:
    problem = _text_problem(value, limit)
    if problem:
        out.append(FieldViolation(path, problem))


def _check_country(out: list[FieldViolation], path: str, code: str, required: bool) -> None:
    if not code:
        if required:
            out.append(FieldViolation(path, "is required"))
    elif not is_country_code(code):
        out.append(FieldViolation(path, f"{code[:8]!r} is not an ISO 3166-1 alpha-2 code"))


def _check_location(out: list[FieldViolation], path: str, loc: Location) -> None:
    if not (math.isfinite(loc.lat) and -90.0 <= loc.lat <= 90.0):
        out.append(FieldViolation(f"{path}.lat", "must be a finite latitude in [-90, 90]"))
    if not (math.isfinite(loc.lon) and -180.0 <= loc.lon <= 180.0):
        out.append(FieldViolation(f"{path}.lon", "must be a finite longitude in [-180, 180]"))


def _check_many(
    out: list[FieldViolation], path: str, values: tuple[str, ...], limit: int = MAX_IDENTIFIER_CHARS
) -> None:
    if len(values) > MAX_IDENTIFIERS_PER_KIND:
        out.append(FieldViolation(path, f"more than {MAX_IDENTIFIERS_PER_KIND} entries"))
        return
    for i, value in enumerate(values):
        _check_text(out, f"{path}[{i}]", value, limit)


def party_violations(party: Party, path: str) -> list[FieldViolation]:
    """Every contract violation of one party, each named by its full path."""
    out: list[FieldViolation] = []
    _check_text(out, f"{path}.name", party.name, MAX_NAME_CHARS)
    _check_text(out, f"{path}.business_name", party.business_name, MAX_NAME_CHARS)
    if len(party.address_lines) > MAX_ADDRESS_LINES:
        out.append(FieldViolation(f"{path}.address_lines", f"more than {MAX_ADDRESS_LINES} lines"))
    else:
        for i, line in enumerate(party.address_lines):
            _check_text(out, f"{path}.address_lines[{i}]", line, MAX_ADDRESS_LINE_CHARS)
    _check_text(out, f"{path}.postcode", party.postcode, MAX_SHORT_FIELD_CHARS)
    _check_text(out, f"{path}.city", party.city, MAX_ADDRESS_LINE_CHARS)
    _check_text(
        out, f"{path}.country_subdivision", party.country_subdivision, MAX_ADDRESS_LINE_CHARS
    )
    _check_text(out, f"{path}.customs_reference", party.customs_reference, MAX_SHORT_FIELD_CHARS)
    _check_country(out, f"{path}.country_code", party.country_code, required=False)
    if party.location is not None:
        _check_location(out, f"{path}.location", party.location)
    if party.area is not None:
        vertices = party.area.vertices
        if not 3 <= len(vertices) <= MAX_AREA_VERTICES:
            out.append(FieldViolation(f"{path}.area", f"needs 3 to {MAX_AREA_VERTICES} vertices"))
        else:
            for i, vertex in enumerate(vertices):
                _check_location(out, f"{path}.area.vertices[{i}]", vertex)
    _check_many(out, f"{path}.phones", party.phones, MAX_SHORT_FIELD_CHARS)
    _check_many(out, f"{path}.emails", party.emails)
    _check_many(out, f"{path}.web_domains", party.web_domains)
    has_identity = party.names() or party.phones or party.emails or party.web_domains
    if not has_identity and party.location is None and party.area is None:
        out.append(
            FieldViolation(path, "needs a name, business name, identifier, location or area")
        )
    return out


def query_violations(query: Query) -> list[FieldViolation]:
    """Every contract violation of a screening query."""
    out: list[FieldViolation] = []
    if query.channel in POSTAL_CHANNELS:
        problem = s10_problem(query.item_id)
        if problem:
            out.append(FieldViolation("item.item_id", problem))
    elif not query.item_id:
        out.append(FieldViolation("item.item_id", "is required"))
    else:
        _check_text(out, "item.item_id", query.item_id, MAX_SHORT_FIELD_CHARS)
    if not query.parties:
        out.append(FieldViolation("parties", "at least one party is required"))
    elif len(query.parties) > MAX_PARTIES_PER_QUERY:
        out.append(FieldViolation("parties", f"more than {MAX_PARTIES_PER_QUERY} parties"))
    else:
        for i, party in enumerate(query.parties):
            out.extend(party_violations(party, f"parties[{i}]"))
    if len(query.contents) > MAX_CONTENT_LINES:
        out.append(FieldViolation("item.contents", f"more than {MAX_CONTENT_LINES} lines"))
    else:
        for i, line in enumerate(query.contents):
            path = f"item.contents[{i}]"
            _check_text(out, f"{path}.description", line.description, MAX_DESCRIPTION_CHARS)
            if line.hs_code and not _HS_CODE_PATTERN.fullmatch(line.hs_code):
                out.append(FieldViolation(f"{path}.hs_code", "must be 6 to 10 digits"))
            _check_country(out, f"{path}.origin_country", line.origin_country, required=False)
    return out


def incident_violations(incident: Incident, path: str = "incident") -> list[FieldViolation]:
    """Every contract violation of an incident as the store hands it to the index."""
    out: list[FieldViolation] = []
    if not incident.incident_id:
        out.append(FieldViolation(f"{path}.incident_id", "is required"))
    else:
        _check_text(out, f"{path}.incident_id", incident.incident_id, MAX_ID_CHARS)
    if incident.version < 1:
        out.append(FieldViolation(f"{path}.version", "must be 1 or more"))
    _check_country(out, f"{path}.reporting_country", incident.reporting_country, required=True)
    _check_text(out, f"{path}.agency", incident.agency, MAX_ADDRESS_LINE_CHARS)
    _check_text(out, f"{path}.contact_ref", incident.contact_ref, MAX_ADDRESS_LINE_CHARS)
    if len(incident.substances) > MAX_SUBSTANCES:
        out.append(FieldViolation(f"{path}.substances", f"more than {MAX_SUBSTANCES} entries"))
    if not incident.parties:
        out.append(FieldViolation(f"{path}.parties", "at least one party is required"))
    elif len(incident.parties) > MAX_PARTIES_PER_INCIDENT:
        out.append(FieldViolation(f"{path}.parties", f"more than {MAX_PARTIES_PER_INCIDENT}"))
    else:
        for i, party in enumerate(incident.parties):
            out.extend(party_violations(party, f"{path}.parties[{i}]"))
    return out


def validate_query(query: Query) -> Query:
    """The query itself when valid; otherwise a ValidationError listing every violation."""
    violations = query_violations(query)
    if violations:
        raise ValidationError(violations)
    return query


def validate_incident(incident: Incident) -> Incident:
    violations = incident_violations(incident)
    if violations:
        raise ValidationError(violations)
    return incident


def validate_incidents(incidents: Iterable[Incident]) -> list[Incident]:
    """All incidents when valid; otherwise one ValidationError naming `incidents[i]` fields."""
    violations: list[FieldViolation] = []
    checked = []
    for i, incident in enumerate(incidents):
        violations.extend(incident_violations(incident, f"incidents[{i}]"))
        checked.append(incident)
    if violations:
        raise ValidationError(violations)
    return checked
