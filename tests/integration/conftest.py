"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.redis_ha import RedisHa


@pytest.fixture
def redis_ha(tmp_path: Path) -> Iterator[RedisHa]:
    """A Redis primary, its replica and three Sentinels, stopped however the test ends."""
    topology = RedisHa(tmp_path)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
