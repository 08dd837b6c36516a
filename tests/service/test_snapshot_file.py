"""Snapshot files: a restart serves the last build plus the feed since, or refuses the file
and builds from the store. Real stores, real files, real processes for the hash seed."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from index.model import Incident, IncidentStatus
from index.names import keying_probe
from index.synthetic import Generator
from service import snapshot_file
from service.refresh import IndexHolder
from service.settings import load_settings
from service.snapshot_build import ChildBuilder
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


def holder_on(
    store: SqliteStore | RedisStore, folder: Path, compact_after: int = 5_000
) -> tuple[IndexHolder, Events]:
    events = Events()
    files = SnapshotFiles(folder)
    holder = IndexHolder(store, on_event=events, snapshot_files=files, compact_after=compact_after)
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
    assert (tmp_path / "snapshots" / f"snapshot-{store.store_id()}.npz").exists()

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
    files = SnapshotFiles(tmp_path / "snap")
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
    path = SnapshotFiles(tmp_path).path_for(store.store_id())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    second, events = holder_on(SqliteStore(store.path), tmp_path)
    second.load()
    assert "damaged" in events.reason()
    assert events.names()[1:3] == ["index built", "snapshot file written"]
    assert second.status().incidents == 40 and hits(second, incidents[3])
    SnapshotFiles(tmp_path).load(store.store_id(), 1)  # whole again


def test_a_file_of_another_store_or_other_code_is_refused(
    tmp_path: Path, incidents: list[Incident], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:30])
    holder, _ = holder_on(SqliteStore(store.path), tmp_path)
    holder.load()
    files = SnapshotFiles(tmp_path)
    path = files.path_for(store.store_id())
    other = SqliteStore(tmp_path / "other.sqlite")
    path.rename(files.path_for(other.store_id()))
    with pytest.raises(SnapshotFileError, match="another store"):
        files.load(other.store_id(), 1)

    with pytest.raises(SnapshotFileError, match="no snapshot file"):
        files.load(store.store_id(), 1)

    files.path_for(other.store_id()).rename(path)
    files.load(store.store_id(), 1)
    real_version = importlib.metadata.version

    class UpgradedAnyascii:
        @staticmethod
        def version(name: str) -> str:
            return "99.0" if name == "anyascii" else real_version(name)

    with monkeypatch.context() as patched:
        patched.setattr(snapshot_file, "metadata", UpgradedAnyascii)
        with pytest.raises(SnapshotFileError, match="other index code"):
            SnapshotFiles(tmp_path).load(store.store_id(), 1)
    files.load(store.store_id(), 1)
    monkeypatch.setattr(snapshot_file, "code_fingerprint", lambda: "0" * 64)
    with pytest.raises(SnapshotFileError, match="other index code"):
        SnapshotFiles(tmp_path).load(store.store_id(), 1)


def test_a_file_keyed_under_another_hash_seed_is_refused(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:30])
    build = (
        "import sys; from service.refresh import IndexHolder; "
        "from service.snapshot_file import SnapshotFiles; "
        "from service.store.sqlite import SqliteStore; "
        "IndexHolder(SqliteStore(sys.argv[1]), snapshot_files=SnapshotFiles(sys.argv[2])).load()"
    )
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    subprocess.run([sys.executable, "-c", build, store.path, str(tmp_path)], env=env, check=True)
    holder, events = holder_on(SqliteStore(store.path), tmp_path)
    holder.load()
    assert "another hash seed" in events.reason()
    assert "index built" in events.names()
    assert hits(holder, incidents[2])


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


def test_serve_runs_under_the_hash_seed_kept_beside_the_files(tmp_path: Path) -> None:
    show = (
        "import os, sys; from service.snapshot_file import keep_hash_seed; "
        "keep_hash_seed(sys.argv[1]); print(os.environ['PYTHONHASHSEED'], hash('x'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", show, str(tmp_path)], env=env,
                             check=True, capture_output=True, text=True)  # fmt: skip
        return out.stdout.split()

    first, second = run(), run()
    assert first == second
    assert first[0] == (tmp_path / "hash-seed").read_text().strip()
    assert (tmp_path / "hash-seed").stat().st_mode & 0o077 == 0
    fresh = tmp_path / "fresh"
    run_in = subprocess.run([sys.executable, "-c", show, str(fresh)], env=env, check=True,
                            capture_output=True, text=True)  # fmt: skip
    assert run_in.stdout.split()[0] == (fresh / "hash-seed").read_text().strip()
    assert fresh.stat().st_mode & 0o077 == 0


def _probe_under(seed: str) -> int:
    code = "from index.names import keying_probe; print(keying_probe())"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return int(out.stdout)


def test_a_child_that_keys_otherwise_is_refused_and_the_build_happens_here(
    tmp_path: Path, incidents: list[Incident], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:40])
    other_seed = next(s for s in ("1", "2") if _probe_under(s) != keying_probe())
    monkeypatch.setenv("PYTHONHASHSEED", other_seed)  # for the child only: ours is fixed
    settings = load_settings(
        environ={},
        overrides={"store_url": f"sqlite:///{store.path}", "snapshot_dir": str(tmp_path / "snap")},
    )
    events = Events()
    holder = IndexHolder(SqliteStore(store.path), on_event=events,
                         snapshot_files=SnapshotFiles(settings.snapshot_dir),
                         build_elsewhere=ChildBuilder(settings))  # fmt: skip
    holder.load()
    failed = dict(events.seen)["index build elsewhere failed"]
    assert "another hash seed" in str(failed["error"])
    assert holder.status().incidents == 40 and hits(holder, incidents[4])


_PINNED_SERVER = """
import json, sys
import numpy as np
from index.snapshot import build_snapshot
from service.rpc.server import new_holder
from service.settings import load_settings
settings = load_settings(environ={}, overrides={"store_url": sys.argv[1],
                         "snapshot_dir": sys.argv[2], "build_processes": 3})
