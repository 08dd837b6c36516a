"""Memory of one `preflight serve` replica (one worker, as one Kubernetes pod runs it) holding
N seeded incidents: resident and peak (the build) after a cold start from the store, then
after a restart from the snapshot file, and the same at 1,000 incidents, so the bytes per
incident are the index's, not the interpreter's. docs/capacity.md quotes it.

    .venv/bin/python -m benchmarks.replica_memory --count 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_service import _free_port, fill_seeded
from service.client import wait_serving
from service.store.sqlite import SqliteStore


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def _serve_once(db: Path, snapshots: Path) -> dict[str, float]:
    """Start, wait for SERVING, read the memory, stop."""
    target = f"127.0.0.1:{_free_port()}"
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", f"sqlite:///{db}",
         "--listen", target, "--workers", "1", "--allow-plaintext", "--metrics-listen", ""],
        env={**os.environ, "PREFLIGHT_SNAPSHOT_DIR": str(snapshots)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_serving(target, 900)
        seconds = time.monotonic() - started
        time.sleep(2.0)  # the build's freed memory handed back
        return {
            "serving_after_s": round(seconds, 1),
            "rss_mib": round(_status_kib(server.pid, "VmRSS") / 1024, 1),
            "peak_rss_mib": round(_status_kib(server.pid, "VmHWM") / 1024, 1),
        }
    finally:
        server.terminate()
        server.wait(60)


def _measure(count: int) -> dict[str, dict[str, float]]:
    """A cold start from the store, then a restart from the snapshot file it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "incidents.db"
        store = SqliteStore(db)
        fill_seeded(store, count)
        store.close()
        snapshots = Path(folder) / "snapshots"
        return {"cold_start": _serve_once(db, snapshots),
                "from_snapshot_file": _serve_once(db, snapshots)}  # fmt: skip


BASELINE = 1_000  # the process itself: interpreter, gRPC, the core's code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    count = parser.parse_args().count
    base, full = _measure(BASELINE), _measure(count)
    per_incident = {
        f"{start}_{figure}": round(
            (full[start][figure] - base[start][figure]) * 2**20 / (count - BASELINE)
        )
        for start in full
        for figure in ("rss_mib", "peak_rss_mib")
    }
    print(json.dumps({"incidents": count, **full, f"at_{BASELINE}": base,
                      "bytes_per_incident_above_the_process": per_incident}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
