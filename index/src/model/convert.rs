//! preflight.v1 requests to the core's data (`service/rpc/convert.py`) and the servicer's
//! validation of one screening item (`ScreenBatch` reports each failure as an `ItemError`).

use super::validate::query_violations;
use super::{Channel, ContentLine, FieldViolation, Location, Party, PartyRole, Query};
use crate::proto;

/// `_enum`: the mapped value, or a violation "unknown value N" named by `path`.
fn known<T>(
    value: Option<T>,
    number: i32,
    path: impl FnOnce() -> String,
    violations: &mut Vec<FieldViolation>,
) -> Option<T> {
    if value.is_none() {
        violations.push(FieldViolation::new(
            path(),
            format!("unknown value {number}"),
        ));
    }
    value
}

fn location(message: &proto::Location) -> Location {
    Location {
        lat: message.lat,
        lon: message.lon,
    }
}

/// `party_from_pb`: enum-number violations go to `violations`; an unknown role becomes
/// `Other`; `location` is kept when the message has one (`HasField`); an empty `area` is None.
pub fn party_from_pb(
    message: &proto::Party,
    path: &str,
    violations: &mut Vec<FieldViolation>,
) -> Party {
    let role = known(
        PartyRole::from_pb(message.role),
        message.role,
        || format!("{path}.role"),
        violations,
    );
    Party {
        role: role.unwrap_or(PartyRole::Other),
        name: message.name.clone(),
        business_name: message.business_name.clone(),
        address_lines: message.address_lines.clone(),
        postcode: message.postcode.clone(),
        city: message.city.clone(),
        country_subdivision: message.country_subdivision.clone(),
        country_code: message.country_code.clone(),
        location: message.location.as_ref().map(location),
        area: if message.area.is_empty() {
            None
        } else {
            Some(message.area.iter().map(location).collect())
        },
        phones: message.phones.clone(),
        emails: message.emails.clone(),
        web_domains: message.web_domains.clone(),
        customs_reference: message.customs_reference.clone(),
    }
}

/// `query_from_pb`: the core's query, or every enum-number violation (the item's channel
/// first, then each party's role). A missing `item` reads as an empty one, as in Python.
pub fn query_from_pb(message: &proto::ScreenRequest) -> Result<Query, Vec<FieldViolation>> {
    let empty = proto::Item::default();
    let item = message.item.as_ref().unwrap_or(&empty);
    let mut violations = Vec::new();
    let channel = known(
        Channel::from_pb(item.channel),
        item.channel,
        || "item.channel".to_string(),
        &mut violations,
    );
    let parties = message
        .parties
        .iter()
        .enumerate()
        .map(|(i, p)| party_from_pb(p, &format!("parties[{i}]"), &mut violations))
        .collect();
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(Query {
        item_id: item.item_id.clone(),
        parties,
        channel: channel.unwrap_or(Channel::Unknown),
        contents: item
            .contents
            .iter()
            .map(|c| ContentLine {
                description: c.description.clone(),
                hs_code: c.hs_code.clone(),
                origin_country: c.origin_country.clone(),
            })
            .collect(),
    })
}

/// What the servicer does with one request: `validate_query(convert.query_from_pb(request))`.
/// Either step fails with its whole list; the contract rules run only after the enums decode.
pub fn validate_request(message: &proto::ScreenRequest) -> Result<Query, Vec<FieldViolation>> {
    let query = query_from_pb(message)?;
    let violations = query_violations(&query);
    if violations.is_empty() {
        Ok(query)
    } else {
        Err(violations)
    }
}

/// `str(ValidationError(violations))`: `"; ".join(f"{v.field}: {v.description}")`.
pub fn error_message(violations: &[FieldViolation]) -> String {
    let mut out = String::new();
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&v.field);
        out.push_str(": ");
        out.push_str(&v.description);
    }
    out
}

/// `item_error_to_pb`: the message cut to 1,000 code points, and every violation.
pub fn item_error(violations: &[FieldViolation]) -> proto::ItemError {
    let message = error_message(violations);
    proto::ItemError {
        message: super::text::prefix(&message, 1000).to_string(),
        field_violations: violations
            .iter()
            .map(|v| proto::FieldViolation {
                field: v.field.clone(),
                description: v.description.clone(),
            })
            .collect(),
    }
}
