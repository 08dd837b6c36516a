"""The scoring policy: weights and thresholds, versioned, one per deployment.

A policy is plain data. `parse_policy` reads the TOML text of a policy file (the service reads
the file); keys left out keep the defaults below, unknown keys are an error so a typo cannot
silently fall back to a default. `policies/default.toml` mirrors DEFAULT_POLICY.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from index.errors import PolicyError
from index.model import IncidentKind, SubstanceClass

# The compiled core's query disk (H3 resolution 9, k = 2) holds every point within ~400 m;
# the scoring radius stays well inside that (index/src/geo.rs).
MAX_RADIUS_M = 300.0
_DEFAULT_KIND_WEIGHTS = {
    IncidentKind.SEIZURE: 1.0,
    IncidentKind.ILLICIT_MANUFACTURE: 1.0,
    IncidentKind.PRECURSOR_DIVERSION: 0.95,
    IncidentKind.SUSPICIOUS_SHIPMENT: 0.9,
    IncidentKind.OTHER: 0.8,
}
_DEFAULT_SUBSTANCE_WEIGHTS = {
    SubstanceClass.FENTANYL: 1.0,
    SubstanceClass.OTHER_SYNTHETIC_OPIOID: 1.0,
    SubstanceClass.PRECURSOR: 1.0,
    SubstanceClass.EQUIPMENT: 0.95,
    SubstanceClass.ATS: 0.95,
    SubstanceClass.SYNTHETIC_CATHINONE: 0.95,
    SubstanceClass.SYNTHETIC_CANNABINOID: 0.95,
    SubstanceClass.DESIGNER_BENZODIAZEPINE: 0.95,
    SubstanceClass.PHENETHYLAMINE: 0.95,
    SubstanceClass.TRYPTAMINE: 0.9,
    SubstanceClass.ADULTERANT: 0.9,
    SubstanceClass.COCAINE: 0.9,
    SubstanceClass.OTHER: 0.9,
    SubstanceClass.UNKNOWN: 0.9,
}


@dataclass(frozen=True, slots=True)
class Policy:
    """Weights are evidence points; a match's score is 100·(1 − e^(−points·weight/scale))."""

    version: str = "default-2026.12"
    # names: points = name_weight · ((similarity − name_floor) / (1 − name_floor)) ^ name_exponent
    name_weight: float = 120.0
    name_floor: float = 0.8
    name_exponent: float = 1.5
    name_partial: float = 0.82
    name_strong: float = 0.90
    name_exact: float = 0.99
    # geography: a broad "near" term and a sharp "same building" term, both Gaussian in metres
    near_radius_m: float = 300.0
    near_weight: float = 45.0
    near_scale_m: float = 250.0
    building_weight: float = 70.0
    building_scale_m: float = 25.0
    same_building_m: float = 25.0
    area_weight: float = 60.0
    # a strong name near the incident's location is worth more than the two apart
    combination_weight: float = 0.9
    # identifiers
    phone_weight: float = 130.0
    email_weight: float = 130.0
    domain_weight: float = 60.0
    # address agreement: postcode and city count only beside name or location evidence; the
    # same street and house number (in the same city, postcode or 2 km) count on their own
    postcode_weight: float = 16.0
    city_weight: float = 4.0
    address_weight: float = 50.0
    street_weight: float = 8.0
    # another house number on the same street: location agreement counts this much
    other_number_factor: float = 0.5
    # a name match near the incident's point counts more, on a Gaussian curve of this scale
    # (geocoders disagree by hundreds of metres in cities)
    drift_scale_m: float = 700.0
    # address disagreement scales name points when there is no location agreement
    country_mismatch_factor: float = 0.6
    postcode_mismatch_factor: float = 0.85
    far_location_m: float = 2000.0
    far_location_factor: float = 0.85
    # incident weights
    kind_weights: MappingProxyType[IncidentKind, float] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_KIND_WEIGHTS))
    )
    substance_weights: MappingProxyType[SubstanceClass, float] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_SUBSTANCE_WEIGHTS))
    )
    recency_half_life_days: float = 1826.0
    recency_floor: float = 0.85
    # score and stoplight
    score_scale: float = 100.0
    amber_score: float = 40.0
    red_score: float = 70.0
    report_score: float = 25.0
    max_matches_per_party: int = 10
    extra_match_damping: float = 0.3
    # candidate retrieval
    name_df_cap: int = 400
    name_candidates: int = 16
    common_key_df_cap: int = 20_000
    geo_candidates: int = 16
    identifier_df_cap: int = 2000

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.near_radius_m <= MAX_RADIUS_M:
            problems.append(f"near_radius_m must be in (0, {MAX_RADIUS_M:g}]")
        if not 0.0 <= self.name_floor < self.name_partial <= self.name_strong <= self.name_exact:
            problems.append("need name_floor < name_partial <= name_strong <= name_exact")
        if not 0.0 < self.amber_score < self.red_score < 100.0:
            problems.append("need 0 < amber_score < red_score < 100")
        if self.max_matches_per_party < 1 or self.name_candidates < 1 or self.geo_candidates < 1:
            problems.append("match and candidate limits must be at least 1")
        if not 0.0 <= self.extra_match_damping < 1.0:
            problems.append("extra_match_damping must be in [0, 1)")
        factors = (
            self.country_mismatch_factor, self.postcode_mismatch_factor, self.far_location_factor,
            self.other_number_factor,
        )  # fmt: skip
        if not all(0.0 < factor <= 1.0 for factor in factors):
            problems.append("mismatch factors must be in (0, 1]")
        if self.drift_scale_m <= 0.0:
            problems.append("drift_scale_m must be positive")
        if self.far_location_m <= self.near_radius_m:
            problems.append("far_location_m must be beyond near_radius_m")
        if problems:
            raise PolicyError("; ".join(problems))


DEFAULT_POLICY = Policy()
_FIELDS = {f.name for f in fields(Policy)}


def _enum_weights(raw: Any, enum: Any, key: str) -> MappingProxyType[Any, float]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{key} must be a table")
    try:
        return MappingProxyType({enum(k): float(v) for k, v in raw.items()})
    except (ValueError, TypeError) as exc:
        raise PolicyError(f"{key}: {exc}") from exc


def parse_policy(text: str) -> Policy:
    """A policy from the TOML text of a policy file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}") from exc
    unknown = set(data) - _FIELDS
    if unknown:
        raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, raw in data.items():
        value = raw
        if key == "kind_weights":
            weights = dict(DEFAULT_POLICY.kind_weights)
            weights.update(_enum_weights(value, IncidentKind, key))
            values[key] = MappingProxyType(weights)
        elif key == "substance_weights":
            weights_s = dict(DEFAULT_POLICY.substance_weights)
            weights_s.update(_enum_weights(value, SubstanceClass, key))
            values[key] = MappingProxyType(weights_s)
        else:
            expected = type(getattr(DEFAULT_POLICY, key))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or isinstance(value, bool):
                raise PolicyError(f"{key} must be a {expected.__name__}")
            values[key] = value
    return replace(DEFAULT_POLICY, **values)


def policy_json(policy: Policy) -> str:
    """The policy as the compiled core reads it: every field, with the kind and substance
    weights listed in their enums' order."""
    data: dict[str, Any] = {f.name: getattr(policy, f.name) for f in fields(Policy)}
    data["kind_weights"] = [policy.kind_weights.get(k, 1.0) for k in IncidentKind]
    data["substance_weights"] = [policy.substance_weights.get(s, 1.0) for s in SubstanceClass]
    return json.dumps(data)
