"""The index holder: loads a snapshot from the store, tails the store's change feed into the
view's Delta, and compacts in the background.

Readers take `holder.view` once per request — one reference read, never a lock. Writers of the
view are this module's two threads: the tailer (every `poll_interval_s`) and the compactor
(when the Delta grows past `compact_after` changes). A compaction builds the next snapshot
aside from a cursor taken *before* its load, replays what the feed brought meanwhile, and swaps
one reference; a failed build leaves the current view serving. A store outage leaves the last
view serving and shows as staleness.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from index import _core
from service.settings import DEFAULT_INDEX_KEY
from service.snapshot_file import SnapshotFileError, SnapshotFiles, Stamp
from service.store.base import ChangeBatch, IncidentStore, RawDocument, StoreError, change_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    loaded: bool
    generation: int
    incidents: int
    delta_changes: int
    store_cursor: str
    built_at: float  # unix seconds of the last successful build, 0 before the first
    build_seconds: float
    last_change_applied_at: float  # unix seconds, 0 before the first change
    last_poll_ok_at: float  # unix seconds of the last successful read of the feed
    store_reachable: bool
    last_error: str
    invalid_documents: int  # stored documents skipped because they do not decode
    parties: int = 0


def _trim_heap() -> None:
    """Hand the build's freed memory back to the OS (glibc keeps it otherwise)."""
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