holder = new_holder(settings)
seen = []
holder.add_listener(lambda event, fields: seen.append([event, fields.get("where")]))
holder.load()
served = holder.view.base.columns()
built = build_snapshot(holder.store.iter_all()).columns()
same = served.keys() == built.keys() and all(
    np.array_equal(served[k], built[k], equal_nan=built[k].dtype.kind == "f") for k in built)
print(json.dumps({"events": seen, "incidents": holder.status().incidents, "same": same}))
"""


def test_a_server_under_a_pinned_seed_builds_in_child_slices(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents[:70])
    env = {**os.environ, "PYTHONHASHSEED": "9"}
    done = subprocess.run(
        [sys.executable, "-c", _PINNED_SERVER, f"sqlite:///{store.path}", str(tmp_path / "snap")],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["incidents"] == 70
    assert ["index built", "child process"] in report["events"]
    assert [e for e, _ in report["events"]].count("index built") == 1
    assert "index build elsewhere failed" not in [e for e, _ in report["events"]]
    assert report["same"] is True  # three slices merged == one build
    assert "slices=3" in done.stderr


def test_build_processes_asked_together_share_one_build(
    tmp_path: Path, incidents: list[Incident]
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(incidents)
    job = json.dumps({"snapshot_dir": str(tmp_path / "snap"), "store_url": f"sqlite:///{store.path}",
                      "redis_prefix": "", "log_format": "json", "log_level": "warning",
                      "reuse_after": time.time()}).encode()  # fmt: skip
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "service.snapshot_build"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(job, timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    reused = sorted(json.loads(out.decode().splitlines()[-1])["reused"] for out in outputs)
    assert reused == [False, True]
    assert SnapshotFiles(tmp_path / "snap").stamp_of(store.store_id()).incidents == 80


def _children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_slice_builds_die_with_their_coordinator(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    generated = list(Generator(43).incidents(40_000))  # slices of seconds each
    for start in range(0, len(generated), 1000):
        store.put(generated[start : start + 1000])
    job = json.dumps({"snapshot_dir": str(tmp_path / "snap"), "store_url": f"sqlite:///{store.path}",
                      "redis_prefix": "", "log_format": "json", "log_level": "warning",
                      "reuse_after": time.time(), "parts": 2,
                      "parent_pid": os.getpid()}).encode()  # fmt: skip
    coordinator = subprocess.Popen([sys.executable, "-m", "service.snapshot_build"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert coordinator.stdin is not None
    coordinator.stdin.write(job)
    coordinator.stdin.close()
    deadline = time.monotonic() + 30
    while len(slices := _children_of(coordinator.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(slices) == 2
    coordinator.kill()
    coordinator.wait()
    deadline = time.monotonic() + 1.0  # far less than a slice of 20,000 takes to build
    while any(Path(f"/proc/{pid}").exists() for pid in slices) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in slices if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]  # fmt: skip
    assert alive == []
    assert list((tmp_path / "snap").glob("snapshot-*.npz")) == []  # killed before any file
