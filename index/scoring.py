"""Scoring: evidence points per (query party, incident party), incident weights, stoplights.

Points add up per kind of evidence; the incident's weight (kind, substance class, recency)
scales them; the score is 100·(1 − e^(−x/scale)), strictly increasing, so distinct evidence
gives distinct scores and an officer's queue can be ranked. The stoplight follows from the
score's thresholds, so a score and its colour never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from index.model import IncidentKind, ReasonCode, Stoplight, SubstanceClass
from index.policy import Policy

FloatArray = npt.NDArray[np.float64]
PHONE = "phone"
EMAIL = "email"
DOMAIN = "domain"
_IDENTIFIER_REASONS = {
    PHONE: ReasonCode.PHONE_EXACT,
    EMAIL: ReasonCode.EMAIL_EXACT,
    DOMAIN: ReasonCode.DOMAIN_EXACT,
}


@dataclass(frozen=True, slots=True)
class PairEvidence:
    name_similarity: float
    distance_m: float | None
    in_area: bool
    identifiers: frozenset[str]
    postcode_match: bool | None  # None: one side has no postcode
    city_match: bool
    country_match: bool | None


KINDS = tuple(IncidentKind)  # the order of kind codes in incident_weights
SUBSTANCE_CLASSES = tuple(SubstanceClass)


def incident_weights(
    policy: Policy,
    kind_codes: npt.NDArray[np.int8],
    substance_codes: npt.NDArray[np.int8],
    age_days: npt.NDArray[np.int64] | npt.NDArray[np.int32],
) -> FloatArray:
    """How much incidents count: kind, substance class and recency (with a floor); kinds and
    classes as their positions in KINDS and SUBSTANCE_CLASSES."""
    kind_w = np.array([policy.kind_weights.get(k, 1.0) for k in KINDS])
    substance_w = np.array([policy.substance_weights.get(c, 1.0) for c in SUBSTANCE_CLASSES])
    recency = 0.5 ** (np.maximum(age_days, 0) / policy.recency_half_life_days)
    weights = kind_w[kind_codes] * substance_w[substance_codes]
    return np.asarray(weights * np.maximum(recency, policy.recency_floor), np.float64)


def incident_weight(
    policy: Policy,
    kind: IncidentKind,
    substance_class: SubstanceClass,
    age_days: int,
) -> float:
    """incident_weights for one incident."""
    return float(
        incident_weights(
            policy,
            np.array([KINDS.index(kind)], np.int8),
            np.array([SUBSTANCE_CLASSES.index(substance_class)], np.int8),
            np.array([age_days], np.int64),
        )[0]
    )


def name_points_array(policy: Policy, similarity: FloatArray) -> FloatArray:
    """Points for name similarities: nothing up to the floor, then a power curve."""
    strength = np.clip((similarity - policy.name_floor) / (1.0 - policy.name_floor), 0.0, 1.0)
    points = policy.name_weight * strength**policy.name_exponent
    return np.asarray(np.where(similarity > policy.name_floor, points, 0.0), np.float64)


def name_points(policy: Policy, similarity: float) -> float:
    """name_points_array for one similarity, without NumPy's per-call cost."""
    if similarity <= policy.name_floor:
        return 0.0
    strength = min((similarity - policy.name_floor) / (1.0 - policy.name_floor), 1.0)
    return float(policy.name_weight * strength**policy.name_exponent)


def near_factor(policy: Policy, distance_m: float | None) -> float:
    if distance_m is None or distance_m > policy.near_radius_m:
        return 0.0
    return math.exp(-((distance_m / policy.near_scale_m) ** 2))


def points_upper_bound(
    policy: Policy,
    similarity: FloatArray,
    distance_m: FloatArray,
    address_points: FloatArray | float | None = None,
) -> FloatArray:
    """The most points candidates can get from their name similarity, distance (NaN: no
    location) and address agreement (default: all of it) before identifiers and areas:
    candidates whose bound stays below the report score need no scoring at all."""
    within = distance_m <= policy.near_radius_m  # False for NaN
    d = np.where(within, distance_m, 0.0)
    near = np.where(within, np.exp(-((d / policy.near_scale_m) ** 2)), 0.0)
    building = np.where(within, np.exp(-((d / policy.building_scale_m) ** 2)), 0.0)
    names = name_points_array(policy, similarity)
    geo = policy.near_weight * near + policy.building_weight * building
    bound = names * (1.0 + policy.combination_weight * near) + geo
    if address_points is None:
        address_points = policy.postcode_weight + policy.city_weight
    return np.asarray(np.where(bound > 0.0, bound + address_points, 0.0), np.float64)


