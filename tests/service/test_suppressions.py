"""Which recorded false matches suppress, and the holder that hands them to screens: expiry,
later seizures, other agencies, and reloads when the store moves on."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from service.store.outcomes import Outcome, OutcomeRecord, SqliteOutcomeStore
from service.suppressions import SuppressionHolder, active_pairs

DAY_S = 86400.0
CLEARED = OutcomeRecord(
    agency="de-zoll", caller="atlas", item_id="AWB-1", party_index=0, party_digest="ab" * 32,
    incident_id="ION-1", incident_version=3, outcome=Outcome.CLEARED_FALSE_MATCH, at=1000.0,
    stoplight="RED", reason_codes=("PHONE_EXACT",), policy_version="p1",
)  # fmt: skip
PAIR = ("ab" * 32, "ION-1", 3)


def test_a_false_match_suppresses_its_pair_for_its_agency_until_it_expires() -> None:
    active = active_pairs([CLEARED], now=1000.0 + DAY_S - 1, expiry_s=DAY_S)
    assert active.pairs == {"de-zoll": [PAIR]}
    assert active.next_expiry == 1000.0 + DAY_S
    assert active_pairs([CLEARED], now=1000.0 + DAY_S, expiry_s=DAY_S).pairs == {}
    forever = active_pairs([CLEARED], now=1e12, expiry_s=0)
    assert forever.pairs == {"de-zoll": [PAIR]} and forever.next_expiry == math.inf


def test_only_a_later_seizure_by_the_same_agency_lifts_a_false_match() -> None:
    seized = replace(CLEARED, item_id="AWB-2", outcome=Outcome.SEIZED)
    assert active_pairs([CLEARED, replace(seized, at=1001.0)], 1002.0, 0).pairs == {}
    assert active_pairs([CLEARED, replace(seized, at=999.0)], 1002.0, 0).pairs != {}
    elsewhere = replace(seized, at=1001.0, agency="fr-douane")
    assert active_pairs([CLEARED, elsewhere], 1002.0, 0).pairs == {"de-zoll": [PAIR]}
    other = replace(CLEARED, outcome=Outcome.CLEARED_OTHER)
    assert active_pairs([other], 1002.0, 0).pairs == {}


def test_the_holder_follows_the_store_and_the_clock(tmp_path: Path) -> None:
    now = [1000.0]
    writer = SqliteOutcomeStore(tmp_path / "db.sqlite")
    holder = SuppressionHolder(SqliteOutcomeStore(tmp_path / "db.sqlite"), b"k", 10.0,
                               clock=lambda: now[0])  # fmt: skip
    holder.reload()
    assert holder.for_agency("de-zoll") is None
    writer.record(CLEARED)  # another process records one
    holder.refresh()
    found = holder.for_agency("de-zoll")
    assert found is not None and len(found) == 1 and holder.in_effect(CLEARED)
    assert holder.for_agency("fr-douane") is None
    now[0] = 1010.0  # it lapses: the next refresh drops it without a write to the store
    holder.refresh()
    assert holder.for_agency("de-zoll") is None and not holder.in_effect(CLEARED)
    writer.close()
    holder.stop()
