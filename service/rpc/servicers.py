"""Thin servicers: convert the request, call the core or the store, convert back."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Protocol

import grpc

from index.errors import FieldViolation, ValidationError
from index.model import (
    Incident,
    IncidentStatus,
    Query,
    Result,
    incident_violations,
    validate_query,
)
from index.policy import Policy
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.errors import (
    DeadlinePassedError,
    IndexNotReadyError,
    NotFoundError,
    RequestTooLargeError,
)
from service.refresh import IndexHolder, IndexStatus
from service.rpc import convert
from service.rpc.coalesce import Coalescer
from service.rpc.screening_gate import SCREENING_TURNS, ScreeningGate
from service.store.base import MAX_PAGE, IncidentStore

DEFAULT_PAGE = 100
MIN_REMAINING_S = 0.001
ROUND_SIZE = 25  # single screens per coalesced round, like a batch chunk among them
VerdictObserver = Callable[[str, Sequence[Query], Sequence[Result], int], None]


class Screener(Protocol):
    """What answers screening: an IndexView, or a baseline built on another store."""

    def screen(self, query: Query, policy: Policy, as_of: date) -> Result: ...

    def screen_many(
        self, queries: Sequence[Query], policy: Policy, as_of: date
    ) -> list[Result]: ...


class ScreenerSource(Protocol):
    """The current screener (None until one is loaded) and the status behind its age."""

    @property
    def view(self) -> Screener | None: ...

    def status(self) -> IndexStatus: ...


def _ignore_verdicts(
    rpc: str, queries: Sequence[Query], results: Sequence[Result], invalid_items: int
) -> None:
    pass


def _check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining < MIN_REMAINING_S:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before screening")


@contextmanager
def _screening_turn(
    gate: ScreeningGate, context: grpc.ServicerContext, single: bool
) -> Iterator[None]:
    """Hold the process's screening turn, or end the call when its deadline passes first."""
    if not gate.acquire(single, context.time_remaining()):
        raise DeadlinePassedError("deadline passed waiting to screen")
    try:
        _check_deadline(context)
        yield
    finally:
        gate.release()


class ScreeningServicer(pb_grpc.ScreeningServiceServicer):
    def __init__(
        self,
        holder: ScreenerSource,
        policy: Policy,
        max_batch_items: int,
        *,
        today: Callable[[], date] = date.today,
        observe: VerdictObserver | None = None,
        gate: ScreeningGate | None = None,
        coalesce: bool = True,
    ) -> None:
        """`coalesce`: single screens that wait for the turn go to the core together (the
        baselines, whose screening waits on a database, turn it off)."""
        self._holder = holder
        self._policy = policy
        self._max_batch_items = max_batch_items
        self._today = today
        self._observe = observe or _ignore_verdicts
        self._gate = gate or ScreeningGate(SCREENING_TURNS)
        self._singles = Coalescer(self._gate, policy, ROUND_SIZE) if coalesce else None

    def _age_s(self) -> float:
        status = self._holder.status()
        latest = max(status.last_change_applied_at, status.built_at)
        return max(time.time() - latest, 0.0) if latest else 0.0

    def Screen(self, request: pb.ScreenRequest, context: grpc.ServicerContext) -> pb.ScreenResponse:
        view = self._holder.view
        if view is None:
            raise IndexNotReadyError("no index loaded yet")
        query = validate_query(convert.query_from_pb(request))
        if self._singles is not None:
            result = self._singles.screen(view, query, self._today(), context.time_remaining())
        else:
            with _screening_turn(self._gate, context, single=True):
                result = view.screen(query, self._policy, self._today())
        self._observe("Screen", (query,), (result,), 0)
        return convert.response_to_pb(result, self._age_s())

    def ScreenBatch(
        self, request: pb.ScreenBatchRequest, context: grpc.ServicerContext
    ) -> pb.ScreenBatchResponse:
        if len(request.items) > self._max_batch_items:
            raise RequestTooLargeError("items", self._max_batch_items)
        view = self._holder.view
        if view is None:
            raise IndexNotReadyError("no index loaded yet")
        entries: list[pb.ScreenBatchEntry] = []
        valid: list[tuple[int, Query]] = []
        for i, item in enumerate(request.items):
            try:
                valid.append((i, validate_query(convert.query_from_pb(item))))
            except ValidationError as exc:
                entries.append(pb.ScreenBatchEntry(index=i, error=convert.item_error_to_pb(exc)))
        queries = [q for _, q in valid]
        today = self._today()
        results: list[Result] = []
        while len(results) < len(queries):
            with _screening_turn(self._gate, context, single=False):
                chunk = queries[len(results) : len(results) + self._gate.chunk_size()]
                results += view.screen_many(chunk, self._policy, today)
        age = self._age_s()
        self._observe("ScreenBatch", queries, results, len(entries))
        for (i, _), result in zip(valid, results, strict=True):
            entries.append(
                pb.ScreenBatchEntry(index=i, verdict=convert.response_to_pb(result, age))
            )
        entries.sort(key=lambda e: e.index)
        return pb.ScreenBatchResponse(entries=entries)


