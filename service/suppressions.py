"""The agencies' suppressions: their recorded false matches, loaded from the outcome store and
handed to the core as one immutable set per agency.

A screen takes `for_agency(name)` once per call: a dict lookup, no lock. A background thread
checks the store every `poll_interval_s` and rebuilds the sets when its sequence moved
(another worker or host recorded an outcome) or a suppression expired, then swaps them in one
step; a failed reload keeps the sets it had. The core itself lifts a pair whose incident has a
new version (it compares the version cleared with the one it holds).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from index import _core
from service.store.base import StoreError
from service.store.outcomes import Outcome, OutcomeRecord, OutcomeStore

log = logging.getLogger(__name__)
Pair = tuple[str, str, int]  # (party digest, incident id, incident version)


@dataclass(frozen=True, slots=True)
class Active:
    """Per agency, the pairs suppressed at one moment, and when the first of them lapses."""

    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    next_expiry: float = math.inf


def active_pairs(outcomes: Iterable[OutcomeRecord], now: float, expiry_s: float) -> Active:
    """The pairs the false matches among `outcomes` suppress at `now`: each until `expiry_s`
    after it was recorded (0 = no expiry), and until a seizure of the same party and incident
    is recorded by the same agency after it."""
    outcomes = list(outcomes)
    seized: dict[tuple[str, str, str], float] = {}
    for o in outcomes:
        if o.outcome is Outcome.SEIZED:
            where = (o.agency, o.party_digest, o.incident_id)
            seized[where] = max(seized.get(where, -math.inf), o.at)
    pairs: dict[str, list[Pair]] = {}
    next_expiry = math.inf
    for o in outcomes:
        if o.outcome is not Outcome.CLEARED_FALSE_MATCH:
            continue
        lapses = o.at + expiry_s if expiry_s else math.inf
        if lapses <= now or seized.get((o.agency, o.party_digest, o.incident_id), -1) > o.at:
            continue
        pairs.setdefault(o.agency, []).append((o.party_digest, o.incident_id, o.incident_version))
        next_expiry = min(next_expiry, lapses)
    return Active(pairs, next_expiry)


class SuppressionHolder:
    def __init__(
        self,
        store: OutcomeStore,
        key: bytes,
        expiry_s: float,
        *,
        poll_interval_s: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`key`: the audit key the outcomes' party digests were made with."""
        self._store = store
        self._key = key
        self._expiry_s = expiry_s
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._sets: dict[str, _core.Suppressions] = {}
        self._active: frozenset[tuple[str, str, str, int]] = frozenset()
        self._next_expiry = math.inf
        self._sequence = -1
        self._lock = threading.Lock()  # serialises reloads; readers never wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> OutcomeStore:
        return self._store

    @property
    def expiry_s(self) -> float:
        return self._expiry_s

    def for_agency(self, agency: str) -> _core.Suppressions | None:
        return self._sets.get(agency)

    def in_effect(self, outcome: OutcomeRecord) -> bool:
        """Whether `outcome` suppresses its pair now (the incident's version aside)."""
        pair = (outcome.agency, outcome.party_digest, outcome.incident_id)
        return (*pair, outcome.incident_version) in self._active

    def reload(self) -> None:
        """Rebuild the sets from the store (raises StoreError; the old sets stay)."""
        with self._lock:
            sequence = self._store.sequence()  # before reading: a write meanwhile is seen next
            now = self._clock()
            # only what can suppress now: false matches within the expiry, and the seizures
            # that may lift them (recorded after them)
            since = now - self._expiry_s if self._expiry_s else 0.0
            active = active_pairs(self._store.suppressing(since), now, self._expiry_s)
            self._sets = {
                agency: _core.Suppressions(self._key, pairs)
                for agency, pairs in active.pairs.items()
            }
            self._active = frozenset(
                (agency, *pair) for agency, pairs in active.pairs.items() for pair in pairs
            )
            self._next_expiry = active.next_expiry
            self._sequence = sequence

    def refresh(self) -> None:
        """Reload when the store moved on or a suppression lapsed."""
        if self._clock() >= self._next_expiry or self._store.sequence() != self._sequence:
            self.reload()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="suppressions", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                self.refresh()
            except StoreError as exc:
                log.warning("suppressions not reloaded", extra={"error": str(exc)})
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._store.close()
