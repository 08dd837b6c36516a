//! Hand-written prost messages for the screening part of preflight.v1.
//!
//! These mirror `proto/preflight/v1/preflight.proto` field for field (names, numbers, types);
//! a Python test compares [`message_fields`] with the generated descriptor, so keep both in
//! step with the contract. Enum fields are `i32` so that unknown numbers survive decoding and
//! can be reported as violations, as the Python service does.

/// WGS 84 degrees.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    #[prost(double, tag = "1")]
    pub lat: f64,
    #[prost(double, tag = "2")]
    pub lon: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Party {
    #[prost(enumeration = "PartyRole", tag = "1")]
    pub role: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub business_name: String,
    #[prost(string, repeated, tag = "4")]
    pub address_lines: Vec<String>,
    #[prost(string, tag = "5")]
    pub postcode: String,
    #[prost(string, tag = "6")]
    pub city: String,
    #[prost(string, tag = "7")]
    pub country_subdivision: String,
    #[prost(string, tag = "8")]
    pub country_code: String,
    #[prost(message, optional, tag = "9")]
    pub location: Option<Location>,
    #[prost(string, repeated, tag = "10")]
    pub phones: Vec<String>,
    #[prost(string, repeated, tag = "11")]
    pub emails: Vec<String>,
    #[prost(string, repeated, tag = "12")]
    pub web_domains: Vec<String>,
    #[prost(string, tag = "13")]
    pub customs_reference: String,
    #[prost(message, repeated, tag = "14")]
    pub area: Vec<Location>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContentLine {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(string, tag = "2")]
    pub hs_code: String,
    #[prost(string, tag = "3")]
    pub origin_country: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    #[prost(string, tag = "1")]
    pub item_id: String,
    #[prost(enumeration = "Channel", tag = "2")]
    pub channel: i32,
    #[prost(message, repeated, tag = "3")]
    pub contents: Vec<ContentLine>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScreenRequest {
    #[prost(message, optional, tag = "1")]
    pub item: Option<Item>,
    #[prost(message, repeated, tag = "2")]
    pub parties: Vec<Party>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IncidentSummary {
    #[prost(string, tag = "1")]
    pub incident_id: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
    #[prost(enumeration = "IncidentKind", tag = "3")]
    pub kind: i32,
    #[prost(string, tag = "4")]
    pub reported_on: String,
    #[prost(enumeration = "SubstanceClass", tag = "5")]
    pub substance_class: i32,
    #[prost(string, tag = "6")]
    pub reporting_country: String,
    #[prost(string, tag = "7")]
    pub agency: String,
    #[prost(string, tag = "8")]
    pub contact_ref: String,
    #[prost(enumeration = "Channel", tag = "9")]
    pub channel: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Evidence {
    #[prost(double, tag = "1")]
    pub name_similarity: f64,
    #[prost(string, tag = "2")]
    pub query_name: String,
    #[prost(string, tag = "3")]
    pub incident_name: String,
    #[prost(double, optional, tag = "4")]
    pub distance_m: Option<f64>,
    #[prost(bool, tag = "5")]
    pub in_area: bool,
    #[prost(string, repeated, tag = "6")]
    pub identifiers: Vec<String>,
    #[prost(bool, tag = "7")]
    pub postcode_match: bool,
    #[prost(bool, tag = "8")]
    pub city_match: bool,
    #[prost(bool, optional, tag = "9")]
    pub country_match: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Match {
    #[prost(message, optional, tag = "1")]
    pub incident: Option<IncidentSummary>,
    #[prost(enumeration = "PartyRole", tag = "2")]
    pub incident_party_role: i32,
    #[prost(double, tag = "3")]
    pub score: f64,
    #[prost(enumeration = "Stoplight", tag = "4")]
    pub stoplight: i32,
    #[prost(string, repeated, tag = "5")]
    pub reason_codes: Vec<String>,
    #[prost(message, optional, tag = "6")]
    pub evidence: Option<Evidence>,
    #[prost(double, tag = "7")]
    pub incident_weight: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartyVerdict {
    #[prost(int32, tag = "1")]
    pub party_index: i32,
    #[prost(enumeration = "PartyRole", tag = "2")]
    pub role: i32,
    #[prost(enumeration = "Stoplight", tag = "3")]
    pub stoplight: i32,
    #[prost(double, tag = "4")]
    pub score: f64,
    #[prost(message, repeated, tag = "5")]
    pub matches: Vec<Match>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexInfo {
    #[prost(int64, tag = "1")]
    pub generation: i64,
    #[prost(double, tag = "2")]
    pub age_seconds: f64,
    #[prost(int64, tag = "3")]
    pub incidents: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScreenResponse {
    #[prost(string, tag = "1")]
    pub item_id: String,
    #[prost(enumeration = "Stoplight", tag = "2")]
    pub stoplight: i32,
    #[prost(double, tag = "3")]
    pub score: f64,
    #[prost(message, repeated, tag = "4")]
    pub parties: Vec<PartyVerdict>,
    #[prost(string, repeated, tag = "5")]
    pub reason_codes: Vec<String>,
    #[prost(message, optional, tag = "6")]
    pub index: Option<IndexInfo>,
    #[prost(string, tag = "7")]
    pub policy_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldViolation {
    #[prost(string, tag = "1")]
    pub field: String,
    #[prost(string, tag = "2")]
    pub description: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemError {
    #[prost(string, tag = "1")]
    pub message: String,
    #[prost(message, repeated, tag = "2")]
    pub field_violations: Vec<FieldViolation>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScreenBatchRequest {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<ScreenRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScreenBatchEntry {
    #[prost(int32, tag = "1")]
    pub index: i32,
    #[prost(oneof = "screen_batch_entry::Outcome", tags = "2, 3")]
    pub outcome: Option<screen_batch_entry::Outcome>,
}

pub mod screen_batch_entry {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Outcome {
        #[prost(message, tag = "2")]
        Verdict(super::ScreenResponse),
        #[prost(message, tag = "3")]
        Error(super::ItemError),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScreenBatchResponse {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<ScreenBatchEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Stoplight {
    Unspecified = 0,
    Green = 1,
    Amber = 2,
    Red = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PartyRole {
    Unspecified = 0,
    Exporter = 1,
    Importer = 2,
    Other = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Channel {
    Unspecified = 0,
    LetterPost = 1,
    ParcelPost = 2,
    Express = 3,
    AirCargo = 4,
    SeaFreight = 5,
    Road = 6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IncidentKind {
    Unspecified = 0,
    Seizure = 1,
    SuspiciousShipment = 2,
    IllicitManufacture = 3,
    PrecursorDiversion = 4,
    Other = 5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IncidentStatus {
    Unspecified = 0,
    Active = 1,
    Retracted = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SubstanceClass {
    Unspecified = 0,
    Fentanyl = 1,
    OtherSyntheticOpioid = 2,
    SyntheticCathinone = 3,
    SyntheticCannabinoid = 4,
    Phenethylamine = 5,
    Tryptamine = 6,
    DesignerBenzodiazepine = 7,
    Adulterant = 8,
    Ats = 9,
    Cocaine = 10,
    Precursor = 11,
    Equipment = 12,
    Other = 13,
}

/// (message, field, number) for every field defined above, in declaration order; a Python
/// test compares this list with the descriptor of `preflight.v1`.
pub fn message_fields() -> Vec<(&'static str, &'static str, u32)> {
    const FIELDS: &[(&str, &[(&str, u32)])] = &[
        ("Location", &[("lat", 1), ("lon", 2)]),
        (
            "Party",
            &[
                ("role", 1),
                ("name", 2),
                ("business_name", 3),
                ("address_lines", 4),
                ("postcode", 5),
                ("city", 6),
                ("country_subdivision", 7),
                ("country_code", 8),
                ("location", 9),
                ("phones", 10),
                ("emails", 11),
                ("web_domains", 12),
                ("customs_reference", 13),
                ("area", 14),
            ],
        ),
        (
            "ContentLine",
            &[("description", 1), ("hs_code", 2), ("origin_country", 3)],
        ),
        ("Item", &[("item_id", 1), ("channel", 2), ("contents", 3)]),
        ("ScreenRequest", &[("item", 1), ("parties", 2)]),
        (
            "IncidentSummary",
            &[
                ("incident_id", 1),
                ("version", 2),
                ("kind", 3),
                ("reported_on", 4),
                ("substance_class", 5),
                ("reporting_country", 6),
                ("agency", 7),
                ("contact_ref", 8),
                ("channel", 9),
            ],
        ),
        (
            "Evidence",
            &[
                ("name_similarity", 1),
                ("query_name", 2),
                ("incident_name", 3),
                ("distance_m", 4),
                ("in_area", 5),
                ("identifiers", 6),
                ("postcode_match", 7),
                ("city_match", 8),
                ("country_match", 9),
            ],
        ),
        (
            "Match",
            &[
                ("incident", 1),
                ("incident_party_role", 2),
                ("score", 3),
                ("stoplight", 4),
                ("reason_codes", 5),
                ("evidence", 6),
                ("incident_weight", 7),
            ],
        ),
        (
            "PartyVerdict",
            &[
                ("party_index", 1),
                ("role", 2),
                ("stoplight", 3),
                ("score", 4),
                ("matches", 5),
            ],
        ),
        (
            "IndexInfo",
            &[("generation", 1), ("age_seconds", 2), ("incidents", 3)],
        ),
        (
            "ScreenResponse",
            &[
                ("item_id", 1),
                ("stoplight", 2),
                ("score", 3),
                ("parties", 4),
                ("reason_codes", 5),
                ("index", 6),
                ("policy_version", 7),
            ],
        ),
        ("FieldViolation", &[("field", 1), ("description", 2)]),
        ("ItemError", &[("message", 1), ("field_violations", 2)]),
        ("ScreenBatchRequest", &[("items", 1)]),
        (
            "ScreenBatchEntry",
            &[("index", 1), ("verdict", 2), ("error", 3)],
        ),
        ("ScreenBatchResponse", &[("entries", 1)]),
    ];
    FIELDS
        .iter()
        .flat_map(|(message, fields)| fields.iter().map(move |(f, n)| (*message, *f, *n)))
        .collect()
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// How many times top-level field `number` occurs in a serialized message, without decoding
/// it; None for bytes that are not a message.
pub fn count_field(bytes: &[u8], number: u32) -> Option<usize> {
    let mut at = 0;
    let mut count = 0;
    while at < bytes.len() {
        let tag = read_varint(bytes, &mut at)?;
        if tag >> 3 == u64::from(number) {
            count += 1;
        }
        match tag & 7 {
            0 => {
                read_varint(bytes, &mut at)?;
            }
            1 => at = at.checked_add(8)?,
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)?).ok()?;
                at = at.checked_add(len)?;
            }
            5 => at = at.checked_add(4)?,
            _ => return None,
        }
        if at > bytes.len() {
            return None;
        }
    }
    Some(count)
}

#[cfg(test)]
mod count_tests {
    use super::*;
    use prost::Message;

    #[test]
    fn counts_a_batchs_items_without_decoding_them() {
        let batch = ScreenBatchRequest {
            items: vec![ScreenRequest::default(); 7],
        };
        assert_eq!(count_field(&batch.encode_to_vec(), 1), Some(7));
        assert_eq!(count_field(&[0xFF], 1), None);
        assert_eq!(count_field(&[], 1), Some(0));
    }
}
