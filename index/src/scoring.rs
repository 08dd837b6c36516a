//! Scoring: evidence points per (query party, incident party), incident weights, stoplights.
//!
//! Points add up per kind of evidence; the incident's weight (kind, substance class, recency)
//! scales them; the score is 100·(1 − e^(−x/scale)), strictly increasing, so distinct evidence
//! gives distinct scores and an officer's queue can be ranked. The stoplight follows from the
//! score's thresholds, so a score and its colour never disagree.

use crate::policy::Policy;
use crate::reasons::{Identifier, ReasonCode, Reasons};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stoplight {
    Green,
    Amber,
    Red,
}

impl Stoplight {
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The API's number (STOPLIGHT_GREEN = 1 …).
    pub fn to_pb(self) -> i32 {
        self as i32 + 1
    }
}

/// What one (query party, incident party) pair has in common.
#[derive(Debug, Clone, PartialEq)]
pub struct PairEvidence {
    pub name_similarity: f64,
    pub distance_m: Option<f64>,
    pub in_area: bool,
    /// Identifier kinds shared, as a bit set of `Identifier`.
    pub identifiers: u8,
    /// None: one side has no postcode.
    pub postcode_match: Option<bool>,
    pub city_match: bool,
    pub country_match: Option<bool>,
}

/// How much an incident counts: kind, substance class and recency (with a floor).
pub fn incident_weight(policy: &Policy, kind: u8, substance: u8, age_days: i64) -> f64 {
    let recency = 0.5f64.powf(age_days.max(0) as f64 / policy.recency_half_life_days);
    policy.kind_weights[kind as usize]
        * policy.substance_weights[substance as usize]
        * recency.max(policy.recency_floor)
}

/// Points for a name similarity: nothing up to the floor, then a power curve.
pub fn name_points(policy: &Policy, similarity: f64) -> f64 {
    if similarity <= policy.name_floor {
        return 0.0;
    }
    let strength = ((similarity - policy.name_floor) / (1.0 - policy.name_floor)).min(1.0);
    policy.name_weight * strength.powf(policy.name_exponent)
}

fn near_factor(policy: &Policy, distance_m: Option<f64>) -> f64 {
    match distance_m {
        Some(d) if d <= policy.near_radius_m => (-((d / policy.near_scale_m).powi(2))).exp(),
        _ => 0.0,
    }
}

/// The most points a candidate can get from its name similarity, distance (NaN: no location)
/// and address agreement, before identifiers and areas: a candidate whose bound stays below
/// the report score needs no scoring at all.
pub fn points_upper_bound(policy: &Policy, similarity: f64, distance_m: f64, address: f64) -> f64 {
    let within = distance_m <= policy.near_radius_m; // false for NaN
    let d = if within { distance_m } else { 0.0 };
    let near = if within {
        (-((d / policy.near_scale_m).powi(2))).exp()
    } else {
        0.0
    };
    let building = if within {
        (-((d / policy.building_scale_m).powi(2))).exp()
    } else {
        0.0
    };
    let names = name_points(policy, similarity);
    let geo = policy.near_weight * near + policy.building_weight * building;
    let bound = names * (1.0 + policy.combination_weight * near) + geo;
    if bound > 0.0 {
        bound + address
    } else {
        0.0
    }
}

/// Points for one pair and the reason codes that explain them.
pub fn evidence_points(policy: &Policy, ev: &PairEvidence) -> (f64, Reasons) {
    let mut reasons = Reasons::default();
    let mut names = name_points(policy, ev.name_similarity);
    if ev.name_similarity >= policy.name_exact {
        reasons.push(ReasonCode::NameExact);
    } else if ev.name_similarity >= policy.name_strong {
        reasons.push(ReasonCode::NameStrong);
    } else if ev.name_similarity >= policy.name_partial {
        reasons.push(ReasonCode::NamePartial);
    }

    let mut near = near_factor(policy, ev.distance_m);
    let mut geo = 0.0;
    if near > 0.0 {
        if let Some(d) = ev.distance_m {
            let building = (-((d / policy.building_scale_m).powi(2))).exp();
            geo = policy.near_weight * near + policy.building_weight * building;
            reasons.push(if d <= policy.same_building_m {
                ReasonCode::GeoSameBuilding
            } else {
                ReasonCode::GeoNear
            });
        }
    }
    if ev.in_area {
        geo = f64::max(geo, policy.area_weight);
        near = 1.0;
        reasons.push(ReasonCode::GeoInArea);
    }

    let mut identifiers = 0.0;
    for kind in Identifier::ALL_SORTED {
        if ev.identifiers & kind.bit() != 0 {
            identifiers += match kind {
                Identifier::Phone => policy.phone_weight,
                Identifier::Email => policy.email_weight,
                Identifier::Domain => policy.domain_weight,
            };
            reasons.push(kind.reason());
        }
    }

    if names > 0.0 && geo == 0.0 {
        names *= disagreement_factor(policy, ev, &mut reasons);
    }

    let mut points = names + geo + identifiers + policy.combination_weight * names * near;
    if points > 0.0 && (names > 0.0 || geo > 0.0) {
        if ev.postcode_match == Some(true) {
            points += policy.postcode_weight;
            reasons.push(ReasonCode::PostcodeMatch);
        }
        if ev.city_match {
            points += policy.city_weight;
            reasons.push(ReasonCode::CityMatch);
        }
    }
    (points, reasons)
}

