"""The audit trail: one record per verdict (each batch item its own), so a customs decision can
be reconstructed years later — who asked, when, about which item, what was answered, from
which index generation and policy.

Each record also names the matches of its answer (party, incident id and version, stoplight,
reason codes): an officer's outcome recorded later (service.outcomes) is resolved against
them. Recording an outcome is itself audited (`rpc` RecordOutcome, `outcome` set).

Parties are recorded as keyed digests (HMAC-SHA256 under `audit_key`), never as names: an
auditor holding a party's particulars and the key can prove a record concerns it; a reader of
the trail alone learns nothing. Records are written to the incident store's own database (a
SQLite table, or a Redis Stream), off the hot path: request threads append to a bounded buffer
and one writer thread flushes it; a record that finds the buffer full is dropped and counted
(`preflight_audit_dropped_total`), never waited for.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, cast

import orjson
import redis

from index import _core
from service.store.base import StoreError
from service.store.redis_connect import RedisOptions, check_replicated, connect

log = logging.getLogger(__name__)
SECONDS_PER_YEAR = 365.25 * 24 * 3600
FLUSH_INTERVAL_S = 0.2
MATCHED_SCREENS_KEPT = 1000  # per item (Redis): as many as an outcome's lookup reads


@dataclass(frozen=True, slots=True)
class AuditMatch:
    """A match of an audited answer: which party matched which version of an incident."""

    party: int  # the party's index in the request (and in party_digests)
    incident_id: str
    version: int
    stoplight: str
    reason_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float  # unix seconds
    caller: str
    request_id: str
    rpc: str
    item_id: str
    party_digests: tuple[str, ...]
    stoplight: str
    score: float
    incident_ids: tuple[str, ...]
    generation: int
    policy_version: str
    matches: tuple[AuditMatch, ...] = ()  # absent from records written before outcomes
    outcome: str = ""  # a RecordOutcome record's outcome; empty for verdicts

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> AuditRecord:
        data = orjson.loads(raw)
        data["party_digests"] = tuple(data["party_digests"])
        data["incident_ids"] = tuple(data["incident_ids"])
        data["matches"] = tuple(
            AuditMatch(**{**m, "reason_codes": tuple(m["reason_codes"])})
            for m in data.get("matches", ())
        )
        return cls(**data)

    @property
    def is_verdict(self) -> bool:
        return not self.outcome


def party_digest(key: bytes, name: str, business_name: str, country_code: str) -> str:
    text = "\x1f".join(" ".join(part.casefold().split()) for part in (name, business_name,
                                                                       country_code))  # fmt: skip
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Screened:
    """One call's verdicts, waiting to be audited: the core's summary and the call's facts."""

    summary: _core.Summary
    at: float
    caller: str
    request_id: str
    rpc: str


# A stored audit record: (at, caller, item id, the AuditRecord's JSON, whether it names
# matches).
AuditRow = tuple[float, str, str, bytes, bool]


def rows_of(key: bytes, screened: Screened) -> list[AuditRow]:
    """The audit rows of a call's verdicts (their party digests keyed with `key`)."""
    records = screened.summary.audit_records(
        key, screened.at, screened.caller, screened.request_id, screened.rpc
    )
    return [
        (screened.at, screened.caller, item_id, body, matched) for item_id, body, matched in records
    ]


def row_of(record: AuditRecord) -> AuditRow:
    return (record.at, record.caller, record.item_id, record.to_json(), bool(record.matches))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    item_id: str = ""
    caller: str = ""
    since: float = 0.0
    until: float = float("inf")
    limit: int = 1000


class AuditSink(Protocol):
    def write(self, rows: Sequence[AuditRow]) -> None: ...
    def query(self, query: AuditQuery) -> list[AuditRecord]: ...
    def matched_screens(
        self, item_id: str, callers: Collection[str], since: float, limit: int
    ) -> list[AuditRecord]:
        """The newest `limit` verdicts on `item_id` by `callers` since `since` that name
        matches, newest first."""
        ...

    def purge(self, before: float) -> int: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    caller TEXT NOT NULL,
    item_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_item ON audit (item_id, at);
CREATE INDEX IF NOT EXISTS audit_caller ON audit (caller, at);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""


