"""Prometheus metrics: the standard gRPC server vocabulary plus `preflight_*` domain metrics.

Every metric lives in one `ServerMetrics` object bound to a registry, so a test can hold a
fresh one. `preflight serve` runs in prometheus-client's multiprocess mode (one mmap file per
worker in a shared folder, summed by the exporter), so `enable_multiprocess` must run before
the first `ServerMetrics` is created. Labels are bounded: RPC names, status codes, stoplights,
reason codes, outcomes, policy versions and configured caller names; never an item id, an
incident id or a party.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from index import _core
from index.model import Stoplight
from service.refresh import IndexStatus
from service.store.outcomes import OutcomeRecord

_STOPLIGHT_NAMES = ("GREEN", "AMBER", "RED")  # the order of Summary.stoplight_counts

# The latency SLO: 99% of unary Screen calls answered within this many seconds. One histogram
# bucket sits exactly on it, so the SLO ratio needs no interpolation.
SLO_SECONDS = 0.005
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, SLO_SECONDS, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0)  # fmt: skip
BUILD_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# grpc_code values as the standard (Go) server metrics write them, so stock dashboards work.
GRPC_CODE_NAMES = {
    code: "OK" if code is grpc.StatusCode.OK else code.name.title().replace("_", "")
    for code in grpc.StatusCode
}
GRPC_CODE_NAMES[grpc.StatusCode.CANCELLED] = "Canceled"
REJECTED_CODES = frozenset(
    {"InvalidArgument", "ResourceExhausted", "Unauthenticated", "PermissionDenied"}
)
GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")


def enable_multiprocess(directory: Path) -> None:
    """Switch this process (and the workers it forks) to multiprocess mode, in an empty
    `directory` (files left by an earlier run would be summed in)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def split_method(full_method: str) -> tuple[str, str]:
    """`/preflight.v1.ScreeningService/Screen` → (`preflight.v1.ScreeningService`, `Screen`)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


_SNAPSHOT_FILE_OUTCOMES = {
    "index loaded from file": "loaded",
    "snapshot file not used": "refused",
    "snapshot file written": "written",
    "snapshot file not written": "write_failed",
}


class ServerMetrics:
    """The metric families one server process writes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.grpc_started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", GRPC_LABELS, registry=r
        )
        self.grpc_handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            (*GRPC_LABELS, "grpc_code"),
            registry=r,
        )
        self.grpc_handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from receiving an RPC to sending its answer (seconds).",
            GRPC_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.grpc_received = Counter(
            "grpc_server_msg_received_total", "Messages received.", GRPC_LABELS, registry=r
        )
        self.grpc_sent = Counter(
            "grpc_server_msg_sent_total", "Messages sent.", GRPC_LABELS, registry=r
        )
        self.items = Counter(
            "preflight_items_screened_total",
            "Items screened (each item of a batch counts), with a verdict or an item error.",
            ("rpc",),
            registry=r,
        )
        self.invalid_items = Counter(
            "preflight_invalid_items_total",
            "Batch items answered with their own validation error instead of a verdict.",
            ("rpc",),
            registry=r,
        )
        self.verdicts = Counter(
            "preflight_verdicts_total", "Verdicts given, by stoplight.", ("stoplight",), registry=r
        )
        self.matches = Counter(
            "preflight_matches_total",
            "Verdicts carrying each reason code.",
            ("reason",),
            registry=r,
        )
        self.rejected = Counter(
            "preflight_rejected_requests_total",
            "Requests refused (bad input, over a limit, not authenticated or not allowed).",
            ("caller", "grpc_code"),
            registry=r,
        )

        self.auth_failures = Counter(
            "preflight_auth_failures_total",
            "Calls that failed to authenticate: refused (no or unknown credential) or throttled "
            "(their peer address failed too often; credentials not checked).",
            ("outcome",),
            registry=r,
        )

        def live_max(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, multiprocess_mode="livemax", registry=r)

        def live_min(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, multiprocess_mode="livemin", registry=r)

        self.index_loaded = live_min(
            "preflight_index_loaded", "1 once a snapshot is loaded (worst worker)."
        )
        self.index_incidents = live_max("preflight_index_incidents", "Incidents in the index.")
        self.index_parties = live_max(
            "preflight_index_parties", "Incident parties held in the index."
        )
        self.index_generation = live_max(
            "preflight_index_generation", "Generation of the index being served."
        )
        self.index_delta = live_max(
            "preflight_index_delta_changes",
            "Changes applied on top of the snapshot since its build.",
        )
        self.last_build = live_min(
            "preflight_index_last_build_timestamp_seconds",
            "Unix time of the last successful snapshot build (oldest worker).",
        )
        self.last_change = live_min(
            "preflight_index_last_change_applied_timestamp_seconds",
            "Unix time a change from the store was last applied (oldest worker; 0 before one).",
        )
        self.synced = live_min(
            "preflight_index_synced_timestamp_seconds",
            "Unix time the index last read the whole change feed without error (oldest worker).",
        )
        self.store_reachable = live_min(
            "preflight_store_reachable", "1 when the last store read succeeded."
        )
        self.invalid_documents = live_max(
            "preflight_index_invalid_documents",
            "Stored documents skipped because they do not decode.",
        )
        self.last_build_duration = live_max(
            "preflight_index_last_build_duration_seconds",
            "Duration of the last successful snapshot build (seconds).",
        )
        self.build_seconds = Histogram(
            "preflight_index_build_seconds",
            "Snapshot build duration (seconds).",
            buckets=BUILD_BUCKETS,
            registry=r,
        )
        self.build_failures = Counter(
            "preflight_index_build_failures_total",
            "Snapshot builds that failed (the previous snapshot kept serving).",
            registry=r,
        )
        self.snapshot_files = Counter(
            "preflight_snapshot_files_total",
            "Snapshot file events: loaded, refused (built from the store instead), written, "
            "write_failed.",
            ("outcome",),
            registry=r,
        )
        self.feed_errors = Counter(
            "preflight_change_feed_errors_total", "Failed reads of the change feed.", registry=r
        )
        self.feed_resets = Counter(
            "preflight_change_feed_resets_total",
            "Change feed trimmed or regressed past the reader: full reloads.",
            registry=r,
        )
        self.audit_written = Counter(
            "preflight_audit_records_total", "Audit records written to the store.", registry=r
        )
        self.audit_dropped = Counter(
            "preflight_audit_dropped_total",
            "Audit records dropped because the buffer was full (should stay 0).",
            registry=r,
        )
        self.outcomes = Counter(
            "preflight_outcomes_total",
            "Outcomes recorded, each match's first only (an outcome that replaces another is "
            "not counted again), by outcome and the policy version that scored the screen.",
            ("outcome", "policy_version"),
            registry=r,
        )
        self.outcome_reasons = Counter(
            "preflight_outcome_reasons_total",
            "Outcomes recorded, once for each reason code of the match they concern: "
            "precision per code = SEIZED / (SEIZED + CLEARED_FALSE_MATCH).",
            ("outcome", "policy_version", "reason"),
            registry=r,
        )
        self.index_loaded.set(0)
        self.store_reachable.set(0)
        for stoplight in Stoplight:
            self.verdicts.labels(stoplight.name)
        for outcome in ("refused", "throttled"):
            self.auth_failures.labels(outcome)
        for rpc in ("Screen", "ScreenBatch"):
            self.items.labels(rpc)
            self.invalid_items.labels(rpc)

    def observe_summary(self, rpc: str, summary: _core.Summary) -> None:
        """Count a call's verdicts: one increment per label, however large the batch."""
        self.items.labels(rpc).inc(summary.items + summary.invalid_items)
        if summary.invalid_items:
            self.invalid_items.labels(rpc).inc(summary.invalid_items)
        for stoplight, count in zip(_STOPLIGHT_NAMES, summary.stoplight_counts(), strict=True):
            if count:
                self.verdicts.labels(stoplight).inc(count)
        for reason, count in summary.reason_counts():
            self.matches.labels(reason).inc(count)

    def observe_outcome(self, record: OutcomeRecord) -> None:
        self.outcomes.labels(record.outcome.value, record.policy_version).inc()
        for reason in record.reason_codes:
            self.outcome_reasons.labels(record.outcome.value, record.policy_version, reason).inc()

    def observe_index_event(self, event: str, fields: Mapping[str, object]) -> None:
        if event == "index built":
            seconds = fields.get("seconds")
            if isinstance(seconds, float):
                self.build_seconds.observe(seconds)
        elif event in ("index build failed", "index load failed"):
            self.build_failures.inc()
        elif event in _SNAPSHOT_FILE_OUTCOMES:
            self.snapshot_files.labels(_SNAPSHOT_FILE_OUTCOMES[event]).inc()
        elif event == "change feed error":
            self.feed_errors.inc()
        elif event == "change feed reset":
            self.feed_resets.inc()

    def publish_status(self, status: IndexStatus) -> None:
        self.index_loaded.set(1 if status.loaded else 0)
        self.index_incidents.set(status.incidents)
        self.index_parties.set(status.parties)
        self.index_generation.set(status.generation)
        self.index_delta.set(status.delta_changes)
        self.last_build.set(status.built_at)
        self.last_build_duration.set(status.build_seconds)
        self.last_change.set(status.last_change_applied_at)
        self.synced.set(status.last_poll_ok_at)
        self.store_reachable.set(1 if status.store_reachable else 0)
        self.invalid_documents.set(status.invalid_documents)


