"""`make eval`: recall and false-alert rate on the labelled evaluation set -> reports/eval.json."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from index.evaluation import build_evaluation_set, evaluate, screening_date
from index.policy import DEFAULT_POLICY, parse_policy
from service.screener import CompiledView


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--background", type=int, default=100_000, help="incidents in the index")
    parser.add_argument("--per-family", type=int, default=500, help="cases per variant family")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--policy", type=Path, help="policy TOML (default: built-in)")
    parser.add_argument("--out", type=Path, default=Path("reports/eval.json"))
    args = parser.parse_args()

    policy = parse_policy(args.policy.read_text()) if args.policy else DEFAULT_POLICY
    started = time.perf_counter()
    dataset = build_evaluation_set(args.seed, args.background, args.per_family)
    view = CompiledView.build(dataset.incidents, generation=1)
    today = screening_date()
    figures = evaluate(lambda q: view.screen(q, policy, today), dataset.cases).as_dict()
    report = {
        "policy_version": policy.version,
        "seed": args.seed,
        "background_incidents": args.background,
        "seconds": round(time.perf_counter() - started, 1),
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))

    print(f"policy {policy.version}, {args.background:,} incidents, seed {args.seed}")
    print(f"{'family':<16}{'cases':>7}{'alert':>9}{'red':>9}")
    for family, fig in report["by_family"].items():
        rate = fig.get("recall_alert", fig.get("false_alert_rate"))
        red = fig.get("recall_red", fig.get("red_rate"))
        kind = "+" if fig["positive"] else "-"
        print(f"{kind} {family:<14}{fig['cases']:>7}{rate:>9.3f}{red:>9.3f}")
    print(
        f"recall (AMBER+RED) {report['recall_alert']:.3f}   recall RED {report['recall_red']:.3f}"
        f"   false-alert rate {report['false_alert_rate']:.4f}"
        f"   RED precision {report['red_precision']:.4f}"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
