"""Coalesced single screens, with real threads and a real index view: calls that wait are
screened together, each gets the verdict it would get alone, expired calls are not screened,
and a failing round fails only its own calls."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial

from index.model import Query, Result
from index.policy import DEFAULT_POLICY, Policy
from index.snapshot import IndexView, build_snapshot
from index.synthetic import TODAY, Generator, item_query
from service.errors import DeadlinePassedError
from service.rpc.coalesce import Coalescer
from service.rpc.screening_gate import ScreeningGate

INCIDENTS = list(Generator(8).incidents(600))
VIEW = IndexView.of(build_snapshot(INCIDENTS, 1))


class RecordingView:
    """The real view, noting the item ids of each batch it is asked to screen."""

    def __init__(
        self, view: IndexView, fail: bool = False, hold: threading.Event | None = None
    ) -> None:
        self._view = view
        self._fail = fail
        self._hold = hold
        self.batches: list[list[str]] = []

    def screen_many(self, queries: Sequence[Query], policy: Policy, as_of: date) -> list[Result]:
        self.batches.append([q.item_id for q in queries])
        if self._hold is not None:  # a long round
            assert self._hold.wait(10.0)
        if self._fail:
            raise RuntimeError("index failed")
        return self._view.screen_many(queries, policy, as_of)


def _queries(count: int) -> list[Query]:
    rng = random.Random(4)
    return [item_query(rng, INCIDENTS[i * 7].parties[:1]) for i in range(count)]


def _start_calls(
    coalescer: Coalescer,
    view: RecordingView,
    queries: list[Query],
    timeout: float | None = 10.0,
    answers: dict[str, Result | BaseException] | None = None,
) -> tuple[list[threading.Thread], dict[str, Result | BaseException]]:
    """One calling thread per query, each queued before the next starts."""
    answers = {} if answers is None else answers

    def call(query: Query) -> None:
        try:
            answers[query.item_id] = coalescer.screen(view, query, TODAY, timeout)
        except Exception as exc:
            answers[query.item_id] = exc

    threads = []
    for query in queries:
        thread = threading.Thread(target=call, args=(query,))
        thread.start()
        threads.append(thread)
        _wait_until(partial(_queued_or_answered, coalescer, query, answers))
    return threads, answers


def _screened_once_the_turn_is_free(
    gate: ScreeningGate, coalescer: Coalescer, calls: list[tuple[RecordingView, list[Query]]]
) -> dict[str, Result | BaseException]:
    """Queue the calls, in order, while a batch chunk holds the gate's only turn; then free it
    and wait for every answer."""
    assert gate.acquire(single=False)
    threads: list[threading.Thread] = []
    answers: dict[str, Result | BaseException] = {}
    for view, queries in calls:
        threads += _start_calls(coalescer, view, queries, answers=answers)[0]
    gate.release()
    for thread in threads:
        thread.join(10.0)
    return answers


def _queued_or_answered(
    coalescer: Coalescer, query: Query, answers: dict[str, Result | BaseException]
) -> bool:
    return query in [w.query for w in coalescer._queue] or query.item_id in answers


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.001)


def test_a_lone_call_is_screened_at_once_as_it_would_be_alone() -> None:
    view = RecordingView(VIEW)
    query = _queries(1)[0]
    result = Coalescer(ScreeningGate(), DEFAULT_POLICY, most=25).screen(view, query, TODAY, 5.0)
    assert view.batches == [[query.item_id]]
    assert result == VIEW.screen(query, DEFAULT_POLICY, TODAY)


def test_calls_that_wait_are_screened_together_each_with_its_own_verdict() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=25)
    view = RecordingView(VIEW)
    queries = _queries(12)
    answers = _screened_once_the_turn_is_free(gate, coalescer, [(view, queries)])
    assert view.batches == [[q.item_id for q in queries]]
    for query in queries:
        assert answers[query.item_id] == VIEW.screen(query, DEFAULT_POLICY, TODAY)
    assert any(r.stoplight.name == "RED" for r in answers.values() if isinstance(r, Result))


def test_rounds_hold_at_most_their_size_oldest_first() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=5)
    view = RecordingView(VIEW)
    queries = _queries(12)
    answers = _screened_once_the_turn_is_free(gate, coalescer, [(view, queries)])
    ids = [q.item_id for q in queries]
    assert view.batches == [ids[:5], ids[5:10], ids[10:]]
    assert all(isinstance(answers[i], Result) for i in ids)


def test_a_call_whose_deadline_passes_while_waiting_is_never_screened() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=25)
    view = RecordingView(VIEW)
    hurried, patient = _queries(2)
    assert gate.acquire(single=False)
    first, answers = _start_calls(coalescer, view, [hurried], timeout=0.1)
    second, more = _start_calls(coalescer, view, [patient], timeout=10.0)
    first[0].join(5.0)
    assert isinstance(answers[hurried.item_id], DeadlinePassedError)
    gate.release()
    second[0].join(5.0)
    assert view.batches == [[patient.item_id]]
    assert more[patient.item_id] == VIEW.screen(patient, DEFAULT_POLICY, TODAY)


def test_a_call_whose_deadline_passes_during_its_own_round_gets_its_verdict() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=25)
    long_round = threading.Event()
    view = RecordingView(VIEW, hold=long_round)
    patient, hurried = _queries(2)
    assert gate.acquire(single=False)
    first, answers = _start_calls(coalescer, view, [patient], timeout=10.0)
    second, _ = _start_calls(coalescer, view, [hurried], timeout=0.3, answers=answers)
    gate.release()
    _wait_until(lambda: bool(view.batches))
    time.sleep(0.5)  # the hurried call's wait ends while its round is still screening
    long_round.set()
    for thread in [*first, *second]:
        thread.join(10.0)
    assert view.batches == [[patient.item_id, hurried.item_id]]
    assert answers[hurried.item_id] == VIEW.screen(hurried, DEFAULT_POLICY, TODAY)
    assert answers[patient.item_id] == VIEW.screen(patient, DEFAULT_POLICY, TODAY)


def test_a_failed_round_fails_its_own_calls_and_the_next_calls_are_served() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=25)
    broken = RecordingView(VIEW, fail=True)
    queries = _queries(4)
    answers = _screened_once_the_turn_is_free(gate, coalescer, [(broken, queries)])
    assert all(isinstance(answers[q.item_id], RuntimeError) for q in queries)
    assert broken.batches == [[q.item_id for q in queries]]
    working = RecordingView(VIEW)
    assert coalescer.screen(working, queries[0], TODAY, 5.0) == VIEW.screen(
        queries[0], DEFAULT_POLICY, TODAY
    )
    assert gate.acquire(single=False, timeout=0.0), "the gate was left held"
    gate.release()


def test_calls_for_different_index_views_are_never_screened_together() -> None:
    gate = ScreeningGate()
    coalescer = Coalescer(gate, DEFAULT_POLICY, most=25)
    old, new = RecordingView(VIEW), RecordingView(VIEW)
    queries = _queries(6)
    calls = [(old, queries[:2]), (new, queries[2:4]), (old, queries[4:])]
    answers = _screened_once_the_turn_is_free(gate, coalescer, calls)
    assert all(isinstance(answers[q.item_id], Result) for q in queries)
    ids = [q.item_id for q in queries]
    assert old.batches == [ids[:2] + ids[4:]]
    assert new.batches == [ids[2:4]]


def test_many_callers_at_once_all_get_their_own_verdicts() -> None:
    callers = 8
    coalescer = Coalescer(ScreeningGate(), DEFAULT_POLICY, most=25)
    view = RecordingView(VIEW)
    queries = _queries(80)
    answers: dict[str, Result] = {}

    def run(k: int) -> None:
        for query in queries[k::callers]:
            answers[query.item_id] = coalescer.screen(view, query, TODAY, 10.0)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    assert len(answers) == len(queries)
    for query in queries:
        assert answers[query.item_id] == VIEW.screen(query, DEFAULT_POLICY, TODAY)
    assert sorted(i for batch in view.batches for i in batch) == sorted(answers)
    assert not coalescer._queue and not coalescer._leading
