from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.errors import ValidationError
from index.model import (
    Area,
    Incident,
    IncidentStatus,
    Location,
    Party,
    PartyRole,
    ReasonCode,
    Result,
    Stoplight,
)
from index.policy import DEFAULT_POLICY, Policy
from index.synthetic import Generator, offset, s10
from service.screener import CompiledView
from tests.index.conftest import BERLIN, SHANGHAI, TODAY, incident, query


def matched_ids(result: Result) -> set[str]:
    return {m.incident.incident_id for p in result.parties for m in p.matches}


def test_transliterated_name_meets_the_recorded_chinese_name(
    view: CompiledView, policy: Policy
) -> None:
    chinese = Party(PartyRole.EXPORTER, business_name="上海宏达化工有限公司", country_code="CN")
    result = view.screen(query(chinese), policy, TODAY)
    assert result.stoplight is Stoplight.AMBER
    match = result.parties[0].matches[0]
    assert match.incident.incident_id == "ION-2026-0001"
    assert match.incident.contact_ref == "ZKA-42"
    assert ReasonCode.NAME_EXACT in match.reasons
    assert match.evidence.query_name == match.evidence.incident_name == "shanghai hongda"
    assert result.generation == 7
    assert result.policy_version == policy.version


def test_sis_doo_meets_sis_d_o_o(view: CompiledView, policy: Policy) -> None:
    result = view.screen(query(Party(business_name="SIS DOO", country_code="RS")), policy, TODAY)
    assert matched_ids(result) == {"ION-2025-0002"}
    assert result.stoplight is not Stoplight.GREEN


def test_strong_name_near_the_incident_is_red_and_explained(
    view: CompiledView, policy: Policy
) -> None:
    near = offset(SHANGHAI, 60.0, 45.0)
    party = Party(PartyRole.EXPORTER, business_name="Shanghai Hongda Chem", location=near,
                  postcode="200001", city="Shanghai", country_code="CN")  # fmt: skip
    result = view.screen(query(party), policy, TODAY)
    assert result.stoplight is Stoplight.RED
    match = result.parties[0].matches[0]
    assert match.evidence.distance_m == pytest.approx(60.0, abs=0.5)
    assert {ReasonCode.GEO_NEAR, ReasonCode.POSTCODE_MATCH, ReasonCode.CITY_MATCH} <= set(
        match.reasons
    )
    assert result.score == result.parties[0].score == match.score


def test_reused_phone_under_another_name_is_red(view: CompiledView, policy: Policy) -> None:
    party = Party(PartyRole.IMPORTER, name="Someone Else", phones=("021-5555-1234",),
                  country_code="CN")  # fmt: skip
    result = view.screen(query(party), policy, TODAY)
    assert result.stoplight is Stoplight.RED
    assert result.parties[0].matches[0].reasons == (ReasonCode.PHONE_EXACT,)


def test_same_building_alone_is_amber_and_other_names_elsewhere_are_green(
    view: CompiledView, policy: Policy
) -> None:
    neighbour = Party(name="Max Mustermann", location=offset(BERLIN, 10.0, 0.0))
    stranger = Party(name="Max Mustermann", location=offset(BERLIN, 900.0, 0.0))
    assert view.screen(query(neighbour), policy, TODAY).stoplight is Stoplight.AMBER
    far = view.screen(query(stranger), policy, TODAY)
    assert far.stoplight is Stoplight.GREEN
    assert far.parties[0].matches == ()


def test_invalid_query_is_refused_not_screened(view: CompiledView, policy: Policy) -> None:
    with pytest.raises(ValidationError):
        view.screen(query(Party(name="A"), item_id="EE471108152FR"), policy, TODAY)


def test_retracted_incident_never_matches(hongda: Incident, policy: Policy) -> None:
    retracted = replace(hongda, status=IncidentStatus.RETRACTED)
    view = CompiledView.build([retracted])
    result = view.screen(query(*hongda.parties), policy, TODAY)
    assert result.stoplight is Stoplight.GREEN
    assert matched_ids(result) == set()
    assert view.incident_count == 0


