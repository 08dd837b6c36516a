"""The audit trail: one record per verdict through the real server, in SQLite and in Redis,
queried back by item, caller and time; digests instead of names; drops counted; retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import grpc
import orjson
import pytest
import redis
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from index.model import s10_check_digit
from index.policy import DEFAULT_POLICY
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.audit import (
    MATCHED_SCREENS_KEPT,
    AuditLog,
    AuditMatch,
    AuditQuery,
    AuditRecord,
    AuditRow,
    RedisAuditSink,
    Screened,
    SqliteAuditSink,
    open_audit,
    party_digest,
    row_of,
)
from service.cli import main
from service.metrics import ServerMetrics
from service.rpc.server import start_server
from service.screener import CompiledView, compiled_policy
from service.settings import load_settings
from service.store import open_store
from service.store.base import StoreError
from tests.conftest import RedisServer
from tests.service.test_rpc import INCIDENTS, first_with_phone, known_party, request_for

AUDIT_KEY = "00112233445566778899aabbccddeeff"
ITEMS = [f"RR0000000{n}{s10_check_digit(f'0000000{n}')}DE" for n in range(1, 4)]


def wait_for(
    sink: SqliteAuditSink | RedisAuditSink, query: AuditQuery, count: int
) -> list[AuditRecord]:
    deadline = time.monotonic() + 5
    while len(found := sink.query(query)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} records"
        time.sleep(0.05)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_every_verdict_is_recorded_with_digests_not_names(
    backend: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    prefix = f"audit-{time.monotonic_ns()}:"
    store_url = f"sqlite:///{tmp_path / 'db.sqlite'}" if backend == "sqlite" else redis_server.url
    store = open_store(store_url, prefix)
    store.put(INCIDENTS)
    store.close()
    settings = load_settings(environ={}, overrides={
        "store_url": store_url, "redis_prefix": prefix, "listen": "127.0.0.1:0",
        "allow_plaintext": 1, "audit_key": AUDIT_KEY})  # fmt: skip
    registry = CollectorRegistry()
    running = start_server(settings, metrics=ServerMetrics(registry))
    assert running.holder.wait_loaded(30)
    party = known_party(first_with_phone())
    started = time.time()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.ScreeningServiceStub(channel)
            red = stub.Screen(request_for(party, "EE471108151FR"),
                              metadata=(("x-request-id", "req-audit-1"),))  # fmt: skip
            batch = [request_for(pb.Party(name=f"Nobody {n}", country_code="FR"), ITEMS[n])
                     for n in range(3)] + [request_for(pb.Party(), "bad")]  # fmt: skip
            stub.ScreenBatch(pb.ScreenBatchRequest(items=batch))
        sink = open_audit(store_url, prefix)
        assert isinstance(sink, SqliteAuditSink | RedisAuditSink)
        [record] = wait_for(sink, AuditQuery(item_id="EE471108151FR"), 1)
        assert record.caller == "anonymous" and record.request_id == "req-audit-1"
        assert record.rpc == "Screen" and record.stoplight == "RED"
        assert record.score == pytest.approx(red.score, abs=0.01)
        assert record.incident_ids[0] == red.parties[0].matches[0].incident.incident_id
        assert record.generation == red.index.generation
        hit = red.parties[0].matches[0]
        assert record.matches[0] == AuditMatch(
            0, hit.incident.incident_id, hit.incident.version, "RED", tuple(hit.reason_codes)
        )
        assert sink.matched_screens("EE471108151FR", {"anonymous"}, started - 1, 10) == [record]
        assert (
            sink.matched_screens("EE471108151FR", {"anonymous"}, time.time() + 1, 10) == []
        )  # too old
        assert record.policy_version == red.policy_version
        expected = party_digest(bytes.fromhex(AUDIT_KEY), party.name, party.business_name,
                                party.country_code)  # fmt: skip
        assert record.party_digests == (expected,)
        raw = record.to_json().decode()
        for secret in filter(None, (party.name, party.business_name, *party.phones)):
            assert secret not in raw
        batch_records = wait_for(sink, AuditQuery(since=started), 4)
        assert (
            sink.matched_screens(ITEMS[0], {"anonymous"}, 0.0, 10) == []
        )  # audited, GREEN: no matches
        assert (
            sorted(r.item_id for r in batch_records if r.rpc == "ScreenBatch") == ITEMS
        )  # the invalid item got an error, not a verdict: nothing to audit
        assert sink.query(AuditQuery(caller="someone-else")) == []
        assert sink.query(AuditQuery(until=started - 1)) == []
        deadline = time.monotonic() + 5
        while registry.get_sample_value("preflight_audit_records_total") != 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert registry.get_sample_value("preflight_audit_dropped_total") == 0
        sink.close()
        command = ["audit", "--store-url", store_url, "--item-id", ITEMS[1]]
        result = CliRunner().invoke(main, command, env={"PREFLIGHT_REDIS_PREFIX": prefix})
        assert result.exit_code == 0, result.output
        assert orjson.loads(result.stdout.strip())["item_id"] == ITEMS[1]
    finally:
        running.stop(1.0)


def row(at: float, item_id: str = "EE471108151FR") -> AuditRow:
    body = AuditRecord(at, "atlas", "r1", "Screen", item_id, ("d" * 64,), "GREEN", 0.0, (), 1,
                       "p1").to_json()  # fmt: skip
    return (at, "atlas", item_id, body, False)


def screened(at: float, items: int) -> Screened:
    """A call's verdicts on `items` items, as the compiled core summarises them."""
    view = CompiledView.build(INCIDENTS[:20])
    request = pb.ScreenBatchRequest(items=[
        request_for(pb.Party(name=f"Nobody {n}", country_code="FR"), ITEMS[n % 3])
        for n in range(items)
    ])  # fmt: skip
    _, summary = view.core.screen_batch(
        request.SerializeToString(), compiled_policy(DEFAULT_POLICY), 1, 0.0, items
    )
    return Screened(summary, at, "atlas", "r1", "ScreenBatch")


