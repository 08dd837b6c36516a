"""Hostile input through the real server over loopback: generated requests (control
characters, 10 kB names, NaN and infinite coordinates, unknown enum values, bad S10 ids,
oversized batches) and raw random bytes as the request body. The only acceptable answers are a
verdict or INVALID_ARGUMENT naming fields — never INTERNAL, a crash or a hang. 8,500 calls
per run, batches of up to 24 items among them (fewer than the 10,000 of before issue 22 and
23's tests, so that `make test` stays under 10 minutes on a clean checkout)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from preflight.v1 import preflight_pb2_grpc as pb_grpc
from service.rpc.server import Running, start_server
from service.settings import load_settings
from service.store.sqlite import SqliteStore

DEADLINE_S = 10.0  # far above any honest answer: hitting it is a hang
FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
MESSAGES = 2500
BATCHES = 1000
RAW = 4000
INCIDENT_PUTS = 1000

anything = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
hostile_text = st.one_of(
    anything,
    st.sampled_from(["", " ", "\x00", "\u202e", "ООО Ромашка", "株式会社", "شركة", "DROP TABLE"]),
    st.builds(  # ~10 kB names, control characters included
        lambda unit, length: (unit * length)[:length],
        st.text(alphabet="ab\x00\x07\n\t\u200b", min_size=1, max_size=8),
        st.integers(9_000, 10_500),
    ),
)
coordinate = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-90, max_value=90),
)
enum_value = st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1))
item_id = st.one_of(
    st.sampled_from(["EE471108151FR", "EE471108152FR", "RR123456785DE", "", "AWB-1"]),
    anything,
)


@st.composite
def parties(draw: st.DrawFn) -> pb.Party:
    party = pb.Party(
        role=draw(enum_value),  # type: ignore[arg-type]
        name=draw(hostile_text),
        business_name=draw(hostile_text),
        address_lines=draw(st.lists(anything, max_size=8)),
        postcode=draw(anything),
        city=draw(anything),
        country_code=draw(st.one_of(st.sampled_from(["CN", "DE", "IN", "zz", ""]), anything)),
        phones=draw(st.lists(st.one_of(anything, st.just("+86 21 5555 0188")), max_size=10)),
        emails=draw(st.lists(st.one_of(anything, st.just("a@b.example")), max_size=10)),
        web_domains=draw(st.lists(anything, max_size=3)),
    )
    if draw(st.booleans()):
        party.location.CopyFrom(pb.Location(lat=draw(coordinate), lon=draw(coordinate)))
    return party


@st.composite
def screen_requests(draw: st.DrawFn) -> pb.ScreenRequest:
    return pb.ScreenRequest(
        item=pb.Item(item_id=draw(item_id), channel=draw(enum_value)),  # type: ignore[arg-type]
        parties=draw(st.lists(parties(), max_size=10)),
    )


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    store = SqliteStore(folder / "db.sqlite")
    store.put(list(Generator(8).incidents(300)))
    settings_ = load_settings(
        environ={},
        overrides={"store_url": f"sqlite:///{store.path}", "listen": "127.0.0.1:0",
                   "allow_plaintext": 1, "max_batch_items": 20, "max_message_bytes": 1_000_000},
    )  # fmt: skip
    running: Running = start_server(settings_)
    assert running.holder.wait_loaded(30.0)
    yield f"127.0.0.1:{running.port}"
    running.stop(1.0)


def assert_field_violations(error: grpc.RpcError) -> None:
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None, "INVALID_ARGUMENT without a google.rpc.Status"
    details = error_details_pb2.BadRequest()
    assert status.details and status.details[0].Unpack(details)
    assert all(v.field and v.description for v in details.field_violations)
    assert details.field_violations


def assert_verdict(reply: pb.ScreenResponse) -> None:
    assert reply.stoplight in (pb.STOPLIGHT_GREEN, pb.STOPLIGHT_AMBER, pb.STOPLIGHT_RED)
    assert 0 <= reply.score <= 100 and not math.isnan(reply.score)


def test_generated_screen_requests(target: str) -> None:
    sent = 0
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)

        @settings(FUZZ, max_examples=MESSAGES)
        @given(screen_requests())
        def screen(request: pb.ScreenRequest) -> None:
            nonlocal sent
            sent += 1
            try:
                assert_verdict(stub.Screen(request, timeout=DEADLINE_S))
            except grpc.RpcError as error:
                assert_field_violations(error)

        screen()
    assert sent >= MESSAGES


def test_generated_batches(target: str) -> None:
    sent = 0
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)

        @settings(FUZZ, max_examples=BATCHES)
        @given(st.lists(screen_requests(), max_size=24))
        def batch(items: list[pb.ScreenRequest]) -> None:
            nonlocal sent
            sent += 1
            try:
                reply = stub.ScreenBatch(pb.ScreenBatchRequest(items=items), timeout=DEADLINE_S)
            except grpc.RpcError as error:
                assert len(items) > 20  # only an oversized batch fails as a whole
                assert_field_violations(error)
                return
            assert [e.index for e in reply.entries] == list(range(len(items)))
            for entry in reply.entries:
                if entry.WhichOneof("outcome") == "verdict":
                    assert_verdict(entry.verdict)
                else:
                    assert entry.error.field_violations

        batch()
    assert sent >= BATCHES


@pytest.mark.parametrize(
    "method",
    ["/preflight.v1.ScreeningService/Screen", "/preflight.v1.ScreeningService/ScreenBatch",
     "/preflight.v1.IncidentService/PutIncidents", "/preflight.v1.IndexService/GetIndexStatus"],
)  # fmt: skip
def test_raw_bytes_as_the_request_body(target: str, method: str) -> None:
    sent = 0
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)  # raw bytes

        @settings(FUZZ, max_examples=RAW // 4)
        @given(st.binary(max_size=2_000))
        def raw(body: bytes) -> None:
            nonlocal sent
            sent += 1
            try:
                call(body, timeout=DEADLINE_S)
            except grpc.RpcError as error:
                assert_field_violations(error)

        raw()
    assert sent >= RAW // 4


def test_generated_incident_writes(target: str) -> None:
    sent = 0
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.IncidentServiceStub(channel)

        @settings(FUZZ, max_examples=INCIDENT_PUTS)
        @given(
            st.builds(
                pb.Incident,
                incident_id=st.one_of(anything, st.just("ION-FUZZ-1")),
                version=st.integers(-5, 2**40),
                kind=enum_value,
                reported_on=st.one_of(anything, st.just("2026-02-30"), st.just("2026-01-10")),
                reporting_country=st.sampled_from(["DE", "xx", ""]),
                channel=enum_value,
                substance_class=enum_value,
                parties=st.lists(parties(), max_size=3),
            )
        )
        def put(incident: pb.Incident) -> None:
            nonlocal sent
            sent += 1
            try:
                reply = stub.PutIncidents(
                    pb.PutIncidentsRequest(incidents=[incident]), timeout=DEADLINE_S
                )
                assert len(reply.results) == 1
            except grpc.RpcError as error:
                assert_field_violations(error)

        put()
    assert sent >= INCIDENT_PUTS


def test_an_oversized_message_is_refused_and_the_server_keeps_serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ScreeningServiceStub(channel)
        huge = pb.ScreenRequest(
            item=pb.Item(item_id="EE471108151FR"), parties=[pb.Party(name="x" * 2_000_000)]
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.Screen(huge, timeout=DEADLINE_S)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        fine = pb.ScreenRequest(
            item=pb.Item(item_id="EE471108151FR", channel=pb.CHANNEL_PARCEL_POST),
            parties=[pb.Party(name="Someone Else", country_code="FR")],
        )
        assert_verdict(stub.Screen(fine, timeout=DEADLINE_S))