def _cpu_and_rss(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, resident bytes) of a live process from /proc; None once it has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(statm.split()[1]) * os.sysconf(
        "SC_PAGE_SIZE"
    )


class WorkerCollector(Collector):
    """CPU and memory of each worker process, read at scrape time by the process that serves
    /metrics, plus how many workers are configured and alive (for the worker-down alert)."""

    def __init__(self, workers: Callable[[], Mapping[int, int]], configured: int) -> None:
        self._workers = workers
        self._configured = configured

    def collect(self) -> Iterable[Metric]:
        cpu = CounterMetricFamily(
            "preflight_worker_cpu_seconds", "CPU time of a worker process.", labels=["worker"]
        )
        rss = GaugeMetricFamily(
            "preflight_worker_resident_memory_bytes",
            "Resident memory of a worker process.",
            labels=["worker"],
        )
        alive = 0
        for number, pid in sorted(self._workers().items()):
            usage = _cpu_and_rss(pid)
            if usage is None:
                continue
            alive += 1
            cpu.add_metric([str(number)], usage[0])
            rss.add_metric([str(number)], usage[1])
        yield cpu
        yield rss
        yield GaugeMetricFamily(
            "preflight_workers_configured", "Worker processes configured.", self._configured
        )
        yield GaugeMetricFamily("preflight_workers_alive", "Worker processes running.", alive)


def exporter_registry(
    workers: Callable[[], Mapping[int, int]], configured: int
) -> CollectorRegistry:
    """The registry /metrics serves in multiprocess mode: every worker's files, summed, plus
    the workers' processes."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(WorkerCollector(workers, configured))
    return registry


def forget_worker(pid: int) -> None:
    """Drop an exited worker's live gauges (its counters stay in the sums)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_metrics(
    listen: str,
    registry: CollectorRegistry,
    certfile: str = "",
    keyfile: str = "",
    client_cafile: str = "",
) -> int:
    """Serve `registry` at LISTEN/metrics (https with a certificate) from a daemon thread;
    the bound port. With `client_cafile` every scraper must present a client certificate that
    CA signed, as every gRPC caller must (the metrics name callers)."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(
        int(port), addr=host or "127.0.0.1", registry=registry,
        certfile=certfile or None, keyfile=keyfile or None,
        client_cafile=client_cafile or None, client_auth_required=bool(client_cafile),
    )  # fmt: skip
    return int(server.server_port)
