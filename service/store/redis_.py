"""The production store: Redis.

Each incident is a hash (`version`, `body` = the JSON document) under `{prefix}incident:{id}`;
ids are also kept in a sorted set for paging; every accepted write appends to the stream
`{prefix}changes` in the same Lua script, which Redis runs atomically, so no reader ever sees
a write without its change or the reverse. Readers tail the stream with XRANGE from their own
last id (no consumer groups, no Pub/Sub). A cursor older than the stream's deleted entries
(XTRIM) or newer than its last id (failover to a replica that had not seen it) answers
`reset=True`.

Durability is Redis's: with `appendonly yes` and `appendfsync always` an acknowledged write
survives a crash; with the default `everysec` up to about a second of writes can be lost. With
`wait_replicas` (RedisOptions), a write is acknowledged only once that many replicas have it
(WAIT, on the same connection in one pipeline), so it survives the loss of the primary and a
Sentinel failover to one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import redis

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
from service.store.redis_connect import RedisOptions, check_replicated, connect

_PUT_SCRIPT = """
local stream, ids = KEYS[1], KEYS[2]
local out = {}
for i = 3, #KEYS do
  local at = (i - 3) * 3
  local id, version, body = ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3]
  local current = redis.call('HGET', KEYS[i], 'version')
  if current and tonumber(current) >= version then
    if tonumber(current) == version then out[#out + 1] = 'unchanged'
    else out[#out + 1] = 'stale' end
  else
    redis.call('HSET', KEYS[i], 'version', version, 'body', body)
    redis.call('ZADD', ids, 0, id)
    redis.call('XADD', stream, '*', 'id', id, 'version', version)
    if current then out[#out + 1] = 'updated' else out[#out + 1] = 'created' end
  end
end
return out
"""


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisStore:
    def __init__(
        self, url: str, prefix: str = "preflight:", options: RedisOptions | None = None
    ) -> None:
        self.prefix = prefix
        self._options = options or RedisOptions()
        self._redis = connect(url, self._options)
        self._stream = f"{prefix}changes"
        self._ids = f"{prefix}ids"
        self._put = self._redis.register_script(_PUT_SCRIPT)

    def _key(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreError(f"redis {what} failed: {exc}") from exc

    def put(self, incidents: Sequence[Incident]) -> list[PutOutcome]:
        if len(incidents) > MAX_PUT_BATCH:
            raise ValueError(f"at most {MAX_PUT_BATCH} incidents per put")
        if not incidents:
            return []
        keys = [self._stream, self._ids, *(self._key(i.incident_id) for i in incidents)]
        args: list[Any] = []
        for incident in incidents:
            args += [incident.incident_id, incident.version, incident_to_json(incident)]
        result = self._call("put", self._put_replicated, keys, args)
        return [PutOutcome(r.decode() if isinstance(r, bytes) else r) for r in result]

    def _put_replicated(self, keys: list[str], args: list[Any]) -> Any:
        """The script's outcomes, once WAIT says enough replicas have the write (one pipeline:
        WAIT counts the writes of its own connection)."""
        if self._options.wait_replicas <= 0:
            return self._put(keys=keys, args=args)
        pipe = self._redis.pipeline(transaction=False)
        self._put(keys=keys, args=args, client=pipe)
        pipe.wait(self._options.wait_replicas, self._options.wait_timeout_ms)
        outcomes, replicas = pipe.execute()
        refusal = check_replicated(int(replicas), self._options)
        if refusal:
            raise StoreError(f"redis put not acknowledged: {refusal}")
        return outcomes

    def get(self, incident_id: str) -> Incident | None:
        return self.get_many([incident_id]).get(incident_id)

    def documents(self, incident_ids: Sequence[str]) -> list[RawDocument]:
        ids = list(dict.fromkeys(incident_ids))
        pipe = self._redis.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hget(self._key(incident_id), "body")
        bodies = self._call("get", pipe.execute)
        return [(i, body) for i, body in zip(ids, bodies, strict=True) if body is not None]

    def get_many(
        self, incident_ids: Sequence[str], on_invalid: OnInvalid | None = None
    ) -> dict[str, Incident]:
        return {i.incident_id: i for i in decode(self.documents(incident_ids), on_invalid)}

    def iter_all(
        self, on_invalid: OnInvalid | None = None, after: str = "", upto: str | None = None
    ) -> Iterator[Incident]:
        return iter_pages(self._page_raw, on_invalid, after, upto)

    def iter_documents(self, after: str = "", upto: str | None = None) -> Iterator[RawDocument]:
        return iter_raw_pages(self._page_raw, after, upto)

    def split_points(self, parts: int) -> list[str]:
        def id_at(rank: int) -> str:
            return self._text(self._call("rank", self._redis.zrange, self._ids, rank, rank)[0])

        return split_points(self.count(), id_at, parts)

    def _page_raw(self, after_id: str, limit: int) -> list[RawDocument]:
        start = f"({after_id}" if after_id else "-"
        raw = self._call(
            "page", self._redis.zrangebylex, self._ids, start, "+", 0, min(limit, MAX_PAGE)
        )
        return self.documents([r.decode() for r in raw])

    def page(self, after_id: str, limit: int) -> list[Incident]:
        return decode(self._page_raw(after_id, limit), None)

    def count(self) -> int:
        return int(self._call("count", self._redis.zcard, self._ids))

    def _stream_info(self) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self._redis.xinfo_stream(self._stream)
        except redis.ResponseError:
            return None  # no stream yet
        except redis.RedisError as exc:
            raise StoreError(f"redis xinfo failed: {exc}") from exc
        return info

    @staticmethod
    def _text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def current_cursor(self) -> str:
        info = self._stream_info()
        return self._text(info["last-generated-id"]) if info else "0-0"

    def change_at(self, cursor: str) -> str:
        try:
            _stream_id(cursor)
        except ValueError:
            return ""
        rows = self._call("xrange", self._redis.xrange, self._stream, cursor, cursor, 1)
        if not rows:
            return ""
        fields = rows[0][1]
        return change_name(fields[b"id"].decode(), int(fields[b"version"]))

    def store_id(self) -> str:
        key = f"{self.prefix}store_id"
        self._call("set", self._redis.set, key, uuid.uuid4().hex, nx=True)
        return self._text(self._call("get", self._redis.get, key))

    def changes_since(self, cursor: str, limit: int = MAX_PAGE) -> ChangeBatch:
        info = self._stream_info()
        last = self._text(info["last-generated-id"]) if info else "0-0"
        try:
            position = _stream_id(cursor)
        except ValueError:
            return ChangeBatch((), last, reset=True)
        if position > _stream_id(last):
            return ChangeBatch((), last, reset=True)  # the stream went backwards: failover
        limit = min(limit, MAX_PAGE)
        if position == (0, 0):
            if info and int(info["entries-added"]) > int(info["length"]):
                return ChangeBatch((), last, reset=True)  # entries were trimmed unread
            rows = self._call("xrange", self._redis.xrange, self._stream, "-", "+", limit)
        else:
            # Trimming removes the oldest entries first: while the cursor's own entry is
            # still there, nothing after it is gone.
            rows = self._call("xrange", self._redis.xrange, self._stream, cursor, "+", limit + 1)
            if not rows or self._text(rows[0][0]) != cursor:
                return ChangeBatch((), last, reset=True)
            rows = rows[1:]
        changes = tuple(
            Change(self._text(entry_id), fields[b"id"].decode(), int(fields[b"version"]))
            for entry_id, fields in rows
        )
        return ChangeBatch(changes, changes[-1].cursor if changes else cursor)

    def close(self) -> None:
        self._redis.close()
