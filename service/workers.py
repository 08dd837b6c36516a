"""Worker processes sharing one port (SO_REUSEPORT), forked before any gRPC object exists.

The parent forks, forwards SIGTERM/SIGINT, reaps, and re-forks a worker that died on its own
(a crash, the OOM killer) so the service keeps its capacity; after a signal it only waits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

RESTART_DELAY_S = 1.0
MIN_LIFETIME_S = 5.0  # a worker dying sooner is a setup fault that a restart would repeat


def default_workers() -> int:
    return max(len(os.sched_getaffinity(0)), 1)


def _fork(number: int, serve_one: Callable[[int], int]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = serve_one(number)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def run_workers(
    count: int,
    serve_one: Callable[[int], int],
    on_exit: Callable[[int], None] = lambda pid: None,
) -> tuple[dict[int, int], Callable[[], int]]:
    """Fork `count` workers running `serve_one(worker_number)`. Returns the live map of worker
    number → pid and the function that supervises them until all have stopped (the worst exit
    status); `on_exit(pid)` runs for each worker that exits."""
    workers = {number: _fork(number, serve_one) for number in range(count)}
    started = dict.fromkeys(workers, time.monotonic())
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(workers.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    def supervise() -> int:
        worst = 0
        while workers:
            pid, status = os.wait()
            number = next((n for n, p in workers.items() if p == pid), None)
            if number is None:
                continue
            del workers[number]
            on_exit(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping or time.monotonic() - started[number] < MIN_LIFETIME_S:
                worst = max(worst, abs(code))
                if not stopping:
                    print(f"worker {number} exited at once with {code}: stopping", file=sys.stderr)
                    forward(signal.SIGTERM, None)
                continue
            print(f"worker {number} (pid {pid}) exited with {code}: restarting", file=sys.stderr)
            time.sleep(RESTART_DELAY_S)
            workers[number] = _fork(number, serve_one)
            started[number] = time.monotonic()
        return worst

    return workers, supervise
