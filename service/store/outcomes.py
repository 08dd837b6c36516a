"""Officers' outcomes, durable beside the incidents: an SQLite table, or Redis keys.

One outcome per match and agency: (agency, item, party, incident) is its key, and recording
another outcome for the key replaces it. Every accepted write takes the next number of a
sequence, which orders listings (newest first) and tells readers whether anything changed
since they last loaded (`sequence()`). Parties are the audit trail's keyed digests, never
names.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
import redis

from service.store.base import StoreError
from service.store.redis_connect import RedisOptions, check_replicated, connect
from service.store.sqlite import thread_connection


class Outcome(StrEnum):
    SEIZED = "SEIZED"
    CLEARED_FALSE_MATCH = "CLEARED_FALSE_MATCH"
    CLEARED_OTHER = "CLEARED_OTHER"


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    agency: str
    caller: str  # who recorded it
    item_id: str
    party_index: int
    party_digest: str  # the audit trail's keyed digest of the screened party
    incident_id: str
    incident_version: int  # the version the screen matched
    outcome: Outcome
    at: float  # unix seconds of the recording
    stoplight: str  # the match's, at the screen
    reason_codes: tuple[str, ...]  # the match's, at the screen
    policy_version: str  # that scored the screen

    @property
    def key(self) -> str:
        return "\x1f".join((self.agency, self.item_id, str(self.party_index), self.incident_id))

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> OutcomeRecord:
        data = orjson.loads(raw)
        data["outcome"] = Outcome(data["outcome"])
        data["reason_codes"] = tuple(data["reason_codes"])
        return cls(**data)


def same_recording(stored: OutcomeRecord, outcome: OutcomeRecord, renew_before: float) -> bool:
    """Whether `outcome` only repeats `stored` (which then stands)."""
    return (
        stored.outcome is outcome.outcome
        and stored.party_digest == outcome.party_digest
        and stored.incident_version == outcome.incident_version
        and stored.at >= renew_before
    )


@dataclass(frozen=True, slots=True)
class Stored:
    """An outcome as the store holds it, with its place in the sequence."""

    sequence: int
    record: OutcomeRecord


class OutcomeStore(Protocol):
    def record(
        self, outcome: OutcomeRecord, renew_before: float = 0.0
    ) -> tuple[Stored, bool, bool]:
        """Store `outcome` under its key, durably; what is stored now, whether it changed, and
        whether it is the key's first outcome (nothing was stored under it).
        The same recording again (the same outcome of the same party digest and incident
        version, first recorded at or after `renew_before`) keeps the first; anything else
        replaces it."""
        ...

    def page(self, agency: str | None, item_id: str, before: int, limit: int) -> list[Stored]:
        """Up to `limit` outcomes of `agency` (None = every agency), of `item_id` (empty =
        any), with sequence numbers below `before` (0 = no bound), newest first."""
        ...

    def all(self) -> list[Stored]:
        """Every outcome, oldest first."""
        ...

    def suppressing(self, since: float) -> list[OutcomeRecord]:
        """The outcomes that can suppress or lift a suppression (CLEARED_FALSE_MATCH and
        SEIZED) recorded at or after `since`, in no particular order."""
        ...

    def sequence(self) -> int:
        """The number of the last accepted write (0 before any)."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    agency TEXT NOT NULL,
    item_id TEXT NOT NULL,
    body BLOB NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outcomes_agency ON outcomes (agency, seq);
CREATE INDEX IF NOT EXISTS outcomes_item ON outcomes (item_id, seq);
"""
# A table made before `outcome` and `at` were columns gets them, filled from the bodies.
_ADD_COLUMNS = """
BEGIN IMMEDIATE;
ALTER TABLE outcomes ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE outcomes ADD COLUMN at REAL NOT NULL DEFAULT 0;
UPDATE outcomes SET outcome = json_extract(CAST(body AS TEXT), '$.outcome'),
                    at = json_extract(CAST(body AS TEXT), '$.at');
