"""Incidents as JSON documents (orjson): the stores' and the ingest files' one format.

`incident_from_json` accepts exactly what `incident_to_json` writes (see
`schemas/incident.schema.json`) and raises index.errors.ValidationError naming the offending
field, so a malformed document in a store or a file is reported, never half-loaded.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

import orjson

from index.errors import FieldViolation, ValidationError
from index.model import (
    Area,
    Channel,
    Incident,
    IncidentKind,
    IncidentStatus,
    Location,
    Party,
    PartyRole,
    SubstanceClass,
    incident_violations,
)

JsonObject = dict[str, Any]


def _location(loc: Location) -> JsonObject:
    return {"lat": loc.lat, "lon": loc.lon}


def party_to_dict(party: Party) -> JsonObject:
    out: JsonObject = {"role": party.role.value}
    for name in ("name", "business_name", "postcode", "city", "country_subdivision",
                 "country_code", "customs_reference"):  # fmt: skip
        value = getattr(party, name)
        if value:
            out[name] = value
    for name in ("address_lines", "phones", "emails", "web_domains"):
        value = getattr(party, name)
        if value:
            out[name] = list(value)
    if party.location is not None:
        out["location"] = _location(party.location)
    if party.area is not None:
        out["area"] = {"vertices": [_location(v) for v in party.area.vertices]}
    return out


def incident_to_dict(incident: Incident) -> JsonObject:
    return {
        "incident_id": incident.incident_id,
        "version": incident.version,
        "kind": incident.kind.value,
        "reported_on": incident.reported_on.isoformat(),
        "reporting_country": incident.reporting_country,
        "agency": incident.agency,
        "contact_ref": incident.contact_ref,
        "channel": incident.channel.value,
        "status": incident.status.value,
        "substance_class": incident.substance_class.value,
        "substances": list(incident.substances),
        "parties": [party_to_dict(p) for p in incident.parties],
    }


def incident_to_json(incident: Incident) -> bytes:
    return orjson.dumps(incident_to_dict(incident))


class _Reader:
    """Reads typed fields out of a JSON object, collecting violations by path."""

    def __init__(self, data: Any, path: str, violations: list[FieldViolation]) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.path = path
        self.violations = violations
        if not isinstance(data, dict):
            violations.append(FieldViolation(path, "must be an object"))

    def problem(self, key: str, description: str) -> None:
        self.violations.append(FieldViolation(f"{self.path}.{key}", description))

    def text(self, key: str, required: bool = False) -> str:
        value = self.data.get(key, "")
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return ""
        if required and not value:
            self.problem(key, "is required")
        return str(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return ()
        return tuple(value)

    def enum(self, key: str, enum: Any, default: Any) -> Any:
        value = self.data.get(key, default.value)
        member = _members(enum).get(value) if isinstance(value, str) else None
        if member is None:
            allowed = ", ".join(e.value for e in enum)
            self.problem(key, f"{str(value)[:40]!r} is not one of: {allowed}")
            return default
        return member

    def location(self, value: Any, path: str) -> Location | None:
        if not isinstance(value, dict):
            self.violations.append(FieldViolation(path, "must be an object with lat and lon"))
            return None
        lat: Any = value.get("lat")
        lon: Any = value.get("lon")
        if not (_is_number(lat) and _is_number(lon)):
            self.violations.append(FieldViolation(path, "lat and lon must be numbers"))
            return None
        return Location(float(lat), float(lon))


@functools.cache
def _members(enum: Any) -> dict[str, Any]:
    """An enum's members by value: a dict lookup, several times cheaper than `enum(value)`,
    which matters when a build decodes a million stored documents."""
    return {member.value: member for member in enum}


def _is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int  # bool is a subclass of int: refused


def _party(data: Any, path: str, violations: list[FieldViolation]) -> Party:
    r = _Reader(data, path, violations)
    location = None
    if r.data.get("location") is not None:
        location = r.location(r.data["location"], f"{path}.location")
    area = None
    if r.data.get("area") is not None:
        raw = r.data["area"].get("vertices") if isinstance(r.data["area"], dict) else None
        if not isinstance(raw, list):
            r.problem("area", "must be an object with a list of vertices")
        else:
            points = [r.location(v, f"{path}.area.vertices[{i}]") for i, v in enumerate(raw)]
            area = Area(tuple(p for p in points if p is not None))
    return Party(
        role=r.enum("role", PartyRole, PartyRole.OTHER),
        name=r.text("name"),
        business_name=r.text("business_name"),
        address_lines=r.texts("address_lines"),
        postcode=r.text("postcode"),
        city=r.text("city"),
        country_subdivision=r.text("country_subdivision"),
        country_code=r.text("country_code"),
        location=location,
        area=area,
        phones=r.texts("phones"),
        emails=r.texts("emails"),
        web_domains=r.texts("web_domains"),
        customs_reference=r.text("customs_reference"),
    )


def incident_from_dict(data: Any, path: str = "incident") -> Incident:
    """A validated Incident, or ValidationError listing every offending field."""
    violations: list[FieldViolation] = []
    r = _Reader(data, path, violations)
    version = r.data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        r.problem("version", "must be an integer")
        version = 1
    reported_on = date(1970, 1, 1)
    try:
        reported_on = date.fromisoformat(r.text("reported_on", required=True) or "1970-01-01")
    except ValueError:
        r.problem("reported_on", "must be a date as YYYY-MM-DD")
    raw_parties = r.data.get("parties", [])
    if not isinstance(raw_parties, list):
        r.problem("parties", "must be a list")
        raw_parties = []
    incident = Incident(
        incident_id=r.text("incident_id", required=True),
        version=version,
        kind=r.enum("kind", IncidentKind, IncidentKind.OTHER),
        reported_on=reported_on,
        reporting_country=r.text("reporting_country", required=True),
        agency=r.text("agency"),
        contact_ref=r.text("contact_ref"),
        channel=r.enum("channel", Channel, Channel.UNKNOWN),
        status=r.enum("status", IncidentStatus, IncidentStatus.ACTIVE),
        substance_class=r.enum("substance_class", SubstanceClass, SubstanceClass.UNKNOWN),
        substances=r.texts("substances"),
        parties=tuple(
            _party(p, f"{path}.parties[{i}]", violations) for i, p in enumerate(raw_parties)
        ),
    )
    if not violations:
        violations.extend(incident_violations(incident, path))
    if violations:
        raise ValidationError(_dedupe(violations))
    return incident


def _dedupe(violations: list[FieldViolation]) -> list[FieldViolation]:
    return list(dict.fromkeys(violations))


def incident_from_json(raw: bytes | str, path: str = "incident") -> Incident:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError([FieldViolation(path, f"not valid JSON: {exc}")]) from exc
    return incident_from_dict(data, path)


# --- CSV: one incident per row, an exporter and an importer -------------------------------

CSV_PARTY_FIELDS = (
    "name", "business_name", "address", "postcode", "city", "country", "phone", "email",
    "web_domain", "lat", "lon",
)  # fmt: skip
CSV_COLUMNS = (
    "incident_id", "version", "kind", "reported_on", "reporting_country", "agency", "contact_ref",
    "channel", "status", "substance_class", "substances",
    *(f"{role}_{field}" for role in ("exporter", "importer") for field in CSV_PARTY_FIELDS),
)  # fmt: skip


def _csv_number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # the decoder names it


_CSV_INCIDENT_FIELDS = (
    "incident_id", "kind", "reported_on", "reporting_country", "agency", "contact_ref", "channel",
    "status", "substance_class",
)  # fmt: skip
_CSV_SINGLE = (("name", "name"), ("business_name", "business_name"), ("postcode", "postcode"),
               ("city", "city"), ("country", "country_code"))  # fmt: skip
_CSV_LISTED = (("address", "address_lines"), ("phone", "phones"), ("email", "emails"),
               ("web_domain", "web_domains"))  # fmt: skip


def incident_from_csv_row(row: dict[str, str], path: str) -> Incident:
    """An incident from a CSV row (columns: CSV_COLUMNS; `substances` separated by `;`)."""

    def get(key: str) -> str:
        return (row.get(key) or "").strip()

    document: JsonObject = {key: get(key) for key in _CSV_INCIDENT_FIELDS if get(key)}
    version = get("version")
    if version:
        document["version"] = int(version) if version.isdigit() else version
    document["substances"] = [s.strip() for s in get("substances").split(";") if s.strip()]
    parties = []
    for role in ("exporter", "importer"):
        if not any(get(f"{role}_{field}") for field in CSV_PARTY_FIELDS):
            continue
        party: JsonObject = {"role": role}
        for field, key in _CSV_SINGLE:
            if get(f"{role}_{field}"):
                party[key] = get(f"{role}_{field}")
        for field, key in _CSV_LISTED:
            if get(f"{role}_{field}"):
                party[key] = [get(f"{role}_{field}")]
        if get(f"{role}_lat") or get(f"{role}_lon"):
            lat, lon = _csv_number(get(f"{role}_lat")), _csv_number(get(f"{role}_lon"))
            party["location"] = {"lat": lat, "lon": lon}
        parties.append(party)
    document["parties"] = parties
    return incident_from_dict(document, path)
