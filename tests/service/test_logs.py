from __future__ import annotations

import logging

import orjson
import pytest

from service import logs
from service.rpc.server import log_index_event


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
