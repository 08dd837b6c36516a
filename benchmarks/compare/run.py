"""`make compare`: Preflight against what an integrator would build on PostGIS or Redis.

One run, one machine, the same data and the same requests for every system:

1. Quality: the `make eval` set (seeded background incidents + labelled variants) loaded into
   each system; recall and false-alert rate of each, screening in-process.
2. Speed: the load test's 1M seeded incidents loaded into each system; each system is served
   behind the same gRPC ScreeningService (worker processes sharing the port) and driven by
   the same locust scenarios at the same concurrency: `postal` (unary Screen) and `customs`
   (ScreenBatch of 500). Server CPU counts every process of the system (the gRPC workers plus
   postgres or redis-server); the load generator's CPU is reported beside it.

PostgreSQL (with PostGIS and pg_trgm) and redis-server run on loopback with their data in a
temporary folder and are stopped at the end. Writes reports/compare.json and a Markdown table
to reports/compare.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis

from benchmarks.compare.baselines import (
    PostgisLoader,
    RedisLoader,
)
from benchmarks.compare.serve import REDIS_PREFIX, open_screener
from benchmarks.compare.servers import PostgresServer, RedisServer, stop_process, tree_cpu_s
from index.evaluation import build_evaluation_set, evaluate, screening_date
from index.model import Incident, Query, Result
from index.policy import DEFAULT_POLICY
from index.synthetic import Generator
from loadtest.run import add_load_arguments, free_port, run_locust
from loadtest.traffic import BATCH_ITEMS, STORE_SEED
from service.client import wait_serving
from service.screener import CompiledView
from service.store.base import MAX_PUT_BATCH
from service.store.sqlite import SqliteStore

SYSTEMS = ("preflight", "postgis", "postgis-gin", "postgis-naive", "redis")
EVAL_PREFIX = "eval:"
EVAL_DATABASE = "eval"


def _seeded(count: int, chunk: int = MAX_PUT_BATCH) -> Iterator[list[Incident]]:
    gen = Generator(seed=STORE_SEED)
    numbers = iter(range(count))
    while block := list(islice(numbers, chunk)):
        yield [gen.incident_at(n) for n in block]


def _timed(
    seconds: dict[str, float], name: str, work: Callable[..., object], *args: object
) -> None:
    started = time.perf_counter()
    work(*args)
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started


# --- quality --------------------------------------------------------------------------------


def _quality(
    pg: PostgresServer, rs: RedisServer, background: int, per_family: int, seed: int
) -> dict[str, dict[str, Any]]:
    dataset = build_evaluation_set(seed, background, per_family)
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {EVAL_DATABASE}")
    eval_dsn = pg.dsn.replace("dbname=postgres", f"dbname={EVAL_DATABASE}")
    postgis = PostgisLoader(eval_dsn)
    postgis.add(dataset.incidents)
    postgis.finish()
    client = redis.Redis.from_url(rs.url)
    redis_loader = RedisLoader(client, EVAL_PREFIX)
    redis_loader.add(dataset.incidents)
    redis_loader.finish()
    screeners: dict[str, Callable[[Query], Result]] = {}
    view = CompiledView.build(dataset.incidents, generation=1)
    today = screening_date()
    screeners["preflight"] = lambda q: view.screen(q, DEFAULT_POLICY, today)
    for system in SYSTEMS[1:]:
        screener = open_screener(system, rs.url if system == "redis" else eval_dsn, EVAL_PREFIX)
        screeners[system] = partial(screener.screen_query, policy=DEFAULT_POLICY, as_of=today)
    quality: dict[str, dict[str, Any]] = {}
    for system in SYSTEMS:
        started = time.perf_counter()
        figures = evaluate(screeners[system], dataset.cases).as_dict()
        elapsed = time.perf_counter() - started
        quality[system] = {
            "recall_alert": figures["recall_alert"],
            "recall_red": figures["recall_red"],
            "false_alert_rate": figures["false_alert_rate"],
            "red_precision": figures["red_precision"],
            "in_process_screens_per_s": round(len(dataset.cases) / elapsed, 1),
            "by_family": {
                name: fig.get("recall_alert", fig.get("false_alert_rate"))
                for name, fig in figures["by_family"].items()  # type: ignore[attr-defined]
            },
        }
        print(f"quality {system:14} recall {figures['recall_alert']}  "
              f"false alerts {figures['false_alert_rate']}  ({elapsed:.0f} s)")  # fmt: skip
    client.flushdb()
    client.close()
    return quality


# --- speed ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _served(command: list[str], target: str) -> Iterator[int]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(target, 900)
        yield process.pid
    finally:
        stop_process(process, 60)


def _scenario(  # noqa: PLR0917
    system: str, scenario: str, users: int, seconds: int, target: str, cpu: Callable[[], float],
    out_dir: Path, incidents: int,
) -> dict[str, float]:  # fmt: skip
    user_class = {"postal": "PostalUser", "customs": "CustomsUser"}[scenario]
    before = cpu()
    figures = run_locust(
        f"{system}-{scenario}", user_class, users, seconds, target, out_dir, incidents
    )
    server_cpu_s = cpu() - before
    items = figures["requests"] * (BATCH_ITEMS if scenario == "customs" else 1)
    items_per_s = figures["rps"] * (BATCH_ITEMS if scenario == "customs" else 1)
    out = {
        "users": users,
        "requests": figures["requests"],
        "errors": figures["failures"],
        "rps": round(figures["rps"], 1),
        "items_per_s": round(items_per_s, 1),
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "server_cpu_ms_per_item": round(1000 * server_cpu_s / max(items, 1), 3),
        "locust_cpu_s": round(figures["locust_cpu_s"], 1),
    }
    print(f"speed   {system:14} {scenario:8} {items_per_s:9.1f} items/s  p50 {out['p50_ms']} ms"
          f"  p99 {out['p99_ms']} ms  errors {int(out['errors'])}"
          f"  server {out['server_cpu_ms_per_item']} ms CPU/item")  # fmt: skip
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def _ratios(
    speed: dict[str, dict[str, dict[str, float]]], seconds: float
) -> dict[str, float | None]:
    """Preflight ÷ each baseline. A baseline that finished no batch within the scenario's
    `seconds` has no throughput to divide by, only a ceiling (one batch in that time), so its
    ratio is reported as a floor: `throughput_ratio_vs_X_at_least`."""
    ours = speed["preflight"]
    out: dict[str, float | None] = {}
    for system in SYSTEMS[1:]:
        suffix = system.replace("-", "_")
        theirs = speed.get(system, {})
        if "customs" in theirs:
            out[f"throughput_ratio_vs_{suffix}"] = _ratio(
                ours["customs"]["items_per_s"], theirs["customs"]["items_per_s"]
            )
            if not theirs["customs"]["requests"]:
                out[f"throughput_ratio_vs_{suffix}_at_least"] = _ratio(
                    ours["customs"]["items_per_s"], BATCH_ITEMS / seconds
                )
            out[f"batch_p99_ratio_vs_{suffix}"] = _ratio(
                ours["customs"]["p99_ms"], theirs["customs"]["p99_ms"]
            )
        if "postal" in theirs:
            out[f"unary_throughput_ratio_vs_{suffix}"] = _ratio(
                ours["postal"]["rps"], theirs["postal"]["rps"]
            )
            out[f"p99_ratio_vs_{suffix}"] = _ratio(
                ours["postal"]["p99_ms"], theirs["postal"]["p99_ms"]
            )
    return out


def _table(report: dict[str, Any]) -> str:
    speed, quality = report["speed"], report["quality"]
    lines = [
        f"Preflight vs hand-built baselines: {report['incidents']:,} incidents, "
        f"{report['workers']} gRPC workers each, {report['seconds_per_scenario']} s per scenario, "
        f"this machine ({report['cores']} cores shared by servers and load generator).",
        "",
        "| system | postal screens/s | postal p50 / p99 ms | server CPU ms/screen "
        "| customs items/s | batch p50 / p99 ms | server CPU ms/item "
        "| recall (AMBER+RED) | false-alert rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for system in SYSTEMS:
        postal = speed.get(system, {}).get("postal")
        customs = speed.get(system, {}).get("customs")
        q = quality.get(system, {})
        cells = [system]
        cells += (
            [f"{postal['rps']:,}", f"{postal['p50_ms']:g} / {postal['p99_ms']:g}",
             f"{postal['server_cpu_ms_per_item']:g}"] if postal else ["not run"] * 3
        )  # fmt: skip
        cells += (
            [f"{customs['items_per_s']:,}", f"{customs['p50_ms']:g} / {customs['p99_ms']:g}",
             f"{customs['server_cpu_ms_per_item']:g}"] if customs else ["not run"] * 3
        )  # fmt: skip
        cells += [str(q.get("recall_alert", "")), str(q.get("false_alert_rate", ""))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Ratios (Preflight ÷ baseline; p99 ratios below 1 mean Preflight is faster):", ""]
    lines += [f"- `{k}`: {v}" for k, v in report["ratios"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_arguments(parser)
    parser.add_argument("--eval-background", type=int, default=100_000)
    parser.add_argument("--per-family", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path("reports/compare.json"))
    args = parser.parse_args()
    out_dir = args.out.parent / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_seconds: dict[str, float] = {}
    speed: dict[str, dict[str, dict[str, float]]] = {}
    ready_seconds: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as rs, PostgresServer() as pg:
        quality = _quality(pg, rs, args.eval_background, args.per_family, args.seed)

        db = Path(tmp) / "preflight.db"
        store = SqliteStore(db)
        postgis = PostgisLoader(pg.dsn)
        client = redis.Redis.from_url(rs.url)
        keyed = RedisLoader(client, REDIS_PREFIX)
        for chunk in _seeded(args.incidents):
            _timed(load_seconds, "preflight", store.put, chunk)
            _timed(load_seconds, "postgis", postgis.add, chunk)
            _timed(load_seconds, "redis", keyed.add, chunk)
        store.close()
        _timed(load_seconds, "postgis", postgis.finish)
        _timed(load_seconds, "redis", keyed.finish)
        client.close()
        print("loaded: " + ", ".join(f"{k} {v:.0f} s" for k, v in load_seconds.items()))

        def command(system: str, target: str) -> list[str]:
            if system == "preflight":
                return [sys.executable, "-m", "service", "serve", "--store-url",
                        f"sqlite:///{db}", "--listen", target, "--workers", str(args.workers),
                        "--allow-plaintext", "--metrics-listen", ""]  # fmt: skip
            url = rs.url if system == "redis" else pg.dsn
            return [sys.executable, "-m", "benchmarks.compare.serve", system, url,
                    "--listen", target, "--workers", str(args.workers)]  # fmt: skip

        for system in SYSTEMS:
            target = f"127.0.0.1:{free_port()}"
            launched = time.monotonic()
            with _served(command(system, target), target) as pid:
                ready_seconds[system] = round(time.monotonic() - launched, 1)
                backing = {"preflight": None, "redis": rs.pid}.get(system, pg.pid)

                def cpu(pid: int = pid, backing: int | None = backing) -> float:
                    return tree_cpu_s(pid) + (tree_cpu_s(backing) if backing else 0.0)

                runs = {"postal": args.postal_users, "customs": args.customs_users}
                if system == "postgis-naive":
                    del runs["customs"]  # ~10 screens/s: one batch of 500 outlasts the run
                speed[system] = {
                    scenario: _scenario(
                        system, scenario, users, args.seconds, target, cpu, out_dir, args.incidents
                    )
                    for scenario, users in runs.items()
                }

    report: dict[str, Any] = {
        "incidents": args.incidents,
        "workers": args.workers,
        "cores": len(os.sched_getaffinity(0)),
        "ready_seconds": ready_seconds,
        "seconds_per_scenario": args.seconds,
        "eval": {
            "seed": args.seed,
            "background": args.eval_background,
            "per_family": args.per_family,
        },
        "load_seconds": {k: round(v, 1) for k, v in load_seconds.items()},
        "speed": speed,
        "quality": quality,
        "ratios": _ratios(speed, args.seconds),
        "seconds": round(time.perf_counter() - started),
    }
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    table = _table(report)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    print(f"-> {args.out}, {args.out.with_suffix('.md')} and {out_dir}/")


if __name__ == "__main__":
    main()
