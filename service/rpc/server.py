"""The gRPC server: servicers, health (NOT_SERVING until the first snapshot), reflection,
limits, and graceful shutdown."""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from index import _core
from index.policy import DEFAULT_POLICY, Policy, parse_policy
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service import logs
from service.audit import AuditLog, Screened, open_audit
from service.auth import ANONYMOUS, AccessControl, load_access
from service.auth_failures import AuthFailureLimits
from service.metrics import ServerMetrics
from service.outcomes import Outcomes
from service.refresh import IndexHolder, IndexStatus
from service.rpc.interceptors import (
    CALL,
    AccessInterceptor,
    ErrorInterceptor,
    MetricsInterceptor,
)
from service.rpc.servicers import (
    IncidentServicer,
    IndexServicer,
    OutcomeServicer,
    ScreeningServicer,
    SummaryObserver,
    add_screening_service,
)
from service.safeguards import check_serving_setup
from service.screener import compiled_policy
from service.settings import Settings, SettingsError
from service.snapshot_file import SnapshotFiles
from service.store import open_store
from service.store.base import IncidentStore, StoreError
from service.store.outcomes import open_outcomes
from service.suppressions import SuppressionHolder

log = logging.getLogger(__name__)
SERVICE_NAMES = tuple(
    pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("ScreeningService", "IncidentService", "IndexService", "OutcomeService")
)


# A health service name that says SERVING while the process answers calls at all, whatever
# its index: what a liveness probe asks (a replica still loading, or waiting for incidents,
# is not ready but must not be restarted for it).
LIVENESS_SERVICE = "liveness"
REFUSING_THREADS = 8


def handler_threads(settings: Settings) -> int:
    """A thread for every call in progress, so calls wait for their screening turn (or their
    coalesced round), never for a thread; and a few more, on which calls past the cap are
    refused at once with QuotaFailure details. Past those too, gRPC refuses calls itself
    (RESOURCE_EXHAUSTED without details): the queue of a flooded process stays bounded."""
    return settings.max_concurrent_rpcs + REFUSING_THREADS


def load_policy(settings: Settings) -> Policy:
    if not settings.policy_file:
        return DEFAULT_POLICY
    with open(settings.policy_file) as handle:
        return parse_policy(handle.read())


@dataclass
class Running:
    server: grpc.Server
    port: int
    holder: IndexHolder
    store: IncidentStore
    health: health.HealthServicer
    suppressions: SuppressionHolder
    audit: AuditLog | None = None
    health_server: grpc.Server | None = None

    def stop(self, grace_s: float) -> None:
        """Stop taking calls, let in-flight ones finish, write their audit records, then stop
        tailing."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        if self.audit is not None:
            self.audit.stop()
        self.suppressions.stop()
        self.holder.stop()
        self.store.close()


_WARNINGS = frozenset(
    {
        "invalid document skipped",
        "change feed error",
        "index build failed",
        "index load failed",
        "snapshot file not written",
    }
)
STATUS_PUBLISH_INTERVAL_S = 1.0


def log_index_event(event: str, fields: dict[str, object]) -> None:
    """The holder's events as structured log records (ids and counts, never party names)."""
    log.log(logging.WARNING if event in _WARNINGS else logging.INFO, event, extra=fields)


def new_holder(settings: Settings, store: IncidentStore | None = None) -> IndexHolder:
    store = store or open_store(
        settings.require_store(), settings.redis_prefix, settings.redis_options()
    )
    folder = settings.snapshot_folder()
    key = settings.index_key_bytes()
    files = SnapshotFiles(folder, key) if folder else None
    return IndexHolder(
        store,
        poll_interval_s=settings.poll_interval_s,
        compact_after=settings.compact_after,
        on_event=log_index_event,
        snapshot_files=files,
        key=key,
    )


