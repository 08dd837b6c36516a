from __future__ import annotations

from index.evaluation import (
    NEGATIVE_FAMILIES,
    POSITIVE_FAMILIES,
    build_evaluation_set,
    evaluate,
    screening_date,
)
from index.policy import DEFAULT_POLICY
from index.snapshot import IndexView, build_snapshot


def test_small_evaluation_run_reports_every_family_and_catches_most_variants() -> None:
    dataset = build_evaluation_set(seed=1, background=1500, per_family=12)
    assert len(dataset.cases) == 12 * (len(POSITIVE_FAMILIES) + len(NEGATIVE_FAMILIES))
    again = build_evaluation_set(seed=1, background=1500, per_family=12)
    assert [c.query for c in again.cases] == [c.query for c in dataset.cases]
    view = IndexView.of(build_snapshot(dataset.incidents, 1))
    figures = evaluate(lambda q: view.screen(q, DEFAULT_POLICY, screening_date()), dataset.cases)
    report = figures.as_dict()
    assert set(figures.by_family) == set(POSITIVE_FAMILIES) | set(NEGATIVE_FAMILIES)
    assert set(report["by_family"]) == set(figures.by_family)  # type: ignore[call-overload]
    assert float(report["recall_alert"]) >= 0.8  # type: ignore[arg-type]
    assert float(report["false_alert_rate"]) <= 0.1  # type: ignore[arg-type]