def test_a_full_buffer_drops_and_counts_and_never_blocks(tmp_path: Path) -> None:
    dropped: list[int] = []
    log = AuditLog(SqliteAuditSink(tmp_path / "a.sqlite"), max_pending=3, retention_years=5,
                   on_dropped=dropped.append, key=bytes.fromhex(AUDIT_KEY))  # fmt: skip
    log.append(screened(1.0, 2))
    log.append(screened(2.0, 2))  # does not fit: a call is kept whole or dropped whole
    log.append(screened(3.0, 1))
    assert log.dropped == 2 and dropped == [2]
    log.flush()
    records = list(log.query(AuditQuery()))
    assert [r.at for r in records] == [1.0, 1.0, 3.0]
    assert {r.item_id for r in records} <= set(ITEMS)
    log.stop()


def test_retention_purges_what_is_older(tmp_path: Path, redis_server: RedisServer) -> None:
    for sink in (SqliteAuditSink(tmp_path / "a.sqlite"),
                 RedisAuditSink(redis_server.url, f"purge-{time.monotonic_ns()}:")):  # fmt: skip
        sink.write([row(time.time(), "OLD")])
        time.sleep(0.01)
        cutoff = time.time()
        time.sleep(0.01)
        sink.write([row(time.time(), "NEW")])
        assert sink.purge(cutoff) == 1
        assert [r.item_id for r in sink.query(AuditQuery())] == ["NEW"]
        sink.close()


def matched_row(item_id: str, caller: str, at: float) -> AuditRow:
    match = AuditMatch(0, "ION-1", 1, "RED", ("NAME_EXACT",))
    return row_of(AuditRecord(
        at=at, caller=caller, request_id="", rpc="Screen", item_id=item_id,
        party_digests=("ab" * 32,), stoplight="RED", score=0.9, incident_ids=("ION-1",),
        generation=1, policy_version="p", matches=(match,),
    ))  # fmt: skip


def test_an_items_redis_list_of_matched_screens_stays_bounded(redis_server: RedisServer) -> None:
    prefix = f"audit-bounded-{time.monotonic_ns()}:"
    sink = RedisAuditSink(redis_server.url, prefix)
    client = redis.Redis.from_url(redis_server.url)
    try:
        now = time.time()
        for n in range(MATCHED_SCREENS_KEPT + 25):  # the same item screened again and again
            sink.write([matched_row("AWB-1", "atlas", now + n / 1000)])
        lists = [k for k in client.scan_iter(f"{prefix}*") if client.type(k) == b"list"]
        assert [client.llen(k) for k in lists] == [MATCHED_SCREENS_KEPT]
        newest = sink.matched_screens("AWB-1", {"atlas"}, 0.0, 1)
        assert newest[0].at == pytest.approx(now + (MATCHED_SCREENS_KEPT + 24) / 1000)
    finally:
        client.close()
        sink.close()


def test_a_failed_sqlite_audit_write_leaves_no_transaction_holding_the_lock(
    tmp_path: Path,
) -> None:
    """A write the database refuses (a full disk, say) is rolled back: once the database takes
    writes again, this sink and any other writer can write at once."""
    path = tmp_path / "a.sqlite"
    sink = SqliteAuditSink(path)
    row = (time.time(), "caller", "AWB-1", b'{"item_id":"AWB-1"}', False)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'full'); END"
    )
    db.commit()
    with pytest.raises(StoreError):
        sink.write([row])
    db.execute("DROP TRIGGER refuse")
    db.commit()
    other = sqlite3.connect(path, timeout=0.5)  # a lock left held would make this time out
    other.execute("INSERT INTO audit (at, caller, item_id, body) VALUES (0, 'x', 'y', x'00')")
    other.commit()
    sink.write([row])
    assert db.execute("SELECT COUNT(*) FROM audit").fetchone() == (2,)
    sink.close()
