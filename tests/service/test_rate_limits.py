"""Token buckets shared by forked worker processes: one limit for the whole service."""

from __future__ import annotations

import math
import os
import signal
import threading

from service.rate_limits import BucketSpec, TokenBuckets


def _in_child(action: str, buckets: TokenBuckets) -> int:
    """Fork; the child takes tokens (`take`) or dies holding the bucket's lock (`die`)."""
    pid = os.fork()
    if pid == 0:
        try:
            if action == "take":
                os._exit(0 if all(buckets.take("a", 1) == 0 for _ in range(6)) else 1)
            with buckets.locked("a"):
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(2)
    return os.waitpid(pid, 0)[1]


def test_a_forked_process_draws_on_the_same_bucket() -> None:
    buckets = TokenBuckets({"a": BucketSpec(rate_per_s=0.001, burst=10), "b": BucketSpec(1.0, 10)})
    assert os.waitstatus_to_exitcode(_in_child("take", buckets)) == 0
    taken = [buckets.take("a", 1) for _ in range(5)]
    assert taken[:4] == [0.0] * 4  # 10 - 6 left to the parent
    assert taken[4] > 0  # the fifth waits for the refill
    assert buckets.take("b", 10) == 0.0  # the other caller's bucket is its own


def test_more_than_the_burst_is_never_granted() -> None:
    buckets = TokenBuckets({"a": BucketSpec(rate_per_s=100.0, burst=5)})
    assert math.isinf(buckets.take("a", 6))
    assert buckets.take("a", 5) == 0.0


def test_a_process_killed_while_holding_the_lock_blocks_no_one() -> None:
    buckets = TokenBuckets({"a": BucketSpec(rate_per_s=1.0, burst=10)})
    status = _in_child("die", buckets)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    answered: list[float] = []
    taker = threading.Thread(target=lambda: answered.append(buckets.take("a", 1)), daemon=True)
    taker.start()
    taker.join(5.0)
    assert answered == [0.0]
