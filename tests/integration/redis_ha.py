"""A Redis primary with one replica and three Sentinels, all real redis-server processes on
loopback ports (Sentinel is `redis-server CONF --sentinel`, what Debian's redis-sentinel
runs), passwords on both, and a short down-after so a failover takes about two seconds."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.conftest import RedisServer, free_port

SERVICE = "preflight"
PASSWORD = "redis-secret"
SENTINEL_PASSWORD = "sentinel-secret"
DOWN_AFTER_MS = 500
# Either node may be the primary: both know the password, and a full sync starts at once
# (redis-server waits 5 s by default for more replicas to share it).
NODE_OPTIONS = ("--masterauth", PASSWORD, "--repl-diskless-sync-delay", "0")


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> float:
    """Poll `condition()` every 20 ms until it is true; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


class SentinelServer:
    def __init__(self, directory: Path, primary_port: int) -> None:
        self.port = free_port()
        self.config = directory / f"sentinel-{self.port}.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"requirepass {SENTINEL_PASSWORD}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )  # Sentinel rewrites its file: each has its own
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: `make test` installs it")
        self.process = subprocess.Popen(
            [binary, str(self.config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        wait_for(lambda: _pings(client), 10.0, f"sentinel on {self.port}")
        client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=SENTINEL_PASSWORD, socket_timeout=2.0)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class RedisHa:
    """Primary, replica and Sentinels; `url` is the Sentinel store URL the service takes."""

    def __init__(self, directory: Path, *replica_extra: str) -> None:
        (directory / "primary").mkdir()
        (directory / "replica").mkdir()
        self.primary = RedisServer(directory / "primary", *NODE_OPTIONS, password=PASSWORD)
        self.replica = RedisServer(
            directory / "replica", *NODE_OPTIONS,
            "--replicaof", "127.0.0.1", str(self.primary.port), *replica_extra,
            password=PASSWORD,
        )  # fmt: skip
        self.sentinels = [SentinelServer(directory, self.primary.port) for _ in range(3)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    @property
    def environment(self) -> dict[str, str]:
        """What a `serve` process needs besides the URL."""
        return {"PREFLIGHT_STORE_URL": self.url, "PREFLIGHT_REDIS_PASSWORD": PASSWORD,
                "PREFLIGHT_REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD}  # fmt: skip

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        primary = redis.Redis.from_url(self.primary.url)
        wait_for(lambda: primary.info("replication")["connected_slaves"] == 1 and
                 primary.info("replication")["slave0"]["state"] == "online",
                 10.0, "replica in sync")  # fmt: skip
        primary.close()
        for sentinel in self.sentinels:
            sentinel.start()
        wait_for(self._sentinels_see_everything, 15.0, "sentinels know the replica and each other")

    def _sentinels_see_everything(self) -> bool:
        for sentinel in self.sentinels:
            client = sentinel.client()
            try:
                state = cast(dict[str, Any], client.sentinel_master(SERVICE))
            finally:
                client.close()
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def primary_port(self) -> int:
        """The port of the primary the Sentinels name now."""
        client = self.sentinels[0].client()
        try:
            address = cast(tuple[str, int], client.sentinel_get_master_addr_by_name(SERVICE))
        finally:
            client.close()
        return int(address[1])

    def rejoin(self, node: RedisServer) -> None:
        """Start a node that was lost, empty, as the replica of the primary the Sentinels name
        (as a Redis pod's start script asks them first): never as a primary, which a
        Sentinel would only demote at its next 10-second look."""
        node.extra = (*node.extra, "--replicaof", "127.0.0.1", str(self.primary_port()))
        node.start()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        self.replica.kill()
        self.primary.kill()
