"""The incident store contract every implementation passes (tests/service/test_store_contract.py).

Writes are acknowledged only once durable in the store. Every accepted change appends to a
change feed that readers tail from their own cursor; a cursor the feed can no longer serve
(trimmed past, or the feed went backwards after a failover) answers `reset=True`, and the
reader reloads in full from `current_cursor()` taken *before* the load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from index.errors import ValidationError
from index.model import Incident
from service.codec import incident_from_json

MAX_PUT_BATCH = 1_000
MAX_PAGE = 1_000


class PutOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # same id and version already stored: idempotent replay
    STALE = "stale"  # an older version than the one stored: ignored


@dataclass(frozen=True, slots=True)
class Change:
    cursor: str
    incident_id: str
    version: int


def change_name(incident_id: str, version: int) -> str:
    """How `change_at` names a change."""
    return f"{incident_id}@{version}"


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    changes: tuple[Change, ...]
    cursor: str  # where to read next
    reset: bool = False  # the cursor is gone: reload everything


# Told about each stored document that does not decode (id, why); without one, it raises.
OnInvalid = Callable[[str, ValidationError], None]
RawDocument = tuple[str, bytes]


def decode(documents: Iterable[RawDocument], on_invalid: OnInvalid | None) -> list[Incident]:
    """Stored documents as incidents; a malformed one raises, or is reported and skipped."""
    incidents = []
    for incident_id, body in documents:
        try:
            incidents.append(incident_from_json(body, f"store[{incident_id}]"))
        except ValidationError as exc:
            if on_invalid is None:
                raise
            on_invalid(incident_id, exc)
    return incidents


def iter_pages(
    page_raw: Callable[[str, int], list[RawDocument]],
    on_invalid: OnInvalid | None,
    after: str = "",
    upto: str | None = None,
) -> Iterator[Incident]:
    """Every incident with an id in (after, upto], page by page in id order, through a
    store's raw pages."""
    while documents := page_raw(after, MAX_PAGE):
        if upto is not None and documents[-1][0] > upto:
            yield from decode([d for d in documents if d[0] <= upto], on_invalid)
            return
        yield from decode(documents, on_invalid)
        after = documents[-1][0]


def iter_raw_pages(
    page_raw: Callable[[str, int], list[RawDocument]], after: str = "", upto: str | None = None
) -> Iterator[RawDocument]:
    """Every stored document with an id in (after, upto], page by page in id order, as the
    store holds it (the compiled core decodes and validates them)."""
    while documents := page_raw(after, MAX_PAGE):
        if upto is not None and documents[-1][0] > upto:
            yield from (d for d in documents if d[0] <= upto)
            return
        yield from documents
        after = documents[-1][0]


def split_points(count: int, id_at: Callable[[int], str], parts: int) -> list[str]:
    """Ids that cut `count` ids (`id_at(rank)` in id order) into `parts` ranges of about one
    size: range k is (cut[k-1], cut[k]]. Fewer when there are fewer ids than parts."""
    ranks = sorted({count * k // parts - 1 for k in range(1, parts)} - {-1})
    return [id_at(rank) for rank in ranks if rank < count - 1]


class StoreError(Exception):
    """The store could not do what was asked (unreachable, failed write)."""


class IncidentStore(Protocol):
    def put(self, incidents: Sequence[Incident]) -> list[PutOutcome]:
        """Upsert by id and version, all or nothing; one outcome per incident."""
        ...

    def get(self, incident_id: str) -> Incident | None: ...

    def get_many(
        self, incident_ids: Sequence[str], on_invalid: OnInvalid | None = None
    ) -> dict[str, Incident]: ...

    def iter_all(
        self, on_invalid: OnInvalid | None = None, after: str = "", upto: str | None = None
    ) -> Iterator[Incident]:
        """Every stored incident (retracted ones included) with an id in (after, upto], in id
        order."""
        ...

    def documents(self, incident_ids: Sequence[str]) -> list[RawDocument]:
        """The stored documents (id, JSON) of those ids that are stored, undecoded."""
        ...

    def iter_documents(self, after: str = "", upto: str | None = None) -> Iterator[RawDocument]:
        """Every stored document (id, JSON) with an id in (after, upto], in id order,
        undecoded."""
        ...

    def split_points(self, parts: int) -> list[str]:
        """Ids that cut the stored ids into `parts` ranges of about one size, for iter_all
        (see base.split_points)."""
        ...

    def page(self, after_id: str, limit: int) -> list[Incident]:
        """Up to `limit` incidents with ids after `after_id`, in id order."""
        ...

    def count(self) -> int: ...

    def current_cursor(self) -> str:
        """The feed position after the last accepted change."""
        ...

    def change_at(self, cursor: str) -> str:
        """What the feed recorded at `cursor` ("incident id@version"; empty at the start or
        when the entry is gone): a cursor names the same change only while this agrees."""
        ...

    def store_id(self) -> str:
        """Names this store's data: the same for every client of it, a new one when the data
        starts over (a new database, a Redis that lost its keys). A cursor means something
        only together with it."""
        ...

    def changes_since(self, cursor: str, limit: int = MAX_PAGE) -> ChangeBatch: ...

    def close(self) -> None: ...
