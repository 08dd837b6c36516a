"""The real gRPC server over loopback, with a real SQLite store."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.client import PreflightClient
from service.codec import incident_to_json
from service.rpc import convert
from service.rpc.server import LIVENESS_SERVICE, Running, start_server
from service.settings import load_settings
from service.store.redis_ import RedisStore
from service.store.sqlite import SqliteStore
from tests.conftest import HeldView, RedisServer, free_port

INCIDENTS = list(Generator(44).incidents(200))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(INCIDENTS)
    settings = load_settings(
        environ={},
        overrides={"store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0",
                   "allow_plaintext": 1, "poll_interval_s": 0.05, "max_batch_items": 50},
    )  # fmt: skip
    server = start_server(settings)
    assert server.holder.wait_loaded(30.0)
    yield server
    server.stop(1.0)


@pytest.fixture
def channel(running: Running) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        yield ch


def request_for(party: pb.Party, item_id: str = "EE471108151FR") -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id=item_id, channel=pb.CHANNEL_PARCEL_POST), parties=[party]
    )


def known_party(index: int) -> pb.Party:
    incident = INCIDENTS[index]
    party = next(p for p in incident.parties if p.names() and p.phones)
    return pb.Party(
        role=pb.PARTY_ROLE_EXPORTER,
        name=party.name,
        business_name=party.business_name,
        country_code=party.country_code,
        phones=list(party.phones),
    )


def first_with_phone() -> int:
    return next(
        i for i, inc in enumerate(INCIDENTS) if any(p.names() and p.phones for p in inc.parties)
    )


def test_health_turns_serving_once_loaded(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 10
    while health.Check(health_pb2.HealthCheckRequest()).status != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    service = health.Check(health_pb2.HealthCheckRequest(service="preflight.v1.ScreeningService"))
    assert service.status == health_pb2.HealthCheckResponse.SERVING


def test_screen_explains_a_red_verdict(channel: grpc.Channel) -> None:
    index = first_with_phone()
    reply = pb_grpc.ScreeningServiceStub(channel).Screen(request_for(known_party(index)))
    assert reply.stoplight == pb.STOPLIGHT_RED
    match = reply.parties[0].matches[0]
    assert match.incident.incident_id == INCIDENTS[index].incident_id
    assert "PHONE_EXACT" in match.reason_codes
    assert match.incident.contact_ref == INCIDENTS[index].contact_ref
    assert reply.index.incidents == 200 and reply.index.generation >= 1
    assert reply.policy_version


def test_invalid_request_names_the_fields(channel: grpc.Channel) -> None:
    bad = request_for(pb.Party(name="x", country_code="XX", location=pb.Location(lat=95)), "EE1")
    with pytest.raises(grpc.RpcError) as info:
        pb_grpc.ScreeningServiceStub(channel).Screen(bad)
    error = info.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    details = error_details_pb2.BadRequest()
    status.details[0].Unpack(details)
    assert {v.field for v in details.field_violations} == {
        "item.item_id", "parties[0].country_code", "parties[0].location.lat"
    }  # fmt: skip


def test_batch_mixes_verdicts_and_per_item_errors(channel: grpc.Channel) -> None:
    stub = pb_grpc.ScreeningServiceStub(channel)
    items = [request_for(known_party(first_with_phone())), request_for(pb.Party(), "bad")]
    items.append(request_for(pb.Party(name="Nobody Known", country_code="FR")))
    reply = stub.ScreenBatch(pb.ScreenBatchRequest(items=items))
    assert [e.index for e in reply.entries] == [0, 1, 2]
    assert reply.entries[0].verdict.stoplight == pb.STOPLIGHT_RED
    assert reply.entries[1].WhichOneof("outcome") == "error"
    assert {v.field for v in reply.entries[1].error.field_violations} >= {"item.item_id"}
    assert reply.entries[2].verdict.stoplight == pb.STOPLIGHT_GREEN
    with pytest.raises(grpc.RpcError) as info:
        stub.ScreenBatch(pb.ScreenBatchRequest(items=items * 17))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_calls_in_progress_count_against_the_cap(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(INCIDENTS[:20])
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0", "allow_plaintext": 1,
        "max_concurrent_rpcs": 2})  # fmt: skip
    running = start_server(settings)
    try:
        assert running.holder.wait_loaded(30.0)
        held = HeldView(running.holder.view)
        running.holder._view = held  # type: ignore[assignment]
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.ScreeningServiceStub(channel)
            clean = request_for(pb.Party(name="Nobody Known", country_code="FR"))
            try:
                waiting = [stub.Screen.future(clean, timeout=30) for _ in range(2)]
                for _ in waiting:
                    assert held.entered.acquire(timeout=5), "a call never reached the core"
                started = time.monotonic()
                with pytest.raises(grpc.RpcError) as info:
                    stub.Screen(clean, timeout=10)
                assert time.monotonic() - started < 2.0, "refused only after waiting"
                assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                status = rpc_status.from_call(info.value)
                assert status is not None and status.details, "no QuotaFailure details"
                assert not any(f.done() for f in waiting)
            finally:
                held.release.set()
            assert [f.result().stoplight for f in waiting] == [pb.STOPLIGHT_GREEN] * 2
    finally:
        running.stop(1.0)


def test_an_incident_put_through_the_api_flips_a_verdict(channel: grpc.Channel) -> None:
    incidents = pb_grpc.IncidentServiceStub(channel)
    screening = pb_grpc.ScreeningServiceStub(channel)
    fresh = replace(next(iter(Generator(99).incidents(1))), incident_id="ION-2026-NEW-0001")
    party = next(p for p in fresh.parties if p.names())
    probe = request_for(pb.Party(name=party.name, business_name=party.business_name,
                                 country_code=party.country_code))  # fmt: skip
    assert screening.Screen(probe).stoplight == pb.STOPLIGHT_GREEN
    reply = incidents.PutIncidents(
        pb.PutIncidentsRequest(incidents=[convert.incident_to_pb(fresh)])
    )
    assert reply.results[0].outcome == pb.PUT_OUTCOME_CREATED
    deadline = time.monotonic() + 10
    while screening.Screen(probe).stoplight == pb.STOPLIGHT_GREEN:
        assert time.monotonic() < deadline, "the new incident never reached screening"
        time.sleep(0.02)
    again = incidents.PutIncidents(
        pb.PutIncidentsRequest(incidents=[convert.incident_to_pb(fresh)])
    )
    assert again.results[0].outcome == pb.PUT_OUTCOME_UNCHANGED
    retracted = incidents.RetractIncident(pb.RetractIncidentRequest(incident_id=fresh.incident_id))
    assert retracted.status == pb.INCIDENT_STATUS_RETRACTED and retracted.version == 2
    while screening.Screen(probe).stoplight != pb.STOPLIGHT_GREEN:
        assert time.monotonic() < deadline + 10, "a retracted incident kept matching"
        time.sleep(0.02)


def test_incident_api_errors_and_paging(channel: grpc.Channel) -> None:
    incidents = pb_grpc.IncidentServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        incidents.GetIncident(pb.GetIncidentRequest(incident_id="nope"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    bad = pb.Incident(incident_id="X", reported_on="never", reporting_country="DE")
    bad.kind = 77  # type: ignore[assignment]  # an enum number no version of the contract has
    with pytest.raises(grpc.RpcError) as info:
        incidents.PutIncidents(pb.PutIncidentsRequest(incidents=[bad]))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    seen: list[str] = []
    token = ""
    while True:
        page = incidents.ListIncidents(pb.ListIncidentsRequest(page_size=64, page_token=token))
        seen += [i.incident_id for i in page.incidents]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(i.incident_id for i in INCIDENTS)
    status = pb_grpc.IndexServiceStub(channel).GetIndexStatus(pb.GetIndexStatusRequest())
    assert status.loaded and status.incidents == 200 and status.store_reachable


def test_no_verdict_before_the_first_snapshot_then_serving(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "big.sqlite")
    generator = Generator(45)
    for first in range(0, 20_000, 1_000):
        store.put([generator.incident_at(n) for n in range(first, first + 1_000)])
    settings = load_settings(
        environ={},
        overrides={
            "store_url": f"sqlite:///{store.path}",
            "listen": "127.0.0.1:0",
            "allow_plaintext": 1,
        },
    )
    server = start_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest()).status == (
                health_pb2.HealthCheckResponse.NOT_SERVING
            )
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.ScreeningServiceStub(channel).Screen(
                    request_for(known_party(first_with_phone()))
                )
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
            deadline = time.monotonic() + 60
            while health.Check(health_pb2.HealthCheckRequest()).status != 1:
                assert time.monotonic() < deadline, "never turned SERVING after the load"
                time.sleep(0.05)
            reply = pb_grpc.ScreeningServiceStub(channel).Screen(
                request_for(known_party(first_with_phone()))
            )
            assert reply.index.incidents == 20_000
    finally:
        server.stop(1.0)


def test_request_id_is_echoed_on_verdicts_and_on_errors(channel: grpc.Channel) -> None:
    stub = pb_grpc.ScreeningServiceStub(channel)
    _, call = stub.Screen.with_call(
        request_for(known_party(first_with_phone())), metadata=(("x-request-id", "req-42"),)
    )
    assert ("x-request-id", "req-42") in tuple(call.trailing_metadata())
    _, call = stub.Screen.with_call(request_for(known_party(first_with_phone())))
    generated = dict(call.trailing_metadata())["x-request-id"]
    assert len(generated) == 16
    with pytest.raises(grpc.RpcError) as info:
        stub.Screen(request_for(pb.Party(), "bad"), metadata=(("x-request-id", "req-43"),))
    error: Any = info.value
    assert ("x-request-id", "req-43") in tuple(error.trailing_metadata())
    assert rpc_status.from_call(info.value) is not None  # the BadRequest details survive


def test_redis_backed_server_sees_writes_from_another_process_within_seconds(
    redis_server: RedisServer,
) -> None:
    prefix = f"rpc-{time.monotonic_ns()}:"
    RedisStore(redis_server.url, prefix=prefix).put(INCIDENTS[:50])
    settings = load_settings(
        environ={},
        overrides={"store_url": redis_server.url, "redis_prefix": prefix, "listen": "127.0.0.1:0",
                   "allow_plaintext": 1, "poll_interval_s": 0.05},
    )  # fmt: skip
    server = start_server(settings)
    try:
        assert server.holder.wait_loaded(30)
        fresh = replace(INCIDENTS[120], incident_id="ION-REDIS-NEW-1")
        party = next(p for p in fresh.parties if p.names())
        probe = request_for(pb.Party(name=party.name, business_name=party.business_name,
                                     country_code=party.country_code))  # fmt: skip
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ScreeningServiceStub(channel)
            assert "ION-REDIS-NEW-1" not in _matched(stub.Screen(probe))
            writer = subprocess.run(
                [sys.executable, "-c",
                 "import sys; from service.store.redis_ import RedisStore; "
                 "from service.codec import incident_from_json as parse; "
                 "RedisStore(sys.argv[1], prefix=sys.argv[2]).put([parse(sys.argv[3])])",
                 redis_server.url, prefix, incident_to_json(fresh).decode()],
                check=True, timeout=60,
            )  # fmt: skip
            assert writer.returncode == 0
            deadline = time.monotonic() + 10
            while "ION-REDIS-NEW-1" not in _matched(stub.Screen(probe)):
                assert time.monotonic() < deadline, "a write from another process never counted"
                time.sleep(0.02)
    finally:
        server.stop(1.0)


def _matched(reply: pb.ScreenResponse) -> set[str]:
    return {m.incident.incident_id for p in reply.parties for m in p.matches}


def test_typed_client_round_trip_and_unavailable_after_retries(running: Running) -> None:
    fresh = replace(INCIDENTS[150], incident_id="ION-CLIENT-1")
    with PreflightClient(f"127.0.0.1:{running.port}") as client:
        reply = client.put_incidents([convert.incident_to_pb(fresh)])
        assert reply.results[0].outcome == pb.PUT_OUTCOME_CREATED
        assert client.index_status().loaded
        batch = client.screen_batch([request_for(known_party(first_with_phone()))])
        assert batch.entries[0].verdict.stoplight == pb.STOPLIGHT_RED
    with PreflightClient(f"127.0.0.1:{free_port()}", timeout_s=0.5, retries=2) as nowhere:
        with pytest.raises(grpc.RpcError) as info:
            nowhere.index_status()
        error: Any = info.value
        assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_a_client_over_its_rate_waits_as_told_and_gets_its_verdicts(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(INCIDENTS[:20])
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0", "allow_plaintext": 1,
        "rate_limit_per_s": 200.0, "rate_burst": 100.0})  # fmt: skip
    running = start_server(settings)
    try:
        assert running.holder.wait_loaded(30.0)
        items = [request_for(pb.Party(name=f"Nobody {n}", country_code="FR")) for n in range(80)]
        target = f"127.0.0.1:{running.port}"
        with PreflightClient(target, retries=0) as impatient:
            impatient.screen_batch(items)
            with pytest.raises(grpc.RpcError) as info:
                impatient.screen_batch(items)  # 80 more than the 20 left: refused, RetryInfo
            assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        time.sleep(0.6)  # the bucket refills
        started = time.monotonic()
        with PreflightClient(target) as patient:
            first = patient.screen_batch(items)
            second = patient.screen_batch(items)
        assert time.monotonic() - started >= 0.25  # it waited for the tokens it lacked
        assert len(first.entries) == len(second.entries) == 80
    finally:
        running.stop(1.0)


def _health(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service)
        )
    return int(reply.status)


def _await_serving(target: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while _health(target) != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health never turned SERVING"
        time.sleep(0.05)


def _empty_server(tmp_path: Path, **overrides: Any) -> Running:
    store = SqliteStore(tmp_path / "empty.sqlite")
    store.close()
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp_path / 'empty.sqlite'}", "listen": "127.0.0.1:0",
        "allow_plaintext": 1, "poll_interval_s": 0.05, **overrides})  # fmt: skip
    running = start_server(settings)
    assert running.holder.wait_loaded(30.0)
    return running


def test_an_empty_index_is_not_serving_and_answers_no_green(tmp_path: Path) -> None:
    running = _empty_server(tmp_path)
    target = f"127.0.0.1:{running.port}"
    try:
        time.sleep(0.3)  # long enough for health to have followed the index
        assert _health(target) == health_pb2.HealthCheckResponse.NOT_SERVING
        # not ready, but alive: a liveness probe must not restart it for waiting
        assert _health(target, LIVENESS_SERVICE) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as refused:
            pb_grpc.ScreeningServiceStub(channel).Screen(request_for(known_party(0)))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "no incidents" in str(refused.value.details())
        SqliteStore(tmp_path / "empty.sqlite").put(INCIDENTS[:20])  # incidents arrive
        _await_serving(target)
        with grpc.insecure_channel(target) as channel:
            reply = pb_grpc.ScreeningServiceStub(channel).Screen(request_for(known_party(0)))
        assert reply.index.incidents == 20
    finally:
        running.stop(1.0)
    with pytest.raises(grpc.RpcError):  # stopped: nothing answers, alive or not
        _health(target, LIVENESS_SERVICE)


def test_an_empty_index_serves_only_when_allowed_and_says_so(tmp_path: Path) -> None:
    running = _empty_server(tmp_path, allow_empty_index=1)
    target = f"127.0.0.1:{running.port}"
    try:
        _await_serving(target)
        with grpc.insecure_channel(target) as channel:
            reply = pb_grpc.ScreeningServiceStub(channel).Screen(request_for(known_party(0)))
        assert reply.stoplight == pb.STOPLIGHT_GREEN and reply.index.incidents == 0
    finally:
        running.stop(1.0)
