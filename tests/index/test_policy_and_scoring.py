from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.errors import PolicyError
from index.model import IncidentKind, ReasonCode, Stoplight, SubstanceClass
from index.policy import DEFAULT_POLICY, parse_policy
from index.scoring import (
    EMAIL,
    PHONE,
    PairEvidence,
    combine_scores,
    evidence_points,
    incident_weight,
    name_points,
    name_points_array,
    points_upper_bound,
    score_of,
    stoplight_of,
)

ROOT = Path(__file__).resolve().parents[2]


def evidence(**fields: object) -> PairEvidence:
    base: dict[str, object] = {
        "name_similarity": 0.0, "distance_m": None, "in_area": False,
        "identifiers": frozenset(), "postcode_match": None, "city_match": False,
        "country_match": None,
    }  # fmt: skip
    base.update(fields)
    return PairEvidence(**base)  # type: ignore[arg-type]


def score(ev: PairEvidence) -> float:
    return score_of(DEFAULT_POLICY, evidence_points(DEFAULT_POLICY, ev)[0])


def test_shipped_policy_file_is_the_default_policy() -> None:
    assert parse_policy((ROOT / "policies" / "default.toml").read_text()) == DEFAULT_POLICY


def test_policy_file_errors_are_named() -> None:
    with pytest.raises(PolicyError, match="unknown policy keys: nmae_weight"):
        parse_policy("nmae_weight = 3")
    with pytest.raises(PolicyError, match="name_weight must be a float"):
        parse_policy('name_weight = "high"')
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("= =")
    with pytest.raises(PolicyError, match="near_radius_m"):
        parse_policy("near_radius_m = 5000")
    with pytest.raises(PolicyError, match="amber_score"):
        parse_policy("amber_score = 80.0")
    with pytest.raises(PolicyError, match="kind_weights"):
        parse_policy("[kind_weights]\nburglary = 1.0")
    with pytest.raises(PolicyError, match="must be a table"):
        parse_policy("substance_weights = 3")
    custom = parse_policy('version = "x"\nname_weight = 90\n[kind_weights]\nother = 0.5')
    assert custom.name_weight == 90.0
    assert custom.kind_weights[IncidentKind.OTHER] == 0.5
    assert custom.kind_weights[IncidentKind.SEIZURE] == 1.0


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_score_is_monotone_in_name_similarity(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert score(evidence(name_similarity=low)) <= score(evidence(name_similarity=high))


@given(st.floats(0.0, 300.0), st.floats(0.0, 300.0), st.floats(0.0, 1.0))
def test_score_decreases_with_distance(a: float, b: float, similarity: float) -> None:
    near, far = sorted((a, b))
    assert score(evidence(distance_m=near, name_similarity=similarity)) >= score(
        evidence(distance_m=far, name_similarity=similarity)
    )


def test_distinct_evidence_gives_distinct_scores() -> None:
    above_floor = range(int(DEFAULT_POLICY.name_floor * 100) + 1, 101)
    seen = {round(score(evidence(name_similarity=s / 100)), 6) for s in above_floor}
    assert len(seen) == len(above_floor) >= 20
    assert score(evidence(identifiers=frozenset({PHONE, EMAIL}), name_similarity=1.0)) < 100.0


def test_stoplight_rules_of_the_default_policy() -> None:
    assert stoplight_of(DEFAULT_POLICY, score(evidence(name_similarity=1.0))) is Stoplight.AMBER
    assert stoplight_of(DEFAULT_POLICY, score(evidence(distance_m=5.0))) is Stoplight.AMBER
    assert stoplight_of(DEFAULT_POLICY, score(evidence(identifiers=frozenset({PHONE})))) is (
        Stoplight.RED
    )
    combined = evidence(name_similarity=0.95, distance_m=120.0)
    assert stoplight_of(DEFAULT_POLICY, score(combined)) is Stoplight.RED
    assert stoplight_of(DEFAULT_POLICY, score(evidence(name_similarity=0.7))) is Stoplight.GREEN
    assert stoplight_of(DEFAULT_POLICY, score(evidence(distance_m=250.0))) is Stoplight.GREEN


def test_reasons_explain_the_points() -> None:
    points, reasons = evidence_points(
        DEFAULT_POLICY,
        evidence(name_similarity=0.91, country_match=False, postcode_match=True, city_match=True),
    )
    assert reasons == (
        ReasonCode.NAME_STRONG, ReasonCode.COUNTRY_MISMATCH, ReasonCode.POSTCODE_MATCH,
        ReasonCode.CITY_MATCH,
    )  # fmt: skip
    assert points > 0
    _, area = evidence_points(DEFAULT_POLICY, evidence(in_area=True, name_similarity=0.83))
    assert area == (ReasonCode.NAME_PARTIAL, ReasonCode.GEO_IN_AREA)
    assert evidence_points(DEFAULT_POLICY, evidence(postcode_match=True)) == (0.0, ())


def test_address_disagreement_weakens_a_name_match_but_never_location_agreement() -> None:
    alone = score(evidence(name_similarity=0.95, city_match=True))
    moved = evidence(name_similarity=0.95, city_match=True, postcode_match=False)
    far = evidence(name_similarity=0.95, city_match=True, distance_m=9000.0)
    assert score(moved) < alone and score(far) < alone
    far_and_moved = replace(far, postcode_match=False)  # one move, counted once
    assert score(far_and_moved) == min(score(far), score(moved))
    assert evidence_points(DEFAULT_POLICY, far_and_moved)[1] == (
        ReasonCode.NAME_STRONG, ReasonCode.POSTCODE_MISMATCH, ReasonCode.LOCATION_FAR,
        ReasonCode.CITY_MATCH,
    )  # fmt: skip
    between = evidence(name_similarity=0.95, distance_m=1000.0)  # beyond "near", short of "far"
    assert score(between) == score(evidence(name_similarity=0.95))
    near = evidence(name_similarity=0.95, distance_m=40.0)
    assert score(evidence(name_similarity=0.95, distance_m=40.0, postcode_match=False)) == (
        score(near)
    )
    with pytest.raises(PolicyError, match="far_location_m"):
        parse_policy("far_location_m = 100.0")
    with pytest.raises(PolicyError, match="mismatch factors"):
        parse_policy("postcode_mismatch_factor = 0.0")


def test_incident_weight_orders_kinds_and_decays_with_age_to_a_floor() -> None:
    fresh = incident_weight(DEFAULT_POLICY, IncidentKind.SEIZURE, SubstanceClass.FENTANYL, 0)
    old = incident_weight(DEFAULT_POLICY, IncidentKind.SEIZURE, SubstanceClass.FENTANYL, 9000)
    suspicion = incident_weight(
        DEFAULT_POLICY, IncidentKind.SUSPICIOUS_SHIPMENT, SubstanceClass.FENTANYL, 0
    )
    assert fresh == 1.0
    assert old == DEFAULT_POLICY.recency_floor
    assert suspicion < fresh


def test_more_matches_raise_the_party_score_but_damped() -> None:
    assert combine_scores(DEFAULT_POLICY, []) == 0.0
    one = combine_scores(DEFAULT_POLICY, [50.0])
    two = combine_scores(DEFAULT_POLICY, [50.0, 50.0])
    assert one == 50.0
    assert one < two < 75.0


@given(st.floats(0.0, 1.0))
def test_scalar_and_array_name_points_agree(similarity: float) -> None:
    array = name_points_array(DEFAULT_POLICY, np.array([similarity]))[0]
    assert name_points(DEFAULT_POLICY, similarity) == pytest.approx(float(array))


@given(st.floats(0.0, 1.0), st.one_of(st.none(), st.floats(0.0, 400.0)))
def test_upper_bound_is_never_below_the_points(similarity: float, distance: float | None) -> None:
    ev = evidence(name_similarity=similarity, distance_m=distance, postcode_match=True,
                  city_match=True, country_match=True)  # fmt: skip
    bound = points_upper_bound(
        DEFAULT_POLICY, np.array([similarity]), np.array([np.nan if distance is None else distance])
    )[0]
    assert evidence_points(DEFAULT_POLICY, ev)[0] <= bound + 1e-9
