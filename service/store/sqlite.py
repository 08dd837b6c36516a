"""The embedded default store: SQLite (stdlib), WAL journal, synchronous=FULL.

Two tables: `incidents` (id, version, JSON document) and the append-only `changes` log whose
row id is the cursor. A write and its log entry commit in one transaction, so an acknowledged
write is on disk (synchronous=FULL) and visible to every process tailing the log.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from index.model import Incident
from service.codec import incident_to_json
from service.store.base import (
    MAX_PAGE,
    MAX_PUT_BATCH,
    Change,
    ChangeBatch,
    OnInvalid,
    PutOutcome,
    RawDocument,
    StoreError,
    change_name,
    decode,
    iter_pages,
    iter_raw_pages,
    split_points,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def thread_connection(local: threading.local, path: str | Path) -> sqlite3.Connection:
    """This thread's connection to the database at `path`, opened on its first use: autocommit
    (transactions are explicit), WAL, synchronous=FULL."""
    db: sqlite3.Connection | None = getattr(local, "db", None)
    if db is None:
        try:
            db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        local.db = db
    return db


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        with self._connection() as db:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('store_id', ?)",
                (uuid.uuid4().hex,),
            )

    def _connection(self) -> sqlite3.Connection:
        return thread_connection(self._local, self.path)

    def put(self, incidents: Sequence[Incident]) -> list[PutOutcome]:
        if len(incidents) > MAX_PUT_BATCH:
            raise ValueError(f"at most {MAX_PUT_BATCH} incidents per put")
        db = self._connection()
        outcomes: list[PutOutcome] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for incident in incidents:
                row = db.execute(
                    "SELECT version FROM incidents WHERE incident_id = ?", (incident.incident_id,)
                ).fetchone()
                if row is not None and row[0] >= incident.version:
                    same = row[0] == incident.version
                    outcomes.append(PutOutcome.UNCHANGED if same else PutOutcome.STALE)
                    continue
                db.execute(
                    "INSERT INTO incidents (incident_id, version, body) VALUES (?, ?, ?) "
                    "ON CONFLICT(incident_id) DO UPDATE SET version = excluded.version, "
                    "body = excluded.body",
                    (incident.incident_id, incident.version, incident_to_json(incident)),
                )
                db.execute(
                    "INSERT INTO changes (incident_id, version) VALUES (?, ?)",
                    (incident.incident_id, incident.version),
                )
                outcomes.append(PutOutcome.CREATED if row is None else PutOutcome.UPDATED)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"write failed: {exc}") from exc
        return outcomes

    def get(self, incident_id: str) -> Incident | None:
        return self.get_many([incident_id]).get(incident_id)

    def documents(self, incident_ids: Sequence[str]) -> list[RawDocument]:
        documents: list[RawDocument] = []
        ids = list(dict.fromkeys(incident_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            documents += self._connection().execute(
                f"SELECT incident_id, body FROM incidents WHERE incident_id IN ({marks})", chunk
            )
        return documents

    def get_many(
        self, incident_ids: Sequence[str], on_invalid: OnInvalid | None = None
    ) -> dict[str, Incident]:
        return {i.incident_id: i for i in decode(self.documents(incident_ids), on_invalid)}

    def iter_documents(self, after: str = "", upto: str | None = None) -> Iterator[RawDocument]:
        return iter_raw_pages(self._page_raw, after, upto)

    def iter_all(
        self, on_invalid: OnInvalid | None = None, after: str = "", upto: str | None = None
    ) -> Iterator[Incident]:
        return iter_pages(self._page_raw, on_invalid, after, upto)

    def split_points(self, parts: int) -> list[str]:
        def id_at(rank: int) -> str:
            row = self._connection().execute(
                "SELECT incident_id FROM incidents ORDER BY incident_id LIMIT 1 OFFSET ?", (rank,)
            )
            return str(row.fetchone()[0])

        return split_points(self.count(), id_at, parts)

    def _page_raw(self, after_id: str, limit: int) -> list[RawDocument]:
        return list(
            self._connection().execute(
                "SELECT incident_id, body FROM incidents WHERE incident_id > ? "
                "ORDER BY incident_id LIMIT ?",
                (after_id, min(limit, MAX_PAGE)),
            )
        )

    def page(self, after_id: str, limit: int) -> list[Incident]:
        return decode(self._page_raw(after_id, limit), None)

    def count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM incidents").fetchone()[0])

    def current_cursor(self) -> str:
        row = self._connection().execute("SELECT MAX(seq) FROM changes").fetchone()
        return str(row[0] or 0)

    def change_at(self, cursor: str) -> str:
        if not cursor.isdigit():
            return ""
        row = (
            self._connection()
            .execute("SELECT incident_id, version FROM changes WHERE seq = ?", (int(cursor),))
            .fetchone()
        )
        return change_name(row[0], row[1]) if row else ""

    def store_id(self) -> str:
        row = self._connection().execute("SELECT value FROM meta WHERE name = 'store_id'")
        return str(row.fetchone()[0])

    def changes_since(self, cursor: str, limit: int = MAX_PAGE) -> ChangeBatch:
        try:
            position = int(cursor)
        except ValueError:
            return ChangeBatch((), self.current_cursor(), reset=True)
        latest = int(self.current_cursor())
        if position > latest:  # the log went backwards: a restored or replaced database
            return ChangeBatch((), str(latest), reset=True)
        rows = (
            self._connection()
            .execute(
                "SELECT seq, incident_id, version FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (position, min(limit, MAX_PAGE)),
            )
            .fetchall()
        )
        changes = tuple(Change(str(seq), iid, version) for seq, iid, version in rows)
        return ChangeBatch(changes, changes[-1].cursor if changes else str(position))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
