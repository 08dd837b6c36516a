"""One settings object: defaults < TOML file < PREFLIGHT_* environment < command-line flags.

Every setting is declared once below (name, type, default, help); the configuration table in
docs/configuration.md is checked against this list by a test.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from service.store.redis_connect import (
    REDIS_SCHEMES,
    RedisOptions,
    RedisUrlError,
    is_sentinel_url,
    parse_sentinel_url,
)

# The keyed hash of index keys when no index_key is set. Index keys are not secrets: a key only
# has to be the same wherever one snapshot is built and read.
DEFAULT_INDEX_KEY = bytes.fromhex("7072656669676874696e6465786b6579")


STORE_SCHEMES = ("sqlite:///", *REDIS_SCHEMES)


class SettingsError(ValueError):
    """A setting that cannot be used, named."""


def _setting(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True, slots=True)
class Settings:
    store_url: str = _setting(
        "",
        "Incident store: `sqlite:///PATH` (embedded), `redis://HOST:PORT/DB`, or the primary "
        "Redis Sentinel names: `redis+sentinel://HOST:PORT,HOST:PORT/SERVICE/DB` "
        "(`rediss+sentinel://` for TLS). No default: `serve`, `demo`, `ingest` and `audit` "
        "refuse to guess one.",
    )
    redis_prefix: str = _setting("preflight:", "Key prefix of every Redis key this service uses.")
    redis_password: str = _setting(
        "", "Password of the Redis primary and its replicas; empty = none (or the URL's)."
    )
    redis_sentinel_password: str = _setting(
        "", "Password of the Redis Sentinels (their own `requirepass`); empty = none."
    )
    redis_tls_ca_file: str = _setting(
        "",
        "CA bundle (PEM) that signs the certificates of Redis and its Sentinels "
        "(`rediss://`, `rediss+sentinel://`); empty = the system's CAs.",
    )
    redis_wait_replicas: str = _setting(
        "auto",
        "Replicas a write must reach (Redis WAIT) before it is acknowledged; `auto` = 1 with a "
        "Sentinel URL, 0 with one Redis. A write that reaches fewer in time is refused "
        "(UNAVAILABLE) and may be retried.",
    )
    redis_wait_timeout_ms: int = _setting(
        1000, "How long a write waits for `redis_wait_replicas` (milliseconds)."
    )
    listen: str = _setting("127.0.0.1:50051", "gRPC listen address (host:port).")
    tls_cert_file: str = _setting("", "Server certificate chain (PEM) for gRPC and /metrics.")
    tls_key_file: str = _setting("", "Private key (PEM) of the server certificate.")
    tls_client_ca_file: str = _setting(
        "", "CA bundle (PEM) that signs agencies' client certificates; empty = API keys only."
    )
    allow_plaintext: int = _setting(
        0, "1 = serve without TLS. Local development only (`make run` and the tests use it)."
    )
    callers_file: str = _setting(
        "", "Callers, their roles, certificates, API key digests and rates (TOML); empty = open."
    )
    rate_limit_per_s: float = _setting(
        5000.0, "Items per second a caller may screen or write, unless its entry says otherwise."
    )
    rate_burst: float = _setting(10000.0, "Token-bucket depth per caller (items).")
    auth_failures_per_s: float = _setting(
        0.2,
        "Failed authentications per second one peer address may make once its "
        "`auth_failure_burst` is spent; past it, its calls get RESOURCE_EXHAUSTED unchecked.",
    )
    auth_failure_burst: float = _setting(
        20.0, "Failed authentications a peer address may make in a row before it is slowed."
    )
    max_concurrent_rpcs: int = _setting(
        64,
        "Calls in progress per process (each has its own handler thread); more get "
        "RESOURCE_EXHAUSTED at once.",
    )
    audit: int = _setting(1, "1 = record every verdict in the audit trail (in the store).")
    audit_key: str = _setting(
        "",
        "Secret (32+ hex digits) that keys the audit trail's party digests; required with TLS, "
        "empty = a development key (plaintext development servers only).",
    )
    audit_retention_years: float = _setting(5.0, "Years audit records are kept.")
    audit_buffer: int = _setting(
        200_000, "Audit records buffered for the writer; beyond it they are dropped (counted)."
    )
    outcome_window_days: float = _setting(
        90.0,
        "Days after a screen within which an officer can record its outcome (RecordOutcome "
        "finds the screen in the audit trail; with Redis, each item's verdicts with matches are "
        "kept findable that long).",
    )
    suppression_expiry_days: float = _setting(
        365.0,
        "Days a recorded false match (CLEARED_FALSE_MATCH) keeps its (party, incident) pair "
        "from raising the agency's stoplights; 0 = until the incident gets a new version.",
    )
    health_listen: str = _setting(
        "",
        "Plaintext listen address (host:port) answering grpc.health.v1 and nothing else, for "
        "probes that cannot speak TLS (Kubernetes' native gRPC probe); empty = none.",
    )
    metrics_listen: str = _setting(
        "127.0.0.1:9464",
        "Prometheus `/metrics` listen address (host:port); empty = none. HTTPS when TLS is on, "
        "and a client certificate of the client CA required under mTLS.",
    )
    metrics_dir: str = _setting(
        "", "Folder for the workers' metric files; empty = a fresh temporary folder per run."
    )
    workers: int = _setting(0, "Server processes sharing the port; 0 = one per CPU core.")
    policy_file: str = _setting("", "Scoring policy TOML; empty = the built-in default policy.")
    snapshot_dir: str = _setting(
        "auto",
        "Folder for snapshot files (restarts load the last build, then replay the feed); "
        "`auto` = `<file>.snapshots` beside an SQLite store, none for Redis; empty = none.",
    )
    index_key: str = _setting(
        "",
        "32 hex digits: the keyed hash of index keys, recorded in snapshot files (a file made "
        "under another key is rebuilt); empty = the built-in key. Not a secret.",
    )
    poll_interval_s: float = _setting(0.1, "How often the change feed is read (seconds).")
    compact_after: int = _setting(5000, "Changes in the Delta that trigger a background rebuild.")
    max_batch_items: int = _setting(1000, "Items per ScreenBatch / incidents per PutIncidents.")
    max_message_bytes: int = _setting(16 * 1024 * 1024, "Largest gRPC message accepted (bytes).")
    shutdown_grace_s: float = _setting(10.0, "Seconds in-flight calls get to finish on SIGTERM.")
    allow_empty_index: int = _setting(
        0,
        "1 = report SERVING and answer screens while the index holds no incidents (every "
        "verdict GREEN, `index.incidents` = 0 in each response); 0 = NOT_SERVING and "
        "UNAVAILABLE until there are incidents.",
    )
    startup_timeout_s: float = _setting(
        300.0, "Seconds after which `serve` warns that the first snapshot is not loaded yet."
    )
    log_format: str = _setting("console", "`console` (readable) or `json`.")
    log_level: str = _setting("info", "debug, info, warning or error.")

    def require_store(self) -> str:
        """The store URL; an error that says where to give one when there is none (an
        implicit store would serve, or fill, an empty database without a word)."""
        if not self.store_url:
            raise SettingsError(
                "no incident store given: pass --store-url sqlite:///PATH or "
                "redis://HOST:PORT/DB, or set PREFLIGHT_STORE_URL or store_url in --config FILE"
            )
        return self.store_url

    def wait_replicas(self) -> int:
        """`redis_wait_replicas` with `auto` resolved."""
        if self.redis_wait_replicas == "auto":
            return 1 if is_sentinel_url(self.store_url) else 0
        return int(self.redis_wait_replicas)

    def redis_options(self) -> RedisOptions:
        """What a Redis store client takes from the settings besides the URL."""
        return RedisOptions(
            password=self.redis_password,
            sentinel_password=self.redis_sentinel_password,
            tls_ca_file=self.redis_tls_ca_file,
            wait_replicas=self.wait_replicas(),
            wait_timeout_ms=self.redis_wait_timeout_ms,
        )

    def index_key_bytes(self) -> bytes:
        return bytes.fromhex(self.index_key) if self.index_key else DEFAULT_INDEX_KEY

    def snapshot_folder(self) -> str:
        """Where snapshot files go, `auto` resolved; empty = nowhere."""
        if self.snapshot_dir != "auto":
            return self.snapshot_dir
        if self.store_url.startswith("sqlite:///"):
            return self.store_url.removeprefix("sqlite:///") + ".snapshots"
        return ""

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def help(cls) -> dict[str, tuple[Any, str]]:
        return {f.name: (f.default, f.metadata["help"]) for f in fields(cls)}


def _coerce(name: str, raw: Any) -> Any:
    default = Settings.help()[name][0]
    kind = type(default)
    try:
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is str and isinstance(raw, str):
            return raw
    except ValueError:
        pass
    raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}")


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the file (or PREFLIGHT_CONFIG), then the environment, then flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or environ.get("PREFLIGHT_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {path}: {exc}") from exc
        unknown = set(data) - set(Settings.names())
        if unknown:
            raise SettingsError(
                f"config file {path}: unknown settings {', '.join(sorted(unknown))}"
            )
        values.update({k: _coerce(k, v) for k, v in data.items()})
    for name in Settings.names():
        raw = environ.get(f"PREFLIGHT_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    settings = replace(Settings(), **values)
    if settings.log_format not in ("console", "json"):
        raise SettingsError("log_format must be console or json")
    if settings.store_url and not settings.store_url.startswith(STORE_SCHEMES):
        raise SettingsError(
            "store_url must start with sqlite:///, redis://, rediss://, redis+sentinel:// or "
            "rediss+sentinel://"
        )
    if is_sentinel_url(settings.store_url):
        try:
            parse_sentinel_url(settings.store_url)
        except RedisUrlError as exc:
            raise SettingsError(f"store_url: {exc}") from exc
    wait = settings.redis_wait_replicas
    if wait != "auto" and not (wait.isdigit() and int(wait) <= 16):
        raise SettingsError("redis_wait_replicas must be auto or a number of replicas (0-16)")
    if settings.redis_wait_timeout_ms < 1:
        raise SettingsError("redis_wait_timeout_ms must be at least 1")
    try:
        bytes.fromhex(settings.audit_key)
    except ValueError as exc:
        raise SettingsError("audit_key must be hexadecimal") from exc
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise SettingsError("tls_cert_file and tls_key_file go together")
    if settings.auth_failures_per_s <= 0 or settings.auth_failure_burst < 1:
        raise SettingsError("auth_failures_per_s must be above 0, auth_failure_burst at least 1")
    if settings.max_concurrent_rpcs < 1 or settings.rate_limit_per_s <= 0:
        raise SettingsError("max_concurrent_rpcs must be at least 1, rate_limit_per_s above 0")
    try:
        if len(settings.index_key_bytes()) != 16:
            raise ValueError
    except ValueError as exc:
        raise SettingsError("index_key must be 32 hex digits (16 bytes)") from exc
    if settings.outcome_window_days <= 0 or settings.suppression_expiry_days < 0:
        raise SettingsError(
            "outcome_window_days must be above 0, suppression_expiry_days at least 0"
        )
    if settings.max_batch_items < 1 or settings.workers < 0:
        raise SettingsError("max_batch_items must be at least 1, workers at least 0")
    return settings