class IndexHolder:
    def __init__(
        self,
        store: IncidentStore,
        *,
        poll_interval_s: float = 0.1,
        compact_after: int = 5_000,
        on_event: Callable[[str, dict[str, object]], None] | None = None,
        snapshot_files: SnapshotFiles | None = None,
        identity_check_s: float = 10.0,
        key: bytes = DEFAULT_INDEX_KEY,
    ) -> None:
        """`key`: the deployment's index key (16 bytes), which every snapshot it builds is
        keyed under."""
        self._store = store
        self._files = snapshot_files
        self._key = key
        self._poll_interval_s = poll_interval_s
        self._compact_after = compact_after
        self._listeners: list[Callable[[str, dict[str, object]], None]] = []
        if on_event is not None:
            self._listeners.append(on_event)
        self._view: _core.View | None = None
        self._cursor = ""
        self._cursor_change = ""  # what the feed recorded at the cursor (store.change_at)
        self._identity_check_s = identity_check_s
        self._next_identity_check = 0.0
        self._generation = 0
        self._lock = threading.Lock()  # serialises writers of (view, cursor); readers never wait
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._compacting = threading.Event()
        self._built_at = 0.0
        self._build_seconds = 0.0
        self._last_change_at = 0.0
        self._last_poll_ok_at = 0.0
        self._reachable = False
        self._last_error = ""
        self._invalid_documents = 0

    def _skip_invalid(self, invalid: Sequence[tuple[str, str]]) -> None:
        """Malformed stored documents are skipped, counted and reported; they never stop a
        build or the tailer."""
        self._invalid_documents += len(invalid)
        for incident_id, error in invalid:
            self._emit("invalid document skipped", {"incident_id": incident_id, "error": error})

    def _with_changes(self, view: _core.View, changed: Iterable[str]) -> _core.View:
        """The view with the stored state of the changed ids: present ones upserted, absent
        ones deleted. A malformed document is left out: the index keeps what it had for it."""
        ids = list(dict.fromkeys(changed))
        documents: list[RawDocument] = self._store.documents(ids)
        present = {incident_id for incident_id, _ in documents}
        deleted = [i for i in ids if i not in present]
        updated, invalid = view.apply(documents, deleted, self._next_generation())
        self._skip_invalid(invalid)
        return updated

    def add_listener(self, on_event: Callable[[str, dict[str, object]], None]) -> None:
        """Also tell `on_event` what happens (a worker adds its metrics after the fork)."""
        self._listeners.append(on_event)

    def _emit(self, event: str, fields: dict[str, object]) -> None:
        for listener in self._listeners:
            listener(event, fields)

    # --- reading -----------------------------------------------------------------------

    @property
    def store(self) -> IncidentStore:
        return self._store

    @property
    def view(self) -> _core.View | None:
        return self._view

    def status(self) -> IndexStatus:
        view = self._view
        return IndexStatus(
            loaded=view is not None,
            generation=view.generation if view else 0,
            incidents=view.incident_count if view else 0,
            delta_changes=view.delta_changes if view else 0,
            store_cursor=self._cursor,
            built_at=self._built_at,
            build_seconds=self._build_seconds,
            last_change_applied_at=self._last_change_at,
            last_poll_ok_at=self._last_poll_ok_at,
            store_reachable=self._reachable,
            last_error=self._last_error,
            invalid_documents=self._invalid_documents,
            parties=view.party_count if view else 0,
        )

    # --- loading -----------------------------------------------------------------------

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def _build(self) -> tuple[_core.View, str, str]:
        """A fresh view, the cursor it was built from, and the change the feed recorded there."""
        store_id = self._store.store_id() if self._files else ""
        cursor = self._store.current_cursor()  # before the load: nothing is missed
        cursor_change = self._store.change_at(cursor)
        started = time.perf_counter()
        # The store's pages stream into the core, which indexes a batch at a time: the whole
        # store is never in memory at once.
        snapshot, invalid = _core.Snapshot.build(
            self._store.iter_documents(), self._key, self._next_generation()
        )
        seconds = time.perf_counter() - started
        self._build_seconds = seconds
        self._skip_invalid(invalid)
        _trim_heap()
        self._emit("index built", {"incidents": snapshot.incident_count, "seconds": seconds})
        if self._files is not None:
            stamp = Stamp(store_id, cursor, time.time(), seconds, snapshot.incident_count,
                          cursor_change)  # fmt: skip
            self._save(snapshot, stamp)
        return _core.View(snapshot), cursor, cursor_change

    def _save(self, snapshot: _core.Snapshot, stamp: Stamp) -> bool:
        """Keep the build for the next start; a file that cannot be written costs only that."""
        assert self._files is not None
        started = time.perf_counter()
        try:
            path = self._files.save(snapshot, stamp)
        except (OSError, SnapshotFileError) as exc:
            self._emit("snapshot file not written", {"error": str(exc)})
            return False
        seconds = time.perf_counter() - started
        self._emit("snapshot file written", {"path": str(path), "seconds": seconds})
        return True

    def _restore(self) -> bool:
        """Serve the snapshot file kept for this store, brought up to date from the feed, if
        there is a usable one. A store outage raises StoreError, as a build would."""
        assert self._files is not None
        started = time.perf_counter()
        try:
            snapshot, stamp = self._files.load(self._store.store_id(), self._next_generation())
        except SnapshotFileError as exc:
            self._emit("snapshot file not used", {"reason": str(exc)})
            return False
        recorded = self._store.change_at(stamp.cursor)
        if recorded != stamp.cursor_change:
            reason = (
                "the store's feed records another change at the file's cursor (restored?)"
                if recorded
                else "the change feed no longer holds the file's cursor"
            )
            self._emit("snapshot file not used", {"reason": reason})
            return False
        caught_up = self._caught_up(_core.View(snapshot), stamp.cursor, stamp.cursor_change)
        if caught_up is None:
            return False
        view, cursor, cursor_change, changes = caught_up
        with self._lock:
            self._view = view
            self._cursor, self._cursor_change = cursor, cursor_change
            self._built_at = stamp.built_at
            self._build_seconds = stamp.build_seconds
            self._reachable = True
            self._last_poll_ok_at = time.time()
            if changes:
                self._last_change_at = time.time()
        self._emit("index loaded from file", {"incidents": view.incident_count,
                   "seconds": time.perf_counter() - started, "changes_replayed": changes,
                   "age_s": round(time.time() - stamp.built_at, 1)})  # fmt: skip
        return True

    def _caught_up(
        self, view: _core.View, cursor: str, cursor_change: str
    ) -> tuple[_core.View, str, str, int] | None:
        """The view with every change since `cursor`, applied in one step; None when the
        feed cannot serve the cursor any more, or holds more than a compaction's worth (a
        fresh build is then the cheaper way)."""
        changed: list[str] = []
        while True:
            batch = self._store.changes_since(cursor)
            if batch.reset:
                self._emit("snapshot file not used", {"reason": "the change feed was reset"})
                return None
            if not batch.changes:
                break
            changed += (c.incident_id for c in batch.changes)
            cursor = batch.cursor
            last = batch.changes[-1]
            cursor_change = change_name(last.incident_id, last.version)
            if len(changed) > self._compact_after:
                self._emit("snapshot file not used", {"reason": "too far behind the store"})
                return None
        if changed:
            view = self._with_changes(view, changed)
        return view, cursor, cursor_change, len(changed)

    def load(self) -> None:
        """A full load (from the snapshot file when the holder has none loaded yet and the
        file fits); the current view (if any) keeps serving until it succeeds."""
        if self._view is None and self._files is not None and self._restore():
            return
        view, cursor, cursor_change = self._build()
        with self._lock:
            self._view = view
            self._cursor, self._cursor_change = cursor, cursor_change
            self._built_at = time.time()
            self._reachable = True
        self.poll()  # what arrived during the build

    def poll(self) -> int:
        """Apply what the feed brought since the last poll; the number of changes applied."""
        try:
            if self._feed_rewritten():
                reason = "the feed records another change at the cursor"
                self._emit("change feed reset", {"cursor": self._cursor, "reason": reason})
                self.load()
                return 0
            applied = 0
            while True:
                batch = self._store.changes_since(self._cursor)
                if batch.reset:
                    self._emit("change feed reset", {"cursor": self._cursor})
                    self.load()
                    return applied
                if not batch.changes:
                    break
                applied += self._apply(batch)
            self._reachable = True
            self._last_poll_ok_at = time.time()
            self._last_error = ""
            return applied
        except StoreError as exc:
            self._reachable = False
            self._last_error = str(exc)
            self._emit("change feed error", {"error": str(exc)})
            return 0

    def _apply(self, batch: ChangeBatch) -> int:
        with self._lock:
            view = self._view
            if view is None:
                return 0
            self._view = self._with_changes(view, (c.incident_id for c in batch.changes))
            last = batch.changes[-1]
            self._cursor = batch.cursor
            self._cursor_change = change_name(last.incident_id, last.version)
            self._last_change_at = time.time()
        return len(batch.changes)

    def _feed_rewritten(self) -> bool:
        """Whether the feed, checked every `identity_check_s`, now records another change at
        the cursor than the one read there: a database restored from a backup and written
        past it, or replaced, would otherwise only be tailed from a position that means
        something else in it."""
        now = time.monotonic()
        if self._view is None or now < self._next_identity_check:
            return False
        self._next_identity_check = now + self._identity_check_s
        return self._store.change_at(self._cursor) != self._cursor_change

    def compact(self) -> None:
        """Build the next snapshot aside and swap it in, changes meanwhile included."""
        try:
            view, cursor, cursor_change = self._build()
        except Exception as exc:  # a failed build, whatever the cause, never replaces a view
            self._last_error = f"build failed: {exc}"
            self._emit("index build failed", {"error": str(exc)})
            return
        with self._lock:
            replay = self._store.changes_since(cursor, limit=1_000_000)
            if replay.reset:
                return  # the tailer's next poll reloads in full
            if replay.changes:
                view = self._with_changes(view, (c.incident_id for c in replay.changes))
            self._view = view
            if replay.changes:
                last = replay.changes[-1]
                cursor, cursor_change = replay.cursor, change_name(last.incident_id, last.version)
            self._cursor, self._cursor_change = cursor, cursor_change
            self._built_at = time.time()

    # --- background ----------------------------------------------------------------------

    def start(self) -> None:
        """Load (retrying while the store is down) and tail in the background."""
        thread = threading.Thread(target=self._run, name="index-tailer", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self._view is None:
            try:
                self.load()
            except StoreError as exc:
                self._reachable = False
                self._last_error = str(exc)
                self._emit("index load failed", {"error": str(exc)})
                self._stop.wait(1.0)
        while not self._stop.wait(self._poll_interval_s):
            self.poll()
            view = self._view
            if (
                view is not None
                and view.delta_changes >= self._compact_after
                and not self._compacting.is_set()
            ):
                self._compacting.set()
                threading.Thread(target=self._compact_in_background, daemon=True).start()

    def _compact_in_background(self) -> None:
        try:
            self.compact()
        finally:
            self._compacting.clear()

    def wait_loaded(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._view is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._view is not None

    def wait_stopped(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for `stop()`; whether it was called."""
        return self._stop.wait(timeout_s)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