def test_incident_areas_match_points_inside(policy: Policy) -> None:
    lab = incident("ION-LAB", Party(PartyRole.OTHER, business_name="Site 7",
                                    area=Area.box(10.0, 20.0, 10.01, 20.01)))  # fmt: skip
    view = CompiledView.build([lab])
    inside = view.screen(query(Party(name="Z", location=Location(10.005, 20.005))), policy, TODAY)
    assert matched_ids(inside) == {"ION-LAB"}
    assert ReasonCode.GEO_IN_AREA in inside.reasons


@pytest.fixture(scope="module")
def generated() -> list[Incident]:
    return list(Generator(5).incidents(600))


def screen_all(
    view: CompiledView, parties: list[Party]
) -> list[tuple[str, float, tuple[str, ...]]]:
    out = []
    for party in parties:
        result = view.screen(query(party), DEFAULT_POLICY, TODAY)
        out.append((result.stoplight.value, result.score, tuple(sorted(matched_ids(result)))))
    return out


def test_delta_then_compaction_answers_like_a_fresh_build(generated: list[Incident]) -> None:
    base, later = generated[:500], generated[500:]
    changed = [replace(base[3], parties=later[0].parties, version=2), *later[1:50]]
    deleted = [base[7].incident_id, base[11].incident_id]
    view = CompiledView.build(base, 1).apply(changed, deleted)
    final = {i.incident_id: i for i in base}
    for inc in changed:
        final[inc.incident_id] = inc
    for incident_id in deleted:
        del final[incident_id]
    fresh = CompiledView.build(final.values(), 2)
    probes = [p for inc in [*changed, base[7], base[11], *base[:40]] for p in inc.parties]
    assert view.incident_count == fresh.incident_count == len(final)
    assert screen_all(view, probes) == screen_all(fresh, probes)
    assert base[7].incident_id not in {m for r in screen_all(view, probes) for m in r[2]}
    undeleted = view.apply([base[7]])
    assert base[7].incident_id in matched_ids(
        undeleted.screen(query(base[7].parties[0]), DEFAULT_POLICY, TODAY)
    )


def test_a_batch_answers_each_item_as_screening_it_alone_would(
    generated: list[Incident],
) -> None:
    view = CompiledView.build(generated[:400], 1).apply(generated[400:450])
    rng = np.random.default_rng(3)
    recorded = [p for inc in generated[380:430] for p in inc.parties]
    moved = [replace(p, location=offset(p.location, 60.0, 90.0)) for p in recorded if p.location]
    unknown = [p for inc in generated[450:520] for p in inc.parties]
    pool = [*recorded, *moved, *unknown]
    queries = [
        query(*(pool[int(i)] for i in rng.choice(len(pool), size=int(rng.integers(1, 4)))),
              item_id=s10(random.Random(n)))
        for n in range(90)
    ]  # fmt: skip
    one_by_one = [view.screen(q, DEFAULT_POLICY, TODAY) for q in queries]
    assert view.screen_many(queries, DEFAULT_POLICY, TODAY) == one_by_one
    assert sum(r.stoplight is Stoplight.RED for r in one_by_one) >= 20
    assert sum(r.stoplight is Stoplight.GREEN for r in one_by_one) >= 10


def test_same_input_gives_the_same_answer(generated: list[Incident]) -> None:
    a = CompiledView.build(generated[:300])
    b = CompiledView.build(list(generated[:300]))
    probes = [p for inc in generated[250:320] for p in inc.parties]
    assert screen_all(a, probes) == screen_all(b, probes)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 295.0), st.floats(0.0, 360.0))
def test_a_party_within_the_radius_is_always_found(metres: float, bearing: float) -> None:
    target = incident("ION-GEO", Party(name="Target", location=SHANGHAI))
    decoys = [incident(f"D{i}", Party(name=f"Decoy {i}", location=offset(SHANGHAI, 400 + i, i)))
              for i in range(20)]  # fmt: skip
    view = CompiledView.build([target, *decoys])
    probe = Party(name="Unrelated Person", location=offset(SHANGHAI, metres, bearing))
    # every party within the radius is a candidate while the candidate cap is not reached
    generous = replace(
        DEFAULT_POLICY, report_score=0.0, max_matches_per_party=100, geo_candidates=100
    )
    result = view.screen(query(probe), generous, TODAY)
    assert "ION-GEO" in matched_ids(result)
    assert all(
        m.evidence.distance_m is not None and m.evidence.distance_m <= generous.near_radius_m
        for m in result.parties[0].matches
        if not m.evidence.name_similarity > generous.name_floor
    )


