"""The `preflight` command on real files, a real store and a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from index.synthetic import Generator
from service.cli import main
from service.codec import incident_to_dict
from service.rpc.server import Running, start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore


def test_ingest_reports_bad_rows_keeps_good_ones_and_is_idempotent(tmp_path: Path) -> None:
    rows = [orjson.dumps(incident_to_dict(i)) for i in Generator(5).incidents(40)]
    rows.insert(3, b'{"incident_id": "BAD-1", "kind": "burglary"}')
    rows.insert(10, b"not json")
    source = tmp_path / "incidents.jsonl"
    source.write_bytes(b"\n".join(rows) + b"\n")
    store_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", "--store-url", store_url, str(source)])
    assert first.exit_code == 1
    assert "row 4.kind: 'burglary' is not one of" in first.output
    assert "row 11: not valid JSON" in first.output
    assert "'created': 40" in first.output and "rejected 2" in first.output
    second = runner.invoke(main, ["ingest", "--store-url", store_url, str(source)])
    assert "'created': 0" in second.output and "'unchanged': 40" in second.output
    assert SqliteStore(tmp_path / "db.sqlite").count() == 40


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Running]:
    store_url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "300"])
    assert result.exit_code == 0, result.output
    settings = load_settings(
        environ={}, overrides={"store_url": store_url, "listen": "127.0.0.1:0"}
    )
    server = start_server(settings)
    assert server.holder.wait_loaded(30)
    yield server
    server.stop(1.0)


def test_the_readme_example_returns_red_and_json_works(demo_server: Running) -> None:
    target = f"127.0.0.1:{demo_server.port}"
    runner = CliRunner()
    shown = runner.invoke(main, ["screen", "--target", target, "--business-name",
                                 "Shanghai Hongda Chemical Co., Ltd", "--country", "CN",
                                 "--phone", "+86 21 5555 0188"])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "RED" in shown.output and "ION-DEMO-0001" in shown.output
    as_json = runner.invoke(main, ["screen", "--target", target, "--name", "Nobody", "--json"])
    assert orjson.loads(as_json.output)["stoplight"] == "STOPLIGHT_GREEN"
    status = orjson.loads(runner.invoke(main, ["status", "--target", target]).output)
    assert status["loaded"] and status["incidents"] == "301"