/// How much a name match counts when the addresses disagree: another country, or another
/// premises (another postcode, or both located and far apart; a move changes both, so they
/// count once). Disagreement weighs less than agreement: firms move and use several sites.
fn disagreement_factor(policy: &Policy, ev: &PairEvidence, reasons: &mut Reasons) -> f64 {
    if ev.country_match == Some(false) {
        reasons.push(ReasonCode::CountryMismatch);
        return policy.country_mismatch_factor;
    }
    let mut factor = 1.0;
    if ev.postcode_match == Some(false) {
        factor = policy.postcode_mismatch_factor;
        reasons.push(ReasonCode::PostcodeMismatch);
    }
    if let Some(d) = ev.distance_m {
        if d > policy.far_location_m {
            factor = f64::min(factor, policy.far_location_factor);
            reasons.push(ReasonCode::LocationFar);
        }
    }
    factor
}

/// 0–100, strictly increasing in the weighted points.
pub fn score_of(policy: &Policy, weighted_points: f64) -> f64 {
    100.0 * -(-weighted_points.max(0.0) / policy.score_scale).exp_m1()
}

/// The weighted points that reach `score`: the inverse of score_of.
pub fn points_for(policy: &Policy, score: f64) -> f64 {
    -policy.score_scale * (-score.min(99.999) / 100.0).ln_1p()
}

pub fn stoplight_of(policy: &Policy, score: f64) -> Stoplight {
    if score >= policy.red_score {
        Stoplight::Red
    } else if score >= policy.amber_score {
        Stoplight::Amber
    } else {
        Stoplight::Green
    }
}

/// A party's score from its matches' scores (best first): the best one, raised a little by
/// each further match that is an alert on its own. Weak matches never add up to an alert.
pub fn combine_scores(policy: &Policy, descending: &[f64]) -> f64 {
    let Some((&best, rest)) = descending.split_first() else {
        return 0.0;
    };
    let mut remaining = 1.0 - best / 100.0;
    for &extra in rest {
        if extra < policy.amber_score {
            break;
        }
        remaining *= 1.0 - policy.extra_match_damping * extra / 100.0;
    }
    100.0 * (1.0 - remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::default_policy;
    use proptest::prelude::*;

    fn evidence(similarity: f64) -> PairEvidence {
        PairEvidence {
            name_similarity: similarity,
            distance_m: None,
            in_area: false,
            identifiers: 0,
            postcode_match: None,
            city_match: false,
            country_match: None,
        }
    }

    #[test]
    fn an_exact_name_alone_is_amber_and_with_a_phone_red() {
        let p = default_policy();
        let (points, reasons) = evidence_points(&p, &evidence(1.0));
        let score = score_of(&p, points);
        assert_eq!(stoplight_of(&p, score), Stoplight::Amber);
        assert_eq!(reasons.as_slice(), &[ReasonCode::NameExact]);
        let mut ev = evidence(1.0);
        ev.identifiers = Identifier::Phone.bit();
        let (points, _) = evidence_points(&p, &ev);
        assert_eq!(stoplight_of(&p, score_of(&p, points)), Stoplight::Red);
    }

    #[test]
    fn another_country_weakens_a_name() {
        let p = default_policy();
        let mut ev = evidence(1.0);
        let (same, _) = evidence_points(&p, &ev);
        ev.country_match = Some(false);
        let (other, reasons) = evidence_points(&p, &ev);
        assert!(other < same);
        assert!(reasons.as_slice().contains(&ReasonCode::CountryMismatch));
    }

    proptest! {
        #[test]
        fn score_is_strictly_increasing_and_points_for_inverts_it(a in 0.0f64..400.0, b in 0.0f64..400.0) {
            let p = default_policy();
            prop_assume!(a < b);
            prop_assert!(score_of(&p, a) < score_of(&p, b));
            let s = score_of(&p, a);
            prop_assert!((points_for(&p, s) - a).abs() < 1e-6 * (1.0 + a));
        }

        #[test]
        fn the_bound_is_never_below_the_points(sim in 0.0f64..=1.0, d in 0.0f64..400.0, located in any::<bool>()) {
            let p = default_policy();
            let mut ev = evidence(sim);
            ev.distance_m = located.then_some(d);
            let (points, _) = evidence_points(&p, &ev);
            let bound = points_upper_bound(&p, sim, if located { d } else { f64::NAN }, p.postcode_weight + p.city_weight);
            prop_assert!(points <= bound + 1e-9);
        }

        #[test]
        fn weak_matches_never_add_up_to_an_alert(scores in proptest::collection::vec(0.0f64..39.9, 0..20)) {
            let p = default_policy();
            let mut sorted = scores.clone();
            sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
            let combined = combine_scores(&p, &sorted);
            prop_assert!(combined < p.amber_score);
        }
    }
}
