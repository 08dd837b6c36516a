from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.errors import FieldViolation, ValidationError
from index.model import (
    Area,
    Channel,
    ContentLine,
    Location,
    Party,
    PartyRole,
    Query,
    s10_check_digit,
    s10_problem,
    validate_incident,
    validate_incidents,
    validate_query,
)
from tests.index.conftest import incident, query


def fields_of(exc: ValidationError) -> set[str]:
    return {v.field for v in exc.violations}


def test_s10_example_from_the_upu_standard_is_valid() -> None:
    assert s10_problem("EE471108151FR") is None
    assert s10_check_digit("47110815") == 1


@given(st.integers(0, 10**8 - 1))
def test_s10_check_digit_rejects_every_other_digit(serial: int) -> None:
    digits = f"{serial:08d}"
    good = s10_check_digit(digits)
    assert 0 <= good <= 9
    for wrong in set(range(10)) - {good}:
        assert s10_problem(f"RR{digits}{wrong}DE") is not None


def test_s10_reserved_service_letters_and_unknown_country_are_rejected() -> None:
    assert "reserved" in (s10_problem("JJ471108151FR") or "")
    assert "ISO" in (s10_problem("EE471108151ZZ") or "")
    assert "UPU S10" in (s10_problem("EE4711081FR") or "")


def test_invalid_query_names_every_offending_field() -> None:
    bad = Query(
        item_id="EE471108152FR",
        channel=Channel.PARCEL_POST,
        parties=(
            Party(PartyRole.EXPORTER, name="ok", country_code="CN"),
            Party(
                PartyRole.IMPORTER,
                name="x" * 301,
                country_code="XX",
                location=Location(float("nan"), 200.0),
                phones=("1",) * 9,
            ),
        ),
        contents=(ContentLine(hs_code="12AB"),),
    )
    with pytest.raises(ValidationError) as info:
        validate_query(bad)
    assert fields_of(info.value) == {
        "item.item_id",
        "parties[1].name",
        "parties[1].country_code",
        "parties[1].location.lat",
        "parties[1].location.lon",
        "parties[1].phones",
        "item.contents[0].hs_code",
    }
    assert isinstance(info.value, ValueError)


def test_party_without_any_identity_is_rejected_and_control_characters_too() -> None:
    with pytest.raises(ValidationError) as info:
        validate_query(query(Party(PartyRole.EXPORTER), Party(name="a\x00b")))
    assert fields_of(info.value) == {"parties[0]", "parties[1].name"}


def test_courier_items_need_an_id_but_not_an_s10_one() -> None:
    party = Party(name="A")
    assert validate_query(Query("AWB-123", (party,), Channel.EXPRESS)).item_id == "AWB-123"
    with pytest.raises(ValidationError) as info:
        validate_query(Query("", (), Channel.EXPRESS))
    assert fields_of(info.value) == {"item.item_id", "parties"}
    with pytest.raises(ValidationError):
        validate_query(Query("X", (party,) * 9, Channel.EXPRESS))


def test_incident_validation_paths_and_area_vertices() -> None:
    tiny = Area((Location(0, 0), Location(1, 1)))
    bad = incident("", Party(name="A", area=tiny), reporting_country="", version=0)
    with pytest.raises(ValidationError) as info:
        validate_incidents([bad])
    assert fields_of(info.value) == {
        "incidents[0].incident_id",
        "incidents[0].version",
        "incidents[0].reporting_country",
        "incidents[0].parties[0].area",
    }
    good = incident("ION-1", Party(name="A", area=Area.box(0, 0, 1, 1)))
    assert validate_incident(good) is good
    with pytest.raises(ValidationError):
        validate_incident(incident("ION-2"))


def test_validation_error_needs_a_violation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ValidationError([])
    assert str(ValidationError([FieldViolation("a", "b")])) == "a: b"
