"""`make bench-service`: the whole service on this machine, client on the same machine.

A SQLite store is filled with seeded incidents; `preflight serve` runs as real worker processes;
this process measures start-up to SERVING, closed-loop unary throughput, unary latency at a
fixed open-loop rate, `preflight manifest` throughput on a generated CSV, and incident-to-verdict
freshness -> reports/bench-service.json.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson

from index.model import Incident, Party, PartyRole, s10_check_digit
from index.synthetic import Generator
from loadtest.traffic import STORE_SEED
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.client import PreflightClient, wait_serving
from service.manifest import INPUT_COLUMNS, screen_manifest
from service.store.sqlite import SqliteStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill_seeded(store: SqliteStore, count: int) -> None:
    """Incidents 0..count-1 of the benchmark seed (what loadtest.traffic draws hits from)."""
    gen = Generator(seed=STORE_SEED)
    batch: list[Incident] = []
    for number in range(count):
        batch.append(gen.incident_at(number))
        if len(batch) == 1000:
            store.put(batch)
            batch = []
    if batch:
        store.put(batch)


def _s10(n: int) -> str:
    digits = f"{n % 10**8:08d}"
    return f"RR{digits}{s10_check_digit(digits)}DE"


def _requests(count: int) -> list[pb.ScreenRequest]:
    gen = Generator(seed=77)
    out = []
    for n in range(count):
        parties = []
        for role, proto_role in ((PartyRole.EXPORTER, pb.PARTY_ROLE_EXPORTER),
                                 (PartyRole.IMPORTER, pb.PARTY_ROLE_IMPORTER)):  # fmt: skip
            p = gen.party(role)
            message = pb.Party(role=proto_role, name=p.name, business_name=p.business_name,
                               city=p.city, postcode=p.postcode, country_code=p.country_code,
                               phones=list(p.phones))  # fmt: skip
            if p.location is not None:
                message.location.CopyFrom(pb.Location(lat=p.location.lat, lon=p.location.lon))
            parties.append(message)
        out.append(pb.ScreenRequest(
            item=pb.Item(item_id=_s10(n), channel=pb.CHANNEL_PARCEL_POST), parties=parties
        ))  # fmt: skip
    return out


def _closed_loop(
    target: str, requests: list[pb.ScreenRequest], threads: int, seconds: float
) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(k: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.ScreeningServiceStub(channel)
            i = k
            while time.monotonic() < stop:
                stub.Screen(requests[i % len(requests)], timeout=5)
                done[k] += 1
                i += threads

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - started)


def _open_loop(
    target: str, requests: list[pb.ScreenRequest], rate: float, seconds: float
) -> tuple[float, float, int]:
    """Requests sent on a fixed schedule (not waiting for replies): p50, p99 ms and errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)
        futures = []
        start = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            future = stub.Screen.future(requests[n % len(requests)], timeout=5)

            def record(f: grpc.Future[pb.ScreenResponse], sent: float = sent) -> None:
                with lock:
                    if f.exception() is None:
                        latencies.append(time.monotonic() - sent)
                    else:
                        errors[0] += 1

            future.add_done_callback(record)
            futures.append(future)
        for future in futures:
            with contextlib.suppress(grpc.RpcError):
                future.result()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return p50, p99, errors[0]


def _manifest_rows(count: int) -> Iterator[dict[str, str]]:
    gen = Generator(seed=91)
    for n in range(count):
        s, a = gen.party(PartyRole.EXPORTER), gen.party(PartyRole.IMPORTER)
        yield {
            "item_id": _s10(n), "channel": "parcel_post",
            "sender_name": s.name, "sender_business_name": s.business_name, "sender_city": s.city,
            "sender_country": s.country_code, "addressee_name": a.name,
            "addressee_business_name": a.business_name, "addressee_city": a.city,
            "addressee_country": a.country_code,
        }  # fmt: skip


def _freshness(store: SqliteStore, target: str, samples: int) -> list[float]:
    out = []
    with PreflightClient(target) as client:
        for n in range(samples):
            name = f"Freshness Probe Zqx{n:04d} Vantor"
            incident = Incident(
                incident_id=f"FRESH-{os.getpid()}-{n}", kind=Generator(1).incident(0).kind,
                reported_on=Generator(1).incident(0).reported_on, reporting_country="DE",
                parties=(Party(PartyRole.EXPORTER, business_name=name, country_code="CN"),),
            )  # fmt: skip
            request = pb.ScreenRequest(
                item=pb.Item(item_id="AWB-FRESH", channel=pb.CHANNEL_EXPRESS),
                parties=[pb.Party(business_name=name, country_code="CN")],
            )
            store.put([incident])
            written = time.monotonic()
            while client.screen(request).stoplight == pb.STOPLIGHT_GREEN:
                if time.monotonic() - written > 10:
                    raise TimeoutError("an incident never reached screening")
                time.sleep(0.002)
            out.append(time.monotonic() - written)
            time.sleep(random.uniform(0.0, 0.05))
    return out


