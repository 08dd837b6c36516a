from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from index.errors import ValidationError
from index.synthetic import Generator
from service.codec import incident_from_json, incident_to_dict, incident_to_json


def test_every_generated_incident_survives_a_round_trip() -> None:
    for incident in Generator(4).incidents(300):
        assert incident_from_json(incident_to_json(incident)) == incident


def test_bad_documents_name_every_offending_field() -> None:
    with pytest.raises(ValidationError) as info:
        incident_from_json(
            b'{"incident_id": "", "version": "2", "kind": "burglary", "reported_on": "yesterday",'
            b' "reporting_country": "ZZ", "parties": [{"role": "boss", "location": {"lat": "x"},'
            b' "phones": "+1 555", "area": {"vertices": 3}}]}'
        )
    fields = {v.field for v in info.value.violations}
    assert fields == {
        "incident.incident_id",
        "incident.version",
        "incident.kind",
        "incident.reported_on",
        "incident.parties[0].role",
        "incident.parties[0].location",
        "incident.parties[0].phones",
        "incident.parties[0].area",
    }


def test_enum_and_coordinate_values_of_the_wrong_type_are_named_errors() -> None:
    with pytest.raises(ValidationError) as info:
        incident_from_json(
            b'{"incident_id": "ION-1", "kind": ["seizure"], "status": 1, "reported_on": '
            b'"2026-01-01", "reporting_country": "DE", "parties": [{"role": {"a": 1}, '
            b'"name": "X", "location": {"lat": true, "lon": 2.0}}]}'
        )
    fields = {v.field: v.description for v in info.value.violations}
    assert set(fields) == {"incident.kind", "incident.status", "incident.parties[0].role",
                           "incident.parties[0].location"}  # fmt: skip
    assert "is not one of: seizure" in fields["incident.kind"]


def test_contract_rules_apply_after_decoding() -> None:
    incident = next(iter(Generator(4).incidents(1)))
    document = incident_to_dict(incident)
    document["reporting_country"] = "XX"
    document["parties"][0]["location"] = {"lat": 91.0, "lon": 0.0}
    with pytest.raises(ValidationError) as info:
        incident_from_json(orjson.dumps(document))
    assert {v.field for v in info.value.violations} == {
        "incident.reporting_country",
        "incident.parties[0].location.lat",
    }


@pytest.mark.parametrize("raw", [b"", b"[", b"[]", b"42", b'"text"'])
def test_non_objects_are_rejected_by_name(raw: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        incident_from_json(raw)
    assert info.value.violations[0].field == "incident"


def test_the_json_schema_describes_exactly_what_the_codec_writes() -> None:
    schema = orjson.loads((Path(__file__).parents[2] / "schemas/incident.schema.json").read_bytes())
    incidents = list(Generator(9).incidents(200))
    incident_keys = {k for i in incidents for k in incident_to_dict(i)}
    party_keys = {k for i in incidents for p in incident_to_dict(i)["parties"] for k in p}
    assert incident_keys == set(schema["properties"])
    assert party_keys <= set(schema["$defs"]["party"]["properties"])
    assert set(schema["required"]) <= incident_keys