def load_access_for(settings: Settings) -> AccessControl:
    """The callers, rate limits and failed-authentication limits `settings` describe (made
    before the workers are forked, they are one set for all of them)."""
    failures = AuthFailureLimits(settings.auth_failures_per_s, settings.auth_failure_burst)
    return load_access(
        settings.callers_file, settings.rate_limit_per_s, settings.rate_burst, failures
    )


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS (mTLS when a client CA is configured) or, only when explicitly allowed, None."""
    if not settings.tls_cert_file:
        if not settings.allow_plaintext:
            raise SettingsError(
                "no TLS configured: set tls_cert_file and tls_key_file "
                "(`preflight certs` makes a development set), or allow_plaintext = 1 for "
                "local development"
            )
        return None
    key = Path(settings.tls_key_file).read_bytes()
    chain = Path(settings.tls_cert_file).read_bytes()
    client_ca = (
        Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    )
    # gRPC Python either requires and verifies client certificates or never asks for them:
    # with a client CA every caller presents its agency certificate (mTLS); without one,
    # callers prove themselves with API keys over server-authenticated TLS.
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _publish_status(holder: IndexHolder, metrics: ServerMetrics) -> None:
    """The index gauges, refreshed from the holder's status every second until it stops."""
    while True:
        metrics.publish_status(holder.status())
        if holder.wait_stopped(STATUS_PUBLISH_INTERVAL_S):
            return


DEVELOPMENT_AUDIT_KEY = b"preflight development audit key"
SECONDS_PER_DAY = 86400.0


def audit_key(settings: Settings) -> bytes:
    """What keys the audit trail's party digests (and so the outcomes' parties)."""
    return bytes.fromhex(settings.audit_key) or DEVELOPMENT_AUDIT_KEY


def new_audit_log(settings: Settings, metrics: ServerMetrics | None) -> AuditLog | None:
    if not settings.audit:
        return None
    audit = AuditLog(
        open_audit(settings.store_url, settings.redis_prefix, settings.redis_options(),
                   settings.outcome_window_days),
        max_pending=settings.audit_buffer,
        retention_years=settings.audit_retention_years,
        on_dropped=metrics.audit_dropped.inc if metrics else lambda n: None,
        on_written=metrics.audit_written.inc if metrics else lambda n: None,
        key=audit_key(settings),
    )  # fmt: skip
    audit.start()
    return audit


def new_suppressions(settings: Settings) -> SuppressionHolder:
    """The agencies' recorded false matches, loaded now (when the store answers) and kept
    up to date in the background."""
    holder = SuppressionHolder(
        open_outcomes(settings.require_store(), settings.redis_prefix, settings.redis_options()),
        audit_key(settings),
        settings.suppression_expiry_days * SECONDS_PER_DAY,
        poll_interval_s=settings.poll_interval_s,
    )
    try:
        holder.reload()
    except StoreError as exc:  # the background refresh loads them once the store answers
        log.warning("suppressions not loaded", extra={"error": str(exc)})
    holder.start()
    return holder


def verdict_observer(metrics: ServerMetrics | None, audit: AuditLog | None) -> SummaryObserver:
    """What happens to every verdict besides being answered: counted, and audited (the audit
    log makes the records in its own thread, off the request path)."""

    def observe(rpc: str, summary: _core.Summary) -> None:
        if metrics is not None:
            metrics.observe_summary(rpc, summary)
        if audit is not None:
            info = CALL.get()
            caller = info.caller if info is not None else ANONYMOUS
            audit.append(Screened(summary, time.time(), caller, logs.REQUEST_ID.get(), rpc))

    return observe


# How often health follows the index: closely until the first load (a caller that saw the
# index load should find health SERVING), then at leisure.
HEALTH_CHECK_INTERVAL_S = (0.005, 0.1)


def ready_to_serve(status: IndexStatus, allow_empty_index: bool) -> bool:
    """SERVING takes a loaded index that holds incidents (or leave to serve an empty one)."""
    return status.loaded and (status.incidents > 0 or allow_empty_index)


def _health_only_server(listen: str, servicer: health.HealthServicer) -> grpc.Server | None:
    """A plaintext server on `listen` with the health service alone (the same servicer, so the
    same answers), for probes that cannot speak TLS; it says whether a replica is ready and
    nothing else. Workers share its port as they share the main one."""
    if not listen:
        return None
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
        options=[("grpc.so_reuseport", 1)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"cannot listen on {listen} (health_listen)")
    server.start()
    return server


