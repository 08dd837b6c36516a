"""Screeners an integrator would build by hand on PostGIS + pg_trgm or on Redis.

Each finds candidate incidents with its store's own indexes, fetches their stored documents and
hands them to the compiled core's re-scoring (`index._core.rescore`): the same normalisation,
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

import psycopg
import redis

from index import _core
from index.errors import FieldViolation, ValidationError
from index.model import Incident, IncidentStatus, Party, Query, Result, validate_query
from index.policy import Policy
from preflight.v1 import preflight_pb2 as pb
from service.codec import incident_to_json
from service.refresh import IndexStatus
from service.rpc import convert
from service.screener import compiled_policy

LOAD_CHUNK = 5000


def _chunks(incidents: Iterable[Incident], size: int) -> Iterator[list[Incident]]:
    it = iter(incidents)
    while chunk := list(islice(it, size)):
        yield chunk


def name_core(raw: str) -> str:
    """The normalised name the matcher compares (its core tokens, in order)."""
    return " ".join(_core.normalize_name(raw)[1])


def name_key(raw: str) -> str:
    """The exact-match key of a name: its normalised core tokens, sorted."""
    return " ".join(sorted(_core.normalize_name(raw)[1]))


def identifier_keys(party: Party) -> list[str]:
    found = _core.identifiers(
        list(party.phones), list(party.emails), list(party.web_domains), party.country_code
    )
    return [f"{kind}:{value}" for kind, value in found]


class BaselineScreener:
    """Candidate lookup left to the subclass; re-scoring (compiled) and status shared. Serves
    the servicer's byte-level calls and typed calls for the quality run."""

    def __init__(self, incident_count: int, policy: Policy) -> None:
        self.incident_count = incident_count
        self.policy = policy  # the candidate caps and radius of the search
        self._loaded_at = time.time()

    def candidates(self, parties: Sequence[Party]) -> list[list[bytes]]:
        """Per party, the stored documents of the incidents found for it."""
        raise NotImplementedError

    def _screen_valid(
        self, queries: Sequence[Query], requests: Sequence[bytes], policy: _core.Policy,
        today: int,
    ) -> list[bytes]:  # fmt: skip
        found = self.candidates([p for q in queries for p in q.parties])
        responses = []
        position = 0
        for query, request in zip(queries, requests, strict=True):
            mine = found[position : position + len(query.parties)]
            position += len(query.parties)
            raw, _ = _core.rescore(request, mine, policy, today, self.incident_count)
            responses.append(raw)
        return responses

    def screen(
        self, request: bytes, policy: _core.Policy, today: int, age_seconds: float, *,
        suppressed: _core.Suppressions | None = None,
    ) -> tuple[bytes, None]:  # fmt: skip
        """`suppressed` is ignored: the baselines know no outcomes."""
        try:
            message = pb.ScreenRequest.FromString(request)
        except Exception as exc:  # protobuf raises DecodeError, or others on hostile bytes
            problem = FieldViolation("request", "is not a valid message for this method")
            raise ValidationError([problem]) from exc
        query = validate_query(convert.query_from_pb(message))
        return self._screen_valid([query], [request], policy, today)[0], None

    def screen_batch(
        self, request: bytes, policy: _core.Policy, today: int, age_seconds: float,
        max_items: int, *, suppressed: _core.Suppressions | None = None,
    ) -> tuple[bytes, None]:  # fmt: skip
        items = pb.ScreenBatchRequest.FromString(request).items
        entries: list[pb.ScreenBatchEntry] = []
        valid: list[tuple[int, Query, bytes]] = []
        for i, item in enumerate(items):
            try:
                query = validate_query(convert.query_from_pb(item))
                valid.append((i, query, item.SerializeToString()))
            except ValidationError as exc:
                entries.append(pb.ScreenBatchEntry(index=i, error=convert.item_error_to_pb(exc)))
        responses = self._screen_valid([q for _, q, _ in valid], [r for _, _, r in valid],
                                       policy, today)  # fmt: skip
        for (i, _, _), raw in zip(valid, responses, strict=True):
            entries.append(pb.ScreenBatchEntry(index=i, verdict=pb.ScreenResponse.FromString(raw)))
        entries.sort(key=lambda e: e.index)
        return pb.ScreenBatchResponse(entries=entries).SerializeToString(), None

    def screen_query(self, query: Query, policy: Policy, as_of: date) -> Result:
        """The typed verdict (the quality run's)."""
        raw, _ = self.screen(
            convert.query_to_pb(query).SerializeToString(), compiled_policy(policy),
            as_of.toordinal(), 0.0,
        )  # fmt: skip
        return convert.result_from_pb(pb.ScreenResponse.FromString(raw))

    def screen_queries(self, queries: Sequence[Query], policy: Policy, as_of: date) -> list[Result]:
        requests = [convert.query_to_pb(q).SerializeToString() for q in queries]
        raw = self._screen_valid(queries, requests, compiled_policy(policy), as_of.toordinal())
        return [convert.result_from_pb(pb.ScreenResponse.FromString(r)) for r in raw]

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


