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

/// How two street addresses compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressAgreement {
    /// One side has no street, or the streets differ.
    #[default]
    Unknown,
    /// The same street, a house number on one side only.
    SameStreet,
    /// The same street, other house numbers: another building.
    OtherNumber,
    /// The same street and house number in the same place.
    Same,
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
    pub address: AddressAgreement,
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

/// How much a name match gains from the distance to the incident's point: a curve that
/// reaches past the "near" radius, since two geocoders place one address hundreds of metres
/// apart in a city; nothing from the "far" distance on.
fn drift_factor(policy: &Policy, distance_m: f64) -> f64 {
    if distance_m <= policy.far_location_m {
        (-((distance_m / policy.drift_scale_m).powi(2))).exp()
    } else {
        0.0 // and for NaN (no location)
    }
}

/// Points for the street address on its own (`Same`) and beside other evidence (`SameStreet`).
pub fn address_points(policy: &Policy, address: AddressAgreement) -> (f64, f64) {
    match address {
        AddressAgreement::Same => (policy.address_weight, 0.0),
        AddressAgreement::SameStreet => (0.0, policy.street_weight),
        _ => (0.0, 0.0),
    }
}

/// The most points a candidate can get from its name similarity, distance (NaN: no location)
/// and address agreement (`alone`: points that count on their own; `beside`: points that
/// count only beside others), before identifiers and areas: a candidate whose bound stays
/// below the report score needs no scoring at all.
pub fn points_upper_bound(
    policy: &Policy,
    similarity: f64,
    distance_m: f64,
    alone: f64,
    beside: f64,
) -> f64 {
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
    let bound =
        names * (1.0 + policy.combination_weight * drift_factor(policy, distance_m)) + geo + alone;
    if bound > 0.0 {
        bound + beside
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

    let near = near_factor(policy, ev.distance_m);
    let mut drift = ev.distance_m.map_or(0.0, |d| drift_factor(policy, d));
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
    if ev.address == AddressAgreement::OtherNumber {
        geo *= policy.other_number_factor; // a neighbour, not the premises
        reasons.push(ReasonCode::AddressOtherNumber);
    }
    if ev.in_area {
        geo = f64::max(geo, policy.area_weight);
        drift = 1.0;
        reasons.push(ReasonCode::GeoInArea);
    }
    let (address_alone, address_beside) = address_points(policy, ev.address);
    if address_alone > 0.0 {
        reasons.push(ReasonCode::AddressSame);
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

    let mut points =
        names + geo + identifiers + address_alone + policy.combination_weight * names * drift;
    if points > 0.0 && (names > 0.0 || geo > 0.0 || address_alone > 0.0) {
        if address_beside > 0.0 {
            points += address_beside;
            reasons.push(ReasonCode::AddressSameStreet);
        }
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
            address: AddressAgreement::Unknown,
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

    fn score(ev: &PairEvidence) -> f64 {
        let p = default_policy();
        score_of(&p, evidence_points(&p, ev).0)
    }

    fn light(ev: &PairEvidence) -> Stoplight {
        stoplight_of(&default_policy(), score(ev))
    }

    fn at(similarity: f64, distance_m: Option<f64>) -> PairEvidence {
        PairEvidence {
            distance_m,
            ..evidence(similarity)
        }
    }

    #[test]
    fn distinct_evidence_gives_distinct_scores() {
        let p = default_policy();
        let above_floor: Vec<u32> = ((p.name_floor * 100.0) as u32 + 1..=100).collect();
        let mut seen: Vec<i64> = above_floor
            .iter()
            .map(|&s| (score(&evidence(f64::from(s) / 100.0)) * 1e6).round() as i64)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), above_floor.len());
        assert!(above_floor.len() >= 20);
        let mut both = evidence(1.0);
        both.identifiers = Identifier::Phone.bit() | Identifier::Email.bit();
        assert!(score(&both) < 100.0);
    }

    #[test]
    fn stoplight_rules_of_the_default_policy() {
        assert_eq!(light(&evidence(1.0)), Stoplight::Amber);
        assert_eq!(light(&at(0.0, Some(5.0))), Stoplight::Amber);
        let mut phone = evidence(0.0);
        phone.identifiers = Identifier::Phone.bit();
        assert_eq!(light(&phone), Stoplight::Red);
        assert_eq!(light(&at(0.95, Some(120.0))), Stoplight::Red);
        assert_eq!(light(&evidence(0.7)), Stoplight::Green);
        assert_eq!(light(&at(0.0, Some(250.0))), Stoplight::Green);
    }

    #[test]
    fn reasons_explain_the_points() {
        let p = default_policy();
        let mut ev = evidence(0.91);
        ev.country_match = Some(false);
        ev.postcode_match = Some(true);
        ev.city_match = true;
        let (points, reasons) = evidence_points(&p, &ev);
        assert_eq!(
            reasons.as_slice(),
            &[
                ReasonCode::NameStrong,
                ReasonCode::CountryMismatch,
                ReasonCode::PostcodeMatch,
                ReasonCode::CityMatch
            ]
        );
        assert!(points > 0.0);
        let mut area = evidence(0.83);
        area.in_area = true;
        assert_eq!(
            evidence_points(&p, &area).1.as_slice(),
            &[ReasonCode::NamePartial, ReasonCode::GeoInArea]
        );
        let mut postcode_only = evidence(0.0);
        postcode_only.postcode_match = Some(true);
        assert_eq!(
            evidence_points(&p, &postcode_only),
            (0.0, Reasons::default())
        );
    }

    #[test]
    fn address_disagreement_weakens_a_name_match_but_never_location_agreement() {
        let p = default_policy();
        let mut alone = evidence(0.95);
        alone.city_match = true;
        let mut moved = alone.clone();
        moved.postcode_match = Some(false);
        let mut far = alone.clone();
        far.distance_m = Some(9000.0);
        assert!(score(&moved) < score(&alone) && score(&far) < score(&alone));
        let mut far_and_moved = far.clone();
        far_and_moved.postcode_match = Some(false); // one move, counted once
        assert_eq!(score(&far_and_moved), score(&far).min(score(&moved)));
        assert_eq!(
            evidence_points(&p, &far_and_moved).1.as_slice(),
            &[
                ReasonCode::NameStrong,
                ReasonCode::PostcodeMismatch,
                ReasonCode::LocationFar,
                ReasonCode::CityMatch
            ]
        );
        // beyond "near", short of "far": geocoders disagree that much, so the name still gains
        // from the point, less the farther it is
        assert!(score(&at(0.95, Some(1000.0))) > score(&evidence(0.95)));
        assert!(score(&at(0.95, Some(600.0))) > score(&at(0.95, Some(1000.0))));
        let mut near_moved = at(0.95, Some(40.0));
        near_moved.postcode_match = Some(false);
        assert_eq!(score(&near_moved), score(&at(0.95, Some(40.0))));
    }

    #[test]
    fn the_same_address_alerts_under_any_name_and_a_neighbour_does_not() {
        let p = default_policy();
        let mut same = evidence(0.0);
        same.address = AddressAgreement::Same;
        same.city_match = true;
        assert_eq!(light(&same), Stoplight::Amber);
        assert!(evidence_points(&p, &same)
            .1
            .as_slice()
            .contains(&ReasonCode::AddressSame));
        let mut near = same.clone();
        near.distance_m = Some(150.0);
        assert!(score(&near) > score(&same));
        // a few doors down the same street, at the same postcode
        let mut neighbour = at(0.0, Some(60.0));
        neighbour.address = AddressAgreement::OtherNumber;
        neighbour.postcode_match = Some(true);
        neighbour.city_match = true;
        assert_eq!(light(&neighbour), Stoplight::Green);
        let mut unknown = neighbour.clone();
        unknown.address = AddressAgreement::Unknown;
        assert!(score(&unknown) > score(&neighbour));
        // the same street without a number adds a little beside a name, nothing alone
        let mut street = evidence(0.9);
        let before = score(&street);
        street.address = AddressAgreement::SameStreet;
        assert!(score(&street) > before);
        let mut street_alone = evidence(0.0);
        street_alone.address = AddressAgreement::SameStreet;
        assert_eq!(score(&street_alone), 0.0);
    }

    #[test]
    fn incident_weight_orders_kinds_and_decays_with_age_to_a_floor() {
        let p = default_policy();
        let (seizure, suspicious, fentanyl) = (0, 1, 0);
        let fresh = incident_weight(&p, seizure, fentanyl, 0);
        assert_eq!(fresh, 1.0);
        assert_eq!(
            incident_weight(&p, seizure, fentanyl, 9000),
            p.recency_floor
        );
        assert!(incident_weight(&p, suspicious, fentanyl, 0) < fresh);
    }

    #[test]
    fn more_matches_raise_the_party_score_but_damped() {
        let p = default_policy();
        assert_eq!(combine_scores(&p, &[]), 0.0);
        let one = combine_scores(&p, &[50.0]);
        let two = combine_scores(&p, &[50.0, 50.0]);
        assert_eq!(one, 50.0);
        assert!(one < two && two < 75.0);
    }

    proptest! {
        #[test]
        fn score_is_monotone_in_name_similarity(a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(score(&evidence(low)) <= score(&evidence(high)));
        }

        #[test]
        fn score_decreases_with_distance(a in 0.0f64..300.0, b in 0.0f64..300.0, sim in 0.0f64..=1.0) {
            let (near, far) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(score(&at(sim, Some(near))) >= score(&at(sim, Some(far))));
        }

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
            let bound = points_upper_bound(&p, sim, if located { d } else { f64::NAN }, 0.0, p.postcode_weight + p.city_weight);
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
