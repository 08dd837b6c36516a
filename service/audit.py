"""The audit trail: one record per verdict (each batch item its own), so a customs decision can
be reconstructed years later — who asked, when, about which item, what was answered, from
which index generation and policy.

Parties are recorded as keyed digests (HMAC-SHA256 under `audit_key`), never as names: an
auditor holding a party's particulars and the key can prove a record concerns it; a reader of
the trail alone learns nothing. Records are written to the incident store's own database (a
SQLite table, or a Redis Stream), off the hot path: request threads append to a bounded buffer
and one writer thread flushes it; a record that finds the buffer full is dropped and counted
(`preflight_audit_dropped_total`), never waited for.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, cast

import orjson
import redis

from index.model import Query, Result
from service.store.base import StoreError

log = logging.getLogger(__name__)
SECONDS_PER_YEAR = 365.25 * 24 * 3600
FLUSH_INTERVAL_S = 0.2


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

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> AuditRecord:
        data = orjson.loads(raw)
        data["party_digests"] = tuple(data["party_digests"])
        data["incident_ids"] = tuple(data["incident_ids"])
        return cls(**data)


def party_digest(key: bytes, name: str, business_name: str, country_code: str) -> str:
    text = "\x1f".join(" ".join(part.casefold().split()) for part in (name, business_name,
                                                                       country_code))  # fmt: skip
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def records_for(  # noqa: PLR0917 - the call's facts, all needed
    key: bytes, caller: str, request_id: str, rpc: str,
    queries: Sequence[Query], results: Sequence[Result], at: float,
) -> list[AuditRecord]:  # fmt: skip
    return [
        AuditRecord(
            at=at,
            caller=caller,
            request_id=request_id,
            rpc=rpc,
            item_id=query.item_id,
            party_digests=tuple(
                party_digest(key, p.name, p.business_name, p.country_code) for p in query.parties
            ),
            stoplight=result.stoplight.name,
            score=round(result.score, 2),
            incident_ids=tuple(
                dict.fromkeys(m.incident.incident_id for p in result.parties for m in p.matches)
            ),
            generation=result.generation,
            policy_version=result.policy_version,
        )
        for query, result in zip(queries, results, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    item_id: str = ""
    caller: str = ""
    since: float = 0.0
    until: float = float("inf")
    limit: int = 1000


class AuditSink(Protocol):
    def write(self, records: Sequence[AuditRecord]) -> None: ...
    def query(self, query: AuditQuery) -> list[AuditRecord]: ...
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

    def write(self, records: Sequence[AuditRecord]) -> None:
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO audit (at, caller, item_id, body) VALUES (?, ?, ?, ?)",
                [(r.at, r.caller, r.item_id, r.to_json()) for r in records],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
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
    retention use — within a flush interval of the verdict. Durability is the Redis
    server's (AOF `appendfsync always` for no loss)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
        self._stream = f"{prefix}audit"

    def write(self, records: Sequence[AuditRecord]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for r in records:
                pipe.xadd(self._stream, {"body": r.to_json()})
            pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"audit write failed: {exc}") from exc

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

    def purge(self, before: float) -> int:
        return int(
            self._redis.xtrim(self._stream, minid=f"{int(before * 1000)}", approximate=False)
        )

    def close(self) -> None:
        self._redis.close()


def open_audit(store_url: str, redis_prefix: str) -> AuditSink:
    if store_url.startswith("sqlite:///"):
        return SqliteAuditSink(store_url.removeprefix("sqlite:///"))
    return RedisAuditSink(store_url, redis_prefix)


class AuditLog:
    """The bounded buffer between request threads and the sink, and its writer thread."""

    def __init__(
        self,
        sink: AuditSink,
        max_pending: int,
        retention_years: float,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._sink = sink
        self._max_pending = max_pending
        self._retention_s = retention_years * SECONDS_PER_YEAR
        self._on_dropped = on_dropped
        self._on_written = on_written
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Never blocks on I/O: what does not fit the buffer is dropped and counted."""
        with self._lock:
            room = self._max_pending - len(self._pending)
            kept = records[: max(room, 0)]
            self._pending.extend(kept)
            lost = len(records) - len(kept)
            self.dropped += lost
        if lost:
            self._on_dropped(lost)

    def _take(self) -> list[AuditRecord]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def flush(self) -> None:
        """Write what is pending; on a store error keep it for the next flush (bounded)."""
        batch = self._take()
        if not batch:
            return
        try:
            self._sink.write(batch)
            self._on_written(len(batch))
        except StoreError as exc:
            log.warning("audit write failed; retrying", extra={"error": str(exc)})
            self.append(batch)  # back in front of the limit: drops count if the store stays out

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