def _active(incidents: Iterable[Incident]) -> Iterator[Incident]:
    return (i for i in incidents if i.status is not IncidentStatus.RETRACTED)


# --- Redis ---------------------------------------------------------------------------------


class RedisLoader:
    """Writes records, the geo set and the name and identifier keys, chunk by chunk."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.loaded = 0

    def add(self, incidents: Iterable[Incident]) -> None:
        p = self._prefix
        for chunk in _chunks(_active(incidents), LOAD_CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for incident in chunk:
                incident_id = incident.incident_id
                pipe.set(f"{p}rec:{incident_id}", incident_to_json(incident))
                for i, party in enumerate(incident.parties):
                    if party.location is not None:
                        loc = party.location
                        pipe.geoadd(f"{p}geo", (loc.lon, loc.lat, f"{incident_id}\x1f{i}"))
                    for raw in party.names():
                        if key := name_key(raw):
                            pipe.sadd(f"{p}nm:{key}", incident_id)
                    for key in identifier_keys(party):
                        pipe.sadd(f"{p}id:{key}", incident_id)
                self.loaded += 1
            pipe.execute()

    def finish(self) -> int:
        self._client.set(f"{self._prefix}count", self.loaded)
        return self.loaded


class RedisScreener(BaselineScreener):
    def __init__(self, client: redis.Redis, prefix: str, policy: Policy) -> None:
        self._client = client
        self._prefix = prefix
        super().__init__(int(client.get(f"{prefix}count") or 0), policy)

    def candidates(self, parties: Sequence[Party]) -> list[list[bytes]]:
        policy = self.policy
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
            keys += [f"{p}id:{k}" for k in identifier_keys(party)]
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
        found = {i: d for i, d in zip(every, documents, strict=True) if d}
        return [[found[i] for i in sorted(ids) if i in found] for ids in wanted]


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
        for incident in _active(incidents):
            records_rows.append((incident.incident_id, incident_to_json(incident)))
            for party in incident.parties:
                point = None
                if party.location is not None:
                    point = f"SRID=4326;POINT({party.location.lon!r} {party.location.lat!r})"
                names = [core for raw in party.names() if (core := name_core(raw))]
                party_rows += [(incident.incident_id, n, point) for n in names or (None,)]
                identifier_rows += [(k, incident.incident_id) for k in identifier_keys(party)]
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

    def __init__(self, dsn: str, policy: Policy, mode: str = "knn") -> None:
        if mode not in POSTGIS_MODES:
            raise ValueError(f"mode must be one of {POSTGIS_MODES}")
        self._dsn = dsn
        self._mode = mode
        self._local = threading.local()
        count = self._connection().execute("SELECT count(*) FROM cmp_records").fetchone()
        super().__init__(int(count[0]) if count else 0, policy)

    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self._dsn, autocommit=True)
            self._local.conn = conn
        return conn

    def _statement(self, party: Party, policy: Policy) -> tuple[str, dict[str, Any]]:
        names = [core for raw in party.names() if (core := name_core(raw))]
        params: dict[str, Any] = {
            "radius": policy.near_radius_m,
            "geo_k": policy.geo_candidates,
            "name_k": policy.name_candidates,
            "names": names,
            "keys": identifier_keys(party),
        }
        located = party.location is not None
        if party.location is not None:
            params["lat"], params["lon"] = party.location.lat, party.location.lon
        if self._mode == "naive":
            params.update({f"name{i}": name for i, name in enumerate(names)})
            return _naive_sql(located, len(names)), params
        return _tuned_sql(located, _TUNED_NAMES if self._mode == "knn" else _GIN_NAMES), params

    def candidates(self, parties: Sequence[Party]) -> list[list[bytes]]:
        conn = self._connection()
        statements = [self._statement(party, self.policy) for party in parties]
        with conn.pipeline():  # one round trip for the whole batch
            cursors = [conn.execute(sql, params) for sql, params in statements]
        return [[bytes(doc) for _, doc in sorted(c.fetchall())] for c in cursors]
