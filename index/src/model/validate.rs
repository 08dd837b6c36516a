//! Contract validation (`index/model.py`): every violation at once, each named by its path.

use super::text::{char_len, is_blank, prefix, py_repr};
use super::{FieldViolation, Incident, Location, Party, Query};

pub const MAX_NAME_CHARS: usize = 300;
pub const MAX_ADDRESS_LINES: usize = 6;
pub const MAX_ADDRESS_LINE_CHARS: usize = 200;
pub const MAX_SHORT_FIELD_CHARS: usize = 64;
pub const MAX_IDENTIFIERS_PER_KIND: usize = 8;
pub const MAX_IDENTIFIER_CHARS: usize = 254;
pub const MAX_PARTIES_PER_QUERY: usize = 8;
pub const MAX_PARTIES_PER_INCIDENT: usize = 16;
pub const MAX_CONTENT_LINES: usize = 64;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_AREA_VERTICES: usize = 256;
pub const MAX_SUBSTANCES: usize = 32;
pub const MAX_ID_CHARS: usize = 128;

pub const S10_WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
const RESERVED_S10_SERVICE_LETTERS: &[u8] = b"JKSTW";

/// ISO 3166-1 alpha-2 codes (officially assigned) plus XK, sorted (`index/countries.py`).
pub const COUNTRY_CODES: [&str; 250] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// True for an assigned ISO 3166-1 alpha-2 code in upper case (or XK).
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRY_CODES.binary_search(&code).is_ok()
}

