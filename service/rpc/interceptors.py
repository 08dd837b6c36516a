"""Server interceptors: the one place exceptions become statuses (servicers have no try), and
a request id on every call (the caller's `x-request-id`, or a new one), echoed in the trailing
metadata and attached to every log record of the call."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from grpc_status import rpc_status

from index import _core
from index.errors import FieldViolation, ValidationError
from service import logs
from service.auth import ANONYMOUS, API_KEY_HEADER, AccessControl, Caller, Identity, Role
from service.auth_failures import peer_address
from service.errors import (
    AuthThrottledError,
    QuotaExceededError,
    ServiceError,
    UnauthenticatedError,
    status_of,
)
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


@dataclass(slots=True)
class CallInfo:
    """What the interceptors learn about a call, for the ones outside them."""

    caller: str = ANONYMOUS
    auth_failure: str = ""  # "refused" or "throttled" when the call failed to authenticate
    agency: str = ANONYMOUS  # the caller's agency, whose outcomes its screens follow
    admin: bool = False

    def identify(self, caller: Caller) -> None:
        self.caller, self.agency = caller.name, caller.agency_name
        self.admin = Role.ADMIN in caller.roles


CALL: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar("call", default=None)


class _Undecodable:
    """What a request body that is not the method's message decodes to: the servicer is never
    called with it, the caller gets INVALID_ARGUMENT (gRPC itself would answer INTERNAL)."""


UNDECODABLE = _Undecodable()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # protobuf raises DecodeError, or others on hostile bytes
            return UNDECODABLE

    return decode


def _guarded(behavior: Behavior, method: str) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = _request_id(context)
        token = logs.REQUEST_ID.set(request_id)
        call_token = CALL.set(CALL.get() or CallInfo())  # metrics may have set it already
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        try:
            if request is UNDECODABLE:
                raise ValidationError(
                    [FieldViolation("request", "is not a valid message for this method")]
                )
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
            CALL.reset(call_token)
            logs.REQUEST_ID.reset(token)

    return handle


class _UnaryInterceptor(grpc.ServerInterceptor):
    """Wraps every unary-unary handler with `_wrap`; streaming handlers pass through.

    gRPC asks the interceptor for every call; the wrapped handler of a method is built once
    and kept (only methods the server registers are kept, so the cache is bounded)."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def _wrap(self, behavior: Behavior, full_method: str) -> Behavior:
        raise NotImplementedError

    def _deserializer(
        self, deserialize: Callable[[bytes], Any] | None
    ) -> Callable[[bytes], Any] | None:
        return deserialize

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._handlers[method] = self._rewrap(handler, method)
        return wrapped

    def _rewrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], full_method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, full_method),
            request_deserializer=self._deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


class ErrorInterceptor(_UnaryInterceptor):
    def _wrap(self, behavior: Behavior, full_method: str) -> Behavior:
        return _guarded(behavior, full_method)

    def _deserializer(
        self, deserialize: Callable[[bytes], Any] | None
    ) -> Callable[[bytes], Any] | None:
        return _tolerant(deserialize)


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    """The status as the standard gRPC metrics spell it (`OK`, `InvalidArgument`, …)."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return GRPC_CODE_NAMES[code]
    return "Unknown" if failed else "OK"


class MetricsInterceptor(_UnaryInterceptor):
    """The standard grpc_server_* families for every unary RPC, and refusals per caller.

    Placed first, so it sees the status the error interceptor chose and the caller the access
    interceptor identified."""

    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def _wrap(self, behavior: Behavior, full_method: str) -> Behavior:
        m = self._metrics
        labels = ("unary", *split_method(full_method))
        started = m.grpc_started.labels(*labels)
        received = m.grpc_received.labels(*labels)
        sent = m.grpc_sent.labels(*labels)
        handling = m.grpc_handling.labels(*labels)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            begin = time.perf_counter()
            info = CallInfo()
            token = CALL.set(info)
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
                    m.rejected.labels(info.caller, code).inc()
                if info.auth_failure:
                    m.auth_failures.labels(info.auth_failure).inc()
                CALL.reset(token)

        return handle


UNIDENTIFIED = "unidentified"  # the metrics label of a caller that proved no identity


def identity_of(context: grpc.ServicerContext) -> Identity:
    auth = context.auth_context()
    names = [
        value.decode(errors="replace")
        for key in ("x509_common_name", "x509_subject_alternative_name")
        for value in cast(Iterable[bytes], auth.get(key, ()))
    ]
    api_key = ""
    over_tls = b"ssl" in cast(Iterable[bytes], auth.get("transport_security_type", ()))
    for key, value in context.invocation_metadata() or ():
        if key == API_KEY_HEADER and isinstance(value, str) and over_tls:
            api_key = value  # a key sent in clear is not a credential
    return Identity(names, api_key, peer_address(context.peer()))


def _cost(request: Any) -> int:
    """Items a request asks for: a batch counts each item against the caller's rate."""
    if isinstance(request, bytes):  # the screening methods take their requests serialized
        return max(_core.count_items(request), 1)
    for field in ("items", "incidents"):
        entries = getattr(request, field, None)
        if entries is not None and not callable(entries):
            return len(entries)
    return 1


class AccessInterceptor(_UnaryInterceptor):
    """Identity, roles, per-caller rate limits and the process's cap on calls in progress.

    Placed inside the error interceptor for unary calls (its refusals become rich statuses
    there); streaming calls (reflection, health watches) are checked here directly. The server
    has a thread for every call it admits (`handler_threads`), so no call waits for a thread
    unseen by the cap."""

    def __init__(self, access: AccessControl, max_concurrent: int) -> None:
        super().__init__()
        self._access = access
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._max_concurrent = max_concurrent

    def _admit(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        info = CALL.get() or CallInfo()
        identity = identity_of(context)
        try:
            caller = self._access.admit(method, identity, _cost(request))
        except AuthThrottledError:
            info.caller, info.auth_failure = UNIDENTIFIED, "throttled"
            raise
        except UnauthenticatedError:
            info.caller, info.auth_failure = UNIDENTIFIED, "refused"
            raise
        except ServiceError:
            info.caller = self._caller_name(identity)
            raise
        if caller is not None:
            info.identify(caller)
        else:
            info.caller = self._caller_name(identity)

    def _caller_name(self, identity: Identity) -> str:
        caller = self._access.identify(identity)
        return caller.name if caller else UNIDENTIFIED

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            self._admit(method, request, context)
            if not self._slots.acquire(blocking=False):
                raise QuotaExceededError(
                    "server", f"at most {self._max_concurrent} calls in progress", 0.05
                )
            try:
                return behavior(request, context)
            finally:
                self._slots.release()

        return handle

    def _streaming(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                self._admit(method, None, context)
            except Exception as exc:
                code, message, _ = status_of(exc)
                context.abort(code, message)
            return behavior(request, context)

        return handle

    def _rewrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, method), **codec
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(handler.stream_stream, method), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._streaming(handler.stream_unary, method), **codec
            )
        return super()._rewrap(handler, method)
