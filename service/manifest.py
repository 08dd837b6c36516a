"""Customs manifests: CN 23-like CSV rows in, one verdict row per input row out.

Rows are screened through pipelined ScreenBatch calls (a few batches in flight, results written
in input order); the output is flushed batch by batch, so an interrupted run resumes where it
stopped: rows already in the output file are skipped on the next run, once the output's record
(service.manifest_record) shows they are verdicts of this very manifest under the same policy.
A row the client can already tell is wrong (an unknown channel, a coordinate that is not a
number) gets its error without a call; the server names the faults of the others.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from preflight.v1 import preflight_pb2 as pb
from service.client import PreflightClient
from service.manifest_record import (
    ManifestError,
    check_policy,
    check_resume,
    describe_input,
    write_record,
)

PARTY_PREFIXES = {"sender": pb.PARTY_ROLE_EXPORTER, "addressee": pb.PARTY_ROLE_IMPORTER}
PARTY_FIELDS = (
    "name", "business_name", "address", "postcode", "city", "country", "phone", "email", "lat",
    "lon",
)  # fmt: skip
INPUT_COLUMNS = (
    "item_id", "channel",
    *(f"{prefix}_{field}" for prefix in PARTY_PREFIXES for field in PARTY_FIELDS),
    "description", "hs_code", "origin_country",
)  # fmt: skip
OUTPUT_COLUMNS = ("row", "item_id", "stoplight", "score", "reason_codes", "incident_ids", "error")
CHANNEL_NAMES = tuple(name.removeprefix("CHANNEL_").lower() for name in pb.Channel.keys()[1:])


def stoplight_name(value: int) -> str:
    """GREEN, AMBER or RED; "" for an unset stoplight."""
    return pb.Stoplight.Name(value).removeprefix("STOPLIGHT_") if value else ""  # type: ignore[arg-type]


class RowError(ValueError):
    """A row that cannot become a request: its error goes in its output row."""


@dataclass
class Totals:
    rows: int = 0
    green: int = 0
    hits: int = 0
    errors: int = 0
    skipped: int = 0


def _coordinate(row: dict[str, str], column: str) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise RowError(f"{column}: {text!r} is not a number") from None


def _channel(row: dict[str, str]) -> pb.Channel.ValueType:
    name = (row.get("channel") or "parcel_post").strip().lower()
    if name not in CHANNEL_NAMES:
        raise RowError(f"channel: {name!r} is not one of {', '.join(CHANNEL_NAMES)}")
    return pb.Channel.Value(f"CHANNEL_{name.upper()}")


def row_to_request(row: dict[str, str]) -> pb.ScreenRequest:
    """The ScreenRequest of a manifest row; RowError for what the row itself gets wrong (an
    unknown channel, a coordinate that is not a number or lacks its pair). The server checks
    the rest and names the field."""
    parties = []
    for prefix, role in PARTY_PREFIXES.items():

        def get(field: str, prefix: str = prefix) -> str:
            return (row.get(f"{prefix}_{field}") or "").strip()

        if not any(get(f) for f in PARTY_FIELDS):
            continue
        party = pb.Party(
            role=role, name=get("name"), business_name=get("business_name"),
            address_lines=[get("address")] if get("address") else [], postcode=get("postcode"),
            city=get("city"), country_code=get("country").upper(),
            phones=[get("phone")] if get("phone") else [],
            emails=[get("email")] if get("email") else [],
        )  # fmt: skip
        lat, lon = _coordinate(row, f"{prefix}_lat"), _coordinate(row, f"{prefix}_lon")
        if (lat is None) != (lon is None):
            raise RowError(f"{prefix}_lat and {prefix}_lon go together: give both or neither")
        if lat is not None and lon is not None:
            party.location.CopyFrom(pb.Location(lat=lat, lon=lon))
        parties.append(party)
    contents = []
    if row.get("description") or row.get("hs_code"):
        contents.append(
            pb.ContentLine(
                description=(row.get("description") or "").strip(),
                hs_code=(row.get("hs_code") or "").strip(),
                origin_country=(row.get("origin_country") or "").strip().upper(),
            )
        )
    return pb.ScreenRequest(
        item=pb.Item(
            item_id=(row.get("item_id") or "").strip(), channel=_channel(row), contents=contents
        ),
        parties=parties,
    )


def _rows(source: TextIO) -> Iterator[dict[str, str]]:
    reader = csv.DictReader(source)
    missing = {"item_id"} - set(reader.fieldnames or ())
    if missing:
        raise ManifestError(f"the manifest has no {', '.join(sorted(missing))} column")
    yield from reader


@dataclass
class Batch:
    """Consecutive rows: their numbers and item ids, the requests of those that became one
    (by position in the batch), and the errors of those that did not."""

    numbers: list[int] = dataclasses.field(default_factory=list)
    item_ids: list[str] = dataclasses.field(default_factory=list)
    requests: dict[int, pb.ScreenRequest] = dataclasses.field(default_factory=dict)
    row_errors: dict[int, str] = dataclasses.field(default_factory=dict)

    def add(self, number: int, row: dict[str, str]) -> None:
        position = len(self.numbers)
        self.numbers.append(number)
        self.item_ids.append((row.get("item_id") or "").strip())
        try:
            self.requests[position] = row_to_request(row)
        except RowError as exc:
            self.row_errors[position] = str(exc)


def _verdict_row(number: str, item_id: str, verdict: pb.ScreenResponse) -> list[str]:
    incidents = sorted(
        {m.incident.incident_id for p in verdict.parties for m in p.matches if m.stoplight > 1}
    )
    return [
        number, item_id, stoplight_name(verdict.stoplight), f"{verdict.score:.2f}",
        " ".join(verdict.reason_codes), " ".join(incidents), "",
    ]  # fmt: skip


def _output_rows(batch: Batch, reply: pb.ScreenBatchResponse | None) -> list[list[str]]:
    """The output rows of `batch` in row order, from the server's `reply` and the rows' own
    errors."""
    positions = list(batch.requests)
    outcomes: dict[int, list[str]] = {
        p: [str(batch.numbers[p]), batch.item_ids[p], "", "", "", "", e]
        for p, e in batch.row_errors.items()
    }
    for entry in reply.entries if reply is not None else ():
        position = positions[entry.index]
        number, item_id = str(batch.numbers[position]), batch.item_ids[position]
        if entry.WhichOneof("outcome") == "error":
            outcomes[position] = [number, item_id, "", "", "", "", entry.error.message]
        else:
            outcomes[position] = _verdict_row(number, item_id, entry.verdict)
    return [outcomes[p] for p in sorted(outcomes)]


def _policies(reply: pb.ScreenBatchResponse | None) -> set[str]:
    entries = reply.entries if reply is not None else ()
    return {e.verdict.policy_version for e in entries if e.WhichOneof("outcome") == "verdict"}


def trim_partial_row(output: Path) -> None:
    """Cut a last line left half-written by a killed run, so a resume counts whole rows."""
    if not output.exists() or output.stat().st_size == 0:
        return
    data = output.read_bytes()
    if not data.endswith(b"\n"):
        with output.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def rows_done(output: Path) -> int:
    """Data rows already written by an earlier, interrupted run."""
    if not output.exists():
        return 0
    with output.open(newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def summarize(output: Path) -> Totals:
    """The totals of every row in `output`, whichever run wrote it."""
    totals = Totals()
    if output.exists():
        with output.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                _count(totals, [row.get(c) or "" for c in OUTPUT_COLUMNS])
    return totals


def screen_manifest(
    source: Path,
    output: Path,
    client: PreflightClient,
    *,
    batch_size: int = 500,
    in_flight: int = 3,
    progress: object | None = None,
) -> Totals:
    """Screen every row of `source` into `output`, resuming after rows already there when
    they are verdicts of this very manifest under the server's current policy (ManifestError
    otherwise, before anything is written). The totals are those of this run."""
    trim_partial_row(output)
    totals = Totals(skipped=rows_done(output))
    record = check_resume(output, describe_input(source), totals.skipped)
    fresh = totals.skipped == 0
    if fresh:
        write_record(output, record)
    pool = ThreadPoolExecutor(max_workers=in_flight)
    try:
        with (
            source.open(newline="", encoding="utf-8-sig") as src,
            output.open("w" if fresh else "a", newline="", encoding="utf-8") as out,
        ):
            writer = csv.writer(out)
            if fresh:
                writer.writerow(OUTPUT_COLUMNS)
                out.flush()
            pending: list[tuple[Batch, Future[pb.ScreenBatchResponse] | None]] = []

            def drain(keep: int) -> None:
                nonlocal record
                while len(pending) > keep:
                    batch, future = pending.pop(0)
                    reply = future.result() if future is not None else None
                    for policy in sorted(_policies(reply)):
                        check_policy(output, record, policy)
                        if not record.policy_version:
                            record = record.with_policy(policy)
                            write_record(output, record)
                    for row in _output_rows(batch, reply):
                        writer.writerow(row)
                        _count(totals, row)
                    out.flush()
                    if progress is not None:
                        progress.update(len(batch.numbers))  # type: ignore[attr-defined]

            def submit(batch: Batch) -> None:
                requests = list(batch.requests.values())
                future = pool.submit(client.screen_batch, requests) if requests else None
                pending.append((batch, future))
                drain(in_flight)

            batch = Batch()
            for number, row in enumerate(_rows(src), start=1):
                if number <= totals.skipped:
                    continue
                batch.add(number, row)
                if len(batch.numbers) == batch_size:
                    submit(batch)
                    batch = Batch()
            if batch.numbers:
                submit(batch)
            drain(0)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # an interruption stops at once
        raise
    pool.shutdown()
    return totals


def _count(totals: Totals, row: list[str]) -> None:
    totals.rows += 1
    if row[-1]:
        totals.errors += 1
    elif row[2] == "GREEN":
        totals.green += 1
    else:
        totals.hits += 1