class SqliteAuditSink:
    """The `audit` table beside the incidents (WAL, synchronous=FULL), one transaction per
    flush."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def write(self, rows: Sequence[AuditRow]) -> None:
        db: sqlite3.Connection | None = None
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO audit (at, caller, item_id, body) VALUES (?, ?, ?, ?)",
                [row[:4] for row in rows],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            # A failed write must not leave its transaction open: it would hold the write lock,
            # so every later write (this connection's and other processes') would fail.
            if db is not None and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise StoreError(f"audit write failed: {exc}") from exc

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        clauses, values = ["at >= ?", "at <= ?"], [query.since, min(query.until, 1e18)]
        if query.item_id:
            clauses.append("item_id = ?")
            values.append(query.item_id)  # type: ignore[arg-type]
        if query.caller:
            clauses.append("caller = ?")
            values.append(query.caller)  # type: ignore[arg-type]
        rows = self._db().execute(
            f"SELECT body FROM audit WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (*values, query.limit),
        )
        return [AuditRecord.from_json(body) for (body,) in rows]

    def matched_screens(
        self, item_id: str, callers: Collection[str], since: float, limit: int
    ) -> list[AuditRecord]:
        found: list[AuditRecord] = []
        if not callers:
            return found
        marks = ", ".join("?" * len(callers))
        rows = self._db().execute(
            f"SELECT body FROM audit WHERE item_id = ? AND caller IN ({marks}) AND at >= ? "
            "ORDER BY seq DESC",
            (item_id, *sorted(callers), since),
        )
        for (body,) in rows:
            record = AuditRecord.from_json(body)
            if record.matches and record.is_verdict:
                found.append(record)
                if len(found) == limit:
                    break
        return found

    def purge(self, before: float) -> int:
        return int(self._db().execute("DELETE FROM audit WHERE at < ?", (before,)).rowcount)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class RedisAuditSink:
    """A Stream (`{prefix}audit`) written with one pipelined XADD per record; entry ids are
    Redis's write time (every worker appends to the same stream), which time queries and
    retention use — within a flush interval of the verdict. A verdict that names matches is
    also appended to its caller's list for the item (`{prefix}audit:matched:{length of the
    caller's name}:{caller}:{item id}`, so another caller's screens never push it out), trimmed
    to the newest MATCHED_SCREENS_KEPT and expiring `matched_ttl_s` after the last such verdict
    (the outcome window), where outcomes find it without reading the stream.
    Durability is the Redis server's (AOF `appendfsync always` for no loss); a flush waits for
    the replicas incident writes wait for (`RedisOptions.wait_replicas`) and warns when they
    do not confirm it (the records are on the primary: written again, they would be there
    twice)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        options: RedisOptions | None = None,
        matched_ttl_s: float = 90 * 24 * 3600,
    ) -> None:
        self._options = options or RedisOptions()
        self._redis = connect(url, self._options)
        self._stream = f"{prefix}audit"
        self._matched_ttl_s = max(int(matched_ttl_s), 1)

    def _matched_key(self, caller: str, item_id: str) -> str:
        return f"{self._stream}:matched:{len(caller)}:{caller}:{item_id}"

    def write(self, rows: Sequence[AuditRow]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for _, caller, item_id, body, matched in rows:
                pipe.xadd(self._stream, {"body": body})
                if matched:
                    key = self._matched_key(caller, item_id)
                    pipe.rpush(key, body)
                    pipe.ltrim(key, -MATCHED_SCREENS_KEPT, -1)
                    pipe.expire(key, self._matched_ttl_s)
            if self._options.wait_replicas > 0:
                pipe.wait(self._options.wait_replicas, self._options.wait_timeout_ms)
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"audit write failed: {exc}") from exc
        if self._options.wait_replicas > 0:
            shortfall = check_replicated(int(replies[-1]), self._options)
            if shortfall:  # written on the primary: writing them again would duplicate them
                log.warning("audit records not confirmed on replicas",
                            extra={"records": len(rows), "error": shortfall})  # fmt: skip

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        start = f"{int(query.since * 1000)}"
        end = "+" if query.until == float("inf") else f"{int(query.until * 1000)}"
        found: list[AuditRecord] = []
        while len(found) < query.limit:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self._redis.xrange(self._stream, start, end, count=1000),
            )
            if not entries:
                break
            for _, fields in entries:
                record = AuditRecord.from_json(fields[b"body"])
                if (not query.item_id or record.item_id == query.item_id) and (
                    not query.caller or record.caller == query.caller
                ):
                    found.append(record)
            start = f"({entries[-1][0].decode()}"
        return found[: query.limit]

    def matched_screens(
        self, item_id: str, callers: Collection[str], since: float, limit: int
    ) -> list[AuditRecord]:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for caller in sorted(callers):
                pipe.lrange(self._matched_key(caller, item_id), -limit, -1)
            lists = cast(list[list[bytes]], pipe.execute())
        except redis.RedisError as exc:
            raise StoreError(f"audit read failed: {exc}") from exc
        records = [AuditRecord.from_json(body) for bodies in lists for body in bodies]
        records.sort(key=lambda r: r.at, reverse=True)
        return [r for r in records if r.is_verdict and r.at >= since][:limit]

    def purge(self, before: float) -> int:
        return int(
            self._redis.xtrim(self._stream, minid=f"{int(before * 1000)}", approximate=False)
        )

    def close(self) -> None:
        self._redis.close()


