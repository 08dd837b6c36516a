from __future__ import annotations

from index import _core
from index.evaluation import (
    NEGATIVE_FAMILIES,
    POSITIVE_FAMILIES,
    build_evaluation_set,
    evaluate,
    screening_date,
)
from index.policy import DEFAULT_POLICY
from service.screener import CompiledView


def test_small_evaluation_run_reports_every_family_and_catches_most_variants() -> None:
    dataset = build_evaluation_set(seed=1, background=1500, per_family=12)
    assert len(dataset.cases) == 12 * (len(POSITIVE_FAMILIES) + len(NEGATIVE_FAMILIES))
    again = build_evaluation_set(seed=1, background=1500, per_family=12)
    assert [c.query for c in again.cases] == [c.query for c in dataset.cases]
    view = CompiledView.build(dataset.incidents, 1)
    figures = evaluate(lambda q: view.screen(q, DEFAULT_POLICY, screening_date()), dataset.cases)
    report = figures.as_dict()
    assert set(figures.by_family) == set(POSITIVE_FAMILIES) | set(NEGATIVE_FAMILIES)
    assert set(report["by_family"]) == set(figures.by_family)  # type: ignore[call-overload]
    assert float(report["recall_alert"]) >= 0.8  # type: ignore[arg-type]
    assert float(report["false_alert_rate"]) <= 0.1  # type: ignore[arg-type]


def test_negatives_share_no_identifier_and_name_variants_carry_addresses() -> None:
    dataset = build_evaluation_set(seed=3, background=3000, per_family=40)
    recorded = {
        value
        for incident in dataset.incidents
        for party in incident.parties
        for _, value in _core.identifiers(list(party.phones), [], [], party.country_code)
    }
    by_id = {incident.incident_id: incident for incident in dataset.incidents}
    same = moved = bare = 0
    for case in dataset.cases:
        party = case.query.parties[0]
        if not case.positive:
            phones = {
                v for _, v in _core.identifiers(list(party.phones), [], [], party.country_code)
            }
            assert not phones & recorded, case
        elif case.family in ("typo", "reorder", "abbreviation"):
            postcodes = {p.postcode for p in by_id[case.target_incident].parties}
            same += party.postcode in postcodes
            moved += bool(party.postcode) and party.postcode not in postcodes
            bare += not party.postcode
    assert min(same, moved, bare) >= 10
    assert same > moved
