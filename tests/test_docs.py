"""The commands, code and files the README and docs/ show, run as shown against live servers,
so the documents cannot drift from the service."""

from __future__ import annotations

import re
import shlex
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from click.testing import CliRunner
from google.protobuf import json_format
from prometheus_client import CollectorRegistry, Counter

from index.model import PartyRole
from preflight.v1 import preflight_pb2 as pb
from service.auth import load_access
from service.certs import make_development_pki
from service.cli import main, showcase_incident
from service.client import Connection, PreflightClient
from service.metrics import serve_metrics
from service.rpc import convert
from service.rpc.server import Running, start_server
from service.settings import load_settings
from tests.conftest import RedisServer, free_port, promtool

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
CLIENTS = (ROOT / "docs" / "clients.md").read_text()
SECURITY = (ROOT / "docs" / "security.md").read_text()
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()
AUDIT_KEY = "c0ffee" * 6


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def shell_commands(block: str, program: str) -> list[tuple[list[str], str]]:
    """Each `program …` command of a shell block (continuation lines joined) as its words
    after the program, with the comment that follows it."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        code, _, comment = line.partition("  #")
        words = shlex.split(code)
        if words[:1] == [program]:
            commands.append((words[1:], comment.strip()))
    return commands


def test_the_readme_fits_in_five_minutes() -> None:
    assert len(README.split()) <= 1500


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A server on the demo store, as `make run` serves it."""
    folder = tmp_path_factory.mktemp("demo")
    store_url = f"sqlite:///{folder / 'demo.db'}"
    made = CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "300"])
    assert made.exit_code == 0, made.output
    settings = load_settings(environ={}, overrides={
        "store_url": store_url, "listen": "127.0.0.1:0", "allow_plaintext": 1})  # fmt: skip
    running = start_server(settings)
    assert running.holder.wait_loaded(30)
    yield running
    running.stop(1.0)


@pytest.mark.parametrize("document", ["README.md", "docs/clients.md"])
def test_the_documented_preflight_commands_answer_as_their_comments_say(
    demo: Running, document: str
) -> None:
    text = (ROOT / document).read_text()
    target = f"127.0.0.1:{demo.port}"
    commands = [c for b in blocks(text, "sh") for c in shell_commands(b, ".venv/bin/preflight")]
    screens = [(words, comment) for words, comment in commands if words[0] in ("screen", "status")]
    assert len(screens) >= 3, screens
    for words, comment in screens:
        said = comment.split()[0].rstrip(":,") if comment else ""
        expected = said if said in ("RED", "AMBER", "GREEN") else ""
        assert expected or words[0] == "status", f"{words}: its comment names no stoplight"
        result = CliRunner().invoke(main, [*words, "--target", target])
        if words[0] == "status":
            assert result.exit_code == 0, result.output
            continue
        assert expected in result.stdout, (words, result.output)
        assert result.exit_code == (0 if expected == "GREEN" else 1), (words, result.output)


