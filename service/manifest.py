"""Customs manifests: CN 23-like CSV rows in, one verdict row per input row out.

Rows are screened through pipelined ScreenBatch calls (a few batches in flight, results written
in input order); the output is flushed batch by batch, so an interrupted run resumes where it
stopped: rows already in the output file are skipped on the next run.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from preflight.v1 import preflight_pb2 as pb
from service.client import PreflightClient

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
UNKNOWN_CHANNEL = 999


def stoplight_name(value: int) -> str:
    """GREEN, AMBER or RED; "" for an unset stoplight."""
    return pb.Stoplight.Name(value).removeprefix("STOPLIGHT_") if value else ""  # type: ignore[arg-type]


class ManifestError(ValueError):
    """The manifest file itself cannot be read (not a row: the whole file)."""


@dataclass
class Totals:
    rows: int = 0
    green: int = 0
    hits: int = 0
    errors: int = 0
    skipped: int = 0


def _float(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return float("nan")  # reaches the server as an out-of-range coordinate, named there


def row_to_request(row: dict[str, str]) -> pb.ScreenRequest:
    channel_name = f"CHANNEL_{(row.get('channel') or 'parcel_post').strip().upper()}"
    # an unknown channel travels as an undefined number and comes back as that row's error
    channel = pb.Channel.ValueType(
        pb.Channel.Value(channel_name) if channel_name in pb.Channel.keys() else UNKNOWN_CHANNEL  # noqa: SIM118
    )
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
        lat, lon = _float(get("lat")), _float(get("lon"))
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
            item_id=(row.get("item_id") or "").strip(), channel=channel, contents=contents
        ),
        parties=parties,
    )


def _rows(source: TextIO) -> Iterator[dict[str, str]]:
    reader = csv.DictReader(source)
    missing = {"item_id"} - set(reader.fieldnames or ())
    if missing:
        raise ManifestError(f"the manifest has no {', '.join(sorted(missing))} column")
    yield from reader


def _output_rows(
    first_row: int, entries: Sequence[pb.ScreenBatchEntry], items: Sequence[pb.ScreenRequest]
) -> list[list[str]]:
    out = []
    for entry in entries:
        item_id = items[entry.index].item.item_id
        number = str(first_row + entry.index)
        if entry.WhichOneof("outcome") == "error":
            out.append([number, item_id, "", "", "", "", entry.error.message])
            continue
        verdict = entry.verdict
        incidents = sorted(
            {m.incident.incident_id for p in verdict.parties for m in p.matches if m.stoplight > 1}
        )
        out.append([
            number, item_id, stoplight_name(verdict.stoplight), f"{verdict.score:.2f}",
            " ".join(verdict.reason_codes), " ".join(incidents), "",
        ])  # fmt: skip
    return out


def rows_done(output: Path) -> int:
    """Data rows already written by an earlier, interrupted run."""
    if not output.exists():
        return 0
    with output.open(newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def screen_manifest(
    source: Path,
    output: Path,
    client: PreflightClient,
    *,
    batch_size: int = 500,
    in_flight: int = 3,
    progress: object | None = None,
) -> Totals:
    """Screen every row of `source` into `output`, resuming after rows already there."""
    totals = Totals(skipped=rows_done(output))
    fresh = not output.exists() or (totals.skipped == 0 and output.stat().st_size == 0)
    with (
        source.open(newline="", encoding="utf-8-sig") as src,
        output.open("a", newline="", encoding="utf-8") as out,
        ThreadPoolExecutor(max_workers=in_flight) as pool,
    ):
        writer = csv.writer(out)
        if fresh:
            writer.writerow(OUTPUT_COLUMNS)
        pending: list[tuple[int, list[pb.ScreenRequest], Future[pb.ScreenBatchResponse]]] = []

        def drain(keep: int) -> None:
            while len(pending) > keep:
                first, items, future = pending.pop(0)
                for row in _output_rows(first, future.result().entries, items):
                    writer.writerow(row)
                    _count(totals, row)
                out.flush()
                if progress is not None:
                    progress.update(len(items))  # type: ignore[attr-defined]

        batch: list[pb.ScreenRequest] = []
        first_row = 1
        for number, row in enumerate(_rows(src), start=1):
            if number <= totals.skipped:
                continue
            if not batch:
                first_row = number
            batch.append(row_to_request(row))
            if len(batch) == batch_size:
                pending.append((first_row, batch, pool.submit(client.screen_batch, batch)))
                batch = []
                drain(in_flight)
        if batch:
            pending.append((first_row, batch, pool.submit(client.screen_batch, batch)))
        drain(0)
    return totals


def _count(totals: Totals, row: list[str]) -> None:
    totals.rows += 1
    if row[-1]:
        totals.errors += 1
    elif row[2] == "GREEN":
        totals.green += 1
    else:
        totals.hits += 1
