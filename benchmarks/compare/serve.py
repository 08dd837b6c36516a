"""A baseline screener behind Preflight's own gRPC ScreeningService.

The same servicer, conversion, validation, error interceptor, thread count, message limits
and worker processes (SO_REUSEPORT) as `preflight serve`; only the screener differs, and its
handler threads overlap their waits on the database. Each worker opens its own store
connections after the fork.

    python -m benchmarks.compare.serve redis redis://127.0.0.1:6379/0 --listen 127.0.0.1:50061
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures

import grpc
import redis
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from benchmarks.compare.baselines import BaselineScreener, PostgisScreener, RedisScreener
from index.policy import DEFAULT_POLICY
from service.rpc.interceptors import ErrorInterceptor
from service.rpc.server import handler_threads
from service.rpc.servicers import ScreeningServicer, add_screening_service
from service.screener import compiled_policy
from service.settings import Settings
from service.workers import run_workers

SYSTEMS = ("redis", "postgis", "postgis-gin", "postgis-naive")
REDIS_PREFIX = "cmp:"


POSTGIS_MODE = {"postgis": "knn", "postgis-gin": "gin", "postgis-naive": "naive"}


def open_screener(system: str, url: str, redis_prefix: str = REDIS_PREFIX) -> BaselineScreener:
    if system == "redis":
        return RedisScreener(redis.Redis.from_url(url), redis_prefix, DEFAULT_POLICY)
    return PostgisScreener(url, DEFAULT_POLICY, mode=POSTGIS_MODE[system])


def _serve_one(system: str, url: str, listen: str, redis_prefix: str) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    defaults = Settings()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=handler_threads(defaults), thread_name_prefix="rpc"),
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", defaults.max_message_bytes),
            ("grpc.max_send_message_length", defaults.max_message_bytes),
            ("grpc.so_reuseport", 1),
        ],
    )
    add_screening_service(
        ScreeningServicer(
            open_screener(system, url, redis_prefix),
            compiled_policy(DEFAULT_POLICY),
            defaults.max_batch_items,
        ),
        server,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    stop.wait()
    server.stop(10).wait()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("url", help="redis:// URL or a PostgreSQL connection string")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-prefix", default=REDIS_PREFIX)
    args = parser.parse_args()
    _, supervise = run_workers(
        args.workers, lambda _: _serve_one(args.system, args.url, args.listen, args.redis_prefix)
    )
    raise SystemExit(supervise())


if __name__ == "__main__":
    main()
