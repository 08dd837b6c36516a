"""`preflight serve` as real worker processes sharing a port: SIGTERM drains in-flight calls."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.cli import main
from service.client import wait_serving
from service.rpc.server import start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore
from tests.conftest import free_port, stop_server_process


def _batch(size: int) -> pb.ScreenBatchRequest:
    items = [
        pb.ScreenRequest(
            item=pb.Item(item_id=f"AWB-{n}", channel=pb.CHANNEL_EXPRESS),
            parties=[
                pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=f"Sender Number {n}", country_code="CN"),
                pb.Party(role=pb.PARTY_ROLE_IMPORTER, name=f"Addressee {n}", country_code="DE"),
            ],
        )
        for n in range(size)
    ]
    return pb.ScreenBatchRequest(items=items)


def test_sigterm_under_load_fails_no_in_flight_call(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert (
        CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "3000"]).exit_code
        == 0
    )
    port = free_port()
    target = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", store_url,
         "--listen", target, "--workers", "2", "--allow-plaintext"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        wait_serving(target, 60.0)
        results: list[object] = []

        def call() -> None:
            with grpc.insecure_channel(target) as channel:
                try:
                    results.append(
                        pb_grpc.ScreeningServiceStub(channel).ScreenBatch(_batch(1000), timeout=30)
                    )
                except grpc.RpcError as exc:
                    results.append(exc)

        callers = [threading.Thread(target=call) for _ in range(4)]
        for caller in callers:
            caller.start()
        time.sleep(0.3)  # the batches are being screened now
        process.send_signal(signal.SIGTERM)
        for caller in callers:
            caller.join(60)
        assert len(results) == 4
        failures = [r for r in results if isinstance(r, grpc.RpcError)]
        assert failures == [], [f.code() for f in failures]
        assert all(len(r.entries) == 1000 for r in results)  # type: ignore[attr-defined]
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        print(output)


def _serve(store_url: str, target: str, snapshots: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env |= {"PYTHONUNBUFFERED": "1", "PREFLIGHT_SNAPSHOT_DIR": str(snapshots)}
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", store_url,
         "--listen", target, "--workers", "2", "--allow-plaintext"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.stdout.read().decode() if process.stdout else ""


def _verdicts(target: str, batch: pb.ScreenBatchRequest) -> list[tuple[int, float, list[str]]]:
    with grpc.insecure_channel(target) as channel:
        reply = pb_grpc.ScreeningServiceStub(channel).ScreenBatch(batch, timeout=30)
    return [
        (e.verdict.stoplight, e.verdict.score,
         sorted(m.incident.incident_id for p in e.verdict.parties for m in p.matches))
        for e in reply.entries
    ]  # fmt: skip


def _serve_and_screen(
    store_url: str, target: str, snapshots: Path, probes: pb.ScreenBatchRequest
) -> tuple[list[tuple[int, float, list[str]]], str]:
    """Start `preflight serve`, screen the probes once it is SERVING, stop it: the verdicts
    and what the service printed."""
    process = _serve(store_url, target, snapshots)
    try:
        wait_serving(target, 60.0)
        verdicts = _verdicts(target, probes)
    finally:
        output = _stop(process)
    return verdicts, output


def test_a_restart_serves_the_snapshot_file_and_what_was_written_meanwhile(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["demo", "--store-url", store_url, "--count", "2000"]).exit_code == 0
    target = f"127.0.0.1:{free_port()}"
    probes = _batch(50)
    flagged = pb.ScreenRequest(
        item=pb.Item(item_id="AWB-flagged", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, business_name="Quorvex Lumin Trading",
                          country_code="IN", phones=["+91 22 4000 7788"])],
    )  # fmt: skip
    probes.items.append(flagged)
    before, output = _serve_and_screen(store_url, target, tmp_path / "snapshots", probes)
    assert "index built" in output and "snapshot file written" in output, output
    assert before[-1][2] == []

    incidents = tmp_path / "meanwhile.jsonl"
    incidents.write_text(
        '{"incident_id": "ION-LATE-1", "kind": "seizure", "reported_on": "2026-11-30", '
        '"reporting_country": "IN", "agency": "DRI", "contact_ref": "DRI-9", '
        '"substance_class": "fentanyl", "channel": "express", "parties": [{"role": "exporter", '
        '"business_name": "Quorvex Lumin Trading Pvt Ltd", "country_code": "IN", '
        '"phones": ["+91 22 4000 7788"]}]}\n'
    )
    ingested = runner.invoke(main, ["ingest", str(incidents), "--store-url", store_url])
    assert ingested.exit_code == 0, ingested.output

    after, output = _serve_and_screen(store_url, target, tmp_path / "snapshots", probes)
    assert "index loaded from file" in output and "index built" not in output, output
    assert after[:-1] == before[:-1]
    assert after[-1][0] == pb.STOPLIGHT_RED and after[-1][2] == ["ION-LATE-1"]


def test_a_callers_rate_limit_holds_across_worker_processes(tmp_path: Path) -> None:
    """The burst is the service's, not each worker's: calls spread over two workers by
    SO_REUSEPORT are granted exactly `burst` items between them."""
    store_url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert (
        CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "50"]).exit_code == 0
    )
    target = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", store_url, "--listen", target,
         "--workers", "2", "--allow-plaintext", "--metrics-listen", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PREFLIGHT_RATE_LIMIT_PER_S": "0.001", "PREFLIGHT_RATE_BURST": "10",
             "PREFLIGHT_SNAPSHOT_DIR": ""},
    )  # fmt: skip
    try:
        wait_serving(target, 60.0, in_a_row=4)  # health checks are not rate limited
        codes = []
        for _ in range(30):  # a fresh connection per call: both workers answer some
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.ScreeningServiceStub(channel)
                try:
                    stub.Screen(_batch(1).items[0], timeout=10)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    codes.append(exc.code())
    finally:
        stop_server_process(process)
    assert codes.count(grpc.StatusCode.OK) == 10, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 20, codes


def _serve_until_exit(*args: str) -> subprocess.CompletedProcess[str]:
    """`preflight serve ARGS` expected to refuse: its exit within a minute. A serve that starts
    instead never exits: it and its workers are killed, and the test fails."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFLIGHT_")}
    command = [sys.executable, "-m", "service", "serve", "--allow-plaintext", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=environ, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"serve started instead of refusing: {command}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_serve_without_a_store_refuses_to_start(tmp_path: Path) -> None:
    refused = _serve_until_exit("--listen", f"127.0.0.1:{free_port()}", "--metrics-listen", "")
    assert refused.returncode == 2, refused.stderr
    assert "no incident store given" in refused.stderr


def test_a_second_serve_on_a_port_in_use_refuses_to_start(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(list(Generator(3).incidents(20)))
    store.close()
    store_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    listen = f"127.0.0.1:{free_port()}"
    settings = load_settings(
        environ={}, overrides={"store_url": store_url, "listen": listen, "allow_plaintext": 1}
    )
    occupant = start_server(settings)  # listens with SO_REUSEPORT, as every serve does
    metrics = socket.create_server(("127.0.0.1", 0))
    try:
        empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
        second = _serve_until_exit("--store-url", empty, "--listen", settings.listen,
                                   "--metrics-listen", "")  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert f"{settings.listen} is already in use by another process" in second.stderr
        metrics_port = metrics.getsockname()[1]
        clash = _serve_until_exit("--store-url", empty, "--listen", f"127.0.0.1:{free_port()}",
                                  "--metrics-listen", f"127.0.0.1:{metrics_port}")  # fmt: skip
        assert clash.returncode == 2, clash.stderr
        assert "--metrics-listen" in clash.stderr and "already in use" in clash.stderr
    finally:
        metrics.close()
        occupant.stop(1.0)


def test_an_interrupted_manifest_exits_130_says_how_to_resume_and_resumes(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put(list(Generator(3).incidents(20)))
    store.close()
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "listen": "127.0.0.1:0",
        "allow_plaintext": 1, "rate_limit_per_s": 150.0, "rate_burst": 20.0})  # fmt: skip
    running = start_server(settings)  # the rate limit makes the manifest take seconds
    source, output = tmp_path / "manifest.csv", tmp_path / "verdicts.csv"
    source.write_text("item_id,channel,sender_name,sender_country\n" + "".join(
        f"AWB-{n},express,Clean Sender {n},FR\n" for n in range(600)))  # fmt: skip
    args = ["manifest", "--target", f"127.0.0.1:{running.port}", str(source), "-o", str(output),
            "--batch-size", "10"]  # fmt: skip
    try:
        assert running.holder.wait_loaded(30)
        process = subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not output.exists() or len(output.read_text().splitlines()) < 30:
            assert time.monotonic() < deadline and process.poll() is None, "no rows written"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        assert "run the same command again to resume" in stderr and str(output) in stderr
        assert "Traceback" not in stderr
        written = len(output.read_text().splitlines()) - 1
        assert 29 <= written < 600
        resumed = CliRunner().invoke(main, args)
        assert resumed.exit_code == 0, resumed.output
        assert f"({written} done before)" in resumed.output
        with output.open() as handle:
            rows = [line.split(",")[0] for line in handle.read().splitlines()[1:]]
        assert rows == [str(n) for n in range(1, 601)]
    finally:
        running.stop(1.0)
