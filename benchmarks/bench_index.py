"""`make bench`: build time, memory and single-core screening speed of the compiled core.

Each size runs in its own process so that memory figures are its own. Incidents are generated
and serialized as the store holds them (JSON documents) before the clock starts; the build
decodes, validates and indexes them (2 threads on this machine). Memory is read after the
documents are dropped and the heap trimmed, and again in a fresh process that maps the
snapshot file (as a restarted server does). Screening runs on one core, bytes in and bytes
out through `index._core` (the servicer's call), over distinct two-party queries (mostly clean
parties, some near-variants, a few true hits): one by one, and in batches of 100
-> reports/bench.json. The synthetic names and streets come from small pools, so at 1M many
"clean" parties share a recorded name in their city and are explained as matches: the median
of the items that stay all GREEN is reported beside the whole mix.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import orjson

from index import _core
from index.model import Incident, Party, PartyRole, Query
from index.policy import DEFAULT_POLICY, policy_json
from index.synthetic import TODAY, Generator, item_query, offset
from preflight.v1 import preflight_pb2 as pb
from service.codec import incident_to_json
from service.rpc.convert import query_to_pb
from service.screener import compiled_policy
from service.settings import DEFAULT_INDEX_KEY

SIZES = {"100k": 100_000, "1m": 1_000_000}
QUERIES = 20_000
WARMUP = 2_000
BATCH = 100  # items per customs batch call


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _trim() -> None:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _queries(gen: Generator, sample: list[Incident], count: int) -> list[Query]:
    rng = random.Random(99)
    queries = []
    for _ in range(count):
        parties: list[Party] = [gen.party(PartyRole.EXPORTER)]
        roll = rng.random()
        if roll < 0.10:
            incident = rng.choice(sample)
            target = rng.choice(incident.parties)
            if target.location is not None and roll < 0.03:
                target = replace(target, location=offset(target.location, 40, 90))
            parties[0] = replace(target, phones=(), emails=()) if roll >= 0.03 else target
        parties.append(gen.party(PartyRole.IMPORTER))
        queries.append(item_query(rng, tuple(parties)))
    return queries


_LOAD_FILE = """
import ctypes, gc, os, sys, time
from index import _core
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
gc.collect()
before = rss()
started = time.perf_counter()
snapshot, _ = _core.Snapshot.load(sys.argv[1], 1)
seconds = time.perf_counter() - started
mapped = rss() - before
view = _core.View(snapshot)
policy = _core.Policy.from_json(sys.argv[2])
with open(sys.argv[3], "rb") as f:
    requests = f.read().split(b"\\0sep\\0")
for request in requests:
    view.screen(request, policy, int(sys.argv[4]), 0.0)
print(seconds, mapped, rss() - before)
"""


def _loaded_from_file(snapshot: _core.Snapshot, requests: list[bytes]) -> dict[str, float]:
    """A fresh process that maps the snapshot file, as a restarted server does: load seconds,
    and its RSS just after mapping and after screening the queries (pages touched)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.pfsnap"
        started = time.perf_counter()
        snapshot.save(path, b"{}")
        save_s = time.perf_counter() - started
        queries = Path(tmp) / "requests"
        queries.write_bytes(b"\0sep\0".join(requests))
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_FILE, str(path), policy_json(DEFAULT_POLICY),
             str(queries), str(TODAY.toordinal())],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        load_s, mapped, screened = (float(x) for x in done.stdout.split())
        return {"save_s": save_s, "load_s": load_s, "file_bytes": path.stat().st_size,
                "rss_mapped": mapped, "rss_after_queries": screened}  # fmt: skip


