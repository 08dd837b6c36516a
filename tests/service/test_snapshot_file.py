"""Snapshot files: a restart serves the last build plus the feed since, or refuses the file
and builds from the store. Real stores, real files."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import redis

from index import _core
from index.model import (
    Area,
    Channel,
    Incident,
    IncidentKind,
    IncidentStatus,
    Location,
    Party,
    PartyRole,
    Query,
)
from index.policy import DEFAULT_POLICY
from index.synthetic import Generator
from service.refresh import IndexHolder
from service.screener import CompiledView
from service.settings import DEFAULT_INDEX_KEY
from service.snapshot_file import SnapshotFileError, SnapshotFiles
from service.store.redis_ import RedisStore
from service.store.sqlite import SqliteStore
from tests.conftest import RedisServer
from tests.service.test_refresh import backed_up_after_twenty, hits, restore_and_write_other_changes


@pytest.fixture(scope="module")
def incidents() -> list[Incident]:
    return list(Generator(41).incidents(80))


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, event: str, fields: dict[str, object]) -> None:
        self.seen.append((event, fields))

    def names(self) -> list[str]:
        return [event for event, _ in self.seen]

    def reason(self) -> str:
        return next(str(f["reason"]) for e, f in self.seen if e == "snapshot file not used")


OTHER_KEY = bytes(range(16))


def holder_on(
    store: SqliteStore | RedisStore,
    folder: Path,
    compact_after: int = 5_000,
    key: bytes = DEFAULT_INDEX_KEY,
) -> tuple[IndexHolder, Events]:
    events = Events()
    files = SnapshotFiles(folder, key)
    holder = IndexHolder(store, on_event=events, snapshot_files=files,
                         compact_after=compact_after, key=key)  # fmt: skip
    return holder, events


def test_a_restart_serves_the_file_and_the_changes_since(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:60])
    first, events = holder_on(SqliteStore(store.path), tmp_path / "snapshots")
    first.load()
    assert events.names()[:3] == ["snapshot file not used", "index built", "snapshot file written"]
    assert events.reason().startswith("no snapshot file")
    assert (tmp_path / "snapshots" / f"snapshot-{store.store_id()}.pfsnap").exists()

    store.put(incidents[60:70])  # accepted while the service was down
    store.put([replace(incidents[0], version=2, status=IncidentStatus.RETRACTED)])
    second, events = holder_on(SqliteStore(store.path), tmp_path / "snapshots")
    second.load()
    assert "index built" not in events.names()
    loaded = dict(events.seen)["index loaded from file"]
    assert loaded["changes_replayed"] == 11
    status = second.status()
    assert status.loaded and status.incidents == 69 and status.store_reachable
    assert status.store_cursor == store.current_cursor()
    assert hits(second, incidents[65]) and hits(second, incidents[5])
    assert not hits(second, incidents[0])

    fresh = IndexHolder(SqliteStore(store.path))
    fresh.load()
    for incident in incidents[:75]:
        assert hits(second, incident) == hits(fresh, incident), incident.incident_id


def test_files_are_private_and_a_dead_writers_leftovers_are_removed(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:20])
    files = SnapshotFiles(tmp_path / "snap", DEFAULT_INDEX_KEY)
    path = files.path_for(store.store_id())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    (tmp_path / "snap").mkdir()
    abandoned = path.with_name(f".{path.name}.{dead}.tmp")
    alive = path.with_name(f".{path.name}.{os.getppid()}.tmp")
    abandoned.write_bytes(b"half a snapshot")
    alive.write_bytes(b"being written")
    holder_on(SqliteStore(store.path), tmp_path / "snap")[0].load()
    assert path.stat().st_mode & 0o077 == 0
    assert not abandoned.exists() and alive.exists()


def test_a_damaged_file_is_refused_and_rewritten(tmp_path: Path, incidents: list[Incident]) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:40])
    first, _ = holder_on(SqliteStore(store.path), tmp_path)
    first.load()
    path = SnapshotFiles(tmp_path, DEFAULT_INDEX_KEY).path_for(store.store_id())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    second, events = holder_on(SqliteStore(store.path), tmp_path)
    second.load()
    assert "damaged" in events.reason()
    assert events.names()[1:3] == ["index built", "snapshot file written"]
    assert second.status().incidents == 40 and hits(second, incidents[3])
    SnapshotFiles(tmp_path, DEFAULT_INDEX_KEY).load(store.store_id(), 1)  # whole again


def test_a_file_of_another_store_or_another_index_key_is_refused(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:30])
    holder, _ = holder_on(SqliteStore(store.path), tmp_path)
    holder.load()
    files = SnapshotFiles(tmp_path, DEFAULT_INDEX_KEY)
    path = files.path_for(store.store_id())
    other = SqliteStore(tmp_path / "other.sqlite")
    path.rename(files.path_for(other.store_id()))
    with pytest.raises(SnapshotFileError, match="another store"):
        files.load(other.store_id(), 1)
    with pytest.raises(SnapshotFileError, match="no snapshot file"):
        files.load(store.store_id(), 1)
    files.path_for(other.store_id()).rename(path)
    files.load(store.store_id(), 1)
    with pytest.raises(SnapshotFileError, match="another index key"):
        SnapshotFiles(tmp_path, OTHER_KEY).load(store.store_id(), 1)
    rekeyed, events = holder_on(SqliteStore(store.path), tmp_path, key=OTHER_KEY)
    rekeyed.load()
    assert "another index key" in events.reason()
    assert "index built" in events.names()
    assert hits(rekeyed, incidents[2])


def test_a_snapshot_loaded_from_its_file_answers_like_the_build(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    lab = Incident("ION-LAB", IncidentKind.ILLICIT_MANUFACTURE, date(2026, 1, 5), "DE", parties=(
        Party(PartyRole.OTHER, business_name="Site 7", area=Area.box(10.0, 20.0, 10.01, 20.01)),
    ))  # fmt: skip
    built = CompiledView.build([*incidents, lab], generation=3)
    path = tmp_path / "snapshot.pfsnap"
    built.core.snapshot().save(path, b'{"note": "kept as it is"}')
    snapshot, stamp = _core.Snapshot.load(path, 4)
    assert stamp == b'{"note": "kept as it is"}'
    loaded = CompiledView(_core.View(snapshot))
    assert loaded.generation == 4
    assert (loaded.incident_count, loaded.party_count) == (built.incident_count, built.party_count)
    today = date(2026, 11, 24)
    inside = Party(name="Z", location=Location(10.005, 20.005))
    probes = [*(p for incident in incidents for p in incident.parties), inside]
    for party in probes:
        query = Query("AWB-1", (party,), Channel.EXPRESS)
        a = built.screen(query, DEFAULT_POLICY, today)
        b = loaded.screen(query, DEFAULT_POLICY, today)
        assert replace(a, generation=0) == replace(b, generation=0)
    last = loaded.screen(Query("AWB-1", (inside,), Channel.EXPRESS), DEFAULT_POLICY, today)
    assert {m.incident.incident_id for m in last.parties[0].matches} == {"ION-LAB"}


def test_a_file_too_far_behind_the_store_is_not_replayed(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:30])
    holder_on(SqliteStore(store.path), tmp_path, compact_after=5)[0].load()
    store.put(incidents[30:40])
    holder, events = holder_on(SqliteStore(store.path), tmp_path, compact_after=5)
    holder.load()
    assert events.reason() == "too far behind the store"
    assert holder.status().incidents == 40 and hits(holder, incidents[35])


def test_a_database_restored_from_a_backup_and_written_past_the_file_is_caught(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    live = tmp_path / "db.sqlite"
    backup = backed_up_after_twenty(live, incidents)
    first, _ = holder_on(SqliteStore(live), tmp_path / "snap")
    first.load()  # the file's cursor: change 30
    first.store.close()
    restore_and_write_other_changes(live, backup, incidents)  # same store id
    holder, events = holder_on(SqliteStore(live), tmp_path / "snap")
    holder.load()
    assert "another change at the file's cursor" in events.reason()
    assert holder.status().incidents == 35
    assert hits(holder, incidents[45]) and not hits(holder, incidents[25])


def test_a_redis_stream_trimmed_past_the_file_means_a_full_build(
    redis_server: RedisServer, tmp_path: Path, incidents: list[Incident]
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    writer = RedisStore(redis_server.url, prefix=prefix)
    writer.put(incidents[:30])
    holder_on(RedisStore(redis_server.url, prefix=prefix), tmp_path)[0].load()
    writer.put(incidents[30:35])
    redis.Redis.from_url(redis_server.url).xtrim(f"{prefix}changes", maxlen=2, approximate=False)
    holder, events = holder_on(RedisStore(redis_server.url, prefix=prefix), tmp_path)
    holder.load()
    assert events.reason() == "the change feed no longer holds the file's cursor"
    assert holder.status().incidents == 35 and hits(holder, incidents[33])


def test_a_redis_that_lost_its_keys_is_another_store(
    redis_server: RedisServer, tmp_path: Path, incidents: list[Incident]
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    writer = RedisStore(redis_server.url, prefix=prefix)
    writer.put(incidents[:20])
    lost = writer.store_id()
    holder_on(RedisStore(redis_server.url, prefix=prefix), tmp_path)[0].load()
    client = redis.Redis.from_url(redis_server.url)
    client.delete(*client.keys(f"{prefix}*"))
    writer.put(incidents[20:25])
    assert writer.store_id() != lost
    holder, events = holder_on(RedisStore(redis_server.url, prefix=prefix), tmp_path)
    holder.load()
    assert events.reason().startswith("no snapshot file")
    assert holder.status().incidents == 5 and not hits(holder, incidents[3])
