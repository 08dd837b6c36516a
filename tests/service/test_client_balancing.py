"""One client, several servers: calls are balanced over every target (round_robin), over
plaintext and over TLS, and the CLI takes the same comma-separated targets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service.certs import make_development_pki
from service.cli import main
from service.client import Connection, PreflightClient, balanced_target
from service.rpc.server import Running, start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore

INCIDENTS = list(Generator(31).incidents(50))
AUDIT_KEY = "ab" * 16
REQUEST = pb.ScreenRequest(
    item=pb.Item(item_id="AWB-BALANCE-1", channel=pb.CHANNEL_EXPRESS),
    parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, name="Someone Else", country_code="FR")],
)


def two_servers(tmp_path: Path, **overrides: object) -> list[Running]:
    """Two servers whose indexes differ in size (20 and 30 incidents), so every answer says
    which one gave it."""
    servers = []
    for count in (20, 30):
        store = SqliteStore(tmp_path / f"db-{count}.sqlite")
        store.put(INCIDENTS[:count])
        store.close()
        settings = load_settings(environ={}, overrides={
            "store_url": f"sqlite:///{tmp_path / f'db-{count}.sqlite'}",
            "listen": "127.0.0.1:0", "audit": 0, **overrides})  # fmt: skip
        servers.append(start_server(settings))
    for server in servers:
        assert server.holder.wait_loaded(30)
    return servers


@pytest.fixture
def plaintext(tmp_path: Path) -> Iterator[list[Running]]:
    servers = two_servers(tmp_path, allow_plaintext=1)
    yield servers
    for server in servers:
        server.stop(0.5)


def answered_by(connection: Connection, calls: int = 12) -> set[int]:
    with PreflightClient(connection) as client:
        return {client.screen(REQUEST).index.incidents for _ in range(calls)}


def test_calls_are_balanced_over_every_target(plaintext: list[Running]) -> None:
    targets = ",".join(f"127.0.0.1:{server.port}" for server in plaintext)
    assert answered_by(Connection(targets)) == {20, 30}
    assert answered_by(Connection(f"127.0.0.1:{plaintext[0].port}")) == {20}


def test_the_cli_takes_several_targets(plaintext: list[Running]) -> None:
    targets = f"localhost:{plaintext[0].port}, 127.0.0.1:{plaintext[1].port}"
    result = CliRunner().invoke(main, ["status", "--target", targets])
    assert result.exit_code == 0, result.output
    assert '"loaded": true' in result.stdout


def test_calls_are_balanced_over_tls_targets_named_by_the_certificate(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    make_development_pki(pki, ["127.0.0.1"], [])
    servers = two_servers(tmp_path, tls_cert_file=str(pki / "server.crt"),
                          tls_key_file=str(pki / "server.key"), audit_key=AUDIT_KEY)  # fmt: skip
    try:
        targets = ",".join(f"127.0.0.1:{server.port}" for server in servers)
        assert answered_by(Connection(targets, ca_file=str(pki / "ca.crt"))) == {20, 30}
    finally:
        for server in servers:
            server.stop(0.5)


def test_targets_resolve_to_one_address_family() -> None:
    target, options = balanced_target("localhost:5001,127.0.0.2:5002")
    assert target == "ipv4:127.0.0.1:5001,127.0.0.2:5002"
    assert ("grpc.lb_policy_name", "round_robin") in options
    assert ("grpc.default_authority", "localhost:5001") in options
    assert balanced_target("[::1]:1,[::1]:2")[0] == "ipv6:[::1]:1,[::1]:2"
    assert (
        balanced_target("dns:///preflight-headless:50051")[0] == "dns:///preflight-headless:50051"
    )
    for bad in ("127.0.0.1:1,[::1]:2", " , ", "127.0.0.1:1,nowhere"):
        with pytest.raises(ValueError):
            balanced_target(bad)
