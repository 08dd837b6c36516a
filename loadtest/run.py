"""`make loadtest`: locust, headless and bounded, against a Preflight it starts on loopback.

Fills a temporary SQLite store with seeded incidents (1M by default), starts `preflight serve`
(real worker processes, metrics on), runs the postal scenario then the customs scenario, each
for a fixed time, and writes locust's CSV and HTML reports to reports/loadtest/ and a summary
to reports/loadtest.json. Server CPU (all workers, from /metrics) and the load generator's CPU
are reported beside every throughput figure: on this machine both share the same two cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.bench_service import fill_seeded
from loadtest.traffic import BATCH_ITEMS
from service.client import wait_serving
from service.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric_sums(metrics_port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            if sample.name == "preflight_verdicts_total":
                key = f"{sample.name}:{sample.labels['stoplight']}"
            sums[key] = sums.get(key, 0.0) + sample.value
    return sums


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _aggregated(stats_csv: Path) -> dict[str, str]:
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return row
    raise RuntimeError(f"{stats_csv}: no Aggregated row")


def _milliseconds(cell: str) -> float:
    """A percentile cell; locust writes N/A when no request completed (NaN here)."""
    return float("nan") if cell == "N/A" else float(cell)


def run_locust(  # noqa: PLR0917
    name: str, user_class: str, users: int, seconds: int, target: str, out_dir: Path,
    incidents: int,
) -> dict[str, float]:  # fmt: skip
    """One bounded headless locust run (CSV + HTML under out_dir): requests, failures, rps,
    p50/p99 in ms and the load generator's CPU seconds."""
    cpu_before = _children_cpu_s()
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{seconds}s", "--stop-timeout", "30", "--host", target,
        "--csv", str(out_dir / name), "--html", str(out_dir / f"{name}.html"),
        "--only-summary", "--loglevel", "WARNING", user_class,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFLIGHT_LOADTEST_INCIDENTS": str(incidents)}
    with (out_dir / f"{name}.log").open("wb") as log:
        subprocess.run(command, env=env, check=False, timeout=seconds + 120, stdout=log, stderr=log)
    row = _aggregated(out_dir / f"{name}_stats.csv")
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50_ms": _milliseconds(row["50%"]),
        "p99_ms": _milliseconds(row["99%"]),
        "locust_cpu_s": _children_cpu_s() - cpu_before,
    }


def _scenario(  # noqa: PLR0917
    name: str, user_class: str, users: int, seconds: int, target: str, metrics_port: int,
    out_dir: Path, incidents: int,
) -> dict[str, float]:  # fmt: skip
    before = _metric_sums(metrics_port)
    figures = run_locust(name, user_class, users, seconds, target, out_dir, incidents)
    after = _metric_sums(metrics_port)
    cpu = "preflight_worker_cpu_seconds_total"
    items = after["preflight_items_screened_total"] - before["preflight_items_screened_total"]
    verdicts = {
        colour: after[f"preflight_verdicts_total:{colour}"]
        - before[f"preflight_verdicts_total:{colour}"]
        for colour in ("GREEN", "AMBER", "RED")
    }
    return {
        **figures,
        "items": items,
        "server_cpu_s": after[cpu] - before[cpu],
        **{f"verdicts_{c.lower()}": v for c, v in verdicts.items()},
    }


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every locust-driven benchmark shares (`make loadtest`, `make compare`)."""
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=30, help="per scenario")
    parser.add_argument("--postal-users", type=int, default=8)
    parser.add_argument("--customs-users", type=int, default=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("reports/loadtest.json"))
    args = parser.parse_args()
    out_dir = args.out.parent / "loadtest"
    out_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "loadtest.db"
        started = time.perf_counter()
        store = SqliteStore(db)
        fill_seeded(store, args.incidents)
        store.close()
        print(
            f"stored {args.incidents:,} seeded incidents in {time.perf_counter() - started:.0f} s"
        )
        target, metrics_port = f"127.0.0.1:{free_port()}", free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--store-url", f"sqlite:///{db}",
             "--listen", target, "--workers", str(args.workers), "--allow-plaintext",
             "--metrics-listen", f"127.0.0.1:{metrics_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # the load is one anonymous caller: its rate limit must not be what is measured
            env={**os.environ, "PREFLIGHT_RATE_LIMIT_PER_S": "1000000",
                 "PREFLIGHT_RATE_BURST": "1000000"},
        )  # fmt: skip
        try:
            launched = time.monotonic()
            wait_serving(target, 900)
            print(f"serving after {time.monotonic() - launched:.0f} s")
            postal = _scenario("postal", "PostalUser", args.postal_users, args.seconds,
                               target, metrics_port, out_dir, args.incidents)  # fmt: skip
            customs = _scenario("customs", "CustomsUser", args.customs_users, args.seconds,
                                target, metrics_port, out_dir, args.incidents)  # fmt: skip
            time.sleep(1.0)  # the workers' audit writers flush every 0.2 s
            final = _metric_sums(metrics_port)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)

    summary = {
        "incidents": args.incidents,
        "workers": args.workers,
        "seconds_per_scenario": args.seconds,
        "postal_users": args.postal_users,
        "postal_rps": round(postal["rps"], 1),
        "postal_p50_ms": postal["p50_ms"],
        "postal_p99_ms": postal["p99_ms"],
        "postal_errors": int(postal["failures"]),
        "postal_server_cpu_ms_per_screen": round(
            1000 * postal["server_cpu_s"] / max(postal["items"], 1), 3
        ),
        "postal_locust_cpu_s": round(postal["locust_cpu_s"], 1),
        "postal_verdicts": {k[9:]: v for k, v in postal.items() if k.startswith("verdicts_")},
        "customs_users": args.customs_users,
        "customs_batch_items": BATCH_ITEMS,
        "customs_items_per_s": round(customs["rps"] * BATCH_ITEMS, 1),
        "customs_batch_p50_ms": customs["p50_ms"],
        "customs_batch_p99_ms": customs["p99_ms"],
        "customs_errors": int(customs["failures"]),
        "customs_server_cpu_us_per_item": round(
            1e6 * customs["server_cpu_s"] / max(customs["items"], 1), 1
        ),
        "customs_locust_cpu_s": round(customs["locust_cpu_s"], 1),
        "customs_verdicts": {k[9:]: v for k, v in customs.items() if k.startswith("verdicts_")},
        "verdicts_total": sum(
            final.get(f"preflight_verdicts_total:{c}", 0.0) for c in ("GREEN", "AMBER", "RED")
        ),
        "audit_records_written": final.get("preflight_audit_records_total", 0.0),
        "audit_records_dropped": final.get("preflight_audit_dropped_total", 0.0),
    }
    args.out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    for key, value in summary.items():
        print(f"  {key:34} {value}")
    print(f"-> {args.out} and {out_dir}/")


if __name__ == "__main__":
    main()
