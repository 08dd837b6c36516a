"""Set-ups that looked secure and were not: each is refused, or made secure, on a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service.certs import make_development_pki
from service.cli import main
from service.client import Connection, PreflightClient
from service.metrics import ServerMetrics
from service.rpc.server import LIVENESS_SERVICE, Running, start_server
from service.settings import Settings, SettingsError, load_settings
from service.store.sqlite import SqliteStore
from tests.conftest import free_port

AUDIT_KEY = "a1" * 16


def item(n: int = 0) -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id=f"AWB-{n}", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=f"Sender {n}", country_code="FR")],
    )


def printed_callers_entry(output: str) -> str:
    """The callers-file tables a command printed, exactly as printed."""
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("[callers."))
    end = next((i for i in range(first, len(lines)) if lines[i].startswith("serve:")), len(lines))
    return "\n".join(lines[first:end]) + "\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_development_pki(directory, ["127.0.0.1"], [])
    return directory


def tls_settings(tmp: Path, pki: Path, callers: str, **overrides: object) -> Settings:
    store = SqliteStore(tmp / "db.sqlite")
    store.put(list(Generator(8).incidents(50)))
    store.close()
    (tmp / "callers.toml").write_text(callers)
    return load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp / 'db.sqlite'}", "listen": "127.0.0.1:0",
        "tls_cert_file": str(pki / "server.crt"), "tls_key_file": str(pki / "server.key"),
        "callers_file": str(tmp / "callers.toml"), "audit_key": AUDIT_KEY, **overrides,
    })  # fmt: skip


@pytest.mark.parametrize(("audit_key", "says"), [("", "not set"), ("ab" * 8 + "c" * 14, "shorter")])
def test_tls_without_a_real_audit_key_refuses_to_start(
    tmp_path: Path, pki: Path, audit_key: str, says: str
) -> None:
    settings = tls_settings(tmp_path, pki, '[callers.x]\nroles = ["screen"]\n',
                            audit_key=audit_key)  # fmt: skip
    with pytest.raises(SettingsError, match=f"TLS is on but audit_key is {says}"):
        start_server(settings)


@pytest.fixture
def apikey_caller(tmp_path: Path, pki: Path) -> Iterator[tuple[Running, str, CollectorRegistry]]:
    """A TLS server whose callers file is what `preflight apikey` printed, as it printed it."""
    printed = CliRunner().invoke(main, ["apikey", "de-customs"])
    assert printed.exit_code == 0, printed.output
    key = printed.output.splitlines()[0].rsplit(": ", 1)[1]
    settings = tls_settings(tmp_path, pki, printed_callers_entry(printed.output),
                            auth_failure_burst=5, auth_failures_per_s=0.5)  # fmt: skip
    registry = CollectorRegistry()
    running = start_server(settings, metrics=ServerMetrics(registry))
    assert running.holder.wait_loaded(30)
    yield running, key, registry
    running.stop(1.0)


def connect(running: Running, pki: Path, api_key: str) -> Connection:
    return Connection(f"127.0.0.1:{running.port}", ca_file=str(pki / "ca.crt"), api_key=api_key)


def test_the_printed_apikey_entry_admits_its_caller_to_screen_only(
    apikey_caller: tuple[Running, str, CollectorRegistry], pki: Path
) -> None:
    running, key, _ = apikey_caller
    with PreflightClient(connect(running, pki, key)) as client:
        assert client.screen(item()).stoplight == pb.STOPLIGHT_GREEN
        with pytest.raises(grpc.RpcError) as denied:
            client.put_incidents([pb.Incident(incident_id="x")])
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_failed_authentications_are_limited_per_address_and_counted(
    apikey_caller: tuple[Running, str, CollectorRegistry], pki: Path
) -> None:
    running, key, registry = apikey_caller
    codes = []
    with PreflightClient(connect(running, pki, "wrong-key"), retries=0) as guesser:
        for _ in range(40):
            try:
                guesser.screen(item())
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                last = exc
    assert codes[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5  # the burst
    assert codes[5:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 35
    status = rpc_status.from_call(last)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert 0 < retry.retry_delay.ToNanoseconds() / 1e9 <= 2.0
    # while the address is slowed even a right key goes unchecked: guessing gains nothing
    with PreflightClient(connect(running, pki, key), retries=0) as client:
        with pytest.raises(grpc.RpcError) as slowed:
            client.screen(item())
        assert slowed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        time.sleep(2.1)  # one failure's worth of tokens back at 0.5 per second
        assert client.screen(item()).stoplight == pb.STOPLIGHT_GREEN
    refused = {"outcome": "refused"}
    assert registry.get_sample_value("preflight_auth_failures_total", refused) == 5
    throttled = registry.get_sample_value("preflight_auth_failures_total", {"outcome": "throttled"})
    assert throttled == 36


def test_probes_that_speak_no_tls_get_health_alone_on_its_own_port(
    tmp_path: Path, pki: Path
) -> None:
    """Kubernetes' gRPC probe cannot do TLS: `health_listen` answers it in plaintext, with the
    server's own health answers and nothing else, while the main port stays TLS only."""
    health_port = free_port()
    settings = tls_settings(tmp_path, pki, '[callers.x]\nroles = ["screen"]\n',
                            health_listen=f"127.0.0.1:{health_port}")  # fmt: skip
    running = start_server(settings)
    try:
        assert running.holder.wait_loaded(30)
        with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            deadline = time.monotonic() + 10
            status = check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
            while status != health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
                time.sleep(0.05)
                status = check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
            assert status == health_pb2.HealthCheckResponse.SERVING
            live = check(health_pb2.HealthCheckRequest(service=LIVENESS_SERVICE), timeout=2)
            assert live.status == health_pb2.HealthCheckResponse.SERVING
            screen = channel.unary_unary(
                "/preflight.v1.ScreeningService/Screen",
                request_serializer=pb.ScreenRequest.SerializeToString,
                response_deserializer=pb.ScreenResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as refused:
                screen(item(), timeout=2)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as plaintext:
            check_main = plaintext.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as no_tls:
                check_main(health_pb2.HealthCheckRequest(service=""), timeout=2)
            assert no_tls.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(1.0)
