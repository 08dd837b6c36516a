"""Snapshot files: the last built index kept on disk, so that a restart loads it in seconds
and replays only the changes since, instead of rebuilding a million incidents.

A file is the snapshot's columns (NumPy `.npz`, every member CRC-checked by zip on reading)
and a stamp: the store it came from (`store_id`), the feed cursor it was built from, when,
and what it depends on — the file format, the `index` package's code, and the process's keyed
hash (index keys are SipHash values, salted per process). A file whose stamp does not fit the
running process and store is refused with the reason, and the caller builds from the store as
it would without one; after any build the file is written again (atomically: a temporary file,
fsync, rename). A restored snapshot is then brought up to date from the change feed by the
caller, which falls back to a full build when the feed can no longer serve its cursor.

Keys agree across restarts only under one hash seed: `keep_hash_seed` makes the process run
under the seed kept beside the files (created once, readable by the service's user only).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import unicodedata
import zipfile
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from pathlib import Path

import numpy as np

import index
from index.names import keying_probe
from index.snapshot import Snapshot

FORMAT = 1
_STAMP = "stamp.json"
_SEED_FILE = "hash-seed"


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
    code: str = ""
    keying: int = 0


# What else decides the keys a build derives: transliteration, phone parsing, H3 cells, the
# interpreter (its str hash, its Unicode database) and the file format's reader.
_KEY_DEPENDENCIES = ("anyascii", "phonenumbers", "h3", "numpy")


def code_fingerprint() -> str:
    """A digest of the index package's source and of the versions of what it derives keys
    with: any change to them may change the keys."""
    digest = hashlib.sha256()
    versions = [f"{name}={metadata.version(name)}" for name in _KEY_DEPENDENCIES]
    versions += [f"python={sys.version}", f"unicode={unicodedata.unidata_version}"]
    digest.update("\n".join(versions).encode() + b"\0")
    package = resources.files(index)
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith(".py")):
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes() + b"\0")
    return digest.hexdigest()


class SnapshotFiles:
    """The snapshot files in one folder, one per store (named by its store id)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._code = code_fingerprint()

    def path_for(self, store_id: str) -> Path:
        if not store_id.isalnum():
            raise SnapshotFileError(f"store id {store_id!r} cannot name a file")
        return self.folder / f"snapshot-{store_id}.npz"

    def save(self, snapshot: Snapshot, stamp: Stamp) -> Path:
        """Write the snapshot and its stamp; the previous file stays whole until the rename."""
        stamp = Stamp(**{**asdict(stamp), "code": self._code, "keying": keying_probe()})
        path = self.path_for(stamp.store_id)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_abandoned(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        columns = snapshot.columns()
        columns[_STAMP] = np.frombuffer(json.dumps(asdict(stamp)).encode(), np.uint8)
        try:
            # Party names and incident ids: readable by the service's user only.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                np.savez(out, allow_pickle=False, **columns)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return path

    def load(self, store_id: str, generation: int) -> tuple[Snapshot, Stamp]:
        """The snapshot kept for this store, or SnapshotFileError saying why it is unusable."""
        path = self.path_for(store_id)
        if not path.exists():
            raise SnapshotFileError(f"no snapshot file at {path}")
        try:
            with np.load(path, allow_pickle=False) as members:
                stamp = self._check(Stamp(**json.loads(members[_STAMP].tobytes())), store_id)
                columns = {name: members[name] for name in members.files if name != _STAMP}
            snapshot = Snapshot.from_columns(columns, generation)
        except SnapshotFileError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise SnapshotFileError(f"{path} is damaged: {exc!r}") from exc
        if snapshot.incident_count != stamp.incidents:
            raise SnapshotFileError(f"{path} holds {snapshot.incident_count} incidents, "
                                    f"its stamp says {stamp.incidents}")  # fmt: skip
        return snapshot, stamp

    def stamp_of(self, store_id: str) -> Stamp:
        """The stamp of the file kept for this store, without reading its columns."""
        path = self.path_for(store_id)
        try:
            with np.load(path, allow_pickle=False) as members:
                return Stamp(**json.loads(members[_STAMP].tobytes()))
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise SnapshotFileError(f"no readable stamp in {path}: {exc!r}") from exc

    def _check(self, stamp: Stamp, store_id: str) -> Stamp:
        if stamp.format != FORMAT:
            raise SnapshotFileError(f"file format {stamp.format}, this version reads {FORMAT}")
        if stamp.store_id != store_id:
            raise SnapshotFileError("the file was built from another store")
        if stamp.code != self._code:
            raise SnapshotFileError("the file was built by other index code or libraries")
        if stamp.keying != keying_probe():
            raise SnapshotFileError(
                "the file was keyed under another hash seed (PYTHONHASHSEED differs)"
            )
        return stamp


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


def hash_seed_pinned() -> bool:
    """Whether this process runs under a set hash seed (which child interpreters inherit,
    and with it this process's keys)."""
    return os.environ.get("PYTHONHASHSEED", "random") != "random"


def keep_hash_seed(folder: str | Path) -> None:
    """Run this process under the hash seed kept in `folder` (created on first use): unless
    PYTHONHASHSEED is already set, the process re-executes itself with it. Call it before
    anything else has started."""
    if hash_seed_pinned():
        return
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    seed_file = folder / _SEED_FILE
    if not seed_file.exists():
        draft = folder / f".{_SEED_FILE}.{os.getpid()}.tmp"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(f"{secrets.randbelow(2**32)}\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, seed_file)  # whole or not at all; the first process to get here wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    seed = seed_file.read_text().strip()
    if not seed.isdigit() or int(seed) >= 2**32:
        raise SnapshotFileError(f"{seed_file} does not hold a hash seed (0 to 2^32 - 1)")
    os.execve(sys.executable, sys.orig_argv, {**os.environ, "PYTHONHASHSEED": seed})
