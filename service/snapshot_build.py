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

import fcntl
import json
import logging
import os
import subprocess
import sys
import time

from service import logs
from service.refresh import BuildError, IndexHolder
from service.settings import Settings
from service.snapshot_file import SnapshotFileError, SnapshotFiles
from service.store import open_store

log = logging.getLogger(__name__)

_LOCK = "build.lock"


def hash_seed_pinned() -> bool:
    """Whether a child interpreter gets this process's hash seed (and so its keys)."""
    return os.environ.get("PYTHONHASHSEED", "random") != "random"


class ChildBuilder:
    """Runs one build in a child interpreter; the number of malformed documents it skipped."""

    def __init__(self, settings: Settings, timeout_s: float = 3_600.0) -> None:
        # Through stdin, not the command line: a store URL may carry a password.
        self._job = {
            "snapshot_dir": settings.snapshot_dir, "store_url": settings.store_url,
            "redis_prefix": settings.redis_prefix, "log_format": settings.log_format,
            "log_level": settings.log_level,
        }  # fmt: skip
        self._timeout_s = timeout_s

    def __call__(self) -> int:
        job = json.dumps({**self._job, "reuse_after": time.time()}).encode()
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


def main() -> int:
    """Build the store's snapshot file; the job (ChildBuilder's) arrives as JSON on stdin."""
    job = json.loads(sys.stdin.read())
    logs.configure(job["log_format"], job["log_level"])

    files = SnapshotFiles(job["snapshot_dir"])
    files.folder.mkdir(parents=True, exist_ok=True)
    store = open_store(job["store_url"], job["redis_prefix"])
    try:
        with (files.folder / _LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _reusable(files, store.store_id(), float(job["reuse_after"])):
                print(json.dumps({"invalid_documents": 0, "reused": True}))
                return 0
            holder = IndexHolder(store, on_event=_log_event, snapshot_files=files)
            holder.build_file()
    except Exception as exc:  # any failure: the exit status reports it
        print(f"build failed: {exc!r}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps({"invalid_documents": holder.status().invalid_documents, "reused": False}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
