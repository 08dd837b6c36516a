"""Server interceptors: the one place exceptions become statuses (servicers have no try), and
a request id on every call (the caller's `x-request-id`, or a new one), echoed in the trailing
metadata and attached to every log record of the call."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from service import logs
from service.errors import status_of
from service.metrics import GRPC_CODE_NAMES, REJECTED_CODES, ServerMetrics, split_method

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "x-request-id"
Behavior = Callable[[Any, grpc.ServicerContext], Any]


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return uuid.uuid4().hex[:16]


class _WithRequestId(grpc.Status):
    """A rich error status that also carries the request id in its trailing metadata."""

    def __init__(self, status: grpc.Status, request_id: str) -> None:
        self.code = status.code
        self.details = status.details
        self.trailing_metadata = (*status.trailing_metadata, (REQUEST_ID_HEADER, request_id))


def _guarded(behavior: Behavior, method: str) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = _request_id(context)
        token = logs.REQUEST_ID.set(request_id)
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        try:
            return behavior(request, context)
        except Exception as exc:
            code, message, rich = status_of(exc)
            if code is grpc.StatusCode.INTERNAL:
                log.exception("unexpected error", extra={"method": method})
            elif code is grpc.StatusCode.UNAVAILABLE:
                log.warning("unavailable", extra={"method": method, "error": str(exc)})
            if rich is not None:
                context.abort_with_status(_WithRequestId(rpc_status.to_status(rich), request_id))
            context.abort(code, message)
        finally:
            logs.REQUEST_ID.reset(token)

    return handle


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _guarded(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    """The status as the standard gRPC metrics spell it (`OK`, `InvalidArgument`, …)."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return GRPC_CODE_NAMES[code]
    return "Unknown" if failed else "OK"


class MetricsInterceptor(grpc.ServerInterceptor):
    """The standard grpc_server_* families for every unary RPC, and refusals per caller.

    Placed first, so it sees the status the error interceptor chose."""

    def __init__(
        self, metrics: ServerMetrics, caller_of: Callable[[grpc.ServicerContext], str]
    ) -> None:
        self._metrics = metrics
        self._caller_of = caller_of

    def _measured(self, behavior: Behavior, full_method: str) -> Behavior:
        m = self._metrics
        labels = ("unary", *split_method(full_method))
        started = m.grpc_started.labels(*labels)
        received = m.grpc_received.labels(*labels)
        sent = m.grpc_sent.labels(*labels)
        handling = m.grpc_handling.labels(*labels)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            begin = time.perf_counter()
            started.inc()
            received.inc()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                code = _code_name(context, failed)
                handling.observe(time.perf_counter() - begin)
                m.grpc_handled.labels(*labels, code).inc()
                if code == "OK":
                    sent.inc()
                elif code in REJECTED_CODES:
                    m.rejected.labels(self._caller_of(context), code).inc()

        return handle

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._measured(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
