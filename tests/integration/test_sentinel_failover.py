"""A Sentinel failover to a replica that lacks the primary's last writes, made on purpose: the
replica is cut off its primary (a wrong `masterauth`) while writes go on. What was acknowledged
without WAIT is lost with the primary, a write made with WAIT is refused instead of
acknowledged, and a reader whose cursor is past the promoted replica's stream reloads in full
and serves what the new primary holds."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import pytest
import redis

from index.model import Channel, Incident, Query
from index.policy import DEFAULT_POLICY
from index.synthetic import Generator
from service.refresh import IndexHolder
from service.screener import CompiledView
from service.store.base import StoreError
from service.store.redis_ import RedisStore
from service.store.redis_connect import RedisOptions
from tests.integration.redis_ha import PASSWORD, SENTINEL_PASSWORD, RedisHa, wait_for

INCIDENTS = list(Generator(22).incidents(60))
NO_WAIT = RedisOptions(password=PASSWORD, sentinel_password=SENTINEL_PASSWORD)
WAIT_ONE = replace(NO_WAIT, wait_replicas=1, wait_timeout_ms=300)


def matched(holder: IndexHolder, incident: Incident) -> bool:
    """Whether screening the incident's first named party finds the incident."""
    party = next(p for p in incident.parties if p.business_name or p.name)
    query = Query(item_id="AWB-HA-1", parties=(party,), channel=Channel.EXPRESS)
    view = holder.view
    assert view is not None
    result = CompiledView(view).screen(query, DEFAULT_POLICY, date(2026, 12, 8))
    found = {m.incident.incident_id for p in result.parties for m in p.matches}
    return incident.incident_id in found


def test_a_promoted_replica_without_the_last_writes_makes_readers_reload(
    redis_ha: RedisHa,
) -> None:
    ha = redis_ha
    prefix = "lagging:"
    events: list[str] = []
    holder = IndexHolder(RedisStore(ha.url, prefix, NO_WAIT), poll_interval_s=0.05,
                         on_event=lambda event, fields: events.append(event))  # fmt: skip
    waiting, unwaited = RedisStore(ha.url, prefix, WAIT_ONE), RedisStore(ha.url, prefix, NO_WAIT)
    replica = redis.Redis.from_url(ha.replica.url)
    try:
        waiting.put(INCIDENTS[:50])  # acknowledged once the replica has them
        holder.start()
        assert holder.wait_loaded(30)
        replica.config_set("masterauth", "not-the-password")  # cut off, still up
        replica.client_kill_filter(_type="master")
        wait_for(lambda: replica.info("replication")["master_link_status"] == "down", 5.0,
                 "the replica's link down")  # fmt: skip
        lost = INCIDENTS[50:55]
        unwaited.put(lost)  # acknowledged by the primary alone
        with pytest.raises(StoreError, match="reached 0 of the 1 replicas"):
            waiting.put([INCIDENTS[55]])  # with WAIT: refused, not acknowledged
        wait_for(lambda: holder.status().incidents == 56, 5.0, "the reader tails every write")
        assert all(matched(holder, incident) for incident in lost)
        ha.primary.kill()  # SIGKILL: the writes only it had go with it
        killed = time.monotonic()
        wait_for(lambda: ha.primary_port() == ha.replica.port, 20.0, "Sentinel's promotion")
        promoted_s = time.monotonic() - killed
        reload_s = wait_for(lambda: holder.status().incidents == 50, 5.0, "the reader reloads")
        assert "change feed reset" in events
        assert not any(matched(holder, incident) for incident in lost)
        after = replace(INCIDENTS[56], incident_id="ION-AFTER-FAILOVER")
        unwaited.put([after])  # the new primary has no replica left to wait for
        seen_s = wait_for(lambda: matched(holder, after), 2.0, "a write after the failover")
        assert holder.status().incidents == 51
        print(f"promoted {promoted_s:.2f} s after the SIGKILL; reader reloaded {reload_s:.2f} s "
              f"after the promotion; a new write served in {seen_s:.2f} s")  # fmt: skip
    finally:
        holder.stop()
        for client in (waiting, unwaited):
            client.close()
        replica.close()
