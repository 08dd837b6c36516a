"""`make bench`: build time, memory and single-core screening speed of the core.

Each size runs in its own process so that memory figures are its own: incidents are generated
lazily into the build (generation time is measured and subtracted), steady-state RSS is read
after a full garbage collection, and screening runs on one core over distinct two-party
queries (mostly clean parties, some near-variants, a few true hits), one by one and in
batches of 100 -> reports/bench.json.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

from index.model import Incident, Party, PartyRole, Query
from index.policy import DEFAULT_POLICY
from index.snapshot import IndexView, Snapshot, build_snapshot
from index.synthetic import TODAY, Generator, item_query, offset

SIZES = {"100k": 100_000, "1m": 1_000_000}
QUERIES = 20_000
WARMUP = 2_000
BATCH = 100  # items per customs batch call


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class _TimedIncidents:
    """Yields generated incidents, timing only the generation. Keeps none of them: objects
    kept from the middle of a build would pin allocator arenas and inflate the RSS figure."""

    def __init__(self, gen: Generator, count: int) -> None:
        self.gen = gen
        self.count = count
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Incident]:
        for number in range(self.count):
            started = time.perf_counter()
            incident = self.gen.incident_at(number)
            self.seconds += time.perf_counter() - started
            yield incident

    def sample(self, size: int) -> list[Incident]:
        """Some of the same incidents again, regenerated after the build."""
        step = max(self.count // size, 1)
        return [self.gen.incident_at(n) for n in range(0, self.count, step)]


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


_LOAD_COLUMNS = """
import ctypes, gc, os, sys
import numpy as np
from index.snapshot import Snapshot
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
gc.collect()
before = rss()
with np.load(sys.argv[1], allow_pickle=False) as members:
    snapshot = Snapshot.from_columns({name: members[name] for name in members.files}, 1)
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
print(rss() - before)
"""


def _rss_loaded_from_columns(snapshot: Snapshot) -> int:
    """RSS the same snapshot costs a fresh process that loads it from its columns (as a server
    does from a snapshot file) instead of building it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "columns.npz"
        with path.open("wb") as out:
            np.savez(out, allow_pickle=False, **snapshot.columns())
        done = subprocess.run([sys.executable, "-c", _LOAD_COLUMNS, str(path)],
                              check=True, capture_output=True, text=True)  # fmt: skip
    return int(done.stdout.split()[-1])


def run_size(count: int) -> dict[str, float]:
    gen = Generator(seed=11)
    gc.collect()
    rss_before = _rss_bytes()
    incidents = _TimedIncidents(gen, count)
    started = time.perf_counter()
    snapshot = build_snapshot(incidents, generation=1)
    build_s = time.perf_counter() - started - incidents.seconds
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    rss_retained = _rss_bytes()
    # Freed build temporaries stay in the allocator until trimmed; a server should trim after
    # each build, so steady state is measured after malloc_trim and the untrimmed figure is
    # reported beside it.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    rss_after = _rss_bytes()
    rss_loaded = _rss_loaded_from_columns(snapshot)
    view = IndexView.of(snapshot)

    sample = incidents.sample(2000)
    queries = _queries(Generator(seed=12, pools=gen.pools), sample, QUERIES + WARMUP)
    for query in queries[:WARMUP]:
        view.screen(query, DEFAULT_POLICY, TODAY)
    timings = []
    started = time.perf_counter()
    for query in queries[WARMUP:]:
        t0 = time.perf_counter_ns()
        view.screen(query, DEFAULT_POLICY, TODAY)
        timings.append(time.perf_counter_ns() - t0)
    total_s = time.perf_counter() - started
    timings.sort()
    started = time.perf_counter()
    for first in range(WARMUP, len(queries), BATCH):
        view.screen_many(queries[first : first + BATCH], DEFAULT_POLICY, TODAY)
    batch_s = time.perf_counter() - started
    return {
        "incidents": count,
        "parties": snapshot.party_count,
        "build_s": round(build_s, 2),
        "generation_s": round(incidents.seconds, 2),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "steady_rss_mb": round((rss_after - rss_before) / 2**20, 1),
        "bytes_per_incident": round((rss_after - rss_before) / count, 1),
        "bytes_per_incident_before_trim": round((rss_retained - rss_before) / count, 1),
        "bytes_per_incident_loaded_from_file": round(rss_loaded / count, 1),
        "snapshot_array_bytes_per_incident": round(snapshot.nbytes / count, 1),
        "screens_per_s_1core": round(QUERIES / total_s, 1),
        "batch_screens_per_s_1core": round(QUERIES / batch_s, 1),
        "batch_size": BATCH,
        "p50_us": round(statistics.median(timings) / 1000, 1),
        "p99_us": round(timings[int(len(timings) * 0.99)] / 1000, 1),
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
            f"{fig['bytes_per_incident']} B/incident steady "
            f"({fig['bytes_per_incident_loaded_from_file']} B loaded from its file), "
            f"{fig['screens_per_s_1core']} screens/s on one core one by one "
            f"(p50 {fig['p50_us']} µs, p99 {fig['p99_us']} µs), "
            f"{fig['batch_screens_per_s_1core']} screens/s in batches of {BATCH}"
        )
    report = {**by_size.get("1m", {}), "by_size": by_size}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
