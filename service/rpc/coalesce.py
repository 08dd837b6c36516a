"""Single-item screens that queue up while another is screening go to the core together.

A call into the core costs about half a millisecond whatever it carries (at 100k incidents,
one by one 1,010 screens/s, in batches of 25 2,300/s, both on one core). So a unary `Screen`
that finds the process busy waits in a queue, and the next turn screens everyone waiting as one
batch: under load each call pays a share of that fixed cost. Nothing waits for company: a call
that finds nobody screening goes at once, so an idle service answers exactly as fast as before.

One of the waiting calls' threads screens for all of them (the leader), then hands the lead to
the oldest call still waiting, so no thread screens for others past its own turn. A call whose
deadline passes while it waits leaves the queue, and one that expired before its turn came is
not screened at all: an overloaded process spends its CPU on calls someone still waits for.
Every item gets the verdict it would get alone (the core answers each query of a batch as it
would answer it by itself, tested in tests/index).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from index.model import Query, Result
from index.policy import Policy
from service.errors import DeadlinePassedError
from service.rpc.screening_gate import ScreeningGate

INF = float("inf")


class BatchScreener(Protocol):
    def screen_many(
        self, queries: Sequence[Query], policy: Policy, as_of: date
    ) -> list[Result]: ...


@dataclass(eq=False)
class _Waiting:
    query: Query
    view: BatchScreener
    as_of: date
    deadline: float  # time.monotonic(); inf without one
    wake: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None
    leads: bool = False


class Coalescer:
    def __init__(self, gate: ScreeningGate, policy: Policy, most: int) -> None:
        self._gate = gate
        self._policy = policy
        self._most = most
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()
        self._leading = False

    def screen(
        self, view: BatchScreener, query: Query, as_of: date, timeout: float | None
    ) -> Result:
        """The verdict for one valid query; DeadlinePassedError when `timeout` seconds pass
        before its turn."""
        deadline = time.monotonic() + timeout if timeout is not None else INF
        waiting = _Waiting(query, view, as_of, deadline)
        with self._lock:
            self._queue.append(waiting)
            if not self._leading:
                self._leading = waiting.leads = True
        if not waiting.leads and not waiting.wake.wait(timeout):
            with self._lock:
                if waiting in self._queue and not waiting.leads:
                    self._queue.remove(waiting)
                    raise DeadlinePassedError("deadline passed waiting to screen")
            # Its round is being screened (or it was just made the leader): a short wait.
            waiting.wake.wait()
        if waiting.leads and waiting.result is None and waiting.error is None:
            self._lead(waiting)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _lead(self, waiting: _Waiting) -> None:
        """Take the turn, screen the oldest waiting calls (this thread's own among them), then
        pass the lead on. The round is taken only once the turn is ours, so calls that arrive
        while the leader waits for it join this round."""
        remaining = waiting.deadline - time.monotonic()
        if not self._gate.acquire(single=True, timeout=None if remaining == INF else remaining):
            with self._lock:
                self._queue.remove(waiting)
                waiting.error = DeadlinePassedError("deadline passed waiting to screen")
                self._pass_lead()
            return
        try:
            self._screen_round(self._take_round())
        finally:
            self._gate.release()
            with self._lock:
                self._pass_lead()

    def _pass_lead(self) -> None:
        """To the oldest waiting call, or to the next call to come (the lock is held)."""
        if self._queue:
            successor = self._queue[0]
            successor.leads = True
            successor.wake.set()
        else:
            self._leading = False

    def _take_round(self) -> list[_Waiting]:
        """Up to `most` of the oldest waiting calls, all for the same index view and day."""
        with self._lock:
            head = self._queue[0]
            round_: list[_Waiting] = []
            rest: list[_Waiting] = []
            while self._queue and len(round_) < self._most:
                waiting = self._queue.popleft()
                same = waiting.view is head.view and waiting.as_of == head.as_of
                (round_ if same else rest).append(waiting)
            self._queue.extendleft(reversed(rest))
        return round_

    def _screen_round(self, round_: list[_Waiting]) -> None:
        now = time.monotonic()
        live = [w for w in round_ if w.deadline > now]
        for waiting in round_:
            if waiting.deadline <= now:
                waiting.error = DeadlinePassedError("deadline passed waiting to screen")
        try:
            if live:
                results = live[0].view.screen_many(
                    [w.query for w in live], self._policy, live[0].as_of
                )
                for waiting, result in zip(live, results, strict=True):
                    waiting.result = result
        except Exception as exc:  # each caller of the round gets it, mapped to a status
            for waiting in live:
                waiting.error = exc
        finally:
            for waiting in round_:
                waiting.wake.set()
