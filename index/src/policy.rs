//! The scoring policy as the core reads it: weights and thresholds, versioned. The Python side
//! parses and checks the policy file (index/policy.py) and hands it over as JSON.

use serde::Deserialize;

use crate::model::{IncidentKind, SubstanceClass};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: String,
    pub name_weight: f64,
    pub name_floor: f64,
    pub name_exponent: f64,
    pub name_partial: f64,
    pub name_strong: f64,
    pub name_exact: f64,
    pub near_radius_m: f64,
    pub near_weight: f64,
    pub near_scale_m: f64,
    pub building_weight: f64,
    pub building_scale_m: f64,
    pub same_building_m: f64,
    pub area_weight: f64,
    pub combination_weight: f64,
    pub phone_weight: f64,
    pub email_weight: f64,
    pub domain_weight: f64,
    pub postcode_weight: f64,
    pub city_weight: f64,
    pub address_weight: f64,
    pub street_weight: f64,
    pub other_number_factor: f64,
    pub drift_scale_m: f64,
    pub country_mismatch_factor: f64,
    pub postcode_mismatch_factor: f64,
    pub far_location_m: f64,
    pub far_location_factor: f64,
    /// By kind code (IncidentKind::ALL order).
    pub kind_weights: Vec<f64>,
    /// By substance class code (SubstanceClass::ALL order).
    pub substance_weights: Vec<f64>,
    pub recency_half_life_days: f64,
    pub recency_floor: f64,
    pub score_scale: f64,
    pub amber_score: f64,
    pub red_score: f64,
    pub report_score: f64,
    pub max_matches_per_party: usize,
    pub extra_match_damping: f64,
    pub name_df_cap: usize,
    pub name_candidates: usize,
    pub common_key_df_cap: usize,
    pub geo_candidates: usize,
    pub identifier_df_cap: usize,
}

impl Policy {
    pub fn from_json(text: &str) -> Result<Policy, String> {
        let policy: Policy = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if policy.kind_weights.len() != IncidentKind::ALL.len() {
            return Err(format!(
                "kind_weights needs {} entries",
                IncidentKind::ALL.len()
            ));
        }
        if policy.substance_weights.len() != SubstanceClass::ALL.len() {
            return Err(format!(
                "substance_weights needs {} entries",
                SubstanceClass::ALL.len()
            ));
        }
        if policy.near_radius_m > crate::geo::MAX_RADIUS_M || policy.near_radius_m <= 0.0 {
            return Err(format!(
                "near_radius_m must be in (0, {}]",
                crate::geo::MAX_RADIUS_M
            ));
        }
        Ok(policy)
    }
}

#[cfg(test)]
pub fn default_policy() -> Policy {
    Policy::from_json(
        r#"{"version": "default-2026.12", "name_weight": 120.0, "name_floor": 0.8,
        "name_exponent": 1.5, "name_partial": 0.82, "name_strong": 0.9, "name_exact": 0.99,
        "near_radius_m": 300.0, "near_weight": 45.0, "near_scale_m": 250.0,
        "building_weight": 70.0, "building_scale_m": 25.0, "same_building_m": 25.0,
        "area_weight": 60.0, "combination_weight": 0.9, "phone_weight": 130.0,
        "email_weight": 130.0, "domain_weight": 60.0, "postcode_weight": 16.0,
        "city_weight": 4.0, "address_weight": 50.0, "street_weight": 8.0,
        "other_number_factor": 0.5, "drift_scale_m": 700.0, "country_mismatch_factor": 0.6, "postcode_mismatch_factor": 0.85,
        "far_location_m": 2000.0, "far_location_factor": 0.85,
        "kind_weights": [1.0, 0.9, 1.0, 0.95, 0.8],
        "substance_weights": [1.0, 1.0, 0.95, 0.95, 0.95, 0.9, 0.95, 0.9, 0.95, 0.9, 1.0, 0.95, 0.9, 0.9],
        "recency_half_life_days": 1826.0, "recency_floor": 0.85, "score_scale": 100.0,
        "amber_score": 40.0, "red_score": 70.0, "report_score": 25.0,
        "max_matches_per_party": 10, "extra_match_damping": 0.3, "name_df_cap": 400,
        "name_candidates": 16, "common_key_df_cap": 20000, "geo_candidates": 16,
        "identifier_df_cap": 2000}"#,
    )
    .expect("the default policy parses")
}
