"""Connections to Redis: one server (`redis://`, `rediss://`) or the primary that Redis
Sentinel names (`redis+sentinel://`, `rediss+sentinel://`), and writes acknowledged only once
enough replicas have them (WAIT).

A Sentinel URL lists the Sentinels, then the primary's service name and the database:
`redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]`. Every new connection
asks a Sentinel where the primary is, so after a failover the next command reaches the
promoted replica; a connection still open to a demoted primary is dropped on its first
READONLY reply (redis-py's Sentinel pool). `rediss+sentinel://` speaks TLS to the Sentinels
and to the primary alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
REDIS_SCHEMES = ("redis://", "rediss://", *SENTINEL_SCHEMES)
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


class RedisUrlError(ValueError):
    """A Redis store URL that cannot be used, named."""


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """What a store URL leaves out: passwords and TLS from the settings, and how many replicas
    a write must reach before it is acknowledged (0 = the primary's word alone)."""

    password: str = ""
    sentinel_password: str = ""
    tls_ca_file: str = ""
    wait_replicas: int = 0
    wait_timeout_ms: int = 1000


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    password: str
    tls: bool


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEMES)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The Sentinels, service name, database, password and TLS a Sentinel URL names."""
    if not is_sentinel_url(url):
        raise RedisUrlError(f"not a Sentinel URL: {url!r}")
    scheme, _, rest = url.partition("://")
    credentials, _, hosts_and_path = rest.rpartition("@")
    hosts, _, path = hosts_and_path.partition("/")
    password = unquote(credentials.partition(":")[2]) if credentials else ""
    sentinels = []
    for host_port in hosts.split(","):
        parts = urlsplit(f"//{host_port}")
        try:
            port = parts.port or 26379
        except ValueError as exc:
            raise RedisUrlError(f"{url!r}: bad Sentinel address {host_port!r}") from exc
        if not parts.hostname:
            raise RedisUrlError(f"{url!r}: an empty Sentinel address")
        sentinels.append((parts.hostname, port))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise RedisUrlError(f"{url!r}: name the primary's service after the Sentinels (/mymaster)")
    if db and not db.isdigit():
        raise RedisUrlError(f"{url!r}: the database must be a number, got {db!r}")
    tls = scheme.startswith("rediss")
    return SentinelUrl(tuple(sentinels), service, int(db or 0), password, tls)


def connect(url: str, options: RedisOptions) -> redis.Redis:
    """A client of the Redis primary `url` names (directly, or through Sentinel)."""
    common: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
    }
    tls: dict[str, Any] = {"ssl_ca_certs": options.tls_ca_file} if options.tls_ca_file else {}
    if not is_sentinel_url(url):
        extra = {**common, **(tls if url.startswith("rediss://") else {})}
        if options.password:
            extra["password"] = options.password
        return redis.Redis.from_url(url, **extra)
    parsed = parse_sentinel_url(url)
    secure = {"ssl": True, **tls} if parsed.tls else {}
    sentinel_kwargs = {**common, **secure}
    if options.sentinel_password:
        sentinel_kwargs["password"] = options.sentinel_password
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs)
    password = parsed.password or options.password or None
    client: redis.Redis = sentinel.master_for(
        parsed.service, db=parsed.db, password=password, **common, **secure
    )
    return client


def check_replicated(acknowledged_by: int, options: RedisOptions) -> str:
    """Empty when WAIT's count satisfies `options`; otherwise why the write is not
    acknowledged (it may still be on the primary, and reach the replicas later)."""
    if acknowledged_by >= options.wait_replicas:
        return ""
    return (
        f"the write reached {acknowledged_by} of the {options.wait_replicas} replicas it must "
        f"reach within {options.wait_timeout_ms} ms (redis_wait_replicas): not acknowledged, "
        "retry it (writes are idempotent)"
    )
