"""Worker processes sharing one port (SO_REUSEPORT), forked before any gRPC object exists.

The parent only forks, forwards SIGTERM/SIGINT and reaps; each worker loads its own snapshot,
tails the store itself and drains its in-flight calls on SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType


def default_workers() -> int:
    return max(len(os.sched_getaffinity(0)), 1)


def run_workers(count: int, serve_one: Callable[[int], int]) -> int:
    """Fork `count` workers running `serve_one(worker_number)`; the worst exit status."""
    children: list[int] = []
    for number in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = serve_one(number)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) if status else 0)
    return worst
