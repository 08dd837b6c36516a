"""Officers' outcomes through the real server over TLS (callers with API keys, two agencies),
with real stores: a recorded false match stops raising its agency's stoplights and nobody
else's, until the incident changes or the suppression expires; bad requests are named by
field; outcomes survive a restart; recordings are audited and counted."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service.audit import AuditQuery, open_audit, party_digest
from service.auth import hash_api_key
from service.certs import make_development_pki
from service.cli import showcase_incident
from service.client import Connection, PreflightClient
from service.metrics import ServerMetrics
from service.outcomes import SCREENS_LOOKED_AT
from service.rpc import convert
from service.rpc.server import Running, start_server
from service.settings import load_settings
from service.store import open_store
from tests.conftest import RedisServer

AUDIT_KEY = "0a1b2c3d" * 8
KEYS = {name: f"{name}-key-0123456789" for name in ("a", "a2", "b", "feeder", "console", "root")}
CALLERS = f"""
[callers.atlas-a]
roles = ["screen"]
api_key_sha256 = ["{hash_api_key(KEYS["a"])}"]
agency = "agency-a"

[callers.atlas-a2]
roles = ["screen"]
api_key_sha256 = ["{hash_api_key(KEYS["a2"])}"]
agency = "agency-a"

[callers.bravo]
roles = ["screen"]
api_key_sha256 = ["{hash_api_key(KEYS["b"])}"]

[callers.feeder]
roles = ["ingest"]
api_key_sha256 = ["{hash_api_key(KEYS["feeder"])}"]

[callers.console]
roles = ["admin", "screen"]
api_key_sha256 = ["{hash_api_key(KEYS["console"])}"]