/// The UPU S10 check digit of an 8-digit serial number; None unless `serial` is exactly 8
/// ASCII digits (where Python raises).
pub fn s10_check_digit(serial: &str) -> Option<u32> {
    let bytes = serial.as_bytes();
    if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let total: u32 = bytes
        .iter()
        .zip(S10_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(match 11 - total % 11 {
        10 => 0,
        11 => 5,
        check => check,
    })
}

fn is_s10_shape(id: &[u8]) -> bool {
    id.len() == 13
        && id[..2].iter().all(u8::is_ascii_uppercase)
        && id[2..11].iter().all(u8::is_ascii_digit)
        && id[11..].iter().all(u8::is_ascii_uppercase)
}

/// Why `item_id` is not a valid UPU S10 identifier, or None when it is.
pub fn s10_problem(item_id: &str) -> Option<String> {
    let id = item_id.as_bytes();
    if !is_s10_shape(id) {
        return Some(
            "must be a UPU S10 id: 2 letters, 8 digits, a check digit, 2-letter country".into(),
        );
    }
    if RESERVED_S10_SERVICE_LETTERS.contains(&id[0]) {
        return Some(format!(
            "service indicator {} is reserved by the UPU",
            &item_id[..2]
        ));
    }
    let check = u32::from(id[10] - b'0');
    if s10_check_digit(&item_id[2..10]) != Some(check) {
        return Some(format!(
            "check digit {} is wrong for serial {}",
            &item_id[10..11],
            &item_id[2..10]
        ));
    }
    if !is_country_code(&item_id[11..]) {
        return Some(format!(
            "{} is not an ISO 3166-1 country code",
            &item_id[11..]
        ));
    }
    None
}

fn has_control(value: &str) -> bool {
    value
        .chars()
        .any(|c| matches!(c as u32, 0x00..=0x1f | 0x7f..=0x9f))
}

/// `path` names the field; it is only spelt out for a violation.
fn check_text(
    out: &mut Vec<FieldViolation>,
    path: impl FnOnce() -> String,
    value: &str,
    limit: usize,
) {
    if char_len(value) > limit {
        out.push(FieldViolation::new(
            path(),
            format!("longer than {limit} characters"),
        ));
    } else if has_control(value) {
        out.push(FieldViolation::new(path(), "contains control characters"));
    }
}

fn check_country(
    out: &mut Vec<FieldViolation>,
    path: impl FnOnce() -> String,
    code: &str,
    required: bool,
) {
    if code.is_empty() {
        if required {
            out.push(FieldViolation::new(path(), "is required"));
        }
    } else if !is_country_code(code) {
        out.push(FieldViolation::new(
            path(),
            format!(
                "{} is not an ISO 3166-1 alpha-2 code",
                py_repr(prefix(code, 8))
            ),
        ));
    }
}

fn check_location(out: &mut Vec<FieldViolation>, path: &dyn Fn() -> String, loc: &Location) {
    if !(loc.lat.is_finite() && (-90.0..=90.0).contains(&loc.lat)) {
        out.push(FieldViolation::new(
            format!("{}.lat", path()),
            "must be a finite latitude in [-90, 90]",
        ));
    }
    if !(loc.lon.is_finite() && (-180.0..=180.0).contains(&loc.lon)) {
        out.push(FieldViolation::new(
            format!("{}.lon", path()),
            "must be a finite longitude in [-180, 180]",
        ));
    }
}

fn check_many(
    out: &mut Vec<FieldViolation>,
    path: &dyn Fn() -> String,
    values: &[String],
    limit: usize,
) {
    if values.len() > MAX_IDENTIFIERS_PER_KIND {
        out.push(FieldViolation::new(
            path(),
            format!("more than {MAX_IDENTIFIERS_PER_KIND} entries"),
        ));
        return;
    }
    for (i, value) in values.iter().enumerate() {
        check_text(out, || format!("{}[{i}]", path()), value, limit);
    }
}

/// Every contract violation of one party, each named by its full path.
pub fn party_violations(party: &Party, path: &str) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let o = &mut out;
    check_text(o, || format!("{path}.name"), &party.name, MAX_NAME_CHARS);
    check_text(
        o,
        || format!("{path}.business_name"),
        &party.business_name,
        MAX_NAME_CHARS,
    );
    if party.address_lines.len() > MAX_ADDRESS_LINES {
        o.push(FieldViolation::new(
            format!("{path}.address_lines"),
            format!("more than {MAX_ADDRESS_LINES} lines"),
        ));
    } else {
        for (i, line) in party.address_lines.iter().enumerate() {
            check_text(
                o,
                || format!("{path}.address_lines[{i}]"),
                line,
                MAX_ADDRESS_LINE_CHARS,
            );
        }
    }
    check_text(
        o,
        || format!("{path}.postcode"),
        &party.postcode,
        MAX_SHORT_FIELD_CHARS,
    );
    check_text(
        o,
        || format!("{path}.city"),
        &party.city,
        MAX_ADDRESS_LINE_CHARS,
    );
    check_text(
        o,
        || format!("{path}.country_subdivision"),
        &party.country_subdivision,
        MAX_ADDRESS_LINE_CHARS,
    );
    check_text(
        o,
        || format!("{path}.customs_reference"),
        &party.customs_reference,
        MAX_SHORT_FIELD_CHARS,
    );
    check_country(
        o,
        || format!("{path}.country_code"),
        &party.country_code,
        false,
    );
    if let Some(location) = &party.location {
        check_location(o, &|| format!("{path}.location"), location);
    }
    if let Some(vertices) = &party.area {
        if !(3..=MAX_AREA_VERTICES).contains(&vertices.len()) {
            o.push(FieldViolation::new(
                format!("{path}.area"),
                format!("needs 3 to {MAX_AREA_VERTICES} vertices"),
            ));
        } else {
            for (i, vertex) in vertices.iter().enumerate() {
                check_location(o, &|| format!("{path}.area.vertices[{i}]"), vertex);
            }
        }
    }
    check_many(
        o,
        &|| format!("{path}.phones"),
        &party.phones,
        MAX_SHORT_FIELD_CHARS,
    );
    check_many(
        o,
        &|| format!("{path}.emails"),
        &party.emails,
        MAX_IDENTIFIER_CHARS,
    );
    check_many(
        o,
        &|| format!("{path}.web_domains"),
        &party.web_domains,
        MAX_IDENTIFIER_CHARS,
    );
    let has_identity = !is_blank(&party.name)
        || !is_blank(&party.business_name)
        || !party.phones.is_empty()
        || !party.emails.is_empty()
        || !party.web_domains.is_empty();
    if !has_identity && party.location.is_none() && party.area.is_none() {
        o.push(FieldViolation::new(
            path,
            "needs a name, business name, identifier, location or area",
        ));
    }
    out
}

