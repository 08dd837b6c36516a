"""The shipped dashboard and rules speak only of metrics the service exports, and every alert
has a promtool unit test that expects it to fire."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from service.metrics import ServerMetrics, WorkerCollector
from tests.conftest import promtool

DEPLOY = Path(__file__).parents[1] / "deploy"
RULES = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
RULE_TESTS = yaml.safe_load((DEPLOY / "prometheus" / "tests" / "alerts_test.yml").read_text())
DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "preflight.json").read_text())

PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "rate", "irate", "increase", "delta", "time",
    "vector", "histogram_quantile", "offset", "bool", "abs", "clamp_min", "clamp_max",
}  # fmt: skip
SCRAPE_METRICS = {"up"}  # written by Prometheus itself for every target


def exported_series_names() -> set[str]:
    """Every series name the service writes: its families with their suffixes."""
    registry = CollectorRegistry()
    ServerMetrics(registry)
    registry.register(WorkerCollector(lambda: {0: 1}, 1))
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers outside label matchers, grouping
    clauses, ranges and strings, minus PromQL's own words."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d*e\d*", w)}


def rules() -> Iterator[dict[str, Any]]:
    for group in RULES["groups"]:
        yield from group["rules"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", ()):
            yield panel["title"], target["expr"]


RECORDED = {rule["record"] for rule in rules() if "record" in rule}
KNOWN = exported_series_names() | RECORDED | SCRAPE_METRICS


@pytest.mark.parametrize("rule", list(rules()), ids=lambda r: r.get("alert") or r["record"])
def test_rules_read_only_exported_metrics(rule: dict[str, Any]) -> None:
    assert metric_names(rule["expr"]) <= KNOWN, metric_names(rule["expr"]) - KNOWN


@pytest.mark.parametrize(("title", "expr"), list(dashboard_expressions()))
def test_dashboard_reads_only_exported_metrics(title: str, expr: str) -> None:
    names = metric_names(expr)
    assert names <= KNOWN, names - KNOWN
    assert names or expr.startswith("vector("), "an expression that reads nothing"


def test_recording_rules_follow_the_naming_convention() -> None:
    for name in RECORDED:
        assert re.fullmatch(r"[a-z]+:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    fired = {
        case["alertname"]
        for test in RULE_TESTS["tests"]
        for case in test.get("alert_rule_test", ())
        if case.get("exp_alerts")
    }
    assert alerts - fired == set()


def test_the_extractor_finds_names_and_skips_labels() -> None:
    expr = 'sum by (job, le) (rate(foo_bucket{grpc_method="Screen",le="0.005"}[5m])) / bar:x:y'
    assert metric_names(expr) == {"foo_bucket", "bar:x:y"}
    assert metric_names('time() - min(baz{job=~"$job"}) > 1e3') == {"baz"}


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    """promtool parses each dashboard query (as a recording rule, Grafana's variables filled)."""
    exprs = [
        expr.replace("$__rate_interval", "5m").replace("$job", ".*")
        for _, expr in dashboard_expressions()
    ]
    group = {"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}:check", "expr": e} for i, e in enumerate(exprs)
    ]}  # fmt: skip
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [group]}))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
