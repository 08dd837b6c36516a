"""Incident stores: one protocol (`base`), an embedded SQLite store and a Redis store."""

from __future__ import annotations

from pathlib import Path

from service.store.base import IncidentStore
from service.store.redis_ import RedisStore
from service.store.redis_connect import REDIS_SCHEMES, RedisOptions
from service.store.sqlite import SqliteStore


def open_store(
    url: str, redis_prefix: str = "preflight:", redis_options: RedisOptions | None = None
) -> IncidentStore:
    """The store a URL names: `sqlite:///PATH`, `redis://HOST:PORT/DB` or a Sentinel URL
    (service.store.redis_connect)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path)
    if url.startswith(REDIS_SCHEMES):
        return RedisStore(url, prefix=redis_prefix, options=redis_options)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or redis://HOST:PORT/DB")
