"""Token buckets that every worker process draws from together.

Each caller's bucket holds `rate_per_s` tokens a second up to `burst`; a request takes as many
tokens as it carries items. The buckets live in a shared memory mapping made before the
workers are forked, so a caller's limit is its limit for the whole service, not once per
worker. Processes take turns through a POSIX record lock on the mapping's file: the kernel
releases it when its holder dies, so a worker killed mid-update never blocks the others.
Threads of one process take turns through an ordinary lock first (record locks belong to a
process, not a thread). `time.monotonic` is the system-wide CLOCK_MONOTONIC on Linux, so every
process refills on the same clock.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

_SLOT = struct.Struct("dd")  # tokens left, monotonic time they were counted at


@dataclass(frozen=True, slots=True)
class BucketSpec:
    rate_per_s: float
    burst: float


class TokenBuckets:
    """A fixed set of named token buckets, shared with every process forked after they were
    made."""

    def __init__(self, specs: Mapping[str, BucketSpec]) -> None:
        self._specs = dict(specs)
        self._slot_of = {name: index for index, name in enumerate(self._specs)}
        self._file = tempfile.TemporaryFile(prefix="preflight-buckets-")  # noqa: SIM115
        size = max(_SLOT.size * len(self._specs), 1)
        os.ftruncate(self._file.fileno(), size)
        self._memory = mmap.mmap(self._file.fileno(), size)  # MAP_SHARED: survives fork
        now = time.monotonic()
        for name, spec in self._specs.items():
            _SLOT.pack_into(self._memory, self._slot_of[name] * _SLOT.size, spec.burst, now)
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Bucket `name` to this thread alone, across every process that shares it."""
        offset = self._slot_of[name] * _SLOT.size
        with self._thread_lock:
            fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX, _SLOT.size, offset)
            try:
                yield
            finally:
                fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN, _SLOT.size, offset)

    def wait_s(self, name: str, cost: float) -> float:
        """Seconds until bucket `name` holds `cost` tokens (0: it does now); takes nothing."""
        spec = self._specs[name]
        offset = self._slot_of[name] * _SLOT.size
        with self.locked(name):
            stored: tuple[float, float] = _SLOT.unpack_from(self._memory, offset)
        tokens, counted_at = stored
        tokens = min(spec.burst, tokens + max(time.monotonic() - counted_at, 0.0) * spec.rate_per_s)
        return 0.0 if cost <= tokens else (cost - tokens) / spec.rate_per_s

    def take(self, name: str, cost: float) -> float:
        """0 when bucket `name` had `cost` tokens, now taken; else the seconds until it would
        have them (inf: more than the bucket ever holds)."""
        spec = self._specs[name]
        offset = self._slot_of[name] * _SLOT.size
        with self.locked(name):
            stored: tuple[float, float] = _SLOT.unpack_from(self._memory, offset)
            tokens, counted_at = stored
            now = time.monotonic()
            tokens = min(spec.burst, tokens + max(now - counted_at, 0.0) * spec.rate_per_s)
            taken = cost <= tokens
            _SLOT.pack_into(self._memory, offset, tokens - cost if taken else tokens, now)
        if taken:
            return 0.0
        if cost > spec.burst:
            return math.inf
        return (cost - tokens) / spec.rate_per_s
