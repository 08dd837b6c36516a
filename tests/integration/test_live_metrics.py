"""`/metrics` of a real two-worker `preflight serve`: both workers' counts summed, worker
processes listed, and `promtool check metrics` happy with the exposition."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner

from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.cli import main
from service.client import wait_serving
from tests.conftest import free_port, promtool, scrape, stop_server_process, values

CALLS = 40


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    folder = tmp_path_factory.mktemp("live-metrics")
    store_url = f"sqlite:///{folder / 'demo.db'}"
    assert (
        CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "500"]).exit_code
        == 0
    )
    target, metrics_port = f"127.0.0.1:{free_port()}", free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--store-url", store_url, "--listen", target,
         "--workers", "2", "--allow-plaintext",
         "--metrics-listen", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PREFLIGHT_METRICS_DIR": str(folder / "metrics")},
    )  # fmt: skip
    try:
        wait_serving(target, 60.0)
        yield target, metrics_port
    finally:
        stop_server_process(process)


def test_both_workers_are_summed(served: tuple[str, int]) -> None:
    target, metrics_port = served
    showcase = pb.ScreenRequest(
        item=pb.Item(item_id="EE471108151FR", channel=pb.CHANNEL_EXPRESS),
        parties=[pb.Party(role=pb.PARTY_ROLE_EXPORTER, country_code="CN",
                          business_name="Shanghai Hongda Chemical Co., Ltd",
                          phones=["+86 21 5555 0188"])],
    )  # fmt: skip
    for _ in range(CALLS):  # a channel per call: SO_REUSEPORT spreads them over the workers
        with grpc.insecure_channel(target) as channel:
            assert pb_grpc.ScreeningServiceStub(channel).Screen(showcase).stoplight == (
                pb.STOPLIGHT_RED
            )
    found = values(scrape(metrics_port))
    service = ("grpc_service", "preflight.v1.ScreeningService")
    labels = (("grpc_code", "OK"), ("grpc_method", "Screen"), service, ("grpc_type", "unary"))
    assert found[("grpc_server_handled_total", labels)] == CALLS
    assert found[("preflight_verdicts_total", (("stoplight", "RED"),))] == CALLS
    assert (
        found[("preflight_workers_alive", ())] == found[("preflight_workers_configured", ())] == 2
    )
    cpu = {k: v for k, v in found.items() if k[0] == "preflight_worker_cpu_seconds_total"}
    assert len(cpu) == 2 and all(v > 0 for v in cpu.values())
    deadline = time.monotonic() + 5
    while found.get(("preflight_index_loaded", ())) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        found = values(scrape(metrics_port))
    assert found[("preflight_index_incidents", ())] == 501


def test_promtool_accepts_the_exposition(served: tuple[str, int]) -> None:
    text = scrape(served[1])
    checked = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == "", checked.stdout.decode()  # no lint findings
