from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import PolicyError
from index.model import IncidentKind
from index.policy import DEFAULT_POLICY, parse_policy

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_policy_file_is_the_default_policy() -> None:
    assert parse_policy((ROOT / "policies" / "default.toml").read_text()) == DEFAULT_POLICY


def test_policy_file_errors_are_named() -> None:
    with pytest.raises(PolicyError, match="unknown policy keys: nmae_weight"):
        parse_policy("nmae_weight = 3")
    with pytest.raises(PolicyError, match="name_weight must be a float"):
        parse_policy('name_weight = "high"')
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("= =")
    with pytest.raises(PolicyError, match="near_radius_m"):
        parse_policy("near_radius_m = 5000")
    with pytest.raises(PolicyError, match="amber_score"):
        parse_policy("amber_score = 80.0")
    with pytest.raises(PolicyError, match="kind_weights"):
        parse_policy("[kind_weights]\nburglary = 1.0")
    with pytest.raises(PolicyError, match="must be a table"):
        parse_policy("substance_weights = 3")
    custom = parse_policy('version = "x"\nname_weight = 90\n[kind_weights]\nother = 0.5')
    assert custom.name_weight == 90.0
    assert custom.kind_weights[IncidentKind.OTHER] == 0.5
    assert custom.kind_weights[IncidentKind.SEIZURE] == 1.0


def test_policy_checks_name_the_offending_setting() -> None:
    with pytest.raises(PolicyError, match="far_location_m"):
        parse_policy("far_location_m = 100.0")
    with pytest.raises(PolicyError, match="mismatch factors"):
        parse_policy("postcode_mismatch_factor = 0.0")
