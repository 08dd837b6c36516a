"""The screening gate with real threads: no more holders than its capacity, single items
first, batch chunks never starved, and a deadline that passes while waiting leaves the gate
as it was."""

from __future__ import annotations

import threading
import time

import pytest

from service.rpc.screening_gate import (
    BATCH_TURN_EVERY,
    QUIET_AFTER_S,
    QUIET_CHUNK,
    SINGLES_CHUNK,
    ScreeningGate,
)


def _queue_up(gate: ScreeningGate, order: list[str], waiters: list[tuple[str, bool]]) -> None:
    """Start one thread per waiter, in order, each queued before the next starts; each notes
    its name when its turn comes and passes the turn on."""
    threads = []
    for name, single in waiters:

        def take(name: str = name, single: bool = single) -> None:
            assert gate.acquire(single, timeout=10.0)
            order.append(name)
            gate.release()

        thread = threading.Thread(target=take)
        thread.start()
        threads.append(thread)
        _wait_queued(gate, len(threads))


def _wait_queued(gate: ScreeningGate, count: int) -> None:
    deadline = time.monotonic() + 5.0
    while len(gate._singles) + len(gate._chunks) < count:
        assert time.monotonic() < deadline, "a waiter never queued"
        time.sleep(0.001)


def _join_all(order: list[str], expected: int) -> None:
    deadline = time.monotonic() + 10.0
    while len(order) < expected:
        assert time.monotonic() < deadline, f"only {order} had their turn"
        time.sleep(0.001)


@pytest.mark.parametrize("capacity", [1, 2])
def test_never_more_holders_than_its_capacity(capacity: int) -> None:
    gate = ScreeningGate(capacity)
    inside, most = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(100):
            assert gate.acquire(single=True)
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.0005)
            with lock:
                inside[0] -= 1
            gate.release()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == capacity
    for _ in range(capacity):  # left free
        assert gate.acquire(single=False, timeout=0.0)
    assert not gate.acquire(single=False, timeout=0.0)


def test_single_items_go_before_waiting_batch_chunks_in_arrival_order() -> None:
    gate = ScreeningGate()
    order: list[str] = []
    assert gate.acquire(single=False)
    _queue_up(gate, order, [("chunk-1", False), ("single-1", True), ("single-2", True)])
    gate.release()
    _join_all(order, 3)
    assert order == ["single-1", "single-2", "chunk-1"]


def test_a_waiting_chunk_gets_a_turn_in_every_few_even_under_a_flood_of_singles() -> None:
    gate = ScreeningGate()
    order: list[str] = []
    assert gate.acquire(single=True)
    singles = [(f"single-{i}", True) for i in range(2 * BATCH_TURN_EVERY)]
    _queue_up(gate, order, [("chunk-1", False), ("chunk-2", False), *singles])
    gate.release()
    _join_all(order, len(singles) + 2)
    run = BATCH_TURN_EVERY - 1
    assert order.index("chunk-1") == run
    assert order.index("chunk-2") == 2 * run + 1
    assert [n for n in order if n.startswith("single")] == [n for n, _ in singles]


def test_a_deadline_that_passes_while_waiting_leaves_the_queue_and_the_gate_as_they_were() -> None:
    gate = ScreeningGate()
    assert gate.acquire(single=False)
    started = time.monotonic()
    assert not gate.acquire(single=True, timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert not gate._singles
    gate.release()
    assert gate.acquire(single=True, timeout=0.0)  # the timed-out waiter holds nothing
    gate.release()


def test_a_turn_handed_over_just_as_the_wait_timed_out_is_passed_on() -> None:
    gate = ScreeningGate()
    outcome: list[bool] = []
    assert gate.acquire(single=True)
    late = threading.Thread(target=lambda: outcome.append(gate.acquire(True, timeout=0.2)))
    late.start()
    _wait_queued(gate, 1)
    # Hand the turn over, as `release` does, while holding the gate's own lock past the
    # waiter's timeout: the waiter can only look at its queue after the hand-over.
    with gate._lock:
        time.sleep(0.3)
        gate._singles.popleft().release()
    late.join(5.0)
    assert outcome == [False]
    assert gate.acquire(single=False, timeout=0.0), "the handed-over turn was kept"
    gate.release()


def test_batches_take_small_turns_while_single_screens_are_about_and_large_ones_after() -> None:
    gate = ScreeningGate(2)
    assert gate.chunk_size() == QUIET_CHUNK
    assert gate.acquire(single=False)
    gate.release()
    assert gate.chunk_size() == QUIET_CHUNK  # batch turns do not count
    assert gate.acquire(single=True)
    gate.release()
    assert gate.chunk_size() == SINGLES_CHUNK < QUIET_CHUNK
    time.sleep(QUIET_AFTER_S + 0.05)
    assert gate.chunk_size() == QUIET_CHUNK
