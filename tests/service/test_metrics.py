"""Metrics counted by a real server over loopback, read back from its registry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.metrics import (
    GRPC_CODE_NAMES,
    LATENCY_BUCKETS,
    SLO_SECONDS,
    ServerMetrics,
    split_method,
)
from service.refresh import IndexHolder
from service.rpc.server import Running, start_server
from service.settings import DEFAULT_INDEX_KEY, load_settings
from service.snapshot_file import SnapshotFiles
from service.store.redis_ import RedisStore
from service.store.sqlite import SqliteStore
from tests.conftest import RedisServer
from tests.service.test_rpc import INCIDENTS, first_with_phone, known_party, request_for

SCREENING = "preflight.v1.ScreeningService"


@pytest.fixture
def measured(tmp_path: Path) -> Iterator[tuple[Running, CollectorRegistry]]:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(INCIDENTS)
    settings = load_settings(
        environ={},
        overrides={"store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0",
                   "allow_plaintext": 1, "max_batch_items": 50},
    )  # fmt: skip
    registry = CollectorRegistry()
    server = start_server(settings, metrics=ServerMetrics(registry))
    assert server.holder.wait_loaded(30.0)
    yield server, registry
    server.stop(1.0)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def grpc_labels(method: str) -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": SCREENING, "grpc_method": method}


def test_calls_verdicts_and_refusals_are_counted(
    measured: tuple[Running, CollectorRegistry],
) -> None:
    running, registry = measured
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)
        red = request_for(known_party(first_with_phone()))
        clean = request_for(pb.Party(name="Nobody Known", country_code="FR"))
        for _ in range(3):
            assert stub.Screen(red).stoplight == pb.STOPLIGHT_RED
        batch = [red, clean, clean, request_for(pb.Party(), "bad")]
        stub.ScreenBatch(pb.ScreenBatchRequest(items=batch))
        with pytest.raises(grpc.RpcError):
            stub.Screen(request_for(pb.Party(name="x", country_code="XX"), "EE1"))

    screen = grpc_labels("Screen")
    assert sample(registry, "grpc_server_started_total", **screen) == 4
    assert sample(registry, "grpc_server_msg_received_total", **screen) == 4
    assert sample(registry, "grpc_server_msg_sent_total", **screen) == 3
    assert sample(registry, "grpc_server_handled_total", **screen, grpc_code="OK") == 3
    assert sample(registry, "grpc_server_handled_total", **screen, grpc_code="InvalidArgument") == 1
    assert sample(registry, "grpc_server_handling_seconds_count", **screen) == 4
    slo_bucket = sample(
        registry, "grpc_server_handling_seconds_bucket", **screen, le=str(SLO_SECONDS)
    )
    assert 0 <= slo_bucket <= 4
    batch_ok = {**grpc_labels("ScreenBatch"), "grpc_code": "OK"}
    assert sample(registry, "grpc_server_handled_total", **batch_ok) == 1

    assert sample(registry, "preflight_items_screened_total", rpc="Screen") == 3
    assert sample(registry, "preflight_items_screened_total", rpc="ScreenBatch") == 4
    assert sample(registry, "preflight_invalid_items_total", rpc="ScreenBatch") == 1
    assert sample(registry, "preflight_verdicts_total", stoplight="RED") == 4
    assert sample(registry, "preflight_verdicts_total", stoplight="GREEN") == 2
    assert sample(registry, "preflight_matches_total", reason="PHONE_EXACT") == 4
    refused = {"caller": "anonymous", "grpc_code": "InvalidArgument"}
    assert sample(registry, "preflight_rejected_requests_total", **refused) == 1


def test_index_gauges_follow_the_holder(measured: tuple[Running, CollectorRegistry]) -> None:
    running, registry = measured
    deadline = time.monotonic() + 5
    while sample(registry, "preflight_index_loaded") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = running.holder.status()
    assert sample(registry, "preflight_index_incidents") == len(INCIDENTS)
    assert sample(registry, "preflight_index_parties") == status.parties > len(INCIDENTS)
    assert sample(registry, "preflight_index_generation") >= 1
    assert sample(registry, "preflight_store_reachable") == 1
    built = sample(registry, "preflight_index_last_build_timestamp_seconds")
    assert abs(built - status.built_at) < 1e-3 and built > time.time() - 60
    assert sample(registry, "preflight_index_build_seconds_count") == 1
    assert sample(registry, "preflight_index_synced_timestamp_seconds") > time.time() - 5


def test_a_lost_store_shows_as_feed_errors_and_unreachable(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    store = RedisStore(server.url, prefix="metrics-test:")
    store.put(INCIDENTS[:20])
    registry = CollectorRegistry()
    metrics = ServerMetrics(registry)
    holder = IndexHolder(store, on_event=metrics.observe_index_event)
    holder.load()
    metrics.publish_status(holder.status())
    assert sample(registry, "preflight_store_reachable") == 1
    server.kill()
    holder.poll()
    holder.poll()
    metrics.publish_status(holder.status())
    assert sample(registry, "preflight_change_feed_errors_total") == 2
    assert sample(registry, "preflight_store_reachable") == 0
    assert sample(registry, "preflight_index_incidents") == 20  # the last snapshot still serves
    holder.compact()  # the store is gone: the build fails, the old view stays
    assert sample(registry, "preflight_index_build_failures_total") == 1
    assert holder.status().incidents == 20
    store.close()


def test_status_codes_are_spelled_as_stock_dashboards_expect() -> None:
    assert GRPC_CODE_NAMES[grpc.StatusCode.INVALID_ARGUMENT] == "InvalidArgument"
    assert GRPC_CODE_NAMES[grpc.StatusCode.DEADLINE_EXCEEDED] == "DeadlineExceeded"
    assert GRPC_CODE_NAMES[grpc.StatusCode.CANCELLED] == "Canceled"
    assert GRPC_CODE_NAMES[grpc.StatusCode.OK] == "OK"
    assert len(set(GRPC_CODE_NAMES.values())) == len(grpc.StatusCode)


def test_histogram_buckets_span_the_slo() -> None:
    assert LATENCY_BUCKETS[0] == 0.00025 and LATENCY_BUCKETS[-1] == 1.0
    assert SLO_SECONDS in LATENCY_BUCKETS
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)
    assert split_method("/preflight.v1.ScreeningService/Screen") == (SCREENING, "Screen")
    assert split_method("garbage") == ("unknown", "garbage")


def test_snapshot_files_are_counted_by_outcome(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(INCIDENTS[:20])
    registry = CollectorRegistry()
    metrics = ServerMetrics(registry)
    folder = tmp_path / "snapshots"
    first = IndexHolder(SqliteStore(store.path), on_event=metrics.observe_index_event,
                        snapshot_files=SnapshotFiles(folder, DEFAULT_INDEX_KEY))  # fmt: skip
    first.load()  # no file yet: refused, then built and written
    second = IndexHolder(SqliteStore(store.path), on_event=metrics.observe_index_event,
                         snapshot_files=SnapshotFiles(folder, DEFAULT_INDEX_KEY))  # fmt: skip
    second.load()
    assert sample(registry, "preflight_snapshot_files_total", outcome="refused") == 1
    assert sample(registry, "preflight_snapshot_files_total", outcome="written") == 1
    assert sample(registry, "preflight_snapshot_files_total", outcome="loaded") == 1
    path = SnapshotFiles(folder, DEFAULT_INDEX_KEY).path_for(store.store_id())
    path.unlink()
    path.mkdir()  # the next build cannot put its file there
    second.compact()
    assert sample(registry, "preflight_snapshot_files_total", outcome="write_failed") == 1
    assert second.status().incidents == 20  # the build itself still counts