class IncidentServicer(pb_grpc.IncidentServiceServicer):
    def __init__(self, store: IncidentStore, max_batch_items: int) -> None:
        self._store = store
        self._max_batch_items = max_batch_items

    def PutIncidents(
        self, request: pb.PutIncidentsRequest, context: grpc.ServicerContext
    ) -> pb.PutIncidentsResponse:
        if len(request.incidents) > self._max_batch_items:
            raise RequestTooLargeError("incidents", self._max_batch_items)
        violations: list[FieldViolation] = []
        incidents = [
            convert.incident_from_pb(m, f"incidents[{i}]", violations)
            for i, m in enumerate(request.incidents)
        ]
        if not violations:
            for i, incident in enumerate(incidents):
                violations += incident_violations(incident, f"incidents[{i}]")
        if violations:
            raise ValidationError(violations)
        outcomes = self._store.put(incidents)
        return pb.PutIncidentsResponse(
            results=[
                pb.PutResult(incident_id=i.incident_id, outcome=convert.outcome_to_pb(o))
                for i, o in zip(incidents, outcomes, strict=True)
            ]
        )

    def _get(self, incident_id: str) -> Incident:
        if not incident_id:
            raise ValidationError([FieldViolation("incident_id", "is required")])
        incident = self._store.get(incident_id)
        if incident is None:
            raise NotFoundError(f"no incident {incident_id[:128]!r}")
        return incident

    def GetIncident(
        self, request: pb.GetIncidentRequest, context: grpc.ServicerContext
    ) -> pb.Incident:
        return convert.incident_to_pb(self._get(request.incident_id))

    def RetractIncident(
        self, request: pb.RetractIncidentRequest, context: grpc.ServicerContext
    ) -> pb.Incident:
        incident = self._get(request.incident_id)
        if incident.status is not IncidentStatus.RETRACTED:
            incident = replace(
                incident, status=IncidentStatus.RETRACTED, version=incident.version + 1
            )
            self._store.put([incident])
        return convert.incident_to_pb(incident)

    def ListIncidents(
        self, request: pb.ListIncidentsRequest, context: grpc.ServicerContext
    ) -> pb.ListIncidentsResponse:
        size = request.page_size or DEFAULT_PAGE
        if not 0 < size <= MAX_PAGE:
            raise ValidationError(
                [FieldViolation("page_size", f"must be between 1 and {MAX_PAGE}")]
            )
        try:
            after = base64.urlsafe_b64decode(request.page_token.encode()).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(
                [FieldViolation("page_token", "is not a token this service issued")]
            ) from exc
        page = self._store.page(after, size)
        token = ""
        if len(page) == size:
            token = base64.urlsafe_b64encode(page[-1].incident_id.encode()).decode()
        return pb.ListIncidentsResponse(
            incidents=[convert.incident_to_pb(i) for i in page], next_page_token=token
        )


class IndexServicer(pb_grpc.IndexServiceServicer):
    def __init__(self, holder: IndexHolder) -> None:
        self._holder = holder

    def GetIndexStatus(
        self, request: pb.GetIndexStatusRequest, context: grpc.ServicerContext
    ) -> pb.IndexStatus:
        return convert.status_to_pb(self._holder.status(), time.time())

    def RebuildIndex(
        self, request: pb.RebuildIndexRequest, context: grpc.ServicerContext
    ) -> pb.IndexStatus:
        self._holder.compact()
        return convert.status_to_pb(self._holder.status(), time.time())