def open_audit(
    store_url: str,
    redis_prefix: str,
    redis_options: RedisOptions | None = None,
    outcome_window_days: float = 90.0,
) -> AuditSink:
    """The audit trail in the store `store_url` names; verdicts with matches stay findable
    for outcomes `outcome_window_days` (Redis keeps a per-item list that long)."""
    if store_url.startswith("sqlite:///"):
        return SqliteAuditSink(store_url.removeprefix("sqlite:///"))
    return RedisAuditSink(store_url, redis_prefix, redis_options, outcome_window_days * 86400)


class AuditLog:
    """The bounded buffer between request threads and the sink, and its writer thread. Calls'
    verdicts wait as the core's summaries; the writer makes their records (digests keyed with
    `key`) and writes them."""

    def __init__(
        self,
        sink: AuditSink,
        max_pending: int,
        retention_years: float,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
        *,
        key: bytes = b"",
    ) -> None:
        self._sink = sink
        self._max_pending = max_pending
        self._retention_s = retention_years * SECONDS_PER_YEAR
        self._on_dropped = on_dropped
        self._on_written = on_written
        self._key = key
        self._pending: list[Screened] = []
        self._pending_items = 0
        self._unwritten: list[AuditRow] = []  # made, but the sink refused them
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def append(self, screened: Screened) -> None:
        """Never blocks on I/O: a call whose verdicts do not fit the buffer is dropped and
        counted."""
        items = screened.summary.items
        with self._lock:
            kept = self._pending_items + len(self._unwritten) + items <= self._max_pending
            if kept:
                self._pending.append(screened)
                self._pending_items += items
            else:
                self.dropped += items
        if not kept:
            self._on_dropped(items)

    def _take(self) -> list[AuditRow]:
        with self._lock:
            taken, self._pending, self._pending_items = self._pending, [], 0
            rows, self._unwritten = self._unwritten, []
        for screened in taken:
            rows += rows_of(self._key, screened)
        return rows

    def flush(self) -> None:
        """Write what is pending; on a store error keep it for the next flush (bounded)."""
        rows = self._take()
        if not rows:
            return
        try:
            self._sink.write(rows)
            self._on_written(len(rows))
        except StoreError as exc:
            log.warning("audit write failed; retrying", extra={"error": str(exc)})
            with self._lock:
                room = max(self._max_pending - self._pending_items, 0)
                self._unwritten = rows[:room] + self._unwritten
                lost = len(rows) - min(room, len(rows))
                self.dropped += lost
            if lost:
                self._on_dropped(lost)

    def _run(self) -> None:
        last_purge = 0.0
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()
            if time.time() - last_purge > 3600:
                last_purge = time.time()
                try:
                    self._sink.purge(time.time() - self._retention_s)
                except StoreError as exc:
                    log.warning("audit purge failed", extra={"error": str(exc)})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        self._sink.close()

    def query(self, query: AuditQuery) -> Iterator[AuditRecord]:
        yield from self._sink.query(query)

    def matched_screens(
        self, item_id: str, callers: Collection[str], since: float, limit: int
    ) -> list[AuditRecord]:
        """The newest verdicts on `item_id` by `callers` since `since` that name matches,
        newest first (this process's pending records are written first)."""
        self.flush()
        return self._sink.matched_screens(item_id, callers, since, limit)

    def record(self, record: AuditRecord) -> None:
        """Write one record now (raises StoreError): for calls that must be audited before
        they are answered."""
        self._sink.write([row_of(record)])
        self._on_written(1)
