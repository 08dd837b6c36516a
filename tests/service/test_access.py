"""TLS, mTLS identities, API keys, roles, rate limits and the concurrency cap, through a real
server over loopback with certificates made by `preflight certs`' code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.auth import CallersError, hash_api_key, load_access
from service.certs import make_development_pki
from service.client import Connection, PreflightClient
from service.metrics import ServerMetrics
from service.rpc.server import Running, start_server
from service.settings import SettingsError, load_settings
from service.store.sqlite import SqliteStore
from tests.conftest import HeldView

ADMIN_KEY = "admin-key-0123456789"
LIMITED_KEY = "limited-key-0123456789"
AUDIT_KEY = "5ec7e7" * 6
CALLERS = f"""
[callers.atlas]
roles = ["screen"]
certificate_names = ["atlas"]

[callers.feeder]
roles = ["ingest"]
certificate_names = ["feeder"]

[callers.console]
roles = ["admin", "screen"]
api_key_sha256 = ["{hash_api_key(ADMIN_KEY)}"]

[callers.limited]
roles = ["screen"]
api_key_sha256 = ["{hash_api_key(LIMITED_KEY)}"]
rate_per_s = 0.5
burst = 5
"""


def item(n: int = 0) -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id=f"AWB-{n}", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=f"Sender {n}", country_code="FR")],
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_development_pki(directory, ["127.0.0.1", "localhost"], ["atlas", "feeder", "stranger"])
    return directory


def secure_settings(tmp: Path, pki: Path, *, mtls: bool = True, **overrides: object) -> object:
    store = SqliteStore(tmp / "db.sqlite")
    store.put(list(Generator(3).incidents(300)))
    store.close()
    callers = tmp / "callers.toml"
    callers.write_text(CALLERS)
    return load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp / 'db.sqlite'}", "listen": "127.0.0.1:0",
        "tls_cert_file": str(pki / "server.crt"), "tls_key_file": str(pki / "server.key"),
        "tls_client_ca_file": str(pki / "ca.crt") if mtls else "", "callers_file": str(callers),
        "audit_key": AUDIT_KEY, **overrides,
    })  # fmt: skip


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, pki: Path
) -> Iterator[tuple[Running, CollectorRegistry]]:
    settings = secure_settings(tmp_path_factory.mktemp("secured"), pki, max_batch_items=2000)
    registry = CollectorRegistry()
    running = start_server(settings, metrics=ServerMetrics(registry))  # type: ignore[arg-type]
    assert running.holder.wait_loaded(30)
    yield running, registry
    running.stop(1.0)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Running]:
    """Server-authenticated TLS, callers proving themselves with API keys."""
    settings = secure_settings(tmp_path_factory.mktemp("keyed"), pki, mtls=False)
    running = start_server(settings)  # type: ignore[arg-type]
    assert running.holder.wait_loaded(30)
    yield running
    running.stop(1.0)


def connect(running: Running, pki: Path, client: str = "", api_key: str = "") -> Connection:
    return Connection(
        f"127.0.0.1:{running.port}",
        ca_file=str(pki / "ca.crt"),
        cert_file=str(pki / f"{client}.crt") if client else "",
        key_file=str(pki / f"{client}.key") if client else "",
        api_key=api_key,
    )


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()


def test_a_certified_screener_screens_but_may_not_write_or_rebuild(
    secured: tuple[Running, CollectorRegistry], pki: Path
) -> None:
    running, registry = secured
    with PreflightClient(connect(running, pki, "atlas")) as atlas:
        assert atlas.screen(item()).stoplight == pb.STOPLIGHT_GREEN
        assert atlas.index_status().loaded  # any known caller may read the status
        denied = code_of(lambda: atlas.put_incidents([pb.Incident(incident_id="x")]))
        assert denied is grpc.StatusCode.PERMISSION_DENIED
    labels = {"caller": "atlas", "grpc_code": "PermissionDenied"}
    assert registry.get_sample_value("preflight_rejected_requests_total", labels) == 1


def test_an_ingest_caller_may_not_screen(
    secured: tuple[Running, CollectorRegistry], pki: Path
) -> None:
    with PreflightClient(connect(secured[0], pki, "feeder")) as feeder:
        assert code_of(lambda: feeder.screen(item())) is grpc.StatusCode.PERMISSION_DENIED


def test_a_certificate_of_no_known_agency_is_unauthenticated(
    secured: tuple[Running, CollectorRegistry], pki: Path
) -> None:
    running, registry = secured
    with PreflightClient(connect(running, pki, "stranger")) as stranger:
        assert code_of(lambda: stranger.screen(item())) is grpc.StatusCode.UNAUTHENTICATED
    with PreflightClient(connect(running, pki), timeout_s=1.0, retries=0) as no_certificate:
        # mTLS: without a client certificate the handshake itself fails
        assert code_of(lambda: no_certificate.screen(item())) is grpc.StatusCode.UNAVAILABLE
    labels = {"caller": "unidentified", "grpc_code": "Unauthenticated"}
    assert registry.get_sample_value("preflight_rejected_requests_total", labels) == 1


def test_no_key_or_a_wrong_key_is_unauthenticated_but_health_stays_open(
    keyed: Running, pki: Path
) -> None:
    for nobody in (connect(keyed, pki), connect(keyed, pki, api_key="not-a-key")):
        with PreflightClient(nobody) as client:
            assert code_of(lambda c=client: c.screen(item())) is grpc.StatusCode.UNAUTHENTICATED
    with connect(keyed, pki).channel() as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_callers_cannot_connect_to_a_tls_server(
    secured: tuple[Running, CollectorRegistry],
) -> None:
    with PreflightClient(f"127.0.0.1:{secured[0].port}", timeout_s=1.0, retries=0) as client:
        assert code_of(lambda: client.screen(item())) is grpc.StatusCode.UNAVAILABLE


def test_an_admin_api_key_rebuilds_and_reflects(
    secured: tuple[Running, CollectorRegistry], keyed: Running, pki: Path
) -> None:
    admin = connect(keyed, pki, api_key=ADMIN_KEY)
    list_services = reflection_pb2.ServerReflectionRequest(list_services="")
    with admin.channel() as channel:
        stub = pb_grpc.IndexServiceStub(channel)
        status = stub.RebuildIndex(pb.RebuildIndexRequest(), metadata=admin.metadata, timeout=60)
        assert status.loaded
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([list_services]), metadata=admin.metadata, timeout=10
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert "preflight.v1.ScreeningService" in names
    atlas = connect(secured[0], pki, "atlas")
    with atlas.channel() as channel:
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([list_services]), timeout=10
        )
        assert code_of(lambda: list(replies)) is grpc.StatusCode.PERMISSION_DENIED
        rebuild = pb_grpc.IndexServiceStub(channel).RebuildIndex
        assert (
            code_of(lambda: rebuild(pb.RebuildIndexRequest())) is grpc.StatusCode.PERMISSION_DENIED
        )


def test_a_caller_over_its_rate_gets_quota_failure(keyed: Running, pki: Path) -> None:
    with PreflightClient(connect(keyed, pki, api_key=LIMITED_KEY), retries=0) as limited:
        with pytest.raises(grpc.RpcError) as too_big:
            limited.screen_batch([item(n) for n in range(6)])  # more than the burst, ever
        for n in range(5):  # the burst
            limited.screen(item(n))
        with pytest.raises(grpc.RpcError) as info:
            limited.screen(item(5))
    for error, description in ((info.value, "rate limit"), (too_big.value, "at most 5 items")):
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(error)
        assert status is not None
        quota = error_details_pb2.QuotaFailure()
        assert status.details[0].Unpack(quota)
        assert quota.violations[0].subject == "caller:limited"
        assert description in quota.violations[0].description


def test_calls_beyond_the_concurrency_cap_are_refused_at_once(tmp_path: Path, pki: Path) -> None:
    settings = secure_settings(tmp_path, pki, max_concurrent_rpcs=1, max_batch_items=5000,
                               rate_burst=100_000.0, rate_limit_per_s=100_000.0)  # fmt: skip
    running = start_server(settings)  # type: ignore[arg-type]
    try:
        assert running.holder.wait_loaded(30)
        atlas = connect(running, pki, "atlas")
        held = HeldView(running.holder.view)
        running.holder._view = held  # type: ignore[assignment]
        slow_done = threading.Event()

        def slow() -> None:  # a screen held in the core, holding the one slot
            with PreflightClient(atlas, timeout_s=60) as client:
                client.screen(item())
            slow_done.set()

        worker = threading.Thread(target=slow)
        worker.start()
        assert held.entered.acquire(timeout=10), "the held call never reached the core"
        with PreflightClient(atlas, retries=0) as client:
            assert code_of(lambda: client.screen(item())) is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not slow_done.is_set(), "the probe did not overlap the held call"
        held.release.set()
        worker.join(60)
        assert slow_done.is_set()
        with PreflightClient(atlas) as client:
            assert client.screen(item()).stoplight == pb.STOPLIGHT_GREEN
    finally:
        running.stop(1.0)


def test_serving_without_tls_must_be_asked_for(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "listen": "127.0.0.1:0"})  # fmt: skip
    with pytest.raises(SettingsError, match="allow_plaintext"):
        start_server(settings)


def test_a_plaintext_server_with_callers_refuses_to_start(tmp_path: Path) -> None:
    """API keys travel only over TLS and certificates need mTLS: a callers file on a
    plaintext server would lock every caller out."""
    callers = tmp_path / "callers.toml"
    callers.write_text(CALLERS)
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "listen": "127.0.0.1:0",
        "allow_plaintext": 1, "callers_file": str(callers)})  # fmt: skip
    with pytest.raises(SettingsError, match="a callers file on a plaintext server"):
        start_server(settings)
    with pytest.raises(ValueError, match="only sent over TLS"):
        Connection("127.0.0.1:50051", api_key=ADMIN_KEY).channel()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[callers.NAME\\] tables"),
        ('[callers.x]\nroles = ["root"]\n', "use screen, ingest or admin"),
        ('[callers.x]\nroles = ["screen"]\napi_key_sha256 = ["abc"]\n', "not a hex SHA-256"),
        ('[callers.x]\nroles = ["screen"]\npassword = "p"\n', "unknown keys password"),
        ('[callers.x]\nroles = ["screen"]\nrate_per_s = 0\n', "rate_per_s must be > 0"),
        ('[callers.x]\nroles = ["screen"]\nagency = 7\n', "agency must be a string"),
    ],
)
def test_bad_callers_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "callers.toml"
    path.write_text(text)
    with pytest.raises(CallersError, match=message):
        load_access(str(path), 10.0, 10.0)


def test_callers_belong_to_their_agency_or_to_themselves(tmp_path: Path) -> None:
    path = tmp_path / "callers.toml"
    path.write_text(
        '[callers.atlas]\nroles = ["screen"]\nagency = "de-zoll"\n'
        '[callers.atlas-dr]\nroles = ["screen"]\nagency = "de-zoll"\n'
        '[callers.laposte]\nroles = ["screen"]\n'
    )
    access = load_access(str(path), 10.0, 10.0)
    assert access.callers_of("de-zoll") == {"atlas", "atlas-dr"}
    assert access.callers_of("laposte") == {"laposte"}
    assert access.callers_of("atlas") == frozenset()