def run_size(count: int) -> dict[str, float]:
    gen = Generator(seed=11)
    _trim()
    rss_before = _rss_bytes()  # the documents' memory is freed (and trimmed) before the reading
    started = time.perf_counter()
    documents = []
    for number in range(count):
        incident = gen.incident_at(number)
        documents.append((incident.incident_id, incident_to_json(incident)))
    generation_s = time.perf_counter() - started
    sample = [gen.incident_at(n) for n in range(0, count, max(count // 2000, 1))]
    started = time.perf_counter()
    snapshot, invalid = _core.Snapshot.build(documents, DEFAULT_INDEX_KEY, 1)
    build_s = time.perf_counter() - started
    assert not invalid
    documents_bytes = sum(len(body) for _, body in documents)
    del documents
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _trim()
    rss_after = _rss_bytes()
    view = _core.View(snapshot)
    policy = compiled_policy(DEFAULT_POLICY)
    today = TODAY.toordinal()

    queries = _queries(Generator(seed=12, pools=gen.pools), sample, QUERIES + WARMUP)
    requests = [query_to_pb(q).SerializeToString() for q in queries]
    batches = [
        pb.ScreenBatchRequest(
            items=[query_to_pb(q) for q in queries[i : i + BATCH]]
        ).SerializeToString()
        for i in range(WARMUP, len(queries), BATCH)
    ]
    for request in requests[:WARMUP]:
        view.screen(request, policy, today, 0.0)
    timings = []
    clean = []  # the GREEN items' own timings: most real traffic, and cheaper to explain
    red = 0
    started = time.perf_counter()
    for request in requests[WARMUP:]:
        t0 = time.perf_counter_ns()
        _, summary = view.screen(request, policy, today, 0.0)
        elapsed = time.perf_counter_ns() - t0
        timings.append(elapsed)
        _, amber, red_items = summary.stoplight_counts()
        red += red_items
        if amber == red_items == 0:
            clean.append(elapsed)
    total_s = time.perf_counter() - started
    timings.sort()
    started = time.perf_counter()
    for batch in batches:
        view.screen_batch(batch, policy, today, 0.0, BATCH)
    batch_s = time.perf_counter() - started
    loaded = _loaded_from_file(snapshot, requests[:WARMUP])
    return {
        "incidents": count,
        "parties": snapshot.party_count,
        "build_s": round(build_s, 2),
        "build_threads": len(os.sched_getaffinity(0)),
        "generation_s": round(generation_s, 2),
        "documents_mb": round(documents_bytes / 2**20, 1),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "steady_rss_mb": round((rss_after - rss_before) / 2**20, 1),
        "bytes_per_incident": round((rss_after - rss_before) / count, 1),
        "snapshot_bytes_per_incident": round(snapshot.nbytes / count, 1),
        "file_bytes_per_incident": round(loaded["file_bytes"] / count, 1),
        "file_save_s": round(loaded["save_s"], 2),
        "file_load_s": round(loaded["load_s"], 3),
        "bytes_per_incident_mapped_after_2000_screens": round(
            loaded["rss_after_queries"] / count, 1
        ),
        "screens_per_s_1core": round(QUERIES / total_s, 1),
        "batch_screens_per_s_1core": round(QUERIES / batch_s, 1),
        "batch_size": BATCH,
        "p50_us": round(statistics.median(timings) / 1000, 1),
        "p99_us": round(timings[int(len(timings) * 0.99)] / 1000, 1),
        "red_share": round(red / QUERIES, 3),
        "green_share": round(len(clean) / QUERIES, 3),
        "green_p50_us": round(statistics.median(clean) / 1000, 1) if clean else float("nan"),
        "queries": QUERIES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), help="run one size in this process")
    parser.add_argument("--sizes", default="100k,1m", help="sizes to run, each in a child")
    parser.add_argument("--out", type=Path, default=Path("reports/bench.json"))
    args = parser.parse_args()
    if args.size:
        sys.stdout.write(orjson.dumps(run_size(SIZES[args.size])).decode() + "\n")
        return
    by_size = {}
    for size in args.sizes.split(","):
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_index", "--size", size],
            check=True,
            capture_output=True,
            text=True,
        )
        by_size[size] = orjson.loads(child.stdout.strip().splitlines()[-1])
        fig = by_size[size]
        print(
            f"{size:>5}: build {fig['build_s']} s, peak RSS {fig['peak_rss_mb']} MB, "
            f"{fig['bytes_per_incident']} B/incident steady, file load {fig['file_load_s']} s "
            f"({fig['bytes_per_incident_mapped_after_2000_screens']} B/incident mapped after "
            f"2,000 screens), "
            f"{fig['screens_per_s_1core']} screens/s on one core one by one "
            f"(p50 {fig['p50_us']} µs, p99 {fig['p99_us']} µs), "
            f"{fig['batch_screens_per_s_1core']} screens/s in batches of {BATCH}; "
            f"{fig['red_share']:.0%} of items RED, the {fig['green_share']:.0%} all GREEN "
            f"p50 {fig['green_p50_us']} µs"
        )
    report = {**by_size.get("1m", {}), "by_size": by_size}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
