"""A small typed client: default deadlines, retries on UNAVAILABLE only (never on a verdict or
a refusal), and calls balanced over several servers."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc

Reply = TypeVar("Reply")
DEFAULT_TIMEOUT_S = 2.0
API_KEY_HEADER = "x-api-key"


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _resolved(address: str) -> list[str]:
    """The IP addresses (`ip:port`, IPv6 in brackets) a HOST:PORT stands for, now."""
    host, port = _split_address(address)
    try:
        ips = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ValueError(f"{address!r}: {exc}") from exc
        ips = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
        if any(ip.version == 4 for ip in ips):  # a name with both: its IPv4 addresses
            ips = [ip for ip in ips if ip.version == 4]
    return [f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}" for ip in ips]


def balanced_target(target: str) -> tuple[str, list[tuple[str, str]]]:
    """The gRPC target and channel options for `target`, balanced call by call (round_robin)
    over every server it names: one address (a `dns:///NAME:PORT` target reaches every address
    the name resolves to, as a headless Kubernetes Service's name does), or several
    separated by commas (resolved once, here)."""
    addresses = [a.strip() for a in target.split(",") if a.strip()]
    if not addresses:
        raise ValueError("no server address given")
    options = [("grpc.lb_policy_name", "round_robin")]
    if len(addresses) == 1:
        return addresses[0], options
    ips = [ip for address in addresses for ip in _resolved(address)]
    families = {"ipv6" if ip.startswith("[") else "ipv4" for ip in ips}
    if len(families) > 1:
        raise ValueError(f"{target!r} mixes IPv4 and IPv6 servers: give one kind")
    # The first name is the authority TLS checks the servers' certificates against.
    options.append(("grpc.default_authority", addresses[0]))
    return f"{families.pop()}:{','.join(ips)}", options


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the servers are and how to prove who we are: TLS with the servers' CA, then a
    client certificate (mTLS) or an API key. No CA = plaintext (local development). `target`
    is one HOST:PORT, or several separated by commas: calls are balanced over them and go
    around a server that stops answering."""

    target: str = "127.0.0.1:50051"
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    api_key: str = ""

    def channel(self) -> grpc.Channel:
        target, options = balanced_target(self.target)
        if not self.ca_file:
            if self.api_key or self.cert_file:
                raise ValueError("credentials are only sent over TLS: give the server's CA file")
            return grpc.insecure_channel(target, options)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca_file).read_bytes(),
            private_key=Path(self.key_file).read_bytes() if self.key_file else None,
            certificate_chain=Path(self.cert_file).read_bytes() if self.cert_file else None,
        )
        return grpc.secure_channel(target, credentials, options)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((API_KEY_HEADER, self.api_key),) if self.api_key else ()


def wait_serving(target: str, timeout_s: float, in_a_row: int = 20) -> None:
    """Until `in_a_row` health checks in a row say SERVING: with workers sharing a port each
    new connection may land on another worker, and every one of them must be ready."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < in_a_row:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target} did not become ready in {timeout_s:.0f} s")
        with grpc.insecure_channel(target) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1.0
                )
                ok = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                ok = False
        seen = seen + 1 if ok else 0
        time.sleep(0.005 if ok else 0.05)


MAX_THROTTLED_S = 60.0


def _retry_delay_s(exc: grpc.RpcError) -> float | None:
    """The RetryInfo delay of a RESOURCE_EXHAUSTED refusal, or None."""
    if exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    status = rpc_status.from_call(exc)
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            delay_s: float = info.retry_delay.ToNanoseconds() / 1e9
            return max(delay_s, 0.001)
    return None


class PreflightClient:
    def __init__(
        self,
        target: str | Connection = "127.0.0.1:50051",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
    ) -> None:
        connection = target if isinstance(target, Connection) else Connection(target)
        self._metadata = connection.metadata
        self._channel = connection.channel()
        self._screening = pb_grpc.ScreeningServiceStub(self._channel)
        self._incidents = pb_grpc.IncidentServiceStub(self._channel)
        self._index = pb_grpc.IndexServiceStub(self._channel)
        self._outcomes = pb_grpc.OutcomeServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._retries = retries

    def _call(self, method: Callable[..., Reply], request: Any, timeout_s: float | None) -> Reply:
        """The call, retried: after UNAVAILABLE with exponential backoff (`retries` times), and
        after a refusal that says when to retry (a rate limit's RetryInfo) once that time has
        passed, for up to MAX_THROTTLED_S in all, so a manifest slows to the caller's rate
        instead of failing."""
        delay = 0.05
        attempt = 0
        throttled_s = 0.0
        while True:
            try:
                return method(
                    request, timeout=timeout_s or self._timeout_s, metadata=self._metadata
                )
            except grpc.RpcError as exc:
                wait = _retry_delay_s(exc) if self._retries else None
                if wait is not None and throttled_s + wait <= MAX_THROTTLED_S:
                    throttled_s += wait
                    time.sleep(wait)
                    continue
                if exc.code() is not grpc.StatusCode.UNAVAILABLE or attempt >= self._retries:
                    raise
                attempt += 1
                time.sleep(delay)
                delay *= 2

    def screen(
        self, request: pb.ScreenRequest, timeout_s: float | None = None
    ) -> pb.ScreenResponse:
        return self._call(self._screening.Screen, request, timeout_s)

    def screen_batch(
        self, items: list[pb.ScreenRequest], timeout_s: float | None = None
    ) -> pb.ScreenBatchResponse:
        return self._call(
            self._screening.ScreenBatch, pb.ScreenBatchRequest(items=items), timeout_s or 30.0
        )

    def put_incidents(
        self, incidents: list[pb.Incident], timeout_s: float | None = None
    ) -> pb.PutIncidentsResponse:
        request = pb.PutIncidentsRequest(incidents=incidents)
        return self._call(self._incidents.PutIncidents, request, timeout_s or 30.0)

    def index_status(self, timeout_s: float | None = None) -> pb.IndexStatus:
        return self._call(self._index.GetIndexStatus, pb.GetIndexStatusRequest(), timeout_s)

    def record_outcome(
        self, request: pb.RecordOutcomeRequest, timeout_s: float | None = None
    ) -> pb.RecordedOutcome:
        return self._call(self._outcomes.RecordOutcome, request, timeout_s)

    def list_outcomes(
        self, request: pb.ListOutcomesRequest, timeout_s: float | None = None
    ) -> pb.ListOutcomesResponse:
        return self._call(self._outcomes.ListOutcomes, request, timeout_s)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> PreflightClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
