"""What `preflight certs` prints, run as printed: an mTLS server whose callers file is the
printed one admits the printed client, and its /metrics wants that client's certificate too."""

from __future__ import annotations

import http.client
import os
import shlex
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.cli import main
from service.client import Connection
from tests.conftest import free_port, stop_server_process


def printed_line(output: str, label: str) -> list[str]:
    """The words of the line `certs` printed after `label:`."""
    line = next(line for line in output.splitlines() if line.startswith(f"{label}:"))
    return shlex.split(line.removeprefix(f"{label}:"))


def wait_serving_tls(connection: Connection, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with connection.channel() as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1.0
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        assert time.monotonic() < deadline, "the printed serve line never became SERVING"
        time.sleep(0.1)


def scrape(url: str, pki: Path, client: str = "") -> str:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if client:
        context.load_cert_chain(str(pki / f"{client}.crt"), str(pki / f"{client}.key"))
    with urllib.request.urlopen(url, timeout=5, context=context) as reply:
        return str(reply.read().decode())


def test_the_printed_mtls_setup_admits_its_client_and_guards_metrics(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["demo", "--store-url", store_url, "--count", "200"]).exit_code == 0
    pki = tmp_path / "pki"
    printed = runner.invoke(main, ["certs", str(pki), "--client", "atlas.zoll.example",
                                   "--store-url", store_url])  # fmt: skip
    assert printed.exit_code == 0, printed.output
    serve = printed_line(printed.output, "serve")
    assert serve[:2] == ["preflight", "serve"]
    target, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFLIGHT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", *serve[1:], "--listen", target,
         "--metrics-listen", metrics, "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environ,
    )  # fmt: skip
    try:
        client = Connection(target, str(pki / "ca.crt"), str(pki / "atlas.zoll.example.crt"),
                            str(pki / "atlas.zoll.example.key"))  # fmt: skip
        wait_serving_tls(client, 60.0)
        screen = printed_line(printed.output, "screen")
        assert screen[:2] == ["preflight", "screen"]
        result = runner.invoke(main, [*screen[1:], "--target", target])
        assert result.exit_code == 0, result.output
        assert "GREEN" in result.output
        url = f"https://{metrics}/metrics"
        with pytest.raises((OSError, http.client.HTTPException)):
            scrape(url, pki)  # no client certificate: refused
        assert "preflight_verdicts_total" in scrape(url, pki, "atlas.zoll.example")
    finally:
        stop_server_process(process)
        if process.stderr is not None:
            print(process.stderr.read().decode())
