"""Screeners an integrator would build by hand on PostGIS + pg_trgm or on Redis.

Each finds candidate incidents with its store's own indexes, fetches their parties' records
(normalised once, at load time) and hands them to `index.rescore.screen_records`: the same
evidence, weights and stoplights as Preflight, so the comparison is about finding candidates.

- PostGIS, tuned: per query party one statement: the nearest parties within the policy's
  radius (geography GiST, `ST_DWithin` + KNN `<->`), the `name_candidates` nearest names by
  trigram distance (GiST `gist_trgm_ops`, KNN `ORDER BY name <-> $1 LIMIT k`), and identifier
  equality (B-tree); a whole batch goes in one pipeline.
- PostGIS, GIN: the same with a GIN trigram index, `name % $1` ranked by similarity, which
  a spot check here found faster than the GiST KNN on small tables.
- PostGIS, naive: the single query `ST_DWithin(...) OR name % $1` (+ identifiers).
- Redis: `GEOSEARCH` by radius, an exact key per normalised name (tokens sorted) and per
  identifier, and `MGET` of the records; one pipeline per batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from itertools import islice
from typing import Any

import orjson
import psycopg
import redis

from index.model import Incident, Party, Query, Result
from index.normalize import normalize_name
from index.policy import Policy
from index.rescore import (
    PartyRecord,
    party_records,
    record_from_dict,
    record_to_dict,
    screen_records,
)
from index.snapshot import identifiers_of
from service.refresh import IndexStatus

LOAD_CHUNK = 5000


def _chunks(incidents: Iterable[Incident], size: int) -> Iterator[list[Incident]]:
    it = iter(incidents)
    while chunk := list(islice(it, size)):
        yield chunk


def name_key(raw: str) -> str:
    """The exact-match key of a name: its normalised core tokens, sorted."""
    return " ".join(sorted(normalize_name(raw).core_tokens))


def _identifier_keys(party: Party) -> list[str]:
    return [f"{kind}:{value}" for kind, value in identifiers_of(party)]


def _record_keys(record: PartyRecord) -> list[str]:
    return [f"{kind}:{value}" for kind, value in record.identifiers]


def _document(records: list[PartyRecord]) -> bytes:
    return orjson.dumps([record_to_dict(r) for r in records])


def _records(document: bytes) -> list[PartyRecord]:
    return [record_from_dict(d) for d in orjson.loads(document)]


class BaselineScreener:
    """Candidate lookup left to the subclass; re-scoring and status shared."""

    def __init__(self, incident_count: int) -> None:
        self.incident_count = incident_count
        self._loaded_at = time.time()

    def candidates(self, parties: Sequence[Party], policy: Policy) -> list[list[PartyRecord]]:
        raise NotImplementedError

    def screen(self, query: Query, policy: Policy, as_of: date) -> Result:
        return self.screen_many([query], policy, as_of)[0]

    def screen_many(self, queries: Sequence[Query], policy: Policy, as_of: date) -> list[Result]:
        found = self.candidates([p for q in queries for p in q.parties], policy)
        results = []
        position = 0
        for query in queries:
            mine = found[position : position + len(query.parties)]
            position += len(query.parties)
            results.append(
                screen_records(query, mine, policy, as_of, incident_count=self.incident_count)
            )
        return results

    # the ScreenerSource side, so the same gRPC servicer can serve it
    @property
    def view(self) -> BaselineScreener:
        return self

    def status(self) -> IndexStatus:
        return IndexStatus(
            loaded=True, generation=1, incidents=self.incident_count, delta_changes=0,
            store_cursor="", built_at=self._loaded_at, build_seconds=0.0,
            last_change_applied_at=0.0, last_poll_ok_at=self._loaded_at, store_reachable=True,
            last_error="", invalid_documents=0,
        )  # fmt: skip


# --- Redis ---------------------------------------------------------------------------------


class RedisLoader:
    """Writes records, the geo set and the name and identifier keys, chunk by chunk."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.loaded = 0

    def add(self, incidents: Iterable[Incident]) -> None:
        p = self._prefix
        for chunk in _chunks(incidents, LOAD_CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for incident in chunk:
                records = party_records(incident)
                if not records:
                    continue
                incident_id = incident.incident_id
                pipe.set(f"{p}rec:{incident_id}", _document(records))
                for i, (party, record) in enumerate(zip(incident.parties, records, strict=True)):
                    if record.lat is not None and record.lon is not None:
                        pipe.geoadd(f"{p}geo", (record.lon, record.lat, f"{incident_id}\x1f{i}"))
                    for raw in party.names():
                        if key := name_key(raw):
                            pipe.sadd(f"{p}nm:{key}", incident_id)
                    for key in _record_keys(record):
                        pipe.sadd(f"{p}id:{key}", incident_id)
                self.loaded += 1
            pipe.execute()

    def finish(self) -> int:
        self._client.set(f"{self._prefix}count", self.loaded)
        return self.loaded


class RedisScreener(BaselineScreener):
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        super().__init__(int(client.get(f"{prefix}count") or 0))

    def candidates(self, parties: Sequence[Party], policy: Policy) -> list[list[PartyRecord]]:
        p = self._prefix
        pipe = self._client.pipeline(transaction=False)
        shape: list[int] = []  # replies per party
        for party in parties:
            replies = 0
            if party.location is not None:
                pipe.geosearch(
                    f"{p}geo", longitude=party.location.lon, latitude=party.location.lat,
                    radius=policy.near_radius_m, unit="m", sort="ASC",
                    count=policy.geo_candidates,
                )  # fmt: skip
                replies += 1
            keys = [f"{p}nm:{k}" for raw in party.names() if (k := name_key(raw))]
            keys += [f"{p}id:{k}" for k in _identifier_keys(party)]
            if keys:
                pipe.sunion(keys)
                replies += 1
            shape.append(replies)
        answers = iter(pipe.execute())
        wanted: list[set[str]] = []
        for count in shape:
            ids: set[str] = set()
            for reply in islice(answers, count):
                ids.update(m.decode().split("\x1f")[0] for m in reply)
            wanted.append(ids)
        every = sorted(set().union(*wanted))
        documents: list[Any] = self._client.mget([f"{p}rec:{i}" for i in every]) if every else []
        records = {i: _records(d) for i, d in zip(every, documents, strict=True) if d}
        return [[r for i in sorted(ids) for r in records.get(i, ())] for ids in wanted]


# --- PostGIS + pg_trgm -----------------------------------------------------------------------

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE UNLOGGED TABLE cmp_records (incident_id text PRIMARY KEY, doc bytea NOT NULL);
CREATE UNLOGGED TABLE cmp_parties (
  incident_id text NOT NULL, name text, geog geography(Point, 4326));
CREATE UNLOGGED TABLE cmp_identifiers (key text NOT NULL, incident_id text NOT NULL);
"""
INDEXES = """
CREATE INDEX cmp_parties_geog ON cmp_parties USING gist (geog);
CREATE INDEX cmp_parties_name ON cmp_parties USING gist (name gist_trgm_ops);
CREATE INDEX cmp_parties_name_gin ON cmp_parties USING gin (name gin_trgm_ops);
CREATE INDEX cmp_identifiers_key ON cmp_identifiers (key);
ANALYZE;
"""
_POINT = "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography"
_TUNED_GEO = f"""(SELECT incident_id FROM cmp_parties WHERE ST_DWithin(geog, {_POINT}, %(radius)s)
  ORDER BY geog <-> {_POINT} LIMIT %(geo_k)s)"""
_TUNED_NAMES = """(SELECT t.incident_id FROM unnest(%(names)s::text[]) AS q(name)
  CROSS JOIN LATERAL (SELECT incident_id FROM cmp_parties p WHERE p.name IS NOT NULL
    ORDER BY p.name <-> q.name LIMIT %(name_k)s) t)"""
_GIN_NAMES = """(SELECT t.incident_id FROM unnest(%(names)s::text[]) AS q(name)
  CROSS JOIN LATERAL (SELECT incident_id FROM cmp_parties p WHERE p.name %% q.name
    ORDER BY similarity(p.name, q.name) DESC LIMIT %(name_k)s) t)"""
_IDENTIFIERS = "(SELECT incident_id FROM cmp_identifiers WHERE key = ANY(%(keys)s::text[]))"
_FETCH = "SELECT incident_id, doc FROM cmp_records WHERE incident_id IN ({})"


def _tuned_sql(located: bool, names_part: str) -> str:
    parts = [_TUNED_GEO] if located else []
    return _FETCH.format(" UNION ".join([*parts, names_part, _IDENTIFIERS]))


def _naive_sql(located: bool, names: int) -> str:
    conditions = [f"ST_DWithin(geog, {_POINT}, %(radius)s)"] if located else []
    conditions += [f"name %% %(name{i})s" for i in range(names)]
    parts = [_IDENTIFIERS]
    if conditions:
        parts.insert(0, f"(SELECT incident_id FROM cmp_parties WHERE {' OR '.join(conditions)})")
    return _FETCH.format(" UNION ".join(parts))


class PostgisLoader:
    """Creates the tables, COPYs chunk by chunk, then builds the indexes once at the end
    (faster than keeping them up to date row by row) and ANALYZEs."""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._conn.execute(SCHEMA)
        self.loaded = 0

    def add(self, incidents: Iterable[Incident]) -> None:
        records_rows: list[tuple[str, bytes]] = []
        party_rows: list[tuple[str, str | None, str | None]] = []
        identifier_rows: list[tuple[str, str]] = []
        for incident in incidents:
            records = party_records(incident)
            if not records:
                continue
            records_rows.append((incident.incident_id, _document(records)))
            for record in records:
                point = None
                if record.lat is not None and record.lon is not None:
                    point = f"SRID=4326;POINT({record.lon!r} {record.lat!r})"
                party_rows += [(incident.incident_id, n, point) for n in record.names or (None,)]
                identifier_rows += [(k, incident.incident_id) for k in _record_keys(record)]
            self.loaded += 1
        with self._conn.cursor() as cur:
            for table, rows in (
                ("cmp_records (incident_id, doc)", records_rows),
                ("cmp_parties (incident_id, name, geog)", party_rows),
                ("cmp_identifiers (key, incident_id)", identifier_rows),
            ):
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    def finish(self) -> int:
        self._conn.execute(INDEXES)
        self._conn.close()
        return self.loaded


POSTGIS_MODES = ("knn", "gin", "naive")


class PostgisScreener(BaselineScreener):
    """One connection per thread (a gRPC server calls from several). Names by `mode`:
    `knn` the GiST trigram KNN, `gin` the GIN trigram `%` (pg_trgm's default similarity
    threshold 0.3) ranked by similarity, `naive` the single `ST_DWithin OR %` query."""

    def __init__(self, dsn: str, mode: str = "knn") -> None:
        if mode not in POSTGIS_MODES:
            raise ValueError(f"mode must be one of {POSTGIS_MODES}")
        self._dsn = dsn
        self._mode = mode
        self._local = threading.local()
        count = self._connection().execute("SELECT count(*) FROM cmp_records").fetchone()
        super().__init__(int(count[0]) if count else 0)

    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self._dsn, autocommit=True)
            self._local.conn = conn
        return conn

    def _statement(self, party: Party, policy: Policy) -> tuple[str, dict[str, Any]]:
        names = [n.core for n in map(normalize_name, party.names()) if n.tokens]
        params: dict[str, Any] = {
            "radius": policy.near_radius_m,
            "geo_k": policy.geo_candidates,
            "name_k": policy.name_candidates,
            "names": names,
            "keys": _identifier_keys(party),
        }
        located = party.location is not None
        if party.location is not None:
            params["lat"], params["lon"] = party.location.lat, party.location.lon
        if self._mode == "naive":
            params.update({f"name{i}": name for i, name in enumerate(names)})
            return _naive_sql(located, len(names)), params
        return _tuned_sql(located, _TUNED_NAMES if self._mode == "knn" else _GIN_NAMES), params

    def candidates(self, parties: Sequence[Party], policy: Policy) -> list[list[PartyRecord]]:
        conn = self._connection()
        statements = [self._statement(party, policy) for party in parties]
        with conn.pipeline():  # one round trip for the whole batch
            cursors = [conn.execute(sql, params) for sql, params in statements]
        return [[r for _, doc in sorted(c.fetchall()) for r in _records(doc)] for c in cursors]