def _start(
    db: Path, target: str, workers: int, snapshots: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """`preflight serve` on the store, keeping snapshot files; the seconds to SERVING."""
    launched = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", f"sqlite:///{db}",
         "--listen", target, "--workers", str(workers), "--allow-plaintext"],
        # The measured throughput, not the default per-caller limit, is the subject here.
        env={**os.environ, "PREFLIGHT_SNAPSHOT_DIR": str(snapshots),
             "PREFLIGHT_RATE_LIMIT_PER_S": "1000000", "PREFLIGHT_RATE_BURST": "1000000"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_serving(target, 900)
    except BaseException:
        server.kill()
        raise
    return server, time.monotonic() - launched


def _service_pss_bytes(server: subprocess.Popen[bytes]) -> int:
    """Proportional set size of the service (supervisor and workers): shared pages counted
    once, which is what the machine pays."""
    pids = [server.pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
        pids += [int(p) for p in children.split()]
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


def _verdicts(
    target: str, requests: list[pb.ScreenRequest]
) -> list[tuple[int, float, tuple[str, ...]]]:
    """Stoplight, score and matched incidents of each request, in order."""
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)
        out = []
        for request in requests:
            reply = stub.Screen(request, timeout=10)
            matched = tuple(
                sorted({m.incident.incident_id for p in reply.parties for m in p.matches})
            )
            out.append((int(reply.stoplight), round(reply.score, 3), matched))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--manifest-rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("reports/bench-service.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = SqliteStore(db)
        started = time.perf_counter()
        fill_seeded(store, args.incidents)
        print(f"stored {args.incidents:,} incidents in {time.perf_counter() - started:.0f} s")
        port = _free_port()
        target = f"127.0.0.1:{port}"
        snapshots = Path(tmp) / "snapshots"
        server, startup_s = _start(db, target, args.workers, snapshots)
        print(f"start-up to SERVING: {startup_s:.1f} s")
        pss_cold = _service_pss_bytes(server)
        print(f"service PSS: {pss_cold / 2**20:.0f} MB, {pss_cold / args.incidents:.0f} B/incident")
        try:
            requests = _requests(5_000)
            closed_rps = _closed_loop(target, requests, threads=16, seconds=args.seconds)
            print(f"closed loop: {closed_rps:.0f} screens/s")
            p50, p99, errors = _open_loop(target, requests, rate=1000, seconds=args.seconds)
            print(f"open loop 1000/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {errors} errors")
            manifest = Path(tmp) / "manifest.csv"
            with manifest.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=INPUT_COLUMNS)
                writer.writeheader()
                writer.writerows(_manifest_rows(args.manifest_rows))
            with PreflightClient(target, timeout_s=60) as client:
                began = time.perf_counter()
                totals = screen_manifest(manifest, Path(tmp) / "out.csv", client,
                                         batch_size=500, in_flight=4)  # fmt: skip
                manifest_rate = totals.rows / (time.perf_counter() - began)
            print(f"manifest: {manifest_rate:.0f} items/s ({totals.rows:,} rows)")
            fresh = sorted(_freshness(store, target, 50))
            freshness_p99 = fresh[int(len(fresh) * 0.99)]
            print(f"freshness: median {statistics.median(fresh):.3f} s, p99 {freshness_p99:.3f} s")
            before = _verdicts(target, requests[:500])
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        # A restart: the snapshot file written at the first start, plus the feed since (the
        # freshness probes' writes), must give the same verdicts as the running service did.
        server, restart_s = _start(db, target, args.workers, snapshots)
        try:
            print(f"restart to SERVING from the snapshot file: {restart_s:.1f} s")
            pss_restart = _service_pss_bytes(server)
            after = _verdicts(target, requests[:500])
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        same = before == after
        print(f"verdicts after the restart identical to before it: {same}")
    report = {
        "incidents": args.incidents,
        "workers": args.workers,
        "startup_s": round(startup_s, 1),
        f"startup_s_{args.incidents // 1_000_000}m" if args.incidents >= 1_000_000 else
        "startup_s_small": round(startup_s, 1),
        f"restart_s_{args.incidents // 1_000_000}m_from_snapshot_file"
        if args.incidents >= 1_000_000 else "restart_s_small_from_snapshot_file":
        round(restart_s, 1),
        "restart_verdicts_identical": same,
        "service_pss_mb": round(pss_cold / 2**20, 1),
        "service_pss_bytes_per_incident": round(pss_cold / args.incidents, 1),
        "service_pss_bytes_per_incident_after_restart": round(pss_restart / args.incidents, 1),
        "unary_closed_loop_rps": round(closed_rps, 1),
        "unary_p50_ms_at_1000rps": round(p50, 2),
        "unary_p99_ms_at_1000rps": round(p99, 2),
        "unary_errors_at_1000rps": errors,
        "manifest_items_per_s": round(manifest_rate, 1),
        "freshness_median_s": round(statistics.median(fresh), 3),
        "freshness_p99_s": round(freshness_p99, 3),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
