"""Officers' outcomes: what a screened item's match turned out to be.

An outcome names an item and an incident; the screen it concerns is found in the audit trail
(the newest verdict on the item by a caller of the same agency, within `outcome_window_days`,
whose answer matched the incident), which tells which party matched which version of the
incident, under which policy and why. What is stored is that: the party's keyed digest, never
its name. A false match suppresses the pair for the agency (service.suppressions); every
recording is itself audited, and counted for the metrics (precision by policy version and
reason code).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.errors import FieldViolation, ValidationError
from service.audit import MATCHED_SCREENS_KEPT, AuditLog, AuditMatch, AuditRecord
from service.errors import FailedPreconditionError
from service.store.base import IncidentStore, StoreError
from service.store.outcomes import Outcome, OutcomeRecord, Stored
from service.suppressions import SuppressionHolder

log = logging.getLogger(__name__)
MAX_ID_CHARS = 128
SCREENS_LOOKED_AT = MATCHED_SCREENS_KEPT  # Redis keeps no more per caller and item


@dataclass(frozen=True, slots=True)
class OutcomeRequest:
    item_id: str
    incident_id: str
    outcome: Outcome | None  # None: not a known outcome
    party_index: int | None = None


@dataclass(frozen=True, slots=True)
class Recorder:
    """Who records: the caller, its agency, and the callers whose screens are the agency's."""

    caller: str
    agency: str
    agency_callers: frozenset[str]
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Listed:
    stored: Stored
    suppressed_until: float | None  # false matches only
    in_effect: bool


def request_violations(request: OutcomeRequest) -> list[FieldViolation]:
    violations = []
    for name in ("item_id", "incident_id"):
        value: str = getattr(request, name)
        if not value:
            violations.append(FieldViolation(name, "is required"))
        elif len(value) > MAX_ID_CHARS:
            violations.append(FieldViolation(name, f"at most {MAX_ID_CHARS} characters"))
    if request.outcome is None:
        choices = ", ".join(o.value for o in Outcome)
        violations.append(FieldViolation("outcome", f"must be one of {choices}"))
    if request.party_index is not None and request.party_index < 0:
        violations.append(FieldViolation("party_index", "must be 0 or more"))
    return violations


def find_match(
    screens: Sequence[AuditRecord], request: OutcomeRequest, agency: str
) -> tuple[AuditRecord, AuditMatch]:
    """The newest of `screens` (newest first) whose answer matched the incident (with the
    party named, if one is), and that match; a field-named ValidationError otherwise."""
    if not screens:
        raise ValidationError([FieldViolation(
            "item_id", f"no screen of it by agency {agency} with matches is on record (within "
            "outcome_window_days)",
        )])  # fmt: skip
    for screen in screens:
        matches = [m for m in screen.matches if m.incident_id == request.incident_id]
        if not matches:
            continue
        if request.party_index is not None:
            chosen = [m for m in matches if m.party == request.party_index]
            if not chosen:
                parties = ", ".join(str(m.party) for m in matches)
                raise ValidationError([FieldViolation(
                    "party_index", f"party {request.party_index} did not match "
                    f"{request.incident_id}; the parties that did: {parties}",
                )])  # fmt: skip
            return screen, chosen[0]
        if len(matches) > 1:
            parties = " and ".join(str(m.party) for m in matches)
            raise ValidationError([FieldViolation(
                "party_index", f"parties {parties} both matched {request.incident_id}: name one",
            )])  # fmt: skip
        return screen, matches[0]
    raise ValidationError([FieldViolation(
        "incident_id", f"did not match {request.item_id} in a screen by agency {agency}",
    )])  # fmt: skip


class Outcomes:
    """Records outcomes against the audit trail and lists them."""

    def __init__(
        self,
        suppressions: SuppressionHolder,
        audit: AuditLog | None,
        incidents: IncidentStore,
        window_s: float,
        *,
        on_recorded: Callable[[OutcomeRecord], None] = lambda record: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`audit`: where screens are found and recordings audited (None: outcomes are
        refused, having nothing to be resolved against)."""
        self._suppressions = suppressions
        self._store = suppressions.store
        self._audit = audit
        self._incidents = incidents
        self._window_s = window_s
        self._on_recorded = on_recorded
        self._clock = clock

    def record(self, request: OutcomeRequest, recorder: Recorder) -> tuple[Listed, bool]:
        """The outcome as stored, and whether this call changed it; ValidationError naming
        the field when the item, incident, party or outcome does not fit a screen of the
        agency's."""
        violations = request_violations(request)
        if violations:
            raise ValidationError(violations)
        assert request.outcome is not None
        if self._audit is None:
            raise FailedPreconditionError(
                "outcomes are resolved against the audit trail, which this server does not "
                "keep (audit = 0)"
            )
        now = self._clock()
        screens = self._audit.matched_screens(  # the agency's own: others cannot crowd them out
            request.item_id, recorder.agency_callers, now - self._window_s, SCREENS_LOOKED_AT
        )
        screen, match = find_match(screens, request, recorder.agency)
        outcome = OutcomeRecord(
            agency=recorder.agency, caller=recorder.caller, item_id=request.item_id,
            party_index=match.party, party_digest=screen.party_digests[match.party],
            incident_id=match.incident_id, incident_version=match.version,
            outcome=request.outcome, at=now, stoplight=match.stoplight,
            reason_codes=match.reason_codes, policy_version=screen.policy_version,
        )  # fmt: skip
        # audited first: the trail only appends, and no outcome may be in force unaudited
        self._audit.record(AuditRecord(
            at=now, caller=recorder.caller, request_id=recorder.request_id, rpc="RecordOutcome",
            item_id=request.item_id, party_digests=(outcome.party_digest,),
            stoplight=match.stoplight, score=0.0, incident_ids=(match.incident_id,),
            generation=screen.generation, policy_version=screen.policy_version,
            outcome=request.outcome.value,
        ))  # fmt: skip
        expiry_s = self._suppressions.expiry_s
        # a false match recorded again once its suppression lapsed is recorded anew
        renewable = expiry_s and request.outcome is Outcome.CLEARED_FALSE_MATCH
        renew_before = now - expiry_s if renewable else 0.0
        stored, changed, first = self._store.record(outcome, renew_before)
        if first:  # counted once per match: a replacement would count the match twice
            self._on_recorded(stored.record)
        if changed:
            try:
                self._suppressions.reload()  # this worker's next screens see it at once
            except StoreError as exc:  # stored: the periodic reload will pick it up
                log.warning("suppressions not reloaded after an outcome",
                            extra={"error": str(exc)})  # fmt: skip
        return self._listed([stored])[0], changed

    def page(self, agency: str | None, item_id: str, before: int, limit: int) -> list[Listed]:
        """Up to `limit` outcomes of `agency` (None = every agency), newest first."""
        return self._listed(self._store.page(agency, item_id, before, limit))

    def _listed(self, page: Sequence[Stored]) -> list[Listed]:
        cleared = [s.record for s in page if s.record.outcome is Outcome.CLEARED_FALSE_MATCH]
        stored = self._incidents.get_many([r.incident_id for r in cleared]) if cleared else {}
        expiry_s = self._suppressions.expiry_s
        listed = []
        for s in page:
            r = s.record
            if r.outcome is not Outcome.CLEARED_FALSE_MATCH:
                listed.append(Listed(s, None, False))
                continue
            incident = stored.get(r.incident_id)
            current = incident is not None and incident.version == r.incident_version
            until = r.at + expiry_s if expiry_s else None
            listed.append(Listed(s, until, current and self._suppressions.in_effect(r)))
        return listed
