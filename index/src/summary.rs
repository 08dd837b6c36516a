//! What the service records of each verdict besides answering it: counts for the metrics, and
//! audit records (party digests, never names). Kept per call, turned into audit records off
//! the request path.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::{format_float_orjson, Query};
use crate::reasons::{codes_of, ReasonCode};
use crate::scoring::Stoplight;
use crate::verdict::Verdict;

/// One screened item, as the audit needs it.
pub struct ItemSummary {
    pub item_id: String,
    pub stoplight: Stoplight,
    pub score: f64,
    pub reasons: u32,
    pub incident_ids: Vec<String>,
    /// (name, business name, country code) of each party, digested only when audited.
    pub parties: Vec<[String; 3]>,
}

impl ItemSummary {
    pub fn of(query: &Query, verdict: &Verdict<'_>) -> ItemSummary {
        let mut incident_ids: Vec<String> = Vec::new();
        for party in &verdict.parties {
            for m in &party.matches {
                let id = m.snapshot.incident_ids.get(m.found.row as usize);
                if !incident_ids.iter().any(|known| known == id) {
                    incident_ids.push(id.to_owned());
                }
            }
        }
        ItemSummary {
            item_id: verdict.item_id.clone(),
            stoplight: verdict.stoplight,
            score: verdict.score,
            reasons: verdict.reasons,
            incident_ids,
            parties: query
                .parties
                .iter()
                .map(|p| {
                    [
                        p.name.clone(),
                        p.business_name.clone(),
                        p.country_code.clone(),
                    ]
                })
                .collect(),
        }
    }
}

/// The verdicts of one call.
pub struct CallSummary {
    pub items: Vec<ItemSummary>,
    pub invalid_items: usize,
    pub generation: u64,
    pub policy_version: String,
}

impl CallSummary {
    /// Verdicts by stoplight: green, amber, red.
    pub fn stoplight_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for item in &self.items {
            counts[item.stoplight as usize] += 1;
        }
        counts
    }

    /// How many verdicts carry each reason code, for the codes that occur.
    pub fn reason_counts(&self) -> Vec<(&'static str, usize)> {
        let mut counts = [0usize; ReasonCode::ALL.len()];
        for item in &self.items {
            for code in codes_of(item.reasons) {
                counts[code as usize] += 1;
            }
        }
        ReasonCode::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(code, n)| (code.as_str(), n))
            .collect()
    }

    /// Each item's audit record as JSON (the field order and number formats of the service's
    /// AuditRecord), with its item id.
    pub fn audit_records(
        &self,
        key: &[u8],
        at: f64,
        caller: &str,
        request_id: &str,
        rpc: &str,
    ) -> Vec<(String, Vec<u8>)> {
        self.items
            .iter()
            .map(|item| {
                let digests: Vec<String> = item
                    .parties
                    .iter()
                    .map(|[name, business, country]| party_digest(key, name, business, country))
                    .collect();
                let body = format!(
                    "{{\"at\":{},\"caller\":{},\"request_id\":{},\"rpc\":{},\"item_id\":{},\
                     \"party_digests\":{},\"stoplight\":\"{}\",\"score\":{},\"incident_ids\":{},\
                     \"generation\":{},\"policy_version\":{}}}",
                    format_float_orjson(at),
                    json_string(caller),
                    json_string(request_id),
                    json_string(rpc),
                    json_string(&item.item_id),
                    json_strings(&digests),
                    stoplight_name(item.stoplight),
                    format_float_orjson(item.score),
                    json_strings(&item.incident_ids),
                    self.generation,
                    json_string(&self.policy_version),
                );
                (item.item_id.clone(), body.into_bytes())
            })
            .collect()
    }
}

fn stoplight_name(stoplight: Stoplight) -> &'static str {
    match stoplight {
        Stoplight::Green => "GREEN",
        Stoplight::Amber => "AMBER",
        Stoplight::Red => "RED",
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

fn json_strings(texts: &[String]) -> String {
    serde_json::to_string(texts).expect("strings always serialise")
}

/// Python's `str.split()` separators: Unicode White_Space and the four information separators.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// HMAC-SHA256 (hex) of the party's casefolded, space-collapsed name, business name and
/// country: the same digest as the service's `audit.party_digest`, so an auditor can find a
/// party's verdicts without the log holding its name.
pub fn party_digest(key: &[u8], name: &str, business_name: &str, country_code: &str) -> String {
    let text = [name, business_name, country_code]
        .iter()
        .map(|part| {
            caseless::default_case_fold_str(part)
                .split(is_python_space)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\x1f");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(text.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_folds_case_and_spaces() {
        let key = b"k";
        assert_eq!(
            party_digest(key, "  Hongda   CHEMICAL ", "", "CN"),
            party_digest(key, "hongda chemical", "", "cn")
        );
        assert_ne!(
            party_digest(key, "Hongda", "", "CN"),
            party_digest(key, "Hongda", "", "DE")
        );
        assert_eq!(
            party_digest(key, "STRASSE", "", ""),
            party_digest(key, "straße", "", "")
        );
    }
}