def _track_health(
    holder: IndexHolder, servicer: health.HealthServicer, allow_empty_index: bool, port: int
) -> None:
    """Health follows the index until the holder stops: NOT_SERVING before the first load and
    while the index holds no incidents (unless allowed), SERVING otherwise."""
    serving: bool | None = None
    while not holder.stopped:
        status = holder.status()
        ready = ready_to_serve(status, allow_empty_index)
        if ready != serving:
            state = (
                health_pb2.HealthCheckResponse.SERVING
                if ready
                else (health_pb2.HealthCheckResponse.NOT_SERVING)
            )
            for name in ("", *SERVICE_NAMES):
                servicer.set(name, state)
            if ready:
                log.info("serving", extra={"incidents": status.incidents, "port": port})
            elif status.loaded:
                log.warning("index empty: not serving", extra={"port": port})
            serving = ready
        holder.wait_stopped(HEALTH_CHECK_INTERVAL_S[status.loaded])


def start_server(
    settings: Settings,
    holder: IndexHolder | None = None,
    metrics: ServerMetrics | None = None,
    access: AccessControl | None = None,
) -> Running:
    """Start serving; health says SERVING once the first snapshot is loaded (at once when the
    holder comes loaded, as in a worker forked after the parent loaded it). With `metrics`,
    every call, verdict and index change is counted there. Worker processes pass the `access`
    their parent made before forking them, so they share its rate limits."""
    credentials = server_credentials(settings)
    access = access or load_access_for(settings)
    check_serving_setup(settings, access)
    holder = holder or new_holder(settings)
    store = holder.store
    interceptors: list[grpc.ServerInterceptor] = [
        ErrorInterceptor(),
        AccessInterceptor(access, settings.max_concurrent_rpcs),
    ]
    if metrics is not None:
        interceptors.insert(0, MetricsInterceptor(metrics))
        holder.add_listener(metrics.observe_index_event)
    audit = new_audit_log(settings, metrics)
    suppressions = new_suppressions(settings)
    observe = verdict_observer(metrics, audit)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=handler_threads(settings), thread_name_prefix="rpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=handler_threads(settings),
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 1),
            ("grpc.max_connection_age_ms", 5 * 60 * 1000),
            ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ],
    )
    policy = compiled_policy(load_policy(settings))
    add_screening_service(
        ScreeningServicer(holder, policy, settings.max_batch_items, observe=observe,
                          allow_empty_index=bool(settings.allow_empty_index),
                          suppressions=suppressions.for_agency),
        server,
    )  # fmt: skip
    outcomes = Outcomes(
        suppressions, audit, store, settings.outcome_window_days * SECONDS_PER_DAY,
        on_recorded=metrics.observe_outcome if metrics is not None else lambda record: None,
    )  # fmt: skip
    pb_grpc.add_OutcomeServiceServicer_to_server(OutcomeServicer(outcomes, access), server)
    pb_grpc.add_IncidentServiceServicer_to_server(
        IncidentServicer(store, settings.max_batch_items), server
    )
    pb_grpc.add_IndexServiceServicer_to_server(IndexServicer(holder), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if credentials is None:
        log.warning("serving without TLS (allow_plaintext): local development only")
        port = server.add_insecure_port(settings.listen)
    else:
        port = server.add_secure_port(settings.listen, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {settings.listen}")
    health_server = _health_only_server(settings.health_listen, health_servicer)
    server.start()
    holder.start()

    threading.Thread(
        target=_track_health,
        args=(holder, health_servicer, bool(settings.allow_empty_index), port),
        name="health",
        daemon=True,
    ).start()
    if metrics is not None:
        threading.Thread(
            target=_publish_status, args=(holder, metrics), name="metrics", daemon=True
        ).start()
    return Running(server, port, holder, store, health_servicer, suppressions, audit, health_server)
