"""The index holder against real stores: loads, tails, compacts, survives outages."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from index.model import Channel, Incident, IncidentStatus, Query
from index.policy import DEFAULT_POLICY
from index.synthetic import Generator
from service.refresh import IndexHolder
from service.screener import CompiledView
from service.store.redis_ import RedisStore
from service.store.sqlite import SqliteStore
from tests.conftest import RedisServer

TODAY = date(2026, 11, 24)


def hits(holder: IndexHolder, incident: Incident) -> bool:
    view = holder.view
    assert view is not None
    party = next(p for p in incident.parties if p.names())
    query = Query("AWB-1", (party,), Channel.EXPRESS)
    result = CompiledView(view).screen(query, DEFAULT_POLICY, TODAY)
    return incident.incident_id in {
        m.incident.incident_id for p in result.parties for m in p.matches
    }


@pytest.fixture(scope="module")
def incidents() -> list[Incident]:
    return list(Generator(33).incidents(60))


def test_load_then_tail_upserts_and_retractions(tmp_path: Path, incidents: list[Incident]) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:40])
    holder = IndexHolder(SqliteStore(store.path))
    holder.load()
    status = holder.status()
    assert status.loaded and status.incidents == 40
    assert hits(holder, incidents[0])
    assert not hits(holder, incidents[45])

    store.put(incidents[40:50])
    store.put([replace(incidents[0], version=2, status=IncidentStatus.RETRACTED)])
    assert holder.poll() == 11
    assert hits(holder, incidents[45])
    assert not hits(holder, incidents[0])
    assert holder.status().delta_changes == 11
    assert holder.status().generation > status.generation

    before = holder.status().generation
    holder.compact()
    after = holder.status()
    assert after.delta_changes == 0 and after.generation > before
    assert after.incidents == 49
    assert hits(holder, incidents[45]) and not hits(holder, incidents[0])


def test_background_tailer_makes_a_write_count_within_a_second_or_so(
    redis_server: RedisServer, incidents: list[Incident]
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    writer = RedisStore(redis_server.url, prefix=prefix)
    writer.put(incidents[:20])
    holder = IndexHolder(RedisStore(redis_server.url, prefix=prefix), poll_interval_s=0.05)
    holder.start()
    assert holder.wait_loaded(10.0)
    writer.put([incidents[30]])
    written = time.monotonic()
    while not hits(holder, incidents[30]):
        assert time.monotonic() - written < 10.0, "a stored incident never reached screening"
        time.sleep(0.01)
    holder.stop()
    writer.close()


def test_store_outage_keeps_the_last_view_serving(
    tmp_path_factory: pytest.TempPathFactory, incidents: list[Incident]
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("outage"))
    server.start()
    try:
        store = RedisStore(server.url, prefix="outage:")
        store.put(incidents[:10])
        holder = IndexHolder(RedisStore(server.url, prefix="outage:"))
        holder.load()
        server.kill()
        assert holder.poll() == 0
        status = holder.status()
        assert not status.store_reachable and status.last_error
        assert status.loaded and hits(holder, incidents[3])
        server.start()  # an empty server after the crash: the stream went backwards
        RedisStore(server.url, prefix="outage:").put(incidents[20:22])
        holder.poll()
        status = holder.status()
        assert status.store_reachable
        assert status.incidents == 2  # reloaded from what the store now holds
        assert hits(holder, incidents[21]) and not hits(holder, incidents[3])
    finally:
        server.kill()


def test_malformed_documents_are_skipped_and_counted_never_fatal(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:5])
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE incidents SET body = ? WHERE incident_id = ?", (b"{", incidents[1].incident_id)
        )
    events: list[str] = []
    holder = IndexHolder(store, on_event=lambda event, fields: events.append(event))
    holder.load()
    assert holder.status().incidents == 4 and holder.status().invalid_documents == 1
    assert hits(holder, incidents[0]) and not hits(holder, incidents[1])
    assert events.count("invalid document skipped") == 1

    store.put([replace(incidents[0], version=2)])  # a change whose document then breaks
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE incidents SET body = ? WHERE incident_id = ?", (b"[]", incidents[0].incident_id)
        )
    store.put([incidents[7]])
    assert holder.poll() == 2  # the tailer goes on past the malformed change
    assert holder.status().invalid_documents == 2
    assert hits(holder, incidents[0])  # the index keeps the version it had
    assert hits(holder, incidents[7])


def test_a_failed_build_keeps_the_current_view(
    tmp_path_factory: pytest.TempPathFactory, incidents: list[Incident]
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("failed-build"))
    server.start()
    try:
        RedisStore(server.url, prefix="fb:").put(incidents[:5])
        events: list[str] = []
        holder = IndexHolder(
            RedisStore(server.url, prefix="fb:"),
            on_event=lambda event, fields: events.append(event),
        )
        holder.load()
        view = holder.view
        server.kill()
        holder.compact()
        assert holder.view is view
        assert "index build failed" in events
        assert holder.status().last_error.startswith("build failed")
    finally:
        server.kill()


def backed_up_after_twenty(live: Path, incidents: list[Incident]) -> Path:
    """A store at `live` holding incidents[:30] (changes 1-30), and a backup of it taken
    after the first 20."""
    store = SqliteStore(live)
    store.put(incidents[:20])
    backup = live.with_name("backup.sqlite")
    with sqlite3.connect(live) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    store.put(incidents[20:30])
    store.close()
    return backup


def restore_and_write_other_changes(live: Path, backup: Path, incidents: list[Incident]) -> None:
    """The backup in place of the live database (every connection to it closed), then
    changes 21-35 that name other incidents than the live database's did."""
    for journal in (live.with_name(f"{live.name}-wal"), live.with_name(f"{live.name}-shm")):
        journal.unlink(missing_ok=True)
    backup.replace(live)
    restored = SqliteStore(live)
    restored.put(incidents[40:55])
    restored.close()


def test_a_database_restored_under_a_running_service_is_reloaded_in_full(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    live = tmp_path / "db.sqlite"
    backup = backed_up_after_twenty(live, incidents)
    holder = IndexHolder(SqliteStore(live), identity_check_s=0.0)
    holder.load()
    assert hits(holder, incidents[25])
    holder.store.close()
    restore_and_write_other_changes(live, backup, incidents)
    holder.poll()
    assert holder.status().incidents == 35
    assert hits(holder, incidents[45]) and not hits(holder, incidents[25])
