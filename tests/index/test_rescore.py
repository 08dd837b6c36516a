from __future__ import annotations

from dataclasses import replace

from index.evaluation import build_evaluation_set, screening_date
from index.model import IncidentStatus, ReasonCode, Result, Stoplight
from index.policy import DEFAULT_POLICY
from index.rescore import party_records, record_from_dict, record_to_dict, screen_records
from index.snapshot import IndexView, build_snapshot


def _shape(result: Result) -> list[object]:
    return [
        result.stoplight,
        result.score,
        result.reasons,
        [
            [(m.incident.incident_id, m.score, m.reasons, m.evidence) for m in p.matches]
            for p in result.parties
        ],
    ]


def test_rescoring_the_incidents_a_snapshot_matched_gives_the_snapshot_verdict() -> None:
    dataset = build_evaluation_set(seed=3, background=2000, per_family=15)
    view = IndexView.of(build_snapshot(dataset.incidents, 1))
    records = {i.incident_id: party_records(i) for i in dataset.incidents}
    today = screening_date()
    compared = alerts = 0
    for case in dataset.cases:
        expected = view.screen(case.query, DEFAULT_POLICY, today)
        if ReasonCode.GEO_IN_AREA in expected.reasons:
            continue  # areas are the Snapshot's alone
        matched = {m.incident.incident_id for p in expected.parties for m in p.matches}
        found = [r for incident_id in sorted(matched) for r in records[incident_id]]
        got = screen_records(
            case.query,
            [found] * len(case.query.parties),
            DEFAULT_POLICY,
            today,
            generation=expected.generation,
            incident_count=expected.incident_count,
        )
        assert _shape(got) == _shape(expected), case
        compared += 1
        alerts += expected.stoplight is not Stoplight.GREEN
    assert compared >= 0.9 * len(dataset.cases)
    assert alerts >= 50


def test_records_survive_their_dict_form_and_retracted_incidents_have_none() -> None:
    dataset = build_evaluation_set(seed=4, background=50, per_family=1)
    for incident in dataset.incidents:
        for record in party_records(incident):
            assert record_from_dict(record_to_dict(record)) == record
    retracted = replace(dataset.incidents[0], status=IncidentStatus.RETRACTED)
    assert party_records(retracted) == []


def test_no_candidates_is_green_with_no_matches() -> None:
    dataset = build_evaluation_set(seed=4, background=50, per_family=1)
    query = dataset.cases[0].query
    result = screen_records(query, [[]] * len(query.parties), DEFAULT_POLICY, screening_date())
    assert result.stoplight is Stoplight.GREEN
    assert all(not p.matches for p in result.parties)
