"""Redis failures with real redis-server processes: SIGKILL and restart under screening load on
real worker processes, and acknowledged writes surviving a SIGKILL with AOF `appendfsync always`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import grpc
import redis

from index.model import Channel, IncidentStatus, Query
from index.policy import DEFAULT_POLICY
from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.client import PreflightClient, wait_serving
from service.refresh import IndexHolder
from service.rpc import convert
from service.rpc.server import STATUS_PUBLISH_INTERVAL_S
from service.screener import CompiledView
from service.store.base import StoreError
from service.store.redis_ import RedisStore
from tests.conftest import RedisServer, free_port, scrape, stop_server_process, values

INCIDENTS = list(Generator(21).incidents(300))
# Fresh connections per catch-up check: a lagging worker of two slips through 1 time in 256.
WORKER_PROBES = 8


def probe_for(name: str, country: str) -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id="AWB-FAULT-1", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, business_name=name, country_code=country)],
    )


def _metric(metrics_port: int, name: str) -> float | None:
    return values(scrape(metrics_port)).get((name, ()))


def _screened_by_every_worker(target: str, request: pb.ScreenRequest, incident_id: str) -> bool:
    """Whether the incident shows in the answers of fresh connections, which SO_REUSEPORT
    spreads over the workers: a worker that has not caught up answers one of them sooner or
    later."""
    for _ in range(WORKER_PROBES):
        with grpc.insecure_channel(target) as channel:
            reply = pb_grpc.ScreeningServiceStub(channel).Screen(request, timeout=5)
        if incident_id not in {m.incident.incident_id for p in reply.parties for m in p.matches}:
            return False
    return True


def test_redis_killed_and_restarted_under_load(tmp_path: Path) -> None:
    """Real worker processes under screening load while Redis is killed -9 and restarted: no
    call fails, the outage shows in GetIndexStatus and /metrics, and every worker catches up
    on a write made after Redis returned within 2 s, without a service restart."""
    redis_server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    redis_server.start()
    prefix = "faults:"
    writer = RedisStore(redis_server.url, prefix)
    writer.put(INCIDENTS)
    writer.close()
    target, metrics_port = f"127.0.0.1:{free_port()}", free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", redis_server.url,
         "--listen", target, "--workers", "2", "--allow-plaintext",
         "--metrics-listen", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PREFLIGHT_REDIS_PREFIX": prefix, "PREFLIGHT_POLL_INTERVAL_S": "0.05",
             "PREFLIGHT_METRICS_DIR": str(tmp_path / "metrics")},
    )  # fmt: skip
    stop = threading.Event()
    outcomes = {"ok": 0, "failed": 0}

    def load() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with grpc.insecure_channel(target) as channel:  # a fresh connection: either worker
                try:
                    pb_grpc.ScreeningServiceStub(channel).Screen(
                        probe_for(f"Load Sender {n}", "FR"), timeout=5
                    )
                    outcomes["ok"] += 1
                except grpc.RpcError:
                    outcomes["failed"] += 1

    loaders = [threading.Thread(target=load) for _ in range(3)]
    try:
        wait_serving(target, 60.0)
        for loader in loaders:
            loader.start()
        time.sleep(0.5)
        redis_server.kill()  # SIGKILL
        killed = time.monotonic()
        time.sleep(1.0)
        with PreflightClient(target) as client:
            status = client.index_status()
        assert not status.store_reachable and status.last_error  # staleness is visible
        assert status.staleness_seconds > 0.5
        while _metric(metrics_port, "preflight_store_reachable") != 0:  # published each second
            assert time.monotonic() - killed < 2 * STATUS_PUBLISH_INTERVAL_S
            time.sleep(0.1)
        assert (_metric(metrics_port, "preflight_change_feed_errors_total") or 0) > 0
        redis_server.start()  # same port, same AOF
        returned = time.monotonic()
        fresh = replace(INCIDENTS[0], incident_id="ION-AFTER-RESTART", version=1)
        party = next(p for p in fresh.parties if p.business_name or p.name)
        probe = probe_for(party.business_name or party.name, party.country_code)
        while True:
            try:
                RedisStore(redis_server.url, prefix).put([fresh])
                break
            except StoreError:
                assert time.monotonic() - returned < 5
                time.sleep(0.05)
        while not _screened_by_every_worker(target, probe, "ION-AFTER-RESTART"):
            assert time.monotonic() - returned < 2.0, "no catch-up within 2 s of Redis's return"
            time.sleep(0.02)
        caught_up_s = time.monotonic() - returned
        with PreflightClient(target) as client:
            assert client.index_status().store_reachable
        while _metric(metrics_port, "preflight_store_reachable") != 1:  # published each second
            assert time.monotonic() - returned < 2.0 + 2 * STATUS_PUBLISH_INTERVAL_S
            time.sleep(0.1)
    finally:
        stop.set()
        for loader in loaders:
            if loader.is_alive():
                loader.join(10)
        stop_server_process(process)
        redis_server.kill()
    assert outcomes["failed"] == 0, outcomes
    assert outcomes["ok"] > 50
    print(f"caught up {caught_up_s:.2f} s after Redis returned; {outcomes}")


def test_acknowledged_writes_survive_sigkill_with_aof_always(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    redis_server.start()
    store = RedisStore(redis_server.url, "durable:")
    acknowledged: list[str] = []
    for start in range(0, 300, 50):
        batch = INCIDENTS[start : start + 50]
        store.put(batch)  # returns once Redis acknowledged the script
        acknowledged += [i.incident_id for i in batch]
    store.close()
    redis_server.kill()
    redis_server.start()
    try:
        reopened = RedisStore(redis_server.url, "durable:")
        found = reopened.get_many(acknowledged, lambda incident_id, error: None)
        assert sorted(found) == sorted(acknowledged)
        reopened.close()
    finally:
        redis_server.kill()


def test_a_stream_trimmed_past_the_reader_reloads_and_verdicts_follow(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    prefix = "trimmed:"
    store = RedisStore(redis_server.url, prefix)
    store.put(INCIDENTS[:50])
    events: list[str] = []
    holder = IndexHolder(RedisStore(redis_server.url, prefix),
                         on_event=lambda event, fields: events.append(event))  # fmt: skip
    holder.load()
    target = INCIDENTS[0]
    party = next(p for p in target.parties if p.business_name or p.name)
    query = Query(item_id="AWB-TRIM-1", parties=(party,), channel=Channel.EXPRESS)

    def matched_ids() -> set[str]:
        view = holder.view
        assert view is not None
        result = CompiledView(view).screen(query, DEFAULT_POLICY, date(2026, 12, 3))
        return {m.incident.incident_id for p in result.parties for m in p.matches}

    assert target.incident_id in matched_ids()
    retracted = replace(target, status=IncidentStatus.RETRACTED, version=target.version + 1)
    store.put([retracted, *INCIDENTS[50:60]])
    client = redis.Redis.from_url(redis_server.url)
    client.xtrim(f"{prefix}changes", maxlen=1, approximate=False)  # the reader's next entries gone
    try:
        holder.poll()
        assert "change feed reset" in events  # detected, and reloaded in full
        assert target.incident_id not in matched_ids()
        assert holder.status().incidents == 59  # 60 stored, one retracted
    finally:
        client.close()
        store.close()
        holder.stop()
        redis_server.kill()


def test_incidents_acknowledged_through_the_api_survive_a_redis_sigkill(tmp_path: Path) -> None:
    """PutIncidents on real worker processes, Redis with AOF always killed -9 right after the
    acknowledgements: every acknowledged incident is there after the restart."""
    redis_server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    redis_server.start()
    target = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", redis_server.url,
         "--listen", target, "--workers", "2", "--allow-plaintext", "--metrics-listen", "",
         "--allow-empty-index"],  # it starts empty: incidents arrive through the API
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PREFLIGHT_REDIS_PREFIX": "api-durable:"},
    )  # fmt: skip
    acknowledged: list[str] = []
    try:
        wait_serving(target, 60.0)
        with PreflightClient(target, timeout_s=30.0) as client:
            for start in range(0, 300, 25):
                batch = [convert.incident_to_pb(i) for i in INCIDENTS[start : start + 25]]
                reply = client.put_incidents(batch)
                acknowledged += [r.incident_id for r in reply.results]
        redis_server.kill()  # SIGKILL straight after the last acknowledgement
    finally:
        stop_server_process(process)
    redis_server.start()
    try:
        store = RedisStore(redis_server.url, "api-durable:")
        found = store.get_many(acknowledged, lambda incident_id, error: None)
        assert len(acknowledged) == 300
        assert sorted(found) == sorted(acknowledged)
        store.close()
    finally:
        redis_server.kill()
