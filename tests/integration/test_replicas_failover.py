"""Three `preflight serve` replicas behind one Redis primary with a replica and three Sentinels,
all real processes, under bounded screening and ingest load through one client that balances
over the three (round_robin). The Redis primary is SIGKILLed and Sentinel promotes the
replica; then one `serve` replica is SIGKILLed. The figures it prints are those docs/capacity.md
quotes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field, replace

import grpc

from index.model import Incident
from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service.client import Connection, PreflightClient, wait_serving
from service.rpc import convert
from service.store.base import StoreError
from service.store.redis_ import RedisStore
from service.store.redis_connect import RedisOptions
from tests.conftest import free_port, stop_server_process
from tests.integration.redis_ha import PASSWORD, SENTINEL_PASSWORD, RedisHa, wait_for

INCIDENTS = list(Generator(2022).incidents(300))
FRESH = list(Generator(2023).incidents(400))  # written through the API during the test
PREFIX = "replicas:"
SCREENERS = 3
SCREEN_PAUSE_S = 0.01  # bounded load: at most ~100 screens/s a thread
INGEST_PAUSE_S = 0.05


def probe(incident: pb.Incident | None = None, n: int = 0) -> pb.ScreenRequest:
    if incident is None:
        party = pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=f"Load Sender {n}", country_code="FR")
    else:
        named = next(p for p in incident.parties if p.business_name or p.name)
        party = pb.Party(role=pb.PARTY_ROLE_EXPORTER, name=named.name,
                         business_name=named.business_name,
                         country_code=named.country_code)  # fmt: skip
    return pb.ScreenRequest(item=pb.Item(item_id="AWB-REPLICAS-1", channel=pb.CHANNEL_EXPRESS),
                            parties=[party])  # fmt: skip


@dataclass
class Load:
    """Screening and ingest through one balanced client, every outcome kept with its time."""

    client: PreflightClient
    stop: threading.Event = field(default_factory=threading.Event)
    screens: list[tuple[float, str]] = field(default_factory=list)  # (time, "OK" or code)
    puts: list[tuple[float, str, str]] = field(default_factory=list)  # (answered, id, outcome)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._screen, args=(k,)) for k in range(SCREENERS)]
        self.threads.append(threading.Thread(target=self._ingest))
        for thread in self.threads:
            thread.start()

    def _screen(self, k: int) -> None:
        n = 0
        while not self.stop.is_set() and n < 20_000:
            n += 1
            try:
                self.client.screen(probe(n=k * 100_000 + n), timeout_s=2.0)
                self.screens.append((time.monotonic(), "OK"))
            except grpc.RpcError as exc:
                self.screens.append((time.monotonic(), exc.code().name))
            time.sleep(SCREEN_PAUSE_S)

    def _ingest(self) -> None:
        for incident in FRESH:
            if self.stop.is_set():
                return
            try:
                self.client.put_incidents([convert.incident_to_pb(incident)], timeout_s=3.0)
                self.puts.append((time.monotonic(), incident.incident_id, "OK"))
            except grpc.RpcError as exc:
                self.puts.append((time.monotonic(), incident.incident_id, exc.code().name))
            time.sleep(INGEST_PAUSE_S)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def failed_screens(self, since: float, until: float = float("inf")) -> int:
        return sum(1 for at, outcome in self.screens if since <= at < until and outcome != "OK")

    def acknowledged(self) -> list[str]:
        return [incident_id for _, incident_id, outcome in self.puts if outcome == "OK"]


def serve(ha: RedisHa, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--listen", f"127.0.0.1:{port}",
         "--workers", "1", "--allow-plaintext", "--metrics-listen", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **ha.environment, "PREFLIGHT_REDIS_PREFIX": PREFIX,
             "PREFLIGHT_POLL_INTERVAL_S": "0.05", "PREFLIGHT_REDIS_WAIT_TIMEOUT_MS": "500"},
    )  # fmt: skip


def put_once(store: RedisStore, incident: Incident) -> bool:
    """Whether the store took the incident (Sentinels may still be agreeing on the primary)."""
    try:
        store.put([incident])
    except StoreError:
        return False
    return True


def shows(target: str, incident: Incident) -> bool:
    """Whether the replica at `target` (alone) finds the incident."""
    with PreflightClient(target, retries=0) as client:
        reply = client.screen(probe(convert.incident_to_pb(incident)))
    found = {m.incident.incident_id for p in reply.parties for m in p.matches}
    return incident.incident_id in found


def test_replicas_keep_answering_through_a_redis_failover_and_a_lost_replica(
    redis_ha: RedisHa,
) -> None:
    ha = redis_ha
    options = RedisOptions(password=PASSWORD, sentinel_password=SENTINEL_PASSWORD,
                           wait_replicas=1)  # fmt: skip
    writer = RedisStore(ha.url, PREFIX, options)
    writer.put(INCIDENTS)
    writer.close()
    ports = [free_port() for _ in range(3)]
    targets = [f"127.0.0.1:{port}" for port in ports]
    replicas = [serve(ha, port) for port in ports]
    load = Load(PreflightClient(Connection(",".join(targets)), retries=0))
    try:
        for target in targets:
            wait_serving(target, 60.0, in_a_row=3)
        load.start()
        time.sleep(1.0)

        # The Redis primary dies; Sentinel promotes the replica; the lost node comes back
        # empty as the new primary's replica, and writes reach a replica again.
        ha.primary.kill()
        killed = time.monotonic()
        wait_for(lambda: ha.primary_port() == ha.replica.port, 20.0, "Sentinel's promotion")
        promoted = time.monotonic()
        ha.rejoin(ha.primary)
        marker = replace(INCIDENTS[0], incident_id="ION-AFTER-PROMOTION")
        with closing(RedisStore(ha.url, PREFIX, replace(options, wait_replicas=0))) as store:
            wait_for(lambda: put_once(store, marker), 5.0, "a write after the failover")
        wait_for(lambda: all(shows(t, marker) for t in targets), 5.0, "every replica shows it")
        everywhere = time.monotonic()
        wait_for(lambda: any(at > killed and outcome == "OK" for at, _, outcome in load.puts),
                 20.0, "an acknowledged write after the SIGKILL")  # fmt: skip
        ingest_back = next(at for at, _, outcome in load.puts if at > killed and outcome == "OK")
        failover_failed = load.failed_screens(killed)
        time.sleep(0.5)

        # One serve replica dies under load: the client's other targets carry the traffic.
        replicas[0].kill()
        replica_killed = time.monotonic()
        time.sleep(2.0)
        lost_replica_failed = load.failed_screens(replica_killed)
        late_failures = load.failed_screens(replica_killed + 0.5)
        served_after = sum(1 for at, outcome in load.screens if at > replica_killed + 0.5
                           and outcome == "OK")  # fmt: skip
    finally:
        load.finish()
        load.client.close()
        for process in replicas:
            stop_server_process(process)
    with closing(RedisStore(ha.url, PREFIX, options)) as reader:
        acknowledged = load.acknowledged()
        lost = set(acknowledged) - set(reader.get_many(acknowledged, lambda i, e: None))
    refused = sum(1 for at, _, outcome in load.puts if at > killed and outcome != "OK")
    print(
        f"\nfailover: promoted {promoted - killed:.2f} s after the SIGKILL; screens "
        f"{len(load.screens)}, failed during the failover {failover_failed}; writes "
        f"acknowledged {len(acknowledged)}, refused while Redis failed over {refused}, "
        f"acknowledged and lost {len(lost)}; ingest acknowledged again {ingest_back - killed:.2f}"
        f" s after the SIGKILL; every replica showed a write made after the promotion "
        f"{everywhere - promoted:.2f} s after the promotion\nlost replica: failed calls "
        f"{lost_replica_failed} (in flight on it; {late_failures} after 0.5 s), "
        f"{served_after} screens served by the other two"
    )
    assert failover_failed == 0  # the replicas answer from their index while Redis fails over
    assert not lost  # WAIT: every acknowledged incident survived the primary
    assert refused > 0 and ingest_back - killed < 10.0  # writes stopped, and came back
    assert everywhere - promoted <= 2.0
    assert lost_replica_failed <= SCREENERS  # at most one call in flight per screening thread
    assert late_failures == 0 and served_after > 50
