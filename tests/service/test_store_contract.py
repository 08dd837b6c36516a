"""One contract, every store: SQLite (embedded) and Redis (a real redis-server), for incidents
and for officers' outcomes."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
import redis

from index.errors import ValidationError
from index.model import Incident, IncidentStatus
from index.synthetic import Generator
from service.store.base import IncidentStore, PutOutcome
from service.store.outcomes import (
    Outcome,
    OutcomeRecord,
    OutcomeStore,
    RedisOutcomeStore,
    SqliteOutcomeStore,
)
from service.store.redis_ import RedisStore
from service.store.sqlite import SqliteStore
from tests.conftest import RedisServer

StoreFactory = Callable[[], IncidentStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> Iterator[StoreFactory]:
    """Opens stores on one shared backing store (a file, or a per-test Redis key prefix)."""
    opened: list[IncidentStore] = []
    prefix = f"test-{uuid.uuid4().hex}:"

    def factory() -> IncidentStore:
        store: IncidentStore
        if request.param == "sqlite":
            store = SqliteStore(tmp_path / "incidents.db")
        else:
            store = RedisStore(redis_server.url, prefix=prefix)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture(scope="module")
def incidents() -> list[Incident]:
    return list(Generator(21).incidents(30))


def test_put_is_idempotent_by_id_and_version(
    open_store: StoreFactory, incidents: list[Incident]
) -> None:
    store = open_store()
    first = incidents[0]
    assert store.put([first]) == [PutOutcome.CREATED]
    assert store.put([first]) == [PutOutcome.UNCHANGED]
    newer = replace(first, version=2, status=IncidentStatus.RETRACTED)
    assert store.put([newer]) == [PutOutcome.UPDATED]
    assert store.put([first]) == [PutOutcome.STALE]
    assert store.get(first.incident_id) == newer
    assert store.get("no-such-incident") is None
    assert store.count() == 1


def test_stored_incidents_come_back_equal_in_id_order(
    open_store: StoreFactory, incidents: list[Incident]
) -> None:
    store = open_store()
    assert store.put(incidents) == [PutOutcome.CREATED] * len(incidents)
    ordered = sorted(incidents, key=lambda i: i.incident_id)
    assert list(store.iter_all()) == ordered
    assert store.page("", 7) == ordered[:7]
    assert store.page(ordered[6].incident_id, 7) == ordered[7:14]
    wanted = [ordered[3].incident_id, "missing", ordered[1].incident_id]
    assert store.get_many(wanted) == {i: store.get(i) for i in wanted if i != "missing"}


def test_every_accepted_write_is_in_the_change_feed_once_in_order(
    open_store: StoreFactory, incidents: list[Incident]
) -> None:
    writer, reader = open_store(), open_store()
    start = reader.current_cursor()
    writer.put(incidents[:5])
    writer.put(incidents[:2])  # replays change nothing
    writer.put([replace(incidents[4], version=3)])
    batch = reader.changes_since(start)
    assert not batch.reset
    assert [(c.incident_id, c.version) for c in batch.changes] == [
        *((i.incident_id, 1) for i in incidents[:5]),
        (incidents[4].incident_id, 3),
    ]
    assert batch.cursor == reader.current_cursor()
    assert reader.changes_since(batch.cursor).changes == ()
    first_two = reader.changes_since(start, limit=2)
    assert len(first_two.changes) == 2
    rest = reader.changes_since(first_two.cursor)
    assert [c.incident_id for c in rest.changes] == [c.incident_id for c in batch.changes[2:]]


def test_the_store_id_names_the_data_not_the_connection(
    open_store: StoreFactory, incidents: list[Incident], tmp_path: Path, redis_server: RedisServer
) -> None:
    first = open_store()
    name = first.store_id()
    assert len(name) == 32
    first.put(incidents[:2])
    assert open_store().store_id() == first.store_id() == name
    other: IncidentStore = (
        RedisStore(redis_server.url, prefix=f"test-{uuid.uuid4().hex}:")
        if isinstance(first, RedisStore)
        else SqliteStore(tmp_path / "other.db")
    )
    try:
        assert other.store_id() != name
    finally:
        other.close()


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 40])
def test_split_ranges_cover_every_incident_once_in_order(
    open_store: StoreFactory, incidents: list[Incident], parts: int
) -> None:
    store = open_store()
    store.put(incidents)
    cuts = store.split_points(parts)
    assert cuts == sorted(set(cuts)) and len(cuts) == min(parts, len(incidents)) - 1
    bounds: list[str | None] = ["", *cuts, None]
    ranges = [
        [i.incident_id for i in store.iter_all(after=after or "", upto=upto)]
        for after, upto in pairwise(bounds)
    ]
    assert [i for r in ranges for i in r] == sorted(i.incident_id for i in incidents)
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_change_at_names_what_the_feed_recorded_at_a_cursor(
    open_store: StoreFactory, incidents: list[Incident]
) -> None:
    store = open_store()
    assert store.change_at(store.current_cursor()) == ""
    store.put(incidents[:3])
    at_third = store.current_cursor()
    store.put([replace(incidents[0], version=5)])
    assert store.change_at(at_third) == f"{incidents[2].incident_id}@1"
    assert store.change_at(store.current_cursor()) == f"{incidents[0].incident_id}@5"
    assert open_store().change_at(at_third) == f"{incidents[2].incident_id}@1"
    assert store.change_at("garbage") == ""


def test_a_cursor_from_the_future_asks_for_a_full_reload(
    open_store: StoreFactory, incidents: list[Incident]
) -> None:
    store = open_store()
    store.put(incidents[:3])
    future = "99999999999999-0" if isinstance(store, RedisStore) else "99999999"
    assert store.changes_since(future).reset
    assert store.changes_since("garbage").reset
    assert not store.changes_since(store.current_cursor()).reset


def test_malformed_document_in_the_store_is_a_named_error(
    open_store: StoreFactory, incidents: list[Incident], redis_server: RedisServer
) -> None:
    store = open_store()
    store.put(incidents[:1])
    incident_id = incidents[0].incident_id
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE incidents SET body = ? WHERE incident_id = ?", (b"{", incident_id))
    else:
        assert isinstance(store, RedisStore)
        client = redis.Redis.from_url(redis_server.url)
        client.hset(f"{store.prefix}incident:{incident_id}", "body", b'{"kind": 3}')
        client.close()
    with pytest.raises(ValidationError) as info:
        store.get(incident_id)
    assert info.value.violations[0].field.startswith(f"store[{incident_id}]")


def test_redis_trimmed_or_regressed_stream_asks_for_a_full_reload(
    redis_server: RedisServer, incidents: list[Incident]
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    store = RedisStore(redis_server.url, prefix=prefix)
    start = store.current_cursor()
    store.put(incidents[:4])
    middle = store.changes_since(start, limit=1).cursor
    client = redis.Redis.from_url(redis_server.url)
    client.xtrim(f"{prefix}changes", maxlen=1, approximate=False)
    assert store.changes_since(middle).reset
    assert not store.changes_since(store.current_cursor()).reset
    client.delete(f"{prefix}changes")
    assert store.changes_since(middle).reset  # a replica without the stream: regressed
    assert store.current_cursor() == "0-0"
    client.close()
    store.close()


OutcomeFactory = Callable[[], OutcomeStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_outcomes(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> Iterator[OutcomeFactory]:
    """Opens outcome stores on one shared backing store, as `open_store` does."""
    opened: list[OutcomeStore] = []
    prefix = f"test-{uuid.uuid4().hex}:"

    def factory() -> OutcomeStore:
        store: OutcomeStore
        if request.param == "sqlite":
            store = SqliteOutcomeStore(tmp_path / "incidents.db")
        else:
            store = RedisOutcomeStore(redis_server.url, prefix)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def outcome_of(
    item_id: str,
    outcome: Outcome = Outcome.CLEARED_FALSE_MATCH,
    agency: str = "de-zoll",
    **changes: object,
) -> OutcomeRecord:
    record = OutcomeRecord(
        agency=agency, caller=f"{agency}-atlas", item_id=item_id, party_index=0,
        party_digest="ab" * 32, incident_id="ION-1", incident_version=2, outcome=outcome,
        at=1_800_000_000.5, stoplight="RED", reason_codes=("NAME_EXACT", "PHONE_EXACT"),
        policy_version="default-2026.12",
    )  # fmt: skip
    return replace(record, **changes)  # type: ignore[arg-type]


def test_an_outcome_is_kept_once_per_match_and_replaced_by_another(
    open_outcomes: OutcomeFactory,
) -> None:
    store = open_outcomes()
    assert store.sequence() == 0 and store.all() == []
    first, changed, new = store.record(outcome_of("AWB-1"))
    assert changed and new and first.record == outcome_of("AWB-1") and first.sequence == 1
    again, changed, new = store.record(outcome_of("AWB-1", at=1_900_000_000.0, caller="someone"))
    assert not changed and not new and again == first  # the first recording stands
    assert store.sequence() == 1
    replaced, changed, new = store.record(outcome_of("AWB-1", Outcome.SEIZED))
    assert (
        changed and not new and replaced.sequence == 2 and replaced.record.outcome is Outcome.SEIZED
    )
    assert store.record(outcome_of("AWB-1", party_index=1))[2]  # another party: its own
    assert [(s.sequence, s.record.party_index) for s in open_outcomes().all()] == [(2, 0), (3, 1)]
    assert open_outcomes().sequence() == 3


def test_outcome_pages_are_newest_first_by_agency_and_item(open_outcomes: OutcomeFactory) -> None:
    store = open_outcomes()
    for n in range(5):
        store.record(outcome_of(f"AWB-{n}", Outcome.CLEARED_OTHER))
    store.record(outcome_of("AWB-9", Outcome.SEIZED, agency="fr-douane"))
    reader = open_outcomes()

    def items(agency: str | None, item_id: str = "", before: int = 0, limit: int = 10) -> list[str]:
        return [s.record.item_id for s in reader.page(agency, item_id, before, limit)]

    assert items("de-zoll") == ["AWB-4", "AWB-3", "AWB-2", "AWB-1", "AWB-0"]
    assert items(None, limit=2) == ["AWB-9", "AWB-4"]
    assert items("fr-douane") == ["AWB-9"]
    assert items("de-zoll", before=4, limit=2) == ["AWB-2", "AWB-1"]
    assert items("de-zoll", item_id="AWB-3") == ["AWB-3"]
    assert items(None, item_id="AWB-0", limit=1) == ["AWB-0"]
    assert items("nobody") == []


def test_the_same_outcome_of_another_version_party_or_after_renew_before_replaces(
    open_outcomes: OutcomeFactory,
) -> None:
    store = open_outcomes()
    store.record(outcome_of("AWB-1"))
    base = outcome_of("AWB-1")
    for n, changed_one in enumerate(
        (replace(base, incident_version=3), replace(base, party_digest="cd" * 32)), 2
    ):
        recording = replace(changed_one, at=1_800_000_100.0 + n)
        replaced, changed, _ = store.record(recording)
        assert changed and replaced.sequence == n and replaced.record == recording
    latest = outcome_of("AWB-1", at=1_800_000_200.0, party_digest="cd" * 32)
    kept, changed, _ = store.record(latest, renew_before=1_800_000_100.0)
    assert not changed and kept.sequence == 3  # recorded since renew_before: it stands
    renewed, changed, _ = store.record(latest, renew_before=1_800_000_150.0)
    assert changed and renewed.sequence == 4 and renewed.record == latest
    assert [s.sequence for s in open_outcomes().all()] == [4]


def test_only_outcomes_that_can_suppress_within_the_period_are_read_for_suppressions(
    open_outcomes: OutcomeFactory,
) -> None:
    store = open_outcomes()
    store.record(outcome_of("AWB-OLD", at=1000.0))  # older than the expiry period
    store.record(outcome_of("AWB-NEW", at=2000.0))
    store.record(outcome_of("AWB-SEIZED", Outcome.SEIZED, at=2001.0))
    store.record(outcome_of("AWB-OTHER", Outcome.CLEARED_OTHER, at=2002.0))
    store.record(outcome_of("AWB-LATER", at=2003.0))
    store.record(outcome_of("AWB-LATER", Outcome.CLEARED_OTHER, at=2004.0))  # no longer one

    def items(since: float) -> list[str]:
        return sorted(r.item_id for r in open_outcomes().suppressing(since))

    assert items(1500.0) == ["AWB-NEW", "AWB-SEIZED"]
    assert items(0.0) == ["AWB-NEW", "AWB-OLD", "AWB-SEIZED"]
    assert items(2001.0) == ["AWB-SEIZED"]


def test_an_sqlite_outcomes_table_made_before_the_columns_is_read_for_suppressions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL "
        "UNIQUE, agency TEXT NOT NULL, item_id TEXT NOT NULL, body BLOB NOT NULL)"
    )
    record = outcome_of("AWB-1", at=2000.0)
    old.execute("INSERT INTO outcomes (key, agency, item_id, body) VALUES (?, ?, ?, ?)",
                (record.key, record.agency, record.item_id, record.to_json()))  # fmt: skip
    old.commit()
    old.close()
    store = SqliteOutcomeStore(path)
    assert store.suppressing(1500.0) == [record] and store.suppressing(2500.0) == []
    store.close()


def test_a_redis_outcome_store_fills_its_suppressing_set_from_older_outcomes(
    redis_server: RedisServer,
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    store = RedisOutcomeStore(redis_server.url, prefix)
    record = outcome_of("AWB-1", at=2000.0)
    store.record(record)
    client = redis.Redis.from_url(redis_server.url)
    client.delete(f"{prefix}outcomes:suppressing")  # as written before the set was kept
    client.close()
    store.close()
    reopened = RedisOutcomeStore(redis_server.url, prefix)
    assert reopened.suppressing(1500.0) == [record]
    reopened.close()