def test_snapshot_facts() -> None:
    view = CompiledView.build(list(Generator(3).incidents(50)), generation=4)
    assert view.incident_count == 50
    assert view.party_count == 100
    assert view.core.snapshot().nbytes > 0
    assert view.generation == 4


def test_stale_incidents_weigh_less(hongda: Incident, policy: Policy) -> None:
    old = replace(hongda, reported_on=date(2010, 1, 1))
    fresh_score = CompiledView.build([hongda]).screen(query(hongda.parties[1]), policy, TODAY).score
    old_score = CompiledView.build([old]).screen(query(hongda.parties[1]), policy, TODAY).score
    assert old_score < fresh_score


def test_parties_under_two_common_tokens_are_still_found() -> None:
    people = [
        incident("ION-T", Party(name="John Jane Pham")),
        incident("ION-A", Party(name="John Smith")),
        incident("ION-B", Party(name="Jane Doe")),
        incident("ION-C", Party(name="Tran Pham")),
    ]
    view = CompiledView.build(people)
    strict = replace(DEFAULT_POLICY, name_df_cap=1)
    misspelt = query(Party(name="PHAM, John Janne"))  # no whole-name key: only common tokens
    result = view.screen(misspelt, strict, TODAY)
    assert result.parties[0].matches[0].incident.incident_id == "ION-T"
    assert replace(strict, common_key_df_cap=1) != strict
    nothing = view.screen(misspelt, replace(strict, common_key_df_cap=1), TODAY)
    assert "ION-T" not in matched_ids(nothing)


def test_reordered_name_with_generic_words_is_found_by_its_whole_name() -> None:
    people = [
        incident("ION-T", Party(business_name="Trần Nguyễn Co., Ltd")),
        *(incident(f"ION-{i}", Party(name=f"Nguyen Van {i}x Tran")) for i in range(5)),
    ]
    view = CompiledView.build(people)
    only_whole_names = replace(DEFAULT_POLICY, name_df_cap=1, common_key_df_cap=1)
    result = view.screen(
        query(Party(business_name="Nguyễn Technology Trần")), only_whole_names, TODAY
    )
    assert matched_ids(result) == {"ION-T"}
    assert result.parties[0].matches[0].evidence.name_similarity == 1.0


def test_transliteration_variant_is_found_by_its_phonetic_key() -> None:
    people = [
        incident("ION-T", Party(name="Yuan Gong")),
        incident("ION-A", Party(name="Gong Li")),
        incident("ION-B", Party(name="Gong Wei")),
    ]
    view = CompiledView.build(people)
    rare_keys_only = replace(DEFAULT_POLICY, name_df_cap=2, common_key_df_cap=2)
    assert matched_ids(view.screen(query(Party(name="Iuan Gong")), rare_keys_only, TODAY)) == {
        "ION-T"
    }


def test_among_many_parties_of_one_name_the_one_in_the_querys_city_is_a_candidate() -> None:
    elsewhere = [
        incident(f"ION-{i:02d}", Party(name="Jane Duong", city=f"Town {i}", country_code="VN"))
        for i in range(30)
    ]
    target = incident("ION-T", Party(name="Jane Duong", city="Ho Chi Minh", country_code="VN"))
    view = CompiledView.build([*elsewhere, target])
    few = replace(DEFAULT_POLICY, name_candidates=3)
    party = Party(name="DUONG, Jane", city="Ho Chi Minh", country_code="VN")
    result = view.screen(query(party), few, TODAY)
    assert result.parties[0].matches[0].incident.incident_id == "ION-T"


def test_a_common_token_still_ranks_the_candidates_of_a_rarer_one() -> None:
    luos = [incident(f"ION-L{i:02d}", Party(name=f"Luo Q{i:02d}x")) for i in range(30)]
    yangs = [incident(f"ION-Y{i:02d}", Party(name=f"Yang W{i:02d}x")) for i in range(50)]
    target = incident("ION-T", Party(name="Luo Yang"))
    view = CompiledView.build([*luos, *yangs, target])
    # "luo" is rare but shared by 31 parties; "yang" (as "iang") is common.
    policy = replace(DEFAULT_POLICY, name_df_cap=40, name_candidates=3)
    result = view.screen(query(Party(name="Luo Iang")), policy, TODAY)
    assert result.parties[0].matches[0].incident.incident_id == "ION-T"
