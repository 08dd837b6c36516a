"""`preflight serve` as real worker processes sharing a port: SIGTERM drains in-flight calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from click.testing import CliRunner

from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.cli import main
from service.client import wait_serving
from tests.conftest import free_port


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
         "--listen", target, "--workers", "2", "--threads", "2", "--allow-plaintext"],
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