COMMIT;
"""
_SUPPRESSING_INDEX = "CREATE INDEX IF NOT EXISTS outcomes_outcome ON outcomes (outcome, at)"
SUPPRESSING = (Outcome.CLEARED_FALSE_MATCH, Outcome.SEIZED)


class SqliteOutcomeStore:
    """The `outcomes` table in the store's database (WAL, synchronous=FULL); a replaced
    outcome is deleted and inserted again, so its row number is the next in the sequence."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._local = threading.local()
        db = self._db()
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(outcomes)")}
        if "outcome" not in columns:
            try:
                db.executescript(_ADD_COLUMNS)
            except sqlite3.OperationalError:  # another process added them meanwhile
                if db.in_transaction:
                    db.execute("ROLLBACK")
        db.execute(_SUPPRESSING_INDEX)

    def _db(self) -> sqlite3.Connection:
        return thread_connection(self._local, self._path)

    def record(
        self, outcome: OutcomeRecord, renew_before: float = 0.0
    ) -> tuple[Stored, bool, bool]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT seq, body FROM outcomes WHERE key = ?", (outcome.key,)
            ).fetchone()
            if row is not None:
                stored = Stored(int(row[0]), OutcomeRecord.from_json(row[1]))
                if same_recording(stored.record, outcome, renew_before):
                    db.execute("COMMIT")
                    return stored, False, False
                db.execute("DELETE FROM outcomes WHERE key = ?", (outcome.key,))
            cursor = db.execute(
                "INSERT INTO outcomes (key, agency, item_id, body, outcome, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (outcome.key, outcome.agency, outcome.item_id, outcome.to_json(),
                 outcome.outcome.value, outcome.at),
            )  # fmt: skip
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"outcome write failed: {exc}") from exc
        return Stored(int(cursor.lastrowid or 0), outcome), True, row is None

    def page(self, agency: str | None, item_id: str, before: int, limit: int) -> list[Stored]:
        clauses, values = ["seq < ?"], [before or 2**62]
        if agency is not None:
            clauses.append("agency = ?")
            values.append(agency)  # type: ignore[arg-type]
        if item_id:
            clauses.append("item_id = ?")
            values.append(item_id)  # type: ignore[arg-type]
        rows = self._db().execute(
            f"SELECT seq, body FROM outcomes WHERE {' AND '.join(clauses)} "
            "ORDER BY seq DESC LIMIT ?",
            (*values, limit),
        )
        return [Stored(int(seq), OutcomeRecord.from_json(body)) for seq, body in rows]

    def all(self) -> list[Stored]:
        rows = self._db().execute("SELECT seq, body FROM outcomes ORDER BY seq")
        return [Stored(int(seq), OutcomeRecord.from_json(body)) for seq, body in rows]

    def suppressing(self, since: float) -> list[OutcomeRecord]:
        try:
            query = "SELECT body FROM outcomes WHERE outcome IN (?, ?) AND at >= ?"
            rows = self._db().execute(query, (*(o.value for o in SUPPRESSING), since)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"outcome read failed: {exc}") from exc
        return [OutcomeRecord.from_json(body) for (body,) in rows]

    def sequence(self) -> int:
        row = self._db().execute("SELECT seq FROM sqlite_sequence WHERE name = 'outcomes'")
        found = row.fetchone()
        return int(found[0]) if found else 0

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# KEYS: the outcomes hash, the sequence counter, the order set, the agency's order set, the
# suppressing set (key by recorded time, CLEARED_FALSE_MATCH and SEIZED only).
# ARGV: the key, the outcome, the body, the party digest, the incident version, renew_before,
# the recorded time. Returns {sequence, stored body, changed (0/1), first (0/1)}.
# (see `same_recording`)
_RECORD_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local was = cjson.decode(current)
  if was['outcome'] == ARGV[2] and was['party_digest'] == ARGV[4]
      and tonumber(was['incident_version']) == tonumber(ARGV[5])
      and tonumber(was['at']) >= tonumber(ARGV[6]) then
    return {tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1])), current, 0, 0}
  end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
if ARGV[2] == 'CLEARED_FALSE_MATCH' or ARGV[2] == 'SEIZED' then
  redis.call('ZADD', KEYS[5], ARGV[7], ARGV[1])
else
  redis.call('ZREM', KEYS[5], ARGV[1])
end
if current then
  return {seq, ARGV[3], 1, 0}
