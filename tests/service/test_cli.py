"""The `preflight` command on real files, a real store and a real server."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from click.testing import CliRunner

from index.model import s10_check_digit
from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service.cli import index_warnings, main
from service.codec import CSV_COLUMNS, incident_to_dict
from service.manifest import INPUT_COLUMNS
from service.rpc.server import Running, start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore
from tests.conftest import free_port

INCIDENT = next(iter(Generator(9).incidents(1)))


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
        environ={},
        overrides={"store_url": store_url, "listen": "127.0.0.1:0", "allow_plaintext": 1},
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
    assert shown.exit_code == 1, shown.output  # AMBER or RED
    assert "RED" in shown.output and "ION-DEMO-0001" in shown.output
    as_json = runner.invoke(main, ["screen", "--target", target, "--name", "Nobody", "--json"])
    assert as_json.exit_code == 0, as_json.output  # GREEN
    green = orjson.loads(as_json.stdout)
    assert green["stoplight"] == "STOPLIGHT_GREEN"
    assert green["score"] == 0 and green["reason_codes"] == []  # there, though zero and empty
    status = orjson.loads(runner.invoke(main, ["status", "--target", target]).stdout)
    assert status["loaded"] and status["incidents"] == "301"


def _manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INPUT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _s10(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"RR{digits}{s10_check_digit(digits)}DE"


def test_manifest_screens_every_row_and_resumes(demo_server: Running, tmp_path: Path) -> None:
    target = f"127.0.0.1:{demo_server.port}"
    rows = [
        {"item_id": _s10(n), "sender_name": f"Clean Sender {n}", "sender_country": "FR",
         "addressee_name": f"Clean Addressee {n}", "addressee_country": "DE"}
        for n in range(1, 120)
    ]  # fmt: skip
    rows[7] = {"item_id": _s10(8), "sender_business_name": "上海宏达化工有限公司",
               "sender_country": "CN", "sender_phone": "+86 21 5555 0188"}  # fmt: skip
    rows[20]["item_id"] = "RR000000000DE"  # wrong check digit
    rows[30]["sender_lat"], rows[30]["sender_lon"] = "91", "0"
    source, output = tmp_path / "manifest.csv", tmp_path / "verdicts.csv"
    _manifest(source, rows)
    runner = CliRunner()
    args = ["manifest", "--target", target, str(source), "-o", str(output), "--batch-size", "16"]
    result = runner.invoke(main, args)
    assert result.exit_code == 3, result.output
    with output.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in written] == list(range(1, 120))
    assert written[7]["stoplight"] == "RED" and "ION-DEMO-0001" in written[7]["incident_ids"]
    assert "item.item_id" in written[20]["error"]
    assert "parties[0].location.lat" in written[30]["error"]
    assert {r["stoplight"] for i, r in enumerate(written) if i not in (7, 20, 30)} == {"GREEN"}

    lines = output.read_text().splitlines(keepends=True)
    output.write_text("".join(lines[:51]))  # interrupted after 50 rows
    again = runner.invoke(main, args)
    assert "(50 done before)" in again.output
    assert output.read_text().splitlines() == [line.rstrip("\r\n") for line in lines]

    clean = tmp_path / "clean.csv"
    _manifest(clean, [r for i, r in enumerate(rows) if i not in (7, 20, 30)])
    all_green = runner.invoke(
        main, ["manifest", "--target", target, str(clean), "-o", str(tmp_path / "c.csv")]
    )
    assert all_green.exit_code == 0, all_green.output

    finished = runner.invoke(main, args)  # nothing left to screen: the status is the file's
    assert finished.exit_code == 3 and "0 rows screened (119 done before)" in finished.output


def test_ingest_csv_with_a_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "incidents.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerow({
            "incident_id": "CSV-1", "kind": "seizure", "reported_on": "2026-05-02",
            "reporting_country": "NL", "agency": "Douane", "contact_ref": "NL-7",
            "substances": "ANPP; 4-AP", "substance_class": "precursor",
            "exporter_business_name": "Wuhan Yuancheng Gongchuang Co., Ltd",
            "exporter_country": "CN", "exporter_phone": "+86 27 8888 1234",
            "exporter_lat": "30.59", "exporter_lon": "114.30",
            "importer_name": "Jan de Vries", "importer_country": "NL",
        })  # fmt: skip
        writer.writerow({"incident_id": "CSV-2", "kind": "seizure", "reported_on": "2026-05-02",
                         "reporting_country": "NL", "exporter_name": "X", "exporter_lat": "north",
                         "exporter_lon": "5"})  # fmt: skip
    store_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(main, ["ingest", "--store-url", store_url, str(source)])
    assert result.exit_code == 1
    assert "row 3.parties[0].location: lat and lon must be numbers" in result.output
    stored = SqliteStore(tmp_path / "db.sqlite").get("CSV-1")
    assert stored is not None
    assert stored.substances == ("ANPP", "4-AP")
    assert stored.parties[0].phones == ("+86 27 8888 1234",)
    assert stored.parties[0].location is not None and stored.parties[0].location.lat == 30.59
    assert stored.parties[1].role.value == "importer"


@pytest.mark.parametrize(
    "command",
    [["demo", "--count", "5"], ["ingest", "incidents.jsonl"], ["audit", "--item-id", "X"]],
)
def test_store_commands_need_a_store_and_make_none_of_their_own(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREFLIGHT_STORE_URL", raising=False)
    monkeypatch.delenv("PREFLIGHT_CONFIG", raising=False)
    (tmp_path / "incidents.jsonl").write_bytes(orjson.dumps(incident_to_dict(INCIDENT)) + b"\n")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert "no incident store given: pass --store-url" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incidents.jsonl"]


def test_store_commands_say_which_store_they_use(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(main, ["demo", "--store-url", store_url, "--count", "5"])
    assert result.exit_code == 0, result.output
    assert f"store: {store_url}" in result.stderr


def _clean_rows(count: int, start: int = 1) -> list[dict[str, str]]:
    return [
        {"item_id": _s10(n), "sender_name": f"Clean Sender {n}", "sender_country": "FR"}
        for n in range(start, start + count)
    ]


RED_ROW = {"item_id": _s10(9999), "sender_business_name": "上海宏达化工有限公司",
           "sender_country": "CN", "sender_phone": "+86 21 5555 0188"}  # fmt: skip


def test_a_resume_against_another_manifest_is_refused(demo_server: Running, tmp_path: Path) -> None:
    target = f"127.0.0.1:{demo_server.port}"
    first, second, output = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "verdicts.csv"
    _manifest(first, _clean_rows(40))
    _manifest(second, [*_clean_rows(2, start=500), RED_ROW, *_clean_rows(60, start=600)])
    runner = CliRunner()
    done = runner.invoke(main, ["manifest", "--target", target, str(first), "-o", str(output)])
    assert done.exit_code == 0, done.output
    before = output.read_bytes()
    other = runner.invoke(main, ["manifest", "--target", target, str(second), "-o", str(output)])
    assert other.exit_code == 2, other.output
    assert f"{output} holds verdicts of another manifest ({first}" in other.output
    assert "Traceback" not in other.output
    assert output.read_bytes() == before  # not a row skipped, not a row added

    bare = tmp_path / "bare.csv"  # rows with no record of where they came from
    bare.write_bytes(before)
    unknown = runner.invoke(main, ["manifest", "--target", target, str(first), "-o", str(bare)])
    assert unknown.exit_code == 2 and "no record of the manifest" in unknown.output


def test_a_resume_under_another_policy_is_refused(demo_server: Running, tmp_path: Path) -> None:
    target = f"127.0.0.1:{demo_server.port}"
    source, output = tmp_path / "m.csv", tmp_path / "verdicts.csv"
    _manifest(source, _clean_rows(30))
    args = ["manifest", "--target", target, str(source), "-o", str(output), "--batch-size", "8"]
    runner = CliRunner()
    assert runner.invoke(main, args).exit_code == 0
    record_file = output.with_name("verdicts.csv.preflight.json")
    record = orjson.loads(record_file.read_bytes())
    assert record["input_rows"] == 30 and record["policy_version"]
    record_file.write_bytes(orjson.dumps({**record, "policy_version": "policy-of-last-year"}))
    output.write_text("".join(output.read_text().splitlines(keepends=True)[:11]))  # 10 rows
    resumed = runner.invoke(main, args)
    assert resumed.exit_code == 2, resumed.output
    assert "were scored under 'policy-of-last-year'" in resumed.output
    assert len(output.read_text().splitlines()) == 11


def test_the_exit_status_covers_the_whole_output_and_a_kill_mid_row(
    demo_server: Running, tmp_path: Path
) -> None:
    target = f"127.0.0.1:{demo_server.port}"
    source, output = tmp_path / "m.csv", tmp_path / "verdicts.csv"
    _manifest(source, [RED_ROW, *_clean_rows(30)])
    args = ["manifest", "--target", target, str(source), "-o", str(output), "--batch-size", "8"]
    runner = CliRunner()
    assert runner.invoke(main, args).exit_code == 1
    whole = output.read_text()
    output.write_text(whole[: whole.index("\n", whole.index("\n") + 1) + 1] + "12,RR0000")
    resumed = runner.invoke(main, args)  # the RED row came before: still hits
    assert resumed.exit_code == 1, resumed.output
    assert "(1 done before)" in resumed.output and "1 hits" in resumed.output
    assert output.read_text() == whole  # the half-written row was cut, then written whole
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "0 rows screened (31 done before)" in again.output


def test_rows_that_cannot_be_requests_are_named_without_a_call(
    demo_server: Running, tmp_path: Path
) -> None:
    source, output = tmp_path / "m.csv", tmp_path / "verdicts.csv"
    rows = _clean_rows(4)
    rows[1]["channel"] = "boat"
    rows[2]["sender_lat"] = "48.1"
    rows[3]["sender_lat"], rows[3]["sender_lon"] = "north", "5"
    _manifest(source, rows)
    result = CliRunner().invoke(main, ["manifest", "--target", f"127.0.0.1:{demo_server.port}",
                                       str(source), "-o", str(output)])  # fmt: skip
    assert result.exit_code == 3, result.output
    with output.open(newline="") as handle:
        errors = [r["error"] for r in csv.DictReader(handle)]
    assert errors[0] == ""
    assert errors[1] == (
        "channel: 'boat' is not one of letter_post, parcel_post, express, air_cargo, "
        "sea_freight, road"
    )
    assert errors[2] == "sender_lat and sender_lon go together: give both or neither"
    assert errors[3] == "sender_lat: 'north' is not a number"


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_cli_failures_are_one_line_with_an_exit_status(
    demo_server: Running, tmp_path: Path
) -> None:
    runner = CliRunner()
    target = f"127.0.0.1:{demo_server.port}"
    nobody = f"127.0.0.1:{free_port()}"
    down = runner.invoke(main, ["screen", "--target", nobody, "--name", "X"])
    assert down.exit_code == 3
    assert _one_line(down.output).startswith(f"preflight: cannot reach a server at {nobody}")
    germany = runner.invoke(main, ["screen", "--target", target, "--country", "Germany"])
    assert germany.exit_code == 2
    assert "--country" in _one_line(germany.output) and "e.g. DE" in germany.output
    half = runner.invoke(main, ["screen", "--target", target, "--name", "X", "--lat", "48.1"])
    assert half.exit_code == 2
    assert "--lat and --lon go together" in _one_line(half.output)
    bad_item = runner.invoke(main, ["screen", "--target", target, "--item-id", "RR123DE"])
    assert bad_item.exit_code == 2
    assert _one_line(bad_item.output).startswith("preflight: bad input: --item-id: ")
    boat = runner.invoke(main, ["screen", "--target", target, "--channel", "boat"])
    assert boat.exit_code == 2 and "'boat' is not one of 'letter_post'" in _one_line(boat.output)
    stranger = runner.invoke(main, ["screen", "--target", target, "--api-key", "k", "--name", "X"])
    assert stranger.exit_code == 2 and "only sent over TLS" in _one_line(stranger.output)
    debug = runner.invoke(main, ["--debug", "screen", "--target", nobody, "--name", "X"])
    assert debug.exit_code != 0 and isinstance(debug.exception, grpc.RpcError)


def test_an_empty_or_stale_index_is_visible_in_screen_and_status(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "empty.sqlite").close()
    settings = load_settings(environ={}, overrides={
        "store_url": f"sqlite:///{tmp_path / 'empty.sqlite'}", "listen": "127.0.0.1:0",
        "allow_plaintext": 1, "allow_empty_index": 1})  # fmt: skip
    running = start_server(settings)
    target = f"127.0.0.1:{running.port}"
    runner = CliRunner()
    try:
        assert running.holder.wait_loaded(30)
        shown = runner.invoke(main, ["screen", "--target", target, "--name", "Anyone"])
        assert shown.exit_code == 0 and "GREEN" in shown.stdout
        assert "the server's index holds no incidents: this verdict means nothing" in shown.stderr
        status = runner.invoke(main, ["status", "--target", target])
        assert orjson.loads(status.stdout)["incidents"] == "0"
        assert "warning: the index holds no incidents" in status.stderr
    finally:
        running.stop(1.0)
    stale = pb.IndexStatus(loaded=True, incidents=10, store_reachable=False,
                           last_error="connection refused", staleness_seconds=600.0)  # fmt: skip
    assert index_warnings(stale) == [
        "the store is unreachable: connection refused",
        "the change feed was last read 600 s ago: recent incidents may be missing",
    ]
    assert index_warnings(pb.IndexStatus(loaded=True, incidents=10, store_reachable=True)) == []


def test_an_outcome_recorded_from_the_command_line_suppresses_and_is_listed(
    demo_server: Running,
) -> None:
    target = ["--target", f"127.0.0.1:{demo_server.port}"]
    showcase = ["--business-name", "Shanghai Hongda Chemical Co., Ltd", "--country", "CN",
                "--phone", "+86 21 5555 0188"]  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, ["screen", *target, *showcase]).exit_code == 1
    wrong = runner.invoke(main, ["outcome", *target, "EE471108151FR", "ION-NOPE", "seized"])
    assert wrong.exit_code == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "INCIDENT_ID: did not match EE471108151FR" in wrong.stderr
    recorded = runner.invoke(main, ["outcome", *target, "EE471108151FR", "ION-DEMO-0001",
                                    "cleared_false_match"])  # fmt: skip
    assert recorded.exit_code == 0, recorded.output
    assert (
        "CLEARED_FALSE_MATCH by anonymous" in recorded.stdout and "suppressing" in recorded.stdout
    )
    again = runner.invoke(main, ["screen", *target, "--item-id", "EE000000031FR", *showcase])
    assert again.exit_code == 0, again.output  # GREEN, the match still shown
    assert "SUPPRESSED_BY_OUTCOME" in again.stdout
    listed = runner.invoke(main, ["outcomes", *target, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert row["outcome"] == "OUTCOME_CLEARED_FALSE_MATCH" and row["in_effect"] is True
    nowhere = runner.invoke(main, ["outcomes", "--target", f"127.0.0.1:{free_port()}"])
    assert nowhere.exit_code == 3
