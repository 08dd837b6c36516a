//! An item's verdict from its parties' results, and its encoding as the API's response.

use crate::model::Query;
use crate::policy::Policy;
use crate::proto;
use crate::reasons::{codes_of, Identifier, ReasonCode};
use crate::scoring::Stoplight;
use crate::snapshot::country_text;
use crate::view::Located;

pub struct PartyResult<'a> {
    pub index: usize,
    pub role: u8,
    pub stoplight: Stoplight,
    pub score: f64,
    pub matches: Vec<Located<'a>>,
}

pub struct Verdict<'a> {
    pub item_id: String,
    pub stoplight: Stoplight,
    pub score: f64,
    pub parties: Vec<PartyResult<'a>>,
    pub reasons: u32, // bit set of ReasonCode
    pub generation: u64,
    pub policy_version: String,
    pub incident_count: usize,
}

/// The item's verdict: its most alarming party's, with every reason that explains it.
pub fn result_of<'a>(
    query: &Query,
    parties: Vec<PartyResult<'a>>,
    policy: &Policy,
    generation: u64,
    incident_count: usize,
) -> Verdict<'a> {
    let mut top: Option<&PartyResult<'a>> = None;
    for party in &parties {
        let better = match top {
            None => true,
            Some(t) => (party.score, party.stoplight.rank()) > (t.score, t.stoplight.rank()),
        };
        if better {
            top = Some(party);
        }
    }
    let mut reasons = 0u32;
    for party in &parties {
        for m in &party.matches {
            reasons |= m.found.reasons.bits();
        }
        if party.matches.len() > 1 {
            reasons |= ReasonCode::MultipleIncidents.bit();
        }
    }
    let (stoplight, score) = match top {
        Some(t) if !t.matches.is_empty() => (t.stoplight, t.score),
        Some(t) => (Stoplight::Green, t.score),
        None => (Stoplight::Green, 0.0),
    };
    Verdict {
        item_id: query.item_id.clone(),
        stoplight,
        score,
        parties,
        reasons,
        generation,
        policy_version: policy.version.clone(),
        incident_count,
    }
}

fn match_to_pb(located: &Located<'_>) -> proto::Match {
    let s = located.snapshot;
    let f = &located.found;
    let row = f.row as usize;
    let incident = proto::IncidentSummary {
        incident_id: s.incident_ids.get(row).to_owned(),
        version: s.versions[row],
        kind: crate::model::IncidentKind::from_code(s.kinds[row]).to_pb(),
        reported_on: crate::model::iso_from_ordinal(s.reported_on[row]),
        substance_class: crate::model::SubstanceClass::from_code(s.substances[row]).to_pb(),
        reporting_country: country_text(s.reporting_countries[row]),
        agency: s.agencies.get(s.agency_ids[row] as usize).to_owned(),
        contact_ref: s.contact_refs.get(row).to_owned(),
        channel: crate::model::Channel::from_code(s.channels[row]).to_pb(),
    };
    let identifiers = Identifier::ALL_SORTED
        .iter()
        .filter(|kind| f.identifiers & kind.bit() != 0)
        .map(|kind| kind.as_str().to_owned())
        .collect();
    proto::Match {
        incident: Some(incident),
        incident_party_role: crate::model::PartyRole::from_code(s.party_role[f.party as usize])
            .to_pb(),
        score: f.score,
        stoplight: f.stoplight.to_pb(),
        reason_codes: f
            .reasons
            .as_slice()
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        evidence: Some(proto::Evidence {
            name_similarity: f.name_similarity,
            query_name: f.query_name.clone(),
            incident_name: f.incident_name.clone(),
            distance_m: f.distance_m,
            in_area: f.in_area,
            identifiers,
            postcode_match: f.postcode_match,
            city_match: f.city_match,
            country_match: f.country_match,
        }),
        incident_weight: f.weight,
    }
}

pub fn stoplight_pb(stoplight: Stoplight) -> i32 {
    stoplight.to_pb()
}

/// The API's response for a verdict.
pub fn response_of(verdict: &Verdict<'_>, age_seconds: f64) -> proto::ScreenResponse {
    proto::ScreenResponse {
        item_id: verdict.item_id.clone(),
        stoplight: stoplight_pb(verdict.stoplight),
        score: verdict.score,
        parties: verdict
            .parties
            .iter()
            .map(|p| proto::PartyVerdict {
                party_index: p.index as i32,
                role: crate::model::PartyRole::from_code(p.role).to_pb(),
                stoplight: stoplight_pb(p.stoplight),
                score: p.score,
                matches: p.matches.iter().map(match_to_pb).collect(),
            })
            .collect(),
        reason_codes: codes_of(verdict.reasons)
            .map(|r| r.as_str().to_owned())
            .collect(),
        index: Some(proto::IndexInfo {
            generation: verdict.generation as i64,
            age_seconds,
            incidents: verdict.incident_count as i64,
        }),
        policy_version: verdict.policy_version.clone(),
    }
}
