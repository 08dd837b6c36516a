"""locust scenarios against a running Preflight, after locust's documented gRPC pattern: a
client interceptor reports every call to locust's request event.

    PostalUser   — a dangerous-goods tool: one unary Screen per item, the postal mix
    CustomsUser  — a customs system: ScreenBatch of 500 items

Run by `make loadtest` (loadtest/run.py); by hand:
    locust -f loadtest/locustfile.py --host 127.0.0.1:50051 PostalUser
PREFLIGHT_LOADTEST_INCIDENTS tells how many seeded incidents the store holds (default 1M).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import User, events, task
from locust.env import Environment

from loadtest.traffic import BATCH_ITEMS, Traffic
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc

grpc_gevent.init_gevent()

INCIDENTS = int(os.environ.get("PREFLIGHT_LOADTEST_INCIDENTS", "1000000"))
DEADLINE_S = 30.0
# Prepared once, before any user starts, so locust's CPU goes to calls, not to generating them.
_TRAFFIC = Traffic(seed=1, incidents=INCIDENTS)
POSTAL_REQUESTS = [_TRAFFIC.request() for _ in range(4000)]
CUSTOMS_BATCHES = [_TRAFFIC.batch(BATCH_ITEMS) for _ in range(8)]


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], call_details: Any, request: Any
    ) -> Any:
        started = time.perf_counter()
        exception: BaseException | None = None
        length = 0
        response = continuation(call_details, request)
        try:
            length = response.result().ByteSize()
        except grpc.RpcError as exc:
            exception = exc
        self._environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type="grpc",
            name=call_details.method.rsplit("/", 1)[-1],
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            response=response,
            context=None,
            exception=exception,
        )
        return response


class GrpcUser(User):
    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise ValueError("--host HOST:PORT of the Preflight server is required")
        channel = grpc.insecure_channel(self.host)
        self._channel = grpc.intercept_channel(channel, LocustInterceptor(environment))
        self.stub = pb_grpc.ScreeningServiceStub(self._channel)
        self.next = id(self) % 997  # users start at different places in the pool

    def on_stop(self) -> None:
        self._channel.close()


class PostalUser(GrpcUser):
    """One unary Screen per item, as fast as the answers come (closed loop)."""

    @task
    def screen(self) -> None:
        request = POSTAL_REQUESTS[self.next % len(POSTAL_REQUESTS)]
        self.next += 1
        self.stub.Screen(request, timeout=DEADLINE_S)


class CustomsUser(GrpcUser):
    """A manifest pushed as ScreenBatch calls of 500 items."""

    @task
    def screen_batch(self) -> None:
        batch = CUSTOMS_BATCHES[self.next % len(CUSTOMS_BATCHES)]
        self.next += 1
        reply: pb.ScreenBatchResponse = self.stub.ScreenBatch(batch, timeout=DEADLINE_S)
        errors = sum(1 for e in reply.entries if e.WhichOneof("outcome") == "error")
        if errors:
            events.request.fire(  # type: ignore[no-untyped-call]
                request_type="item",
                name="invalid item",
                response_time=0,
                response_length=0,
                exception=RuntimeError(f"{errors} items"),
            )
