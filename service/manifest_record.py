"""Which manifest, and which scoring policy, a verdicts file belongs to.

Beside every verdicts file OUTPUT lies OUTPUT.preflight.json: the SHA-256 and row count of the
manifest it was screened from, and the policy version of its verdicts (the server's policy is
what changes verdicts; its version comes with every verdict). A resume checks both before it
skips a single row, so the rows of one manifest are never taken for those of another, and one
file never mixes verdicts of two policies.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

RECORD_SUFFIX = ".preflight.json"


class ManifestError(ValueError):
    """The manifest or its verdicts file cannot be used as asked (the whole file, not a row)."""


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    source: str  # the manifest's path when screening began (for people; the digest decides)
    input_sha256: str
    input_rows: int
    policy_version: str = ""  # "" until the first verdict is written

    def with_policy(self, policy_version: str) -> ManifestRecord:
        return replace(self, policy_version=policy_version)


def record_path(output: Path) -> Path:
    return output.with_name(output.name + RECORD_SUFFIX)


def describe_input(source: Path) -> ManifestRecord:
    """The record of `source` as it is now: digest of its bytes and its number of rows."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with source.open(newline="", encoding="utf-8-sig") as handle:
        rows = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    return ManifestRecord(str(source), digest.hexdigest(), rows)


def read_record(output: Path) -> ManifestRecord | None:
    path = record_path(output)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return ManifestRecord(**data)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{path} is not a Preflight manifest record: {exc}") from exc


def write_record(output: Path, record: ManifestRecord) -> None:
    path = record_path(output)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
    temporary.replace(path)


def check_resume(output: Path, current: ManifestRecord, rows_written: int) -> ManifestRecord:
    """The record to continue under: the stored one when `output` holds rows of this very
    input; ManifestError saying what to do when it holds rows of another or of an unknown one."""
    stored = read_record(output)
    if rows_written == 0:
        return current
    if stored is None:
        raise ManifestError(
            f"{output} already holds {rows_written} verdict rows but no record of the manifest "
            f"they came from ({record_path(output).name}): write to another -o, or delete "
            f"{output} to screen from the start"
        )
    if stored.input_sha256 != current.input_sha256:
        raise ManifestError(
            f"{output} holds verdicts of another manifest ({stored.source}, sha256 "
            f"{stored.input_sha256[:12]}…, {stored.input_rows} rows), not of {current.source} "
            f"(sha256 {current.input_sha256[:12]}…): write to another -o, or delete {output} "
            "to screen from the start"
        )
    return replace(stored, source=current.source)


def check_policy(output: Path, record: ManifestRecord, policy_version: str) -> None:
    """ManifestError when verdicts of `policy_version` would join rows of another policy."""
    if record.policy_version and policy_version != record.policy_version:
        raise ManifestError(
            f"the server now scores under policy {policy_version!r}, but the rows already in "
            f"{output} were scored under {record.policy_version!r}: write to another -o to "
            "screen the whole manifest under one policy"
        )
