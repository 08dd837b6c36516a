//! The cases of tests/service/test_codec.py, plus properties.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn violations(raw: &[u8]) -> Vec<FieldViolation> {
    incident_from_json(raw, "incident").unwrap_err()
}

const GOOD: &[u8] = br#"{"incident_id":"ION-1","version":1,"kind":"seizure","reported_on":"2026-01-01","reporting_country":"DE","agency":"DE Customs","contact_ref":"","channel":"parcel_post","status":"active","substance_class":"fentanyl","substances":["fentanyl"],"parties":[{"role":"exporter","name":"A B","country_code":"CN","phones":["+86 1"],"location":{"lat":51.5,"lon":1.0}},{"role":"other","business_name":"X","area":{"vertices":[{"lat":0.0,"lon":0.0},{"lat":0.0,"lon":1e-7},{"lat":1.5e-6,"lon":0.00001}]}}]}"#;

#[test]
fn bad_documents_name_every_offending_field() {
    let v = violations(
        br#"{"incident_id": "", "version": "2", "kind": "burglary", "reported_on": "yesterday", "reporting_country": "ZZ", "parties": [{"role": "boss", "location": {"lat": "x"}, "phones": "+1 555", "area": {"vertices": 3}}]}"#,
    );
    let fields: BTreeSet<&str> = v.iter().map(|v| v.field.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "incident.incident_id",
        "incident.version",
        "incident.kind",
        "incident.reported_on",
        "incident.parties[0].role",
        "incident.parties[0].location",
        "incident.parties[0].phones",
        "incident.parties[0].area",
    ]
    .into_iter()
    .collect();
    assert_eq!(fields, expected);
    let by_field: BTreeMap<&str, &str> = v
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(by_field["incident.version"], "must be an integer");
    assert_eq!(
        by_field["incident.kind"],
        "'burglary' is not one of: seizure, suspicious_shipment, illicit_manufacture, precursor_diversion, other"
    );
    assert_eq!(
        by_field["incident.reported_on"],
        "must be a date as YYYY-MM-DD"
    );
    assert_eq!(
        by_field["incident.parties[0].location"],
        "lat and lon must be numbers"
    );
    assert_eq!(
        by_field["incident.parties[0].phones"],
        "must be a list of strings"
    );
    assert_eq!(
        by_field["incident.parties[0].area"],
        "must be an object with a list of vertices"
    );
}

#[test]
fn enum_and_coordinate_values_of_the_wrong_type_are_named_errors() {
    let v = violations(
        br#"{"incident_id": "ION-1", "kind": ["seizure"], "status": 1, "reported_on": "2026-01-01", "reporting_country": "DE", "parties": [{"role": {"a": 1}, "name": "X", "location": {"lat": true, "lon": 2.0}}]}"#,
    );
    let by_field: BTreeMap<&str, &str> = v
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(
        by_field.keys().copied().collect::<Vec<_>>(),
        vec![
            "incident.kind",
            "incident.parties[0].location",
            "incident.parties[0].role",
            "incident.status"
        ]
    );
    assert!(by_field["incident.kind"].starts_with("\"['seizure']\" is not one of: seizure"));
    assert_eq!(
        by_field["incident.status"],
        "'1' is not one of: active, retracted"
    );
    assert!(by_field["incident.parties[0].role"].starts_with("\"{'a': 1}\" is not one of"));
}

#[test]
fn contract_rules_apply_after_decoding() {
    let raw = std::str::from_utf8(GOOD)
        .unwrap()
        .replace("\"DE\"", "\"XX\"")
        .replace("\"lat\":51.5", "\"lat\":91.0");
    let v = violations(raw.as_bytes());
    assert_eq!(
        v,
        vec![
            FieldViolation::new(
                "incident.reporting_country",
                "'XX' is not an ISO 3166-1 alpha-2 code"
            ),
            FieldViolation::new(
                "incident.parties[0].location.lat",
                "must be a finite latitude in [-90, 90]"
            ),
        ]
    );
}

#[test]
fn non_objects_are_rejected_by_name() {
    for raw in [&b""[..], b"[", b"[]", b"42", b"\"text\""] {
        let v = violations(raw);
        assert_eq!(v[0].field, "incident", "{raw:?}");
    }
    assert!(violations(b"[")[0]
        .description
        .starts_with("not valid JSON: "));
    assert_eq!(violations(b"[]")[0].description, "must be an object");
}

#[test]
fn round_trip_writes_orjson_bytes() {
    let incident = incident_from_json(GOOD, "incident").unwrap();
    assert_eq!(incident_to_json(&incident), GOOD);
    assert_eq!(
        incident_from_json(&incident_to_json(&incident), "x"),
        Ok(incident)
    );
}

#[test]
fn floats_are_written_like_orjson() {
    for (value, text) in [
        (1.0, "1.0"),
        (51.5, "51.5"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (1e-5, "0.00001"),
        (1e-6, "1e-6"),
        (1.5e-8, "1.5e-8"),
        (5e-324, "5e-324"),
        (-0.0, "-0.0"),
        (2.5e-5, "0.000025"),
        (1.0000000000000001e23, "1.0000000000000001e+23"),
    ] {
        let mut out = String::new();
        write_float(&mut out, value);
        assert_eq!(out, text);
    }
    let mut out = String::new();
    write_float(&mut out, f64::NAN);
    assert_eq!(out, "null");
}

#[test]
fn null_location_is_absent_and_bools_are_not_numbers() {
    let raw = std::str::from_utf8(GOOD)
        .unwrap()
        .replace("{\"lat\":51.5,\"lon\":1.0}", "null");
    assert!(incident_from_json(raw.as_bytes(), "incident").is_ok());
    let raw = std::str::from_utf8(GOOD)
        .unwrap()
        .replace("\"version\":1", "\"version\":true");
    assert_eq!(violations(raw.as_bytes())[0].field, "incident.version");
}

#[test]
fn duplicates_are_reported_once() {
    // Two identical problems (same path, same text) collapse like `_dedupe`.
    let v = violations(br#"{"parties": [{"area": {"vertices": [1, 1]}}], "incident_id": "I"}"#);
    let paths: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    let unique: BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(paths.len(), unique.len());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = incident_from_json(&raw, "incident");
    }

    #[test]
    fn json_shaped_garbage_never_panics(text in r#"[\[\]{}":,0-9a-z\\. \-eE+]{0,200}"#) {
        let _ = incident_from_json(text.as_bytes(), "incident");
    }

    #[test]
    fn mutated_documents_never_panic(at in 0usize..GOOD.len(), byte in any::<u8>()) {
        let mut raw = GOOD.to_vec();
        raw[at] = byte;
        if let Ok(incident) = incident_from_json(&raw, "incident") {
            prop_assert_eq!(incident_from_json(&incident_to_json(&incident), "incident"), Ok(incident));
        }
    }
}
