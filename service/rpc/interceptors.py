"""Server interceptors: the one place exceptions become statuses (servicers have no try)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from service.errors import status_of

log = logging.getLogger(__name__)


def _guarded(
    behavior: Callable[[Any, grpc.ServicerContext], Any], method: str
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:
            code, message, rich = status_of(exc)
            if code is grpc.StatusCode.INTERNAL:
                log.exception("unexpected error", extra={"method": method})
            elif code is grpc.StatusCode.UNAVAILABLE:
                log.warning("unavailable", extra={"method": method, "error": str(exc)})
            if rich is not None:
                context.abort_with_status(rpc_status.to_status(rich))
            context.abort(code, message)

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
