"""Snapshot files: the last built index kept on disk, so that a restart maps it in well under a
second and replays only the changes since, instead of rebuilding from the store.

A file is the compiled core's format (flat, versioned, checksummed little-endian columns,
memory-mapped on load; the core refuses a damaged file or one written by other core code) with
a stamp: the store it came from (`store_id`), the feed cursor it was built from, when, and how
long the build took. Its index keys are keyed hashes under the deployment's index key, which
the file records: a file made under another key is refused. A file that does not fit the
running process and store is refused with the reason, and the caller builds from the store as
it would without one; after any build the file is written again (atomically: a temporary file,
fsync, rename). A restored snapshot is then brought up to date from the change feed by the
caller, which falls back to a full build when the feed can no longer serve its cursor.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from index import _core

FORMAT = 2


class SnapshotFileError(Exception):
    """A snapshot file that cannot be used here, and why."""


@dataclass(frozen=True, slots=True)
class Stamp:
    store_id: str
    cursor: str
    built_at: float  # unix seconds
    build_seconds: float
    incidents: int
    cursor_change: str = ""  # the store's change_at(cursor) when the build began
    format: int = FORMAT


class SnapshotFiles:
    """The snapshot files in one folder, one per store (named by its store id)."""

    def __init__(self, folder: str | Path, key: bytes) -> None:
        self.folder = Path(folder)
        self._key = key

    def path_for(self, store_id: str) -> Path:
        if not store_id.isalnum():
            raise SnapshotFileError(f"store id {store_id!r} cannot name a file")
        return self.folder / f"snapshot-{store_id}.pfsnap"

    def save(self, snapshot: _core.Snapshot, stamp: Stamp) -> Path:
        """Write the snapshot and its stamp; the previous file stays whole until the rename."""
        path = self.path_for(stamp.store_id)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_abandoned(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            # Party names and incident ids: readable by the service's user only.
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            snapshot.save(temporary, json.dumps(asdict(stamp)).encode())
            temporary.replace(path)
        except ValueError as exc:
            raise SnapshotFileError(f"{path} not written: {exc}") from exc
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return path

    def load(self, store_id: str, generation: int) -> tuple[_core.Snapshot, Stamp]:
        """The snapshot kept for this store, or SnapshotFileError saying why it is unusable."""
        path = self.path_for(store_id)
        if not path.exists():
            raise SnapshotFileError(f"no snapshot file at {path}")
        try:
            snapshot, raw_stamp = _core.Snapshot.load(path, generation)
            stamp = Stamp(**json.loads(raw_stamp))
        except (OSError, ValueError, TypeError) as exc:
            raise SnapshotFileError(f"{path} cannot be used: {exc}") from exc
        if stamp.format != FORMAT:
            raise SnapshotFileError(f"stamp format {stamp.format}, this version reads {FORMAT}")
        if stamp.store_id != store_id:
            raise SnapshotFileError("the file was built from another store")
        if snapshot.key != self._key:
            raise SnapshotFileError("the file was keyed under another index key")
        if snapshot.incident_count != stamp.incidents:
            raise SnapshotFileError(f"{path} holds {snapshot.incident_count} incidents, "
                                    f"its stamp says {stamp.incidents}")  # fmt: skip
        return snapshot, stamp


def _remove_abandoned(path: Path) -> None:
    """Temporary files of writers that died mid-write (each is as big as a snapshot)."""
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        pid = temporary.name.removeprefix(f".{path.name}.").removesuffix(".tmp")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            temporary.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, another user's
