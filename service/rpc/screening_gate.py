"""Turns at the core in a process: at most `capacity` screenings at once, single items first.

Screening is CPU-bound Python and NumPy under the GIL. Small screens on several threads at once
do not add throughput; they hand the GIL back and forth at every NumPy call, which cost 28 %
more CPU per screen with 2 threads and 50 % more with 4 (one worker, closed loop). Batch chunks
are different: their NumPy steps on larger arrays release the GIL long enough to overlap. So
the server gives two turns (`SCREENING_TURNS`); the single screens take one turn at a time
anyway, through `coalesce.Coalescer`, and the other work of a call (decoding, encoding, I/O,
status and ingest calls) runs on the handler threads alongside.

Waiting single items (postal `Screen` calls, which stand between a parcel and its plane) go
before waiting batch chunks, but a waiting chunk gets at least one turn in every
`BATCH_TURN_EVERY`, so a flood of single items slows manifests down without stopping them.
A batch takes its turns in chunks: small ones while single screens are about, so they never
wait long behind a chunk, large ones when none came for a while, which overlap better.
"""

from __future__ import annotations

import threading
import time
from collections import deque

BATCH_TURN_EVERY = 4
SINGLES_CHUNK = 25  # items of a batch per turn while single screens are about (~20 ms at 1M)
QUIET_CHUNK = 250  # ... and when none came for QUIET_AFTER_S
QUIET_AFTER_S = 1.0
SCREENING_TURNS = 2  # one worker, 2 clients of 500-item batches: 1,758 items/s with 1, 1,906 with 2


class ScreeningGate:
    def __init__(self, capacity: int = 1) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._holders = 0
        self._singles: deque[threading.Lock] = deque()
        self._chunks: deque[threading.Lock] = deque()
        self._singles_in_a_row = 0
        self._last_single = -QUIET_AFTER_S

    def chunk_size(self) -> int:
        """How many items of a batch to screen in its next turn."""
        quiet = time.monotonic() - self._last_single > QUIET_AFTER_S
        return QUIET_CHUNK if quiet else SINGLES_CHUNK

    def acquire(self, single: bool, timeout: float | None = None) -> bool:
        """Wait for the turn; False when `timeout` seconds pass first (the turn is not held)."""
        with self._lock:
            if single:
                self._last_single = time.monotonic()
            if self._holders < self._capacity:
                self._holders += 1
                return True
            turn = threading.Lock()
            turn.acquire()
            (self._singles if single else self._chunks).append(turn)
        if turn.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return True
        with self._lock:
            queue = self._singles if single else self._chunks
            if turn in queue:
                queue.remove(turn)
                return False
        # Handed over between the timeout and the lock: the turn is ours; pass it on.
        self.release()
        return False

    def release(self) -> None:
        with self._lock:
            chunk_due = self._chunks and (
                not self._singles or self._singles_in_a_row >= BATCH_TURN_EVERY - 1
            )
            if chunk_due:
                self._singles_in_a_row = 0
                self._chunks.popleft().release()
            elif self._singles:
                self._singles_in_a_row += 1
                self._singles.popleft().release()
            else:
                self._singles_in_a_row = 0
                self._holders -= 1


class OpenGate(ScreeningGate):
    """No queue: for screeners that wait on a database (the benchmark baselines), whose
    threads overlap those waits."""

    def chunk_size(self) -> int:
        return 1 << 30  # a whole batch at once

    def acquire(self, single: bool, timeout: float | None = None) -> bool:
        return True

    def release(self) -> None:
        pass
