"""The compiled re-scoring that database-backed baselines use gives the index's own verdict
for the incidents the index matched (the comparison isolates candidate finding)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from index import _core
from index.errors import ValidationError
from index.evaluation import build_evaluation_set, screening_date
from index.model import Incident, IncidentStatus, Query, ReasonCode, Result, Stoplight
from index.policy import DEFAULT_POLICY
from preflight.v1 import preflight_pb2 as pb
from service.codec import incident_to_json
from service.rpc import convert
from service.screener import CompiledView, compiled_policy


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


def _rests_on_a_distinctive_word(result: Result) -> bool:
    return any(
        " " not in m.evidence.query_name and m.evidence.name_similarity == 0.95
        for p in result.parties
        for m in p.matches
    )


def rescored(query: Query, found: list[list[Incident]], incident_count: int = 0) -> Result:
    raw, _ = _core.rescore(
        convert.query_to_pb(query).SerializeToString(),
        [[incident_to_json(i) for i in incidents] for incidents in found],
        compiled_policy(DEFAULT_POLICY),
        screening_date().toordinal(),
        incident_count,
    )
    return convert.result_from_pb(pb.ScreenResponse.FromString(raw))


def test_rescoring_the_incidents_the_index_matched_gives_the_index_verdict() -> None:
    dataset = build_evaluation_set(seed=3, background=2000, per_family=15)
    view = CompiledView.build(dataset.incidents, 1)
    by_id = {i.incident_id: i for i in dataset.incidents}
    today = screening_date()
    compared = alerts = 0
    for case in dataset.cases:
        expected = view.screen(case.query, DEFAULT_POLICY, today)
        if ReasonCode.GEO_IN_AREA in expected.reasons or _rests_on_a_distinctive_word(expected):
            continue  # areas and word rarity are the index's alone
        matched = sorted({m.incident.incident_id for p in expected.parties for m in p.matches})
        found = [by_id[i] for i in matched]
        got = rescored(case.query, [found] * len(case.query.parties), expected.incident_count)
        assert _shape(got) == _shape(expected), case
        compared += 1
        alerts += expected.stoplight is not Stoplight.GREEN
    assert compared >= 0.9 * len(dataset.cases)
    assert alerts >= 50


def test_no_candidates_or_only_retracted_ones_is_green_with_no_matches() -> None:
    dataset = build_evaluation_set(seed=4, background=50, per_family=1)
    query = dataset.cases[0].query
    result = rescored(query, [[]] * len(query.parties))
    assert result.stoplight is Stoplight.GREEN
    assert all(not p.matches for p in result.parties)
    target = next(c for c in dataset.cases if c.positive and c.target_incident)
    incident = next(i for i in dataset.incidents if i.incident_id == target.target_incident)
    retracted = replace(incident, status=IncidentStatus.RETRACTED)
    parties = len(target.query.parties)
    assert rescored(target.query, [[incident]] * parties).parties[0].matches
    assert not rescored(target.query, [[retracted]] * parties).parties[0].matches


def test_an_invalid_request_is_refused() -> None:
    with pytest.raises(ValidationError):
        _core.rescore(b"\xff", [], compiled_policy(DEFAULT_POLICY), 1, 0)
