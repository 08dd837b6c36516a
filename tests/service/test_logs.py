from __future__ import annotations

import logging

import orjson
import pytest

from service import logs


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