def test_make_screen_runs_against_make_run_on_the_port_given(demo: Running) -> None:
    port = str(demo.port)
    planned = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", f"PORT={port}", "METRICS_PORT=9999"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    serve = next(line for line in planned.splitlines() if "preflight serve" in line)
    assert f"--listen 127.0.0.1:{port}" in serve
    screened = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "screen", f"PORT={port}"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert screened.returncode == 0, screened.stdout + screened.stderr
    assert "RED" in screened.stdout and "exit status 1 (0 GREEN" in screened.stdout
    elsewhere = subprocess.run(
        ["make", "-o", ".venv/.installed", "screen", f"PORT={free_port()}"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert elsewhere.returncode != 0 and "exit status 3" in elsewhere.stdout


def test_the_python_client_example_runs_as_shown(demo: Running) -> None:
    (example,) = blocks(CLIENTS, "python")
    assert '"127.0.0.1:50051"' in example
    ran = subprocess.run(
        [sys.executable, "-c", example.replace("127.0.0.1:50051", f"127.0.0.1:{demo.port}")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    first, *matches = ran.stdout.splitlines()
    assert first.startswith("STOPLIGHT_RED ") and first.endswith(" 301")
    assert matches[0].startswith("ION-DEMO-0001 ")


def test_the_grpcurl_examples_name_real_methods_and_a_request_that_screens(
    demo: Running,
) -> None:
    commands = [c for b in blocks(CLIENTS, "sh") for c in shell_commands(b, "grpcurl")]
    assert len(commands) == 3
    services = {s.full_name: s for s in pb.DESCRIPTOR.services_by_name.values()}
    for words, _ in commands:
        path = next(w for w in words if w.startswith("preflight.v1."))
        service, _, method = path.partition("/")
        assert method in services[service].methods_by_name, words
        if "-proto" in words:
            proto = ROOT / words[words.index("-import-path") + 1] / words[words.index("-proto") + 1]
            assert proto.is_file()
    body = re.search(r"<<'EOF'\n(.*?)\nEOF", CLIENTS, flags=re.DOTALL)
    assert body is not None
    request = json_format.Parse(body.group(1), pb.ScreenRequest())  # unknown fields fail
    with PreflightClient(f"127.0.0.1:{demo.port}") as client:
        assert client.screen(request).stoplight == pb.STOPLIGHT_RED


@pytest.fixture(scope="module")
def doc_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A PKI with a client certificate for every caller of the documented callers file, and
    that file as documented."""
    folder = tmp_path_factory.mktemp("doc-pki")
    callers_toml = next(b for b in blocks(SECURITY, "toml") if "[callers." in b)
    callers = folder / "callers.toml"
    callers.write_text(callers_toml)
    names = re.findall(r'"([a-z0-9.-]+\.example)"', callers_toml)
    make_development_pki(folder, ["127.0.0.1"], [*names, "prometheus"])
    return folder, callers


def test_the_documented_callers_file_admits_each_caller_to_its_roles(
    tmp_path: Path, doc_pki: tuple[Path, Path]
) -> None:
    pki, callers = doc_pki
    access = load_access(str(callers), 100.0, 100.0)
    assert len(access.caller_names) == 5
    assert access.callers_of("de-customs") == {"de-customs-atlas", "de-customs-officers"}
    store = tmp_path / "db.sqlite"
    CliRunner().invoke(main, ["demo", "--store-url", f"sqlite:///{store}", "--count", "20"])
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{store}", "listen": "127.0.0.1:0", "audit_key": AUDIT_KEY,
        "tls_cert_file": str(pki / "server.crt"), "tls_key_file": str(pki / "server.key"),
        "tls_client_ca_file": str(pki / "ca.crt"), "callers_file": str(callers)})  # fmt: skip
    running = start_server(settings)
    request = pb.ScreenRequest(
        item=pb.Item(item_id="AWB-1", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, name="Someone Else", country_code="FR")],
    )
    try:
        assert running.holder.wait_loaded(30)
        outcomes = {}
        for name in ("atlas.zoll.example", "dg-check-dr.laposte.example",
                     "ionics-feed.incb.example", "ops.preflight.example"):  # fmt: skip
            connection = Connection(f"127.0.0.1:{running.port}", str(pki / "ca.crt"),
                                    str(pki / f"{name}.crt"), str(pki / f"{name}.key"))  # fmt: skip
            with PreflightClient(connection, retries=0) as client:
                try:
                    outcomes[name] = pb.Stoplight.Name(client.screen(request).stoplight)
                except grpc.RpcError as exc:
                    outcomes[name] = exc.code().name
        assert outcomes == {
            "atlas.zoll.example": "STOPLIGHT_GREEN",
            "dg-check-dr.laposte.example": "STOPLIGHT_GREEN",
            "ionics-feed.incb.example": "PERMISSION_DENIED",  # ingest only
            "ops.preflight.example": "STOPLIGHT_GREEN",
        }
    finally:
        running.stop(1.0)


def _scrape(url: str, tls: dict[str, str], with_certificate: bool) -> str:
    context = ssl.create_default_context(cafile=tls["ca_file"])
    if with_certificate:
        context.load_cert_chain(tls["cert_file"], tls["key_file"])
    with urllib.request.urlopen(url, timeout=5, context=context) as reply:
        return str(reply.read().decode())


def test_the_documented_prometheus_scrape_config_is_valid_and_scrapes_mtls_metrics(
    tmp_path: Path, doc_pki: tuple[Path, Path]
) -> None:
    pki, _ = doc_pki
    (config,) = blocks(SECURITY, "yaml")
    files = {"ca.crt": "ca.crt", "prometheus.crt": "prometheus.crt",
             "prometheus.key": "prometheus.key"}  # fmt: skip
    for documented, made in files.items():
        config = config.replace(f"/etc/prometheus/preflight/{documented}", str(pki / made))
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    checked = subprocess.run([promtool(), "check", "config", str(path)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.safe_load(config)["scrape_configs"][0]
    assert job["scheme"] == "https"
    registry = CollectorRegistry()
    Counter("preflight_probe", "A sample.", registry=registry).inc()
    port = serve_metrics("127.0.0.1:0", registry, str(pki / "server.crt"),
                         str(pki / "server.key"), str(pki / "ca.crt"))  # fmt: skip
    url = f"https://127.0.0.1:{port}/metrics"
    assert "preflight_probe_total 1.0" in _scrape(url, job["tls_config"], with_certificate=True)
    with pytest.raises(OSError):
        _scrape(url, job["tls_config"], with_certificate=False)


def test_every_documented_settings_file_loads(tmp_path: Path) -> None:
    files = [b for b in blocks(DEPLOYMENT, "toml")]
    assert len(files) == 2
    for number, text in enumerate(files):
        path = tmp_path / f"settings-{number}.toml"
        path.write_text(text)
        settings = load_settings(path, environ={"PREFLIGHT_AUDIT_KEY": AUDIT_KEY})
        assert settings.store_url and settings.tls_client_ca_file and settings.callers_file


def test_several_hosts_behind_one_redis_serve_what_any_of_them_stored(
    tmp_path: Path, doc_pki: tuple[Path, Path], redis_server: RedisServer
) -> None:
    """The deployment's several-hosts file, with this test's PKI, Redis and ports: an incident
    put on host A (as the documented ingest caller) turns a verdict RED on host B."""
    pki, callers = doc_pki
    text = next(b for b in blocks(DEPLOYMENT, "toml") if "redis://" in b)
    path = tmp_path / "preflight.toml"
    path.write_text(text)
    prefix = f"hosts-{time.monotonic_ns()}:"
    hosts = []
    for name in ("a", "b"):
        settings = load_settings(path, environ={"PREFLIGHT_AUDIT_KEY": AUDIT_KEY}, overrides={
            "store_url": redis_server.url, "redis_prefix": prefix, "listen": "127.0.0.1:0",
            "tls_cert_file": str(pki / "server.crt"), "tls_key_file": str(pki / "server.key"),
            "tls_client_ca_file": str(pki / "ca.crt"), "callers_file": str(callers),
            "snapshot_dir": str(tmp_path / f"snapshots-{name}"), "allow_empty_index": 1,
        })  # fmt: skip
        hosts.append(start_server(settings))
    try:
        for host in hosts:
            assert host.holder.wait_loaded(30)

        def connect(host: Running, caller: str) -> Connection:
            return Connection(f"127.0.0.1:{host.port}", str(pki / "ca.crt"),
                              str(pki / f"{caller}.crt"), str(pki / f"{caller}.key"))  # fmt: skip

        incident = showcase_incident()
        with PreflightClient(connect(hosts[0], "ionics-feed.incb.example")) as feed:
            feed.put_incidents([convert.incident_to_pb(incident)])
        party = next(p for p in incident.parties if p.role is PartyRole.EXPORTER)
        request = pb.ScreenRequest(
            item=pb.Item(item_id="AWB-2", channel=pb.CHANNEL_EXPRESS),
            parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, business_name=party.business_name,
                              country_code="CN", phones=list(party.phones))],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        with PreflightClient(connect(hosts[1], "atlas.zoll.example")) as atlas:
            while atlas.screen(request).stoplight != pb.STOPLIGHT_RED:
                assert time.monotonic() < deadline, "host B never saw host A's incident"
                time.sleep(0.1)
    finally:
        for host in hosts:
            host.stop(1.0)