/// Every contract violation of a screening query.
pub fn query_violations(query: &Query) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    if query.channel.is_postal() {
        if let Some(problem) = s10_problem(&query.item_id) {
            out.push(FieldViolation::new("item.item_id", problem));
        }
    } else if query.item_id.is_empty() {
        out.push(FieldViolation::new("item.item_id", "is required"));
    } else {
        check_text(
            &mut out,
            || "item.item_id".into(),
            &query.item_id,
            MAX_SHORT_FIELD_CHARS,
        );
    }
    if query.parties.is_empty() {
        out.push(FieldViolation::new(
            "parties",
            "at least one party is required",
        ));
    } else if query.parties.len() > MAX_PARTIES_PER_QUERY {
        out.push(FieldViolation::new(
            "parties",
            format!("more than {MAX_PARTIES_PER_QUERY} parties"),
        ));
    } else {
        for (i, party) in query.parties.iter().enumerate() {
            out.extend(party_violations(party, &format!("parties[{i}]")));
        }
    }
    if query.contents.len() > MAX_CONTENT_LINES {
        out.push(FieldViolation::new(
            "item.contents",
            format!("more than {MAX_CONTENT_LINES} lines"),
        ));
    } else {
        for (i, line) in query.contents.iter().enumerate() {
            let path = format!("item.contents[{i}]");
            check_text(
                &mut out,
                || format!("{path}.description"),
                &line.description,
                MAX_DESCRIPTION_CHARS,
            );
            let hs = line.hs_code.as_bytes();
            let hs_ok = (6..=10).contains(&hs.len()) && hs.iter().all(u8::is_ascii_digit);
            if !hs.is_empty() && !hs_ok {
                out.push(FieldViolation::new(
                    format!("{path}.hs_code"),
                    "must be 6 to 10 digits",
                ));
            }
            check_country(
                &mut out,
                || format!("{path}.origin_country"),
                &line.origin_country,
                false,
            );
        }
    }
    out
}

/// Every contract violation of an incident as the store hands it to the index
/// (Python's default `path` is `"incident"`).
pub fn incident_violations(incident: &Incident, path: &str) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    if incident.incident_id.is_empty() {
        out.push(FieldViolation::new(
            format!("{path}.incident_id"),
            "is required",
        ));
    } else {
        check_text(
            &mut out,
            || format!("{path}.incident_id"),
            &incident.incident_id,
            MAX_ID_CHARS,
        );
    }
    if incident.version < 1 {
        out.push(FieldViolation::new(
            format!("{path}.version"),
            "must be 1 or more",
        ));
    }
    check_country(
        &mut out,
        || format!("{path}.reporting_country"),
        &incident.reporting_country,
        true,
    );
    check_text(
        &mut out,
        || format!("{path}.agency"),
        &incident.agency,
        MAX_ADDRESS_LINE_CHARS,
    );
    check_text(
        &mut out,
        || format!("{path}.contact_ref"),
        &incident.contact_ref,
        MAX_ADDRESS_LINE_CHARS,
    );
    if incident.substances.len() > MAX_SUBSTANCES {
        out.push(FieldViolation::new(
            format!("{path}.substances"),
            format!("more than {MAX_SUBSTANCES} entries"),
        ));
    }
    if incident.parties.is_empty() {
        out.push(FieldViolation::new(
            format!("{path}.parties"),
            "at least one party is required",
        ));
    } else if incident.parties.len() > MAX_PARTIES_PER_INCIDENT {
        // Python's message has no noun here ("more than 16"), unlike the query's.
        out.push(FieldViolation::new(
            format!("{path}.parties"),
            format!("more than {MAX_PARTIES_PER_INCIDENT}"),
        ));
    } else {
        for (i, party) in incident.parties.iter().enumerate() {
            out.extend(party_violations(party, &format!("{path}.parties[{i}]")));
        }
    }
    out
}