def evidence_points(policy: Policy, ev: PairEvidence) -> tuple[float, tuple[ReasonCode, ...]]:
    """Points for one pair and the reason codes that explain them."""
    reasons: list[ReasonCode] = []
    names = name_points(policy, ev.name_similarity)
    if ev.name_similarity >= policy.name_exact:
        reasons.append(ReasonCode.NAME_EXACT)
    elif ev.name_similarity >= policy.name_strong:
        reasons.append(ReasonCode.NAME_STRONG)
    elif ev.name_similarity >= policy.name_partial:
        reasons.append(ReasonCode.NAME_PARTIAL)

    near = near_factor(policy, ev.distance_m)
    geo = 0.0
    if near > 0.0 and ev.distance_m is not None:
        building = math.exp(-((ev.distance_m / policy.building_scale_m) ** 2))
        geo = policy.near_weight * near + policy.building_weight * building
        reasons.append(
            ReasonCode.GEO_SAME_BUILDING
            if ev.distance_m <= policy.same_building_m
            else ReasonCode.GEO_NEAR
        )
    if ev.in_area:
        geo = max(geo, policy.area_weight)
        near = 1.0
        reasons.append(ReasonCode.GEO_IN_AREA)

    identifiers = 0.0
    for kind in sorted(ev.identifiers):
        identifiers += {
            PHONE: policy.phone_weight,
            EMAIL: policy.email_weight,
            DOMAIN: policy.domain_weight,
        }[kind]
        reasons.append(_IDENTIFIER_REASONS[kind])

    if names > 0.0 and geo == 0.0:
        names *= _disagreement_factor(policy, ev, reasons)

    points = names + geo + identifiers + policy.combination_weight * names * near
    if points > 0.0 and (names > 0.0 or geo > 0.0):
        if ev.postcode_match:
            points += policy.postcode_weight
            reasons.append(ReasonCode.POSTCODE_MATCH)
        if ev.city_match:
            points += policy.city_weight
            reasons.append(ReasonCode.CITY_MATCH)
    return points, tuple(reasons)


def _disagreement_factor(policy: Policy, ev: PairEvidence, reasons: list[ReasonCode]) -> float:
    """How much a name match counts when the addresses disagree: another country, or another
    premises (another postcode, or both located and far apart; a move changes both, so they
    count once). Disagreement weighs less than agreement: firms move and use several sites."""
    if ev.country_match is False:
        reasons.append(ReasonCode.COUNTRY_MISMATCH)
        return policy.country_mismatch_factor
    factor = 1.0
    if ev.postcode_match is False:
        factor = policy.postcode_mismatch_factor
        reasons.append(ReasonCode.POSTCODE_MISMATCH)
    if ev.distance_m is not None and ev.distance_m > policy.far_location_m:
        factor = min(factor, policy.far_location_factor)
        reasons.append(ReasonCode.LOCATION_FAR)
    return factor


def score_of(policy: Policy, weighted_points: float) -> float:
    """0–100, strictly increasing in the weighted points."""
    return 100.0 * -math.expm1(-max(weighted_points, 0.0) / policy.score_scale)


def points_for(policy: Policy, score: float) -> float:
    """The weighted points that reach `score`: the inverse of score_of."""
    return -policy.score_scale * math.log1p(-min(score, 99.999) / 100.0)


def stoplight_of(policy: Policy, score: float) -> Stoplight:
    if score >= policy.red_score:
        return Stoplight.RED
    if score >= policy.amber_score:
        return Stoplight.AMBER
    return Stoplight.GREEN


def combine_scores(policy: Policy, scores: list[float]) -> float:
    """A party's score from its matches: the best one, raised a little by each further match
    that is an alert on its own (a drop address used again and again). Weak matches never add
    up to an alert."""
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return 0.0
    remaining = 1.0 - ordered[0] / 100.0
    for extra in ordered[1:]:
        if extra < policy.amber_score:
            break
        remaining *= 1.0 - policy.extra_match_damping * extra / 100.0
    return 100.0 * (1.0 - remaining)
