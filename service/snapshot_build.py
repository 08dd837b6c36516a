"""Full builds in a child interpreter, handed over through the snapshot file.

A build is a minute of pure Python at 1M incidents. Run in a serving process it holds the GIL
against the request threads, peaks at several times the index's size, and leaves the heap
fragmented (steady RSS ~520 B per incident after a build, ~310 B for the same snapshot loaded
from its file). So when the hash seed is pinned (a child keys exactly like its parent only
then), a server builds in `python -m service.snapshot_build`: the child reads the store, writes
the file and exits; the server loads the file in a fraction of a second. Two servers asking at
once (the workers of one service compacting together) share one build: the second child waits
on the folder's lock and reuses the file the first one finished meanwhile.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ValidationError
from index.names import keying_probe
from index.snapshot import Snapshot, build_snapshot, merge_columns
from service import logs
from service.refresh import BuildError, IndexHolder
from service.settings import Settings
from service.snapshot_file import SnapshotFileError, SnapshotFiles, Stamp
from service.store import open_store
from service.store.base import IncidentStore

log = logging.getLogger(__name__)

_LOCK = "build.lock"
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int | None) -> None:
    """A build must not outlive the process that asked for it (a server shutting down, a
    coordinator killed on its timeout): Linux kills this one when its parent dies."""
    if parent_pid is None:
        return
    name = ctypes.util.find_library("c")
    if name:
        ctypes.CDLL(name).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before the line above
        os._exit(1)


class ChildBuilder:
    """Runs one build in a child interpreter; the number of malformed documents it skipped."""

    def __init__(self, settings: Settings, timeout_s: float = 3_600.0) -> None:
        # Through stdin, not the command line: a store URL may carry a password.
        self._job = {
            "snapshot_dir": settings.snapshot_folder(), "store_url": settings.store_url,
            "redis_prefix": settings.redis_prefix, "log_format": settings.log_format,
            "log_level": settings.log_level,
            "parts": settings.build_processes or len(os.sched_getaffinity(0)),
        }  # fmt: skip
        self._timeout_s = timeout_s

    def __call__(self) -> int:
        job = json.dumps(
            {**self._job, "reuse_after": time.time(), "parent_pid": os.getpid()}
        ).encode()
        try:
            done = subprocess.run([sys.executable, "-m", "service.snapshot_build"], input=job,
                                  stdout=subprocess.PIPE, timeout=self._timeout_s,
                                  check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"the build process did not finish: {exc}") from exc
        if done.returncode != 0:
            raise BuildError(f"the build process exited with {done.returncode}")
        try:
            report = json.loads(done.stdout.decode().strip().splitlines()[-1])
            return int(report["invalid_documents"])
        except (ValueError, KeyError, IndexError) as exc:
            raise BuildError(f"the build process said nothing usable: {exc!r}") from exc


def _reusable(files: SnapshotFiles, store_id: str, after: float) -> bool:
    """Whether a build that finished after `after` already wrote this store's file."""
    try:
        return files.stamp_of(store_id).built_at > after
    except SnapshotFileError:
        return False


def _log_event(event: str, fields: dict[str, object]) -> None:
    log.info(event, extra=fields)  # ids and counts, never party names


def _run_children(jobs: list[dict[str, object]]) -> list[dict[str, Any]]:
    """Run one `python -m service.snapshot_build` per job, all at once; their reports."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "service.snapshot_build"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in jobs
    ]
    try:
        for child, job in zip(children, jobs, strict=True):  # every job first: they run together
            assert child.stdin is not None
            child.stdin.write(json.dumps({**job, "parent_pid": os.getpid()}).encode())
            child.stdin.close()
        outputs = []
        for child in children:
            assert child.stdout is not None
            outputs.append(child.stdout.read())
            child.wait()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    if any(c.returncode != 0 for c in children):
        raise BuildError(f"a slice build exited with {[c.returncode for c in children]}")
    return [json.loads(out.decode().strip().splitlines()[-1]) for out in outputs]


def _build_in_slices(store: IncidentStore, files: SnapshotFiles, job: dict[str, Any]) -> int:
    """Build the store's file from `parts` slices built in parallel processes and merged
    (exactly the columns of one build); the number of malformed documents skipped."""
    started = time.perf_counter()
    store_id = store.store_id()
    cursor = store.current_cursor()  # before any slice is read: nothing is missed
    cursor_change = store.change_at(cursor)
    bounds: list[str | None] = ["", *store.split_points(int(job["parts"])), None]
    with tempfile.TemporaryDirectory(dir=files.folder, prefix=".slices-") as tmp:
        outs = [str(Path(tmp) / f"slice-{n}.npz") for n in range(len(bounds) - 1)]
        reports = _run_children([
            {**job, "mode": "slice", "after": after or "", "upto": upto, "out": out}
            for (after, upto), out in zip(pairwise(bounds), outs, strict=True)
        ])  # fmt: skip
        if any(r["keying"] != keying_probe() for r in reports):
            raise BuildError("a slice was keyed under another hash seed")
        parts = []
        for out in outs:
            with np.load(out, allow_pickle=False) as members:
                parts.append({name: members[name] for name in members.files})
        snapshot = Snapshot.from_columns(merge_columns(parts), generation=1)
    del parts
    seconds = time.perf_counter() - started
    _log_event("index built", {"incidents": snapshot.incident_count, "seconds": seconds,
                               "slices": len(outs)})  # fmt: skip
    saving = time.perf_counter()
    stamp = Stamp(store_id, cursor, time.time(), seconds, snapshot.incident_count, cursor_change)
    path = files.save(snapshot, stamp)
    _log_event("snapshot file written", {"path": str(path),
                                         "seconds": time.perf_counter() - saving})  # fmt: skip
    return sum(int(r["invalid_documents"]) for r in reports)


def _build_slice(store: IncidentStore, job: dict[str, Any]) -> dict[str, object]:
    """One slice's columns, into the file the job names."""
    invalid = 0

    def skip(incident_id: str, error: ValidationError) -> None:
        nonlocal invalid
        invalid += 1
        log.warning("invalid document skipped", extra={"incident_id": incident_id,
                                                       "error": str(error)})  # fmt: skip

    snapshot = build_snapshot(store.iter_all(skip, after=job["after"], upto=job["upto"]))
    with Path(job["out"]).open("wb") as out:
        np.savez(out, allow_pickle=False, **snapshot.columns())
    return {"invalid_documents": invalid, "keying": keying_probe()}


def main() -> int:
    """Build the store's snapshot file (or, as asked by a parent build, one slice of it); the
    job (ChildBuilder's) arrives as JSON on stdin."""
    job = json.loads(sys.stdin.read())
    _die_with_parent(job.get("parent_pid"))
    logs.configure(job["log_format"], job["log_level"])
    store = open_store(job["store_url"], job["redis_prefix"])
    try:
        if job.get("mode") == "slice":
            print(json.dumps(_build_slice(store, job)))
            return 0
        files = SnapshotFiles(job["snapshot_dir"])
        files.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (files.folder / _LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _reusable(files, store.store_id(), float(job["reuse_after"])):
                print(json.dumps({"invalid_documents": 0, "reused": True}))
                return 0
            if int(job.get("parts", 1)) > 1:
                invalid = _build_in_slices(store, files, job)
            else:
                holder = IndexHolder(store, on_event=_log_event, snapshot_files=files)
                holder.build_file()
                invalid = holder.status().invalid_documents
    except Exception as exc:  # any failure: the exit status reports it
        print(f"build failed: {exc!r}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps({"invalid_documents": invalid, "reused": False}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
