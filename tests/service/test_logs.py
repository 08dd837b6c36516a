from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import grpc
import orjson
import pytest

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service import logs
from service.client import PreflightClient
from service.codec import incident_to_json
from service.rpc import convert
from service.rpc.server import log_index_event, start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore


def test_json_logs_carry_event_fields_and_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("json", "info")
    token = logs.REQUEST_ID.set("req-9")
    try:
        logging.getLogger("preflight.test").info("index built", extra={"incidents": 12})
    finally:
        logs.REQUEST_ID.reset(token)
    logging.getLogger("preflight.test").debug("not shown at info")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = orjson.loads(lines[0])
    assert entry["event"] == "index built" and entry["incidents"] == 12
    assert entry["request_id"] == "req-9" and entry["level"] == "info"


def test_console_logs_are_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("console", "warning")
    logging.getLogger("preflight.test").warning("store unreachable", extra={"error": "timeout"})
    line = capsys.readouterr().err.strip()
    assert line.endswith("warning store unreachable  error=timeout")


def test_index_events_become_log_records(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        log_index_event("index built", {"incidents": 3, "seconds": 0.5})
        log_index_event("invalid document skipped", {"incident_id": "X-1", "error": "bad"})
    levels = [(r.getMessage(), r.levelname) for r in caplog.records]
    assert levels == [("index built", "INFO"), ("invalid document skipped", "WARNING")]
    assert caplog.records[1].incident_id == "X-1"  # type: ignore[attr-defined]


SECRET_NAME = "Quillonbrandt Zyxwerk"
SECRET_STREET = "17 Glimmerveld Passage"


def test_party_names_and_addresses_never_reach_info_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A screen, a batch with a bad item, a refused incident write and a malformed stored
    document all carry a party's name and street; no record at info or above names them."""
    incidents = list(Generator(5).incidents(20))
    recorded = replace(incidents[0], parties=tuple(
        replace(p, name=SECRET_NAME, address_lines=(SECRET_STREET,)) for p in incidents[0].parties
    ))  # fmt: skip
    store = SqliteStore(tmp_path / "db.sqlite")
    store.put([recorded, *incidents[1:]])
    broken = orjson.loads(incident_to_json(incidents[1]))
    broken["parties"][0] |= {"name": SECRET_NAME, "address_lines": [SECRET_STREET]}
    broken["kind"] = "not-a-kind"
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE incidents SET body = ? WHERE incident_id = ?",
                   (orjson.dumps(broken), incidents[1].incident_id))  # fmt: skip
    overrides = {"store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0"}
    settings = load_settings(environ={}, overrides={**overrides, "allow_plaintext": 1})
    party = pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=SECRET_NAME, address_lines=[SECRET_STREET],
                     country_code=recorded.parties[0].country_code)  # fmt: skip
    bad_party = pb.Party(role=pb.PARTY_ROLE_IMPORTER, name=SECRET_NAME * 400, country_code="ZZZ",
                         address_lines=[SECRET_STREET])  # fmt: skip
    item = pb.Item(item_id="EE471108151FR", channel=pb.CHANNEL_PARCEL_POST)
    with caplog.at_level(logging.INFO):
        running = start_server(settings)
        try:
            assert running.holder.wait_loaded(30.0)
            assert running.holder.status().invalid_documents == 1
            with PreflightClient(f"127.0.0.1:{running.port}") as client:
                verdict = client.screen(pb.ScreenRequest(item=item, parties=[party]))
                assert verdict.stoplight != pb.STOPLIGHT_GREEN  # the recorded party was found
                good, bad = (pb.ScreenRequest(item=item, parties=[p]) for p in (party, bad_party))
                reply = client.screen_batch([good, bad])
                assert reply.entries[1].HasField("error")
                with pytest.raises(grpc.RpcError) as refused:
                    client.put_incidents([convert.incident_to_pb(replace(
                        recorded, incident_id="ION-LOG-1", reporting_country="ZZZ"))])  # fmt: skip
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            running.stop(1.0)
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.getMessage() == "invalid document skipped" for r in shown)  # logged, but how:
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in shown).casefold()
    for secret in (SECRET_NAME, SECRET_STREET, *SECRET_NAME.split(), "glimmerveld"):
        assert secret.casefold() not in text