end
return {seq, ARGV[3], 1, 1}
"""


class RedisOutcomeStore:
    """`{prefix}outcomes` (a hash: key → JSON), `{prefix}outcomes:seq` (the sequence),
    `{prefix}outcomes:order` and `{prefix}outcomes:agency:{agency}` (sorted sets: key by
    sequence number) and `{prefix}outcomes:suppressing` (a sorted set: the key of each
    CLEARED_FALSE_MATCH or SEIZED by its recorded time), written together by one script;
    acknowledged after WAIT when the store waits for replicas, as incident writes are."""

    def __init__(self, url: str, prefix: str, options: RedisOptions | None = None) -> None:
        self._options = options or RedisOptions()
        self._redis = connect(url, self._options)
        self._hash = f"{prefix}outcomes"
        self._seq = f"{prefix}outcomes:seq"
        self._order = f"{prefix}outcomes:order"
        self._agency_prefix = f"{prefix}outcomes:agency:"
        self._suppressing = f"{prefix}outcomes:suppressing"
        self._record = self._redis.register_script(_RECORD_SCRIPT)
        self._fill_suppressing()

    def _fill_suppressing(self) -> None:
        """Outcomes recorded before the suppressing set was kept are added to it, once."""
        if self._call("exists", self._redis.exists, self._suppressing) or not self._call(
            "exists", self._redis.exists, self._hash
        ):
            return
        bodies = cast(dict[bytes, bytes], self._call("hgetall", self._redis.hgetall, self._hash))
        found = {key: r.at for key, body in bodies.items()
                 if (r := OutcomeRecord.from_json(body)).outcome in SUPPRESSING}  # fmt: skip
        if found:
            self._call("zadd", self._redis.zadd, self._suppressing, found)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreError(f"redis {what} failed: {exc}") from exc

    def record(
        self, outcome: OutcomeRecord, renew_before: float = 0.0
    ) -> tuple[Stored, bool, bool]:
        keys = [self._hash, self._seq, self._order, self._agency_prefix + outcome.agency,
                self._suppressing]  # fmt: skip
        args = [outcome.key, outcome.outcome.value, outcome.to_json(), outcome.party_digest,
                outcome.incident_version, repr(float(renew_before)), repr(outcome.at)]  # fmt: skip
        seq, body, changed, first = self._call("outcome write", self._record_replicated, keys, args)
        return Stored(int(seq), OutcomeRecord.from_json(body)), bool(changed), bool(first)

    def _record_replicated(self, keys: list[str], args: list[Any]) -> Any:
        if self._options.wait_replicas <= 0:
            return self._record(keys=keys, args=args)
        pipe = self._redis.pipeline(transaction=False)
        self._record(keys=keys, args=args, client=pipe)
        pipe.wait(self._options.wait_replicas, self._options.wait_timeout_ms)
        reply, replicas = pipe.execute()
        refusal = check_replicated(int(replicas), self._options)
        if refusal:
            raise StoreError(f"redis outcome write not acknowledged: {refusal}")
        return reply

    def _bodies(self, keys: Sequence[bytes], scores: Sequence[float]) -> list[Stored]:
        if not keys:
            return []
        bodies = cast(list[bytes | None], self._call("hmget", self._redis.hmget, self._hash, keys))
        return [
            Stored(int(score), OutcomeRecord.from_json(body))
            for score, body in zip(scores, bodies, strict=True)
            if body is not None
        ]

    def page(self, agency: str | None, item_id: str, before: int, limit: int) -> list[Stored]:
        order = self._order if agency is None else self._agency_prefix + agency
        found: list[Stored] = []
        upper = f"({before}" if before else "+inf"
        while len(found) < limit:
            rows = cast(
                list[tuple[bytes, float]],
                self._call("page", self._redis.zrevrangebyscore, order, upper, "-inf",
                           start=0, num=max(limit, 100), withscores=True),
            )  # fmt: skip
            if not rows:
                break
            stored = self._bodies([k for k, _ in rows], [s for _, s in rows])
            found += [s for s in stored if not item_id or s.record.item_id == item_id]
            upper = f"({int(rows[-1][1])}"
        return found[:limit]

    def all(self) -> list[Stored]:
        rows = cast(
            list[tuple[bytes, float]],
            self._call("all", self._redis.zrange, self._order, 0, -1, withscores=True),
        )
        return self._bodies([k for k, _ in rows], [s for _, s in rows])

    def suppressing(self, since: float) -> list[OutcomeRecord]:
        keys = cast(
            list[bytes],
            self._call("suppressing", self._redis.zrangebyscore, self._suppressing, since, "+inf"),
        )
        if not keys:
            return []
        bodies = cast(list[bytes | None], self._call("hmget", self._redis.hmget, self._hash, keys))
        return [OutcomeRecord.from_json(body) for body in bodies if body is not None]

    def sequence(self) -> int:
        return int(self._call("sequence", self._redis.get, self._seq) or 0)

    def close(self) -> None:
        self._redis.close()


def open_outcomes(
    store_url: str, redis_prefix: str, redis_options: RedisOptions | None = None
) -> OutcomeStore:
    if store_url.startswith("sqlite:///"):
        return SqliteOutcomeStore(store_url.removeprefix("sqlite:///"))
    return RedisOutcomeStore(store_url, redis_prefix, redis_options)
