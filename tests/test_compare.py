"""The Redis baseline of `make compare`, against the suite's real redis-server.

(The PostGIS baselines need PostgreSQL with PostGIS, which `make compare` installs and `make
test` does not; `make compare` exercises them on every run.)"""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import redis

from benchmarks.compare.baselines import RedisLoader, RedisScreener
from benchmarks.compare.run import _ratios
from index.evaluation import EvaluationSet, build_evaluation_set, screening_date
from index.model import IncidentStatus, Stoplight
from index.policy import DEFAULT_POLICY
from loadtest.traffic import party_pb
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.client import wait_serving
from service.screener import CompiledView
from tests.conftest import RedisServer, free_port, stop_server_process

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset() -> EvaluationSet:
    return build_evaluation_set(seed=11, background=1500, per_family=10)


@pytest.fixture
def loaded(redis_server: RedisServer, dataset: EvaluationSet) -> tuple[RedisScreener, str]:
    prefix = f"cmp-test-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_server.url)
    retracted = replace(dataset.incidents[0], status=IncidentStatus.RETRACTED, version=2)
    loader = RedisLoader(client, prefix)
    loader.add([retracted, *dataset.incidents[1:]])
    assert loader.finish() == len(dataset.incidents) - 1
    return RedisScreener(client, prefix, DEFAULT_POLICY), prefix


def test_redis_baseline_scores_what_it_finds_exactly_as_preflight(
    loaded: tuple[RedisScreener, str], dataset: EvaluationSet
) -> None:
    screener, _ = loaded
    active = dataset.incidents[1:]
    view = CompiledView.build(active, 1)
    today = screening_date()
    queries = [c.query for c in dataset.cases]
    batch = screener.screen_queries(queries, DEFAULT_POLICY, today)
    one_by_one = [screener.screen_query(q, DEFAULT_POLICY, today) for q in queries]
    assert batch == one_by_one
    agreeing = 0
    for case, ours in zip(dataset.cases, batch, strict=True):
        theirs = view.screen(case.query, DEFAULT_POLICY, today)
        preflight_scores = {
            m.incident.incident_id: m.score for p in theirs.parties for m in p.matches
        }
        for party in ours.parties:
            for match in party.matches:
                assert match.incident.incident_id != dataset.incidents[0].incident_id
                if match.incident.incident_id in preflight_scores:
                    assert match.score == preflight_scores[match.incident.incident_id]
                    agreeing += 1
    assert agreeing >= 50
    exact = [
        (c, r)
        for c, r in zip(dataset.cases, batch, strict=True)
        if c.family in {"legal_form", "same_building"}
        and c.target_incident != dataset.incidents[0].incident_id
    ]
    caught = sum(r.stoplight is not Stoplight.GREEN for _, r in exact)
    assert caught >= 0.9 * len(exact)


def test_redis_baseline_served_behind_the_same_grpc_api(
    loaded: tuple[RedisScreener, str], redis_server: RedisServer, dataset: EvaluationSet
) -> None:
    _, prefix = loaded
    target = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.compare.serve", "redis", redis_server.url,
         "--listen", target, "--workers", "1", "--redis-prefix", prefix],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_serving(target, 60, in_a_row=3)
        case = next(c for c in dataset.cases if c.family == "same_building")
        party = case.query.parties[0]
        request = pb.ScreenRequest(
            item=pb.Item(item_id=case.query.item_id, channel=pb.CHANNEL_PARCEL_POST),
            parties=[party_pb(party, party.role)],
        )
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.ScreeningServiceStub(channel)
            reply = stub.Screen(request, timeout=10)
            assert reply.stoplight != pb.STOPLIGHT_GREEN
            assert case.target_incident in {
                m.incident.incident_id for p in reply.parties for m in p.matches
            }
            request.item.item_id = "RR123456789DE"  # wrong check digit
            with pytest.raises(grpc.RpcError) as raised:
                stub.Screen(request, timeout=10)
            assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    finally:
        stop_server_process(process)


def test_a_baseline_that_finished_no_batch_gets_a_floor_not_a_ratio() -> None:
    customs = {"requests": 40.0, "items_per_s": 2000.0, "p99_ms": 500.0}
    speed = {
        "preflight": {"customs": customs},
        "postgis": {"customs": {"requests": 0.0, "items_per_s": 0.0, "p99_ms": 0.0}},
        "redis": {"customs": {**customs, "items_per_s": 1000.0}},
    }
    ratios = _ratios(speed, seconds=30.0)
    assert ratios["throughput_ratio_vs_postgis"] is None
    assert ratios["throughput_ratio_vs_postgis_at_least"] == round(2000 / (500 / 30), 2)
    assert ratios["throughput_ratio_vs_redis"] == 2.0
    assert "throughput_ratio_vs_redis_at_least" not in ratios
