"""The compiled screening core (Rust, index/src): bytes in, bytes out, the GIL released."""

from collections.abc import Iterable
from os import PathLike
from typing import final

@final
class Policy:
    """A scoring policy, parsed once from index.policy.policy_json's text."""

    @staticmethod
    def from_json(text: str) -> Policy: ...
    @property
    def version(self) -> str: ...

@final
class Snapshot:
    """An immutable index of incident parties."""

    @staticmethod
    def build(
        documents: Iterable[tuple[str, bytes]], key: bytes, generation: int
    ) -> tuple[Snapshot, list[tuple[str, str]]]:
        """From stored documents (incident id, JSON), any iterable (a store's pages can stream
        in); also the (id, reason) of each document that did not decode."""
    def save(self, path: str | PathLike[str], stamp: bytes) -> None:
        """Write the snapshot and the caller's stamp to `path` (fsynced)."""
    @staticmethod
    def load(path: str | PathLike[str], generation: int) -> tuple[Snapshot, bytes]:
        """The snapshot kept in `path`, memory-mapped, and its stamp; ValueError saying why a
        file cannot be used."""
    @property
    def key(self) -> bytes: ...
    @property
    def generation(self) -> int: ...
    @property
    def incident_count(self) -> int: ...
    @property
    def party_count(self) -> int: ...
    @property
    def nbytes(self) -> int: ...

@final
class Suppressions:
    """One agency's recorded false matches: (party digest, incident id, incident version)
    pairs whose matches no longer raise its stoplights."""

    def __init__(self, key: bytes, pairs: list[tuple[str, str, int]]) -> None:
        """`pairs` hold the audit trail's hex party digests, keyed with `key` (the audit key);
        ValueError for a digest that is not 64 hex digits."""
    def __len__(self) -> int: ...

@final
class View:
    """A snapshot with the delta laid over it: what screening reads."""

    def __init__(self, snapshot: Snapshot) -> None: ...
    def apply(
        self, documents: list[tuple[str, bytes]], deletions: list[str], generation: int
    ) -> tuple[View, list[tuple[str, str]]]: ...
    def screen(
        self,
        request: bytes,
        policy: Policy,
        today: int,
        age_seconds: float,
        *,
        suppressed: Suppressions | None = None,
    ) -> tuple[bytes, Summary]:
        """A serialized ScreenResponse for a serialized ScreenRequest, and what to record of
        it; raises index.errors.ValidationError for an invalid request. A match of a pair in
        `suppressed` stays in the answer, GREEN and marked SUPPRESSED_BY_OUTCOME, and no
        longer counts toward its party's score."""
    def screen_batch(
        self,
        request: bytes,
        policy: Policy,
        today: int,
        age_seconds: float,
        max_items: int,
        *,
        suppressed: Suppressions | None = None,
    ) -> tuple[bytes, Summary]:
        """A serialized ScreenBatchResponse (a bad item gets its own error entry); raises
        index.errors.ValidationError only when the request is not a batch or too large."""
    @property
    def generation(self) -> int: ...
    @property
    def incident_count(self) -> int: ...
    @property
    def party_count(self) -> int: ...
    @property
    def delta_changes(self) -> int: ...
    def snapshot(self) -> Snapshot: ...

@final
class Summary:
    """What the service records of one call's verdicts."""

    def stoplight_counts(self) -> tuple[int, int, int]:
        """Verdicts by stoplight: (green, amber, red)."""
    def reason_counts(self) -> list[tuple[str, int]]: ...
    @property
    def items(self) -> int: ...
    @property
    def invalid_items(self) -> int: ...
    def audit_records(
        self, key: bytes, at: float, caller: str, request_id: str, rpc: str
    ) -> list[tuple[str, bytes, bool]]:
        """Each verdict's audit record: (item id, JSON body, whether it holds matches)."""

def rescore(
    request: bytes,
    candidates: list[list[bytes]],
    policy: Policy,
    today: int,
    incident_count: int,
) -> tuple[bytes, Summary]:
    """Re-score candidates a database-backed screener found: `candidates[i]` holds the stored
    documents of the incidents found for the request's party i. A serialized ScreenResponse;
    index.errors.ValidationError for an invalid request."""

def normalize_name(raw: str) -> tuple[list[str], list[str]]:
    """The name as the matcher compares it: (tokens, core tokens)."""

def identifiers(
    phones: list[str], emails: list[str], web_domains: list[str], country_code: str
) -> list[tuple[str, str]]:
    """A party's identifiers in canonical form: (kind, value)."""

def party_digest(key: bytes, name: str, business_name: str, country_code: str) -> str:
    """HMAC-SHA256 of the casefolded, space-collapsed party identity (the audit's digest)."""

def count_items(request: bytes) -> int:
    """Entries of a serialized request's field 1 (a batch's items), without decoding it."""

def proto_fields() -> list[tuple[str, str, int]]:
    """(message, field, number) of every preflight.v1 field the core decodes or encodes."""
