"""Parity of the two cores: the Python screening path and the compiled one, on the same
incidents and queries (the evaluation sets and the bench queries). Every stoplight must be the
same, scores within 0.1, and the same incident ids matched; each difference is listed with
both answers -> reports/parity.json.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from index.evaluation import build_evaluation_set, screening_date
from index.model import Incident, PartyRole, Query, Result
from index.policy import DEFAULT_POLICY
from index.snapshot import IndexView, build_snapshot
from index.synthetic import Generator, item_query
from service.screener import CompiledView

SCORE_TOLERANCE = 0.1


@dataclass(slots=True)
class Tally:
    compared: int = 0
    identical: int = 0  # every field of the verdict the same, explanations included
    differences: list[dict[str, object]] = field(default_factory=list)


def _ids(result: Result) -> list[list[str]]:
    return [[m.incident.incident_id for m in p.matches] for p in result.parties]


def _brief(result: Result) -> dict[str, object]:
    return {
        "stoplight": result.stoplight.value,
        "score": result.score,
        "reasons": [r.value for r in result.reasons],
        "parties": [
            [
                (m.incident.incident_id, m.score, [r.value for r in m.reasons],
                 m.evidence.name_similarity, m.evidence.query_name, m.evidence.incident_name)
                for m in p.matches
            ]
            for p in result.parties
        ],
    }  # fmt: skip


def compare(
    label: str, incidents: list[Incident], queries: list[Query], tally: Tally
) -> tuple[float, float]:
    today = screening_date()
    python_view = IndexView.of(build_snapshot(incidents, generation=1))
    compiled = CompiledView.build(incidents, generation=1)
    python_s = compiled_s = 0.0
    for query in queries:
        started = time.perf_counter()
        expected = python_view.screen(query, DEFAULT_POLICY, today)
        python_s += time.perf_counter() - started
        started = time.perf_counter()
        got = compiled.screen(query, DEFAULT_POLICY, today)
        compiled_s += time.perf_counter() - started
        tally.compared += 1
        tally.identical += expected == got
        if (
            expected.stoplight != got.stoplight
            or abs(expected.score - got.score) > SCORE_TOLERANCE
            or _ids(expected) != _ids(got)
        ):
            tally.differences.append(
                {
                    "set": label,
                    "item_id": query.item_id,
                    "python": _brief(expected),
                    "compiled": _brief(got),
                }
            )
    return python_s, compiled_s


def bench_queries(count: int, seed: int) -> tuple[list[Incident], list[Query]]:
    gen = Generator(seed)
    incidents = [gen.incident_at(n) for n in range(count)]
    rng = random.Random(seed)
    queries = []
    for _ in range(2_000):
        parties = [gen.party(PartyRole.EXPORTER), gen.party(PartyRole.IMPORTER)]
        if rng.random() < 0.2:
            parties[0] = rng.choice(rng.choice(incidents).parties)
        queries.append(item_query(rng, tuple(parties)))
    return incidents, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--background", type=int, default=20_000)
    parser.add_argument("--per-family", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("reports/parity.json"))
    args = parser.parse_args()
    tally = Tally()
    for seed in (2026, 7):
        dataset = build_evaluation_set(seed, args.background, args.per_family)
        queries = [case.query for case in dataset.cases]
        python_s, compiled_s = compare(f"eval-{seed}", list(dataset.incidents), queries, tally)
        print(f"eval seed {seed}: {len(queries)} queries, python {python_s:.1f} s, "
              f"compiled {compiled_s:.1f} s (typed path)")  # fmt: skip
    incidents, queries = bench_queries(args.background, 99)
    compare("bench", incidents, queries, tally)
    report = {"compared": tally.compared, "identical": tally.identical,
              "different": len(tally.differences),
              "differences": tally.differences}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"{tally.compared} verdicts compared, {tally.identical} identical in every field, "
          f"{len(tally.differences)} differ "
          f"(stoplight, score > {SCORE_TOLERANCE} or incident ids) -> {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
