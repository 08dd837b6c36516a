"""The baseline database servers, run on loopback with their data in a temporary folder.

PostgreSQL refuses to run as root, so as root its own temporary folder is handed to the
`postgres` user and its commands run through `runuser`. Both servers are stopped (and their
data removed with the folder) when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psutil
import redis

from loadtest.run import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# What an integrator tunes for a read-mostly lookup service on a 2-core, 24 GiB host.
PG_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "2GB",
    "random_page_cost": "1.1",
    "jit": "off",  # compiling short lookups costs more than running them
    "max_connections": "100",
    "synchronous_commit": "off",  # benchmark data, loaded once
    "fsync": "off",
    "full_page_writes": "off",
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
}


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM (each server's clean shutdown), then SIGKILL after the timeout."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A throwaway PostgreSQL cluster (PostGIS and pg_trgm available) on a free port."""

    def __init__(self) -> None:
        # its own folder: as root, the postgres user must be able to reach it
        self.folder = Path(tempfile.mkdtemp(prefix="preflight-compare-pg-"))
        self.port = free_port()
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-U",
                          "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self._log = (self.folder / "server.log").open("wb")
        options = [f"-c{key}={value}" for key, value in PG_SETTINGS.items()]
        self._process = subprocess.Popen(
            _as_postgres([str(PG_BIN / "postgres"), "-D", str(self.folder / "data"),
                          "-p", str(self.port), *options]),
            stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, check=False,
        ).returncode:  # fmt: skip
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"postgres did not start: see {self.folder}/server.log")
            time.sleep(0.2)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop_process(self._process, 60)  # smart shutdown: sessions end, then the server
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    """A throwaway redis-server without persistence, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "redis"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> RedisServer:
        self.folder.mkdir(parents=True)
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop_process(self._process, 30)
