"""Thin servicers: hand the request to the core or the store, hand back its answer.

The screening methods are registered with identity (de)serializers (`add_screening_service`):
the request arrives as bytes, the compiled core decodes, validates and screens it with the GIL
released, and its serialized response goes back as it is, so no Python message object is built
on the screening path.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

import grpc

from index import _core
from index.errors import FieldViolation, ValidationError
from index.model import Incident, IncidentStatus, incident_violations
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service import logs
from service.auth import AccessControl
from service.errors import IndexNotReadyError, NotFoundError, RequestTooLargeError
from service.outcomes import Outcomes, Recorder
from service.refresh import IndexHolder, IndexStatus
from service.rpc import convert
from service.rpc.interceptors import CALL, CallInfo
from service.store.base import MAX_PAGE, IncidentStore

DEFAULT_PAGE = 100
MIN_REMAINING_S = 0.001
SCREENING_SERVICE = "preflight.v1.ScreeningService"
SummaryObserver = Callable[[str, _core.Summary], None]
# The calling agency's recorded false matches, for its screens (None: it has none).
SuppressionsOf = Callable[[str], _core.Suppressions | None]


class Screener(Protocol):
    """What answers screening: a view of the compiled core, or a baseline built on another
    store; requests and responses are serialized messages."""

    def screen(
        self,
        request: bytes,
        policy: _core.Policy,
        today: int,
        age_seconds: float,
        *,
        suppressed: _core.Suppressions | None = None,
    ) -> tuple[bytes, Any]: ...

    def screen_batch(
        self,
        request: bytes,
        policy: _core.Policy,
        today: int,
        age_seconds: float,
        max_items: int,
        *,
        suppressed: _core.Suppressions | None = None,
    ) -> tuple[bytes, Any]: ...


class ScreenerSource(Protocol):
    """The current screener (None until one is loaded) and the status behind its age."""

    @property
    def view(self) -> Screener | None: ...

    def status(self) -> IndexStatus: ...


def _ignore(rpc: str, summary: _core.Summary) -> None:
    pass


def _none(agency: str) -> None:
    return None


def _check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining < MIN_REMAINING_S:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before screening")


class ScreeningServicer:
    """Screen and ScreenBatch on serialized messages (see add_screening_service)."""

    def __init__(
        self,
        holder: ScreenerSource,
        policy: _core.Policy,
        max_batch_items: int,
        *,
        today: Callable[[], date] = date.today,
        observe: SummaryObserver | None = None,
        allow_empty_index: bool = False,
        suppressions: SuppressionsOf = _none,
    ) -> None:
        """`observe(rpc, summary)` is told about every call's verdicts (metrics, audit);
        baselines screening through another store pass summaries of their own. An index of no
        incidents answers UNAVAILABLE unless `allow_empty_index`: its every verdict would be a
        GREEN that means nothing. `suppressions(agency)` gives the calling agency's recorded
        false matches."""
        self._holder = holder
        self._suppressions = suppressions
        self._allow_empty_index = allow_empty_index
        self._policy = policy
        self._max_batch_items = max_batch_items
        self._today = today
        self._observe = observe or _ignore

    def _view(self, context: grpc.ServicerContext) -> tuple[Screener, float]:
        """The screener to use and the age of what it holds (seconds); UNAVAILABLE when there
        is none yet, or it holds no incidents and that was not allowed."""
        view = self._holder.view
        if view is None:
            raise IndexNotReadyError("no index loaded yet")
        status = self._holder.status()
        if status.incidents == 0 and not self._allow_empty_index:
            raise IndexNotReadyError(
                "the index holds no incidents: every verdict would be GREEN; ingest incidents "
                "into the store (or serve with --allow-empty-index)"
            )
        _check_deadline(context)
        latest = max(status.last_change_applied_at, status.built_at)
        return view, max(time.time() - latest, 0.0) if latest else 0.0

    def _suppressed(self) -> _core.Suppressions | None:
        info = CALL.get()
        return self._suppressions(info.agency) if info is not None else None

    def Screen(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        view, age_s = self._view(context)
        response, summary = view.screen(
            request, self._policy, self._today().toordinal(), age_s, suppressed=self._suppressed()
        )
        self._observe("Screen", summary)
        return response

    def ScreenBatch(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        if _core.count_items(request) > self._max_batch_items:
            raise RequestTooLargeError("items", self._max_batch_items)
        view, age_s = self._view(context)
        response, summary = view.screen_batch(
            request, self._policy, self._today().toordinal(), age_s, self._max_batch_items,
            suppressed=self._suppressed(),
        )  # fmt: skip
        self._observe("ScreenBatch", summary)
        return response


def add_screening_service(servicer: ScreeningServicer, server: grpc.Server) -> None:
    """Register the screening methods with identity (de)serializers: bytes in, bytes out."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Screen": grpc.unary_unary_rpc_method_handler(servicer.Screen),
        "ScreenBatch": grpc.unary_unary_rpc_method_handler(servicer.ScreenBatch),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SCREENING_SERVICE, handlers),)
    )


def _page_size(requested: int) -> int:
    size = requested or DEFAULT_PAGE
    if not 0 < size <= MAX_PAGE:
        raise ValidationError([FieldViolation("page_size", f"must be between 1 and {MAX_PAGE}")])
    return size


def _page_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            [FieldViolation("page_token", "is not a token this service issued")]
        ) from exc


def _token_of(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


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
        size = _page_size(request.page_size)
        page = self._store.page(_page_token(request.page_token), size)
        token = _token_of(page[-1].incident_id) if len(page) == size else ""
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


MAX_OUTCOME_POSITION = 2**62  # the stores' sequence numbers stay below it (SQLite: 64-bit)


def _outcome_position(position: str) -> int:
    """An outcome page token's sequence number (0: the first page); INVALID_ARGUMENT naming
    page_token for anything else (only ASCII digits, no larger than a sequence number)."""
    if not position:
        return 0
    if (
        not (position.isascii() and position.isdigit())
        or len(position) > 19
        or (int(position) > MAX_OUTCOME_POSITION)
    ):
        raise ValidationError([FieldViolation("page_token", "is not a token this service issued")])
    return int(position)


class OutcomeServicer(pb_grpc.OutcomeServiceServicer):
    """Outcomes recorded and listed for the caller's agency (every agency's for admins)."""

    def __init__(self, outcomes: Outcomes, access: AccessControl) -> None:
        self._outcomes = outcomes
        self._access = access

    def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: grpc.ServicerContext
    ) -> pb.RecordedOutcome:
        info = CALL.get() or CallInfo()
        recorder = Recorder(info.caller, info.agency, self._access.callers_of(info.agency),
                            logs.REQUEST_ID.get())  # fmt: skip
        listed, _ = self._outcomes.record(convert.outcome_request_from_pb(request), recorder)
        return convert.recorded_outcome_to_pb(listed)

    def ListOutcomes(
        self, request: pb.ListOutcomesRequest, context: grpc.ServicerContext
    ) -> pb.ListOutcomesResponse:
        info = CALL.get() or CallInfo()
        size = _page_size(request.page_size)
        position = _page_token(request.page_token)
        before = _outcome_position(position)
        agency = None if info.admin else info.agency
        page = self._outcomes.page(agency, request.item_id, before, size)
        token = _token_of(str(page[-1].stored.sequence)) if len(page) == size else ""
        return pb.ListOutcomesResponse(
            outcomes=[convert.recorded_outcome_to_pb(o) for o in page], next_page_token=token
        )