[callers.root]
roles = ["admin"]
api_key_sha256 = ["{hash_api_key(KEYS["root"])}"]
"""
DEMO = showcase_incident()
INCIDENTS = [DEMO, *Generator(44).incidents(200)]
SENDER = pb.Party(
    role=pb.PARTY_ROLE_EXPORTER,
    business_name="Shanghai Hongda Chemical Co., Ltd",
    country_code="CN",
    phones=["+86 21 5555 0188"],
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_development_pki(directory, ["127.0.0.1", "localhost"], [])
    return directory


class Deployment:
    """Servers over one store, started and stopped as a test needs."""

    def __init__(self, tmp: Path, pki: Path, store_url: str = "", prefix: str = "") -> None:
        self.pki = pki
        self.store_url = store_url or f"sqlite:///{tmp / 'db.sqlite'}"
        self.prefix = prefix or "preflight:"
        (tmp / "callers.toml").write_text(CALLERS)
        self.callers = tmp / "callers.toml"
        store = open_store(self.store_url, self.prefix)
        store.put(INCIDENTS)
        store.close()
        self.running: list[Running] = []
        self.clients: list[PreflightClient] = []

    def start(self, registry: CollectorRegistry | None = None, **overrides: Any) -> Running:
        settings = load_settings(environ={}, overrides={
            "store_url": self.store_url, "redis_prefix": self.prefix, "listen": "127.0.0.1:0",
            "tls_cert_file": str(self.pki / "server.crt"),
            "tls_key_file": str(self.pki / "server.key"), "callers_file": str(self.callers),
            "audit_key": AUDIT_KEY, "poll_interval_s": 0.05, **overrides,
        })  # fmt: skip
        metrics = ServerMetrics(registry) if registry is not None else None
        running = start_server(settings, metrics=metrics)
        assert running.holder.wait_loaded(30)
        self.running.append(running)
        return running

    def stop(self) -> None:
        while self.clients:
            self.clients.pop().close()
        while self.running:
            self.running.pop().stop(1.0)

    def client(self, running: Running, who: str = "") -> PreflightClient:
        connection = Connection(f"127.0.0.1:{running.port}", ca_file=str(self.pki / "ca.crt"),
                                api_key=KEYS[who] if who else "")  # fmt: skip
        self.clients.append(PreflightClient(connection, retries=0))
        return self.clients[-1]


@pytest.fixture
def deployment(tmp_path: Path, pki: Path) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path, pki)
    yield deployment
    deployment.stop()


def sender_as(**changes: Any) -> pb.Party:
    party = pb.Party()
    party.CopyFrom(SENDER)
    for name, value in changes.items():
        setattr(party, name, value)
    return party


def item(item_id: str, *parties: pb.Party) -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id=item_id, channel=pb.CHANNEL_EXPRESS), parties=parties or [SENDER]
    )


def screen(client: PreflightClient, item_id: str, *parties: pb.Party) -> pb.ScreenResponse:
    return client.screen(item(item_id, *parties))


def record(
    client: PreflightClient,
    item_id: str,
    outcome: pb.Outcome.ValueType,
    incident_id: str = DEMO.incident_id,
    **fields: Any,
) -> pb.RecordedOutcome:
    request = pb.RecordOutcomeRequest(
        item_id=item_id, incident_id=incident_id, outcome=outcome, **fields
    )
    return client.record_outcome(request)


def listed(client: PreflightClient, **fields: Any) -> list[pb.RecordedOutcome]:
    return list(client.list_outcomes(pb.ListOutcomesRequest(**fields)).outcomes)


def eventually(check: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def violated(call: Callable[[], object]) -> dict[str, str]:
    """The field violations of an INVALID_ARGUMENT, field → description."""
    error = refused(call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
    status = rpc_status.from_call(error)
    assert status is not None
    details = error_details_pb2.BadRequest()
    status.details[0].Unpack(details)
    return {v.field: v.description for v in details.field_violations}


def test_a_false_match_stops_raising_the_stoplight_for_that_agency_only(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a, a2, b = (deployment.client(running, who) for who in ("a", "a2", "b"))
    feeder = deployment.client(running, "feeder")
    first = screen(a, "AWB-1")
    assert first.stoplight == pb.STOPLIGHT_RED
    [hit] = first.parties[0].matches
    assert hit.incident.incident_id == DEMO.incident_id

    recorded = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    assert (recorded.agency, recorded.caller) == ("agency-a", "atlas-a")
    assert (recorded.incident_version, recorded.party_index) == (1, 0)
    assert recorded.in_effect and recorded.stoplight == pb.STOPLIGHT_RED
    assert list(recorded.reason_codes) == list(hit.reason_codes)
    assert recorded.policy_version == first.policy_version
    assert recorded.suppressed_until.seconds > recorded.recorded_at.seconds

    # another parcel from the same sender, its name written otherwise
    loud = sender_as(business_name="SHANGHAI  HONGDA chemical CO., LTD")
    again = screen(a, "AWB-2", loud)
    assert (again.stoplight, again.score) == (pb.STOPLIGHT_GREEN, 0.0)
    [kept] = again.parties[0].matches  # still shown, explained, and raising nothing
    assert kept.incident.incident_id == DEMO.incident_id and kept.score == hit.score
    assert "SUPPRESSED_BY_OUTCOME" in kept.reason_codes and kept.stoplight == pb.STOPLIGHT_GREEN
    assert screen(a2, "AWB-3").stoplight == pb.STOPLIGHT_GREEN  # the agency's other system
    batch = a.screen_batch([item("AWB-4")])
    assert batch.entries[0].verdict.stoplight == pb.STOPLIGHT_GREEN
    assert screen(b, "AWB-5").stoplight == pb.STOPLIGHT_RED  # another agency: untouched

    newer = replace(DEMO, version=2, contact_ref="DE-FP-043")
    feeder.put_incidents([convert.incident_to_pb(newer)])
    eventually(lambda: screen(a, "AWB-6").stoplight == pb.STOPLIGHT_RED,
               "a new version of the incident never lifted the suppression")  # fmt: skip
    [after] = listed(a)
    assert after.outcome == pb.OUTCOME_CLEARED_FALSE_MATCH and not after.in_effect


def test_an_expired_suppression_raises_the_stoplight_again(deployment: Deployment) -> None:
    expiry_s = 3.0
    running = deployment.start(suppression_expiry_days=expiry_s / 86400)
    a = deployment.client(running, "a")
    assert screen(a, "AWB-1").stoplight == pb.STOPLIGHT_RED
    recorded = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    lapses = recorded.recorded_at.ToNanoseconds() / 1e9 + expiry_s
    assert recorded.suppressed_until.ToNanoseconds() / 1e9 == pytest.approx(lapses)
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_GREEN
    eventually(lambda: screen(a, "AWB-3").stoplight == pb.STOPLIGHT_RED,
               "the suppression never expired", within_s=expiry_s + 10)  # fmt: skip
    assert time.time() >= lapses
    assert not listed(a)[0].in_effect


def test_seizures_and_other_clearances_suppress_nothing(deployment: Deployment) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    for n, outcome in enumerate((pb.OUTCOME_SEIZED, pb.OUTCOME_CLEARED_OTHER)):
        screen(a, f"AWB-{n}")
        recorded = record(a, f"AWB-{n}", outcome)
        assert not recorded.in_effect and not recorded.HasField("suppressed_until")
        assert screen(a, f"AWB-1{n}").stoplight == pb.STOPLIGHT_RED


def test_a_later_seizure_of_the_same_sender_lifts_its_false_match(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    screen(a, "AWB-1")
    record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_GREEN  # shown, suppressed
    record(a, "AWB-2", pb.OUTCOME_SEIZED)  # yet this parcel held precursors
    assert screen(a, "AWB-3").stoplight == pb.STOPLIGHT_RED
    cleared = next(o for o in listed(a) if o.item_id == "AWB-1")
    assert not cleared.in_effect


def test_recording_again_changes_nothing_and_another_outcome_replaces(
    deployment: Deployment,
) -> None:
    registry = CollectorRegistry()
    running = deployment.start(registry)
    a = deployment.client(running, "a")
    reply = screen(a, "AWB-1")
    first = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    assert record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH).recorded_at == first.recorded_at
    labels = {"outcome": "CLEARED_FALSE_MATCH", "policy_version": reply.policy_version}
    assert registry.get_sample_value("preflight_outcomes_total", labels) == 1
    for reason in reply.parties[0].matches[0].reason_codes:
        counted = registry.get_sample_value("preflight_outcome_reasons_total",
                                            {**labels, "reason": reason})  # fmt: skip
        assert counted == 1, reason
    record(a, "AWB-1", pb.OUTCOME_SEIZED)
    assert [o.outcome for o in listed(a)] == [pb.OUTCOME_SEIZED]
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_RED
    # a match is counted once: the replacement is not counted beside the first recording
    seized = {**labels, "outcome": "SEIZED"}
    assert registry.get_sample_value("preflight_outcomes_total", seized) in (None, 0)
    assert registry.get_sample_value("preflight_outcomes_total", labels) == 1
    record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)  # and back: still once
    assert registry.get_sample_value("preflight_outcomes_total", labels) == 1


def test_outcomes_take_the_screen_role(deployment: Deployment) -> None:
    running = deployment.start()
    screen(deployment.client(running, "a"), "AWB-1")
    feeder, nobody = deployment.client(running, "feeder"), deployment.client(running)
    for client, code in ((feeder, grpc.StatusCode.PERMISSION_DENIED),
                         (nobody, grpc.StatusCode.UNAUTHENTICATED)):  # fmt: skip
        recording = refused(lambda: record(client, "AWB-1", pb.OUTCOME_SEIZED))  # noqa: B023
        assert recording.code() is code
        assert refused(lambda: listed(client)).code() is code  # noqa: B023


def test_bad_outcomes_are_named_by_field_and_the_server_keeps_serving(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a, b = deployment.client(running, "a"), deployment.client(running, "b")
    screen(a, "AWB-1")
    screen(a, "AWB-CLEAN", pb.Party(name="Nobody Known At All", country_code="FR"))
    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: record(a, "AWB-NEVER", pb.OUTCOME_SEIZED), "item_id", "no screen"),
        (lambda: record(a, "AWB-CLEAN", pb.OUTCOME_SEIZED), "item_id", "no screen"),
        (lambda: record(b, "AWB-1", pb.OUTCOME_SEIZED), "item_id", "agency bravo"),
        (lambda: record(a, "AWB-1", pb.OUTCOME_SEIZED, "ION-NOPE"), "incident_id", "did not match"),
        (lambda: record(a, "AWB-1", pb.OUTCOME_UNSPECIFIED), "outcome", "CLEARED_FALSE_MATCH"),
        (lambda: record(a, "AWB-1", 42), "outcome", "must be one of"),  # type: ignore[arg-type]
        (lambda: record(a, "AWB-1", pb.OUTCOME_SEIZED, party_index=1), "party_index", "party 1"),
        (lambda: record(a, "", pb.OUTCOME_SEIZED, ""), "incident_id", "required"),
        (lambda: listed(a, page_size=5000), "page_size", "between 1"),
        (lambda: listed(a, page_token="x"), "page_token", "not a token"),
    ]  # fmt: skip
    for call, field, said in cases:
        violations = violated(call)
        assert said in violations.get(field, ""), (field, violations)
    assert not listed(a)
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_RED


def test_a_party_must_be_named_when_several_matched_the_incident(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    a.screen(item("AWB-1", SENDER, sender_as(role=pb.PARTY_ROLE_IMPORTER)))
    said = violated(lambda: record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH))
    assert "parties 0 and 1 both matched" in said["party_index"]
    assert record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH, party_index=1).party_index == 1


def test_listing_is_the_agencys_own_and_admins_see_every_agency(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a, a2, b = (deployment.client(running, who) for who in ("a", "a2", "b"))
    console = deployment.client(running, "console")
    for n in range(3):
        screen(a, f"AWB-A{n}")
        record(a, f"AWB-A{n}", pb.OUTCOME_CLEARED_OTHER)
    screen(a2, "AWB-A9")
    record(a, "AWB-A9", pb.OUTCOME_SEIZED)  # a screen by another system of the same agency
    screen(b, "AWB-B0")
    record(b, "AWB-B0", pb.OUTCOME_SEIZED)
    assert [o.item_id for o in listed(a)] == ["AWB-A9", "AWB-A2", "AWB-A1", "AWB-A0"]
    assert [o.item_id for o in listed(a2)] == [o.item_id for o in listed(a)]
    assert [o.item_id for o in listed(b)] == ["AWB-B0"]
    assert {o.agency for o in listed(console)} == {"agency-a", "bravo"}
    assert [o.item_id for o in listed(a, item_id="AWB-A1")] == ["AWB-A1"]
    pages, token = [], ""
    while True:
        page = a.list_outcomes(pb.ListOutcomesRequest(page_size=3, page_token=token))
        pages.append([o.item_id for o in page.outcomes])
        token = page.next_page_token
        if not token:
            break
    assert pages == [["AWB-A9", "AWB-A2", "AWB-A1"], ["AWB-A0"]]


def test_recording_is_audited_with_digests_not_names(deployment: Deployment) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    screen(a, "AWB-1")
    record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    sink = open_audit(deployment.store_url, deployment.prefix)
    try:
        [entry] = [r for r in sink.query(AuditQuery(item_id="AWB-1")) if r.rpc == "RecordOutcome"]
    finally:
        sink.close()
    digest = party_digest(bytes.fromhex(AUDIT_KEY), "", SENDER.business_name, "CN")
    assert (entry.caller, entry.outcome, entry.party_digests) == (
        "atlas-a", "CLEARED_FALSE_MATCH", (digest,)
    )  # fmt: skip
    assert entry.incident_ids == (DEMO.incident_id,)
    assert SENDER.business_name not in entry.to_json().decode()


def test_without_an_audit_trail_outcomes_are_refused(deployment: Deployment) -> None:
    running = deployment.start(audit=0)
    a = deployment.client(running, "a")
    screen(a, "AWB-1")
    error = refused(lambda: record(a, "AWB-1", pb.OUTCOME_SEIZED))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "audit" in (error.details() or "")


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_outcomes_and_their_suppressions_survive_a_restart(
    backend: str, tmp_path: Path, pki: Path, redis_server: RedisServer
) -> None:
    if backend == "redis":
        deployment = Deployment(tmp_path, pki, redis_server.url, f"outcomes-{time.monotonic_ns()}:")
    else:
        deployment = Deployment(tmp_path, pki)
    try:
        running = deployment.start()
        a = deployment.client(running, "a")
        screen(a, "AWB-1")
        recorded = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
        deployment.stop()
        again = deployment.start()
        a = deployment.client(again, "a")
        assert listed(a) == [recorded]
        assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_GREEN
        assert screen(deployment.client(again, "b"), "AWB-3").stoplight == pb.STOPLIGHT_RED
    finally:
        deployment.stop()


def test_an_outcome_recorded_on_one_server_suppresses_on_another(
    tmp_path: Path, pki: Path, redis_server: RedisServer
) -> None:
    deployment = Deployment(tmp_path, pki, redis_server.url, f"hosts-{time.monotonic_ns()}:")
    try:
        one, two = deployment.start(), deployment.start()
        screen(deployment.client(one, "a"), "AWB-1")
        record(deployment.client(one, "a"), "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
        other = deployment.client(two, "a2")
        eventually(lambda: screen(other, "AWB-2").stoplight == pb.STOPLIGHT_GREEN,
                   "the other server never learnt the outcome")  # fmt: skip
    finally:
        deployment.stop()


def deployment_on(backend: str, tmp_path: Path, pki: Path, redis_server: RedisServer) -> Deployment:
    if backend == "redis":
        return Deployment(tmp_path, pki, redis_server.url, f"outcomes-{time.monotonic_ns()}:")
    return Deployment(tmp_path, pki)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_false_match_cleared_again_after_a_new_version_suppresses_again(
    backend: str, tmp_path: Path, pki: Path, redis_server: RedisServer
) -> None:
    deployment = deployment_on(backend, tmp_path, pki, redis_server)
    try:
        running = deployment.start()
        a, feeder = deployment.client(running, "a"), deployment.client(running, "feeder")
        screen(a, "AWB-1")
        first = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
        feeder.put_incidents([convert.incident_to_pb(replace(DEMO, version=2))])
        eventually(lambda: screen(a, "AWB-1").stoplight == pb.STOPLIGHT_RED,
                   "a new version of the incident never lifted the suppression")  # fmt: skip
        again = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)  # the new version's match
        assert (again.incident_version, again.in_effect) == (2, True)
        assert again.recorded_at != first.recorded_at
        assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_GREEN
        assert [o.incident_version for o in listed(a)] == [2]
    finally:
        deployment.stop()


def test_a_false_match_cleared_again_after_it_expired_suppresses_again(
    deployment: Deployment,
) -> None:
    expiry_s = 2.0
    running = deployment.start(suppression_expiry_days=expiry_s / 86400)
    a = deployment.client(running, "a")
    screen(a, "AWB-1")
    first = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    eventually(lambda: screen(a, "AWB-1").stoplight == pb.STOPLIGHT_RED,
               "the suppression never expired", within_s=expiry_s + 10)  # fmt: skip
    again = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
    assert again.in_effect and again.recorded_at != first.recorded_at
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_GREEN


def test_an_outcome_the_audit_trail_refuses_is_not_stored(deployment: Deployment) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    screen(a, "AWB-1")
    assert record(a, "AWB-1", pb.OUTCOME_CLEARED_OTHER).outcome == pb.OUTCOME_CLEARED_OTHER
    db = sqlite3.connect(deployment.store_url.removeprefix("sqlite:///"))
    db.execute(  # the audit trail refuses recordings from now on (a full disk, say)
        "CREATE TRIGGER refuse_outcomes BEFORE INSERT ON audit "
        'WHEN CAST(NEW.body AS TEXT) LIKE \'%"rpc":"RecordOutcome"%\' '
        "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    )
    db.close()
    assert refused(lambda: record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)).code() in (
        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL,
    )  # fmt: skip
    assert [o.outcome for o in listed(a)] == [pb.OUTCOME_CLEARED_OTHER]  # unaudited: not stored
    assert screen(a, "AWB-2").stoplight == pb.STOPLIGHT_RED
    db = sqlite3.connect(deployment.store_url.removeprefix("sqlite:///"))
    db.execute("DROP TRIGGER refuse_outcomes")  # the disk has room again: the writer drains
    db.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_another_agencys_screens_of_the_item_cannot_crowd_out_yours(
    backend: str, tmp_path: Path, pki: Path, redis_server: RedisServer
) -> None:
    deployment = deployment_on(backend, tmp_path, pki, redis_server)
    try:
        running = deployment.start()
        a, b = deployment.client(running, "a"), deployment.client(running, "b")
        screen(a, "AWB-1")
        for _ in range(2):  # the same item, more often than an outcome's lookup reads
            b.screen_batch([item("AWB-1")] * (SCREENS_LOOKED_AT // 2 + 1))
        recorded = record(a, "AWB-1", pb.OUTCOME_CLEARED_FALSE_MATCH)
        assert (recorded.agency, recorded.in_effect) == ("agency-a", True)
        assert record(b, "AWB-1", pb.OUTCOME_SEIZED).agency == "bravo"
    finally:
        deployment.stop()


@pytest.mark.parametrize("position", ["²", "١٢", "9" * 30, str(2**63), "-1", "1e3"])
def test_a_bad_outcome_page_token_is_named(deployment: Deployment, position: str) -> None:
    running = deployment.start()
    a = deployment.client(running, "a")
    token = base64.urlsafe_b64encode(position.encode()).decode()
    said = violated(lambda: a.list_outcomes(pb.ListOutcomesRequest(page_token=token)))
    assert "page_token" in said
    assert listed(a) == []  # and the server keeps serving


def test_an_admin_without_the_screen_role_lists_every_agencys_outcomes_but_records_none(
    deployment: Deployment,
) -> None:
    running = deployment.start()
    a, b = deployment.client(running, "a"), deployment.client(running, "b")
    root = deployment.client(running, "root")
    for client, item_id in ((a, "AWB-A"), (b, "AWB-B")):
        screen(client, item_id)
        record(client, item_id, pb.OUTCOME_SEIZED)
    assert {(o.agency, o.item_id) for o in listed(root)} == {
        ("agency-a", "AWB-A"), ("bravo", "AWB-B"),
    }  # fmt: skip
    recording = refused(lambda: record(root, "AWB-A", pb.OUTCOME_CLEARED_OTHER))
    assert recording.code() is grpc.StatusCode.PERMISSION_DENIED
