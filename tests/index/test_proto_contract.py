"""The compiled core's hand-written messages agree with the contract: every field it decodes or
encodes has the .proto's name and number."""

from __future__ import annotations

from index import _core
from preflight.v1 import preflight_pb2 as pb


def test_every_field_the_core_knows_has_the_contracts_name_and_number() -> None:
    known = _core.proto_fields()
    assert known
    for message, field_name, number in known:
        descriptor = pb.DESCRIPTOR.message_types_by_name[message]
        assert descriptor.fields_by_name[field_name].number == number, (message, field_name)


def test_the_core_knows_every_field_of_the_screening_messages() -> None:
    known = {(message, field_name) for message, field_name, _ in _core.proto_fields()}
    screening = ("ScreenRequest", "Item", "Party", "Location", "ContentLine", "ScreenResponse",
                 "PartyVerdict", "Match", "IncidentSummary", "Evidence", "IndexInfo",
                 "ScreenBatchRequest", "ScreenBatchResponse", "ScreenBatchEntry", "ItemError",
                 "FieldViolation")  # fmt: skip
    for message in screening:
        for field in pb.DESCRIPTOR.message_types_by_name[message].fields:
            assert (message, field.name) in known, (message, field.name)
