//! What the service records of each verdict besides answering it: counts for the metrics, and
//! audit records (party digests, never names). Kept per call, turned into audit records off
//! the request path.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::{format_float_orjson, Query};
use crate::reasons::{codes_of, ReasonCode, Reasons};
use crate::scoring::Stoplight;
use crate::verdict::Verdict;

/// A match in an item's answer, as the audit records it: what an outcome recorded later
/// refers to (which party matched which version of an incident, and why).
pub struct MatchSummary {
    pub party: usize,
    pub incident_id: String,
    pub version: i64,
    pub stoplight: Stoplight,
    pub reasons: Reasons,
}

/// One screened item, as the audit needs it.
pub struct ItemSummary {
    pub item_id: String,
    pub stoplight: Stoplight,
    pub score: f64,
    pub reasons: u32,
    pub incident_ids: Vec<String>,
    /// (name, business name, country code) of each party, digested only when audited.
    pub parties: Vec<[String; 3]>,
    pub matches: Vec<MatchSummary>,
}

impl ItemSummary {
    pub fn of(query: &Query, verdict: &Verdict<'_>) -> ItemSummary {
        let mut incident_ids: Vec<String> = Vec::new();
        let mut matches = Vec::new();
        for party in &verdict.parties {
            for m in &party.matches {
                let row = m.found.row as usize;
                let id = m.snapshot.incident_ids.get(row);
                if !incident_ids.iter().any(|known| known == id) {
                    incident_ids.push(id.to_owned());
                }
                matches.push(MatchSummary {
                    party: party.index,
                    incident_id: id.to_owned(),
                    version: m.snapshot.versions[row],
                    stoplight: m.found.stoplight,
                    reasons: m.found.reasons.clone(),
                });
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
            matches,
        }
    }
}

/// A match's audit JSON (the field order of the service's AuditMatch).
fn match_json(m: &MatchSummary) -> String {
    let codes: Vec<String> = m
        .reasons
        .as_slice()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    format!(
        "{{\"party\":{},\"incident_id\":{},\"version\":{},\"stoplight\":\"{}\",\
         \"reason_codes\":{}}}",
        m.party,
        json_string(&m.incident_id),
        m.version,
        stoplight_name(m.stoplight),
        json_strings(&codes),
    )
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
    /// AuditRecord), with its item id and whether it holds matches.
    pub fn audit_records(
        &self,
        key: &[u8],
        at: f64,
        caller: &str,
        request_id: &str,
        rpc: &str,
    ) -> Vec<(String, Vec<u8>, bool)> {
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
                     \"generation\":{},\"policy_version\":{},\"matches\":[{}]}}",
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
                    item.matches
                        .iter()
                        .map(match_json)
                        .collect::<Vec<_>>()
                        .join(","),
                );
                (
                    item.item_id.clone(),
                    body.into_bytes(),
                    !item.matches.is_empty(),
                )
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

/// A party field as the digest reads it: casefolded, runs of spaces as one, trimmed.
fn folded(part: &str) -> String {
    caseless::default_case_fold_str(part)
        .split(is_python_space)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a party names anyone: a name or a business name with a letter or digit in it.
/// Digests of nameless parties would all be one, so nothing is keyed on them.
pub fn names_someone(name: &str, business_name: &str) -> bool {
    [name, business_name]
        .iter()
        .any(|part| part.chars().any(char::is_alphanumeric))
}

/// HMAC-SHA256 of the party's casefolded, space-collapsed name, business name and country:
/// the same digest as the service's `audit.party_digest`, so an auditor can find a party's
/// verdicts without the log holding its name, and an outcome recorded against an audited
/// screen names the same party in later ones.
pub fn party_digest_bytes(
    key: &[u8],
    name: &str,
    business_name: &str,
    country_code: &str,
) -> [u8; 32] {
    let text = [name, business_name, country_code]
        .iter()
        .map(|part| folded(part))
        .collect::<Vec<_>>()
        .join("\x1f");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `party_digest_bytes` in lower-case hex, as the audit trail writes it.
pub fn party_digest(key: &[u8], name: &str, business_name: &str, country_code: &str) -> String {
    party_digest_bytes(key, name, business_name, country_code)
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
