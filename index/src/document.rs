//! Incidents as JSON documents: a port of `service/codec.py` (`incident_from_json`,
//! `incident_from_dict`, `incident_to_json`) with the same violations in the same order.
//!
//! Documents are read with [`json::parse`], which accepts what orjson accepts; only the text
//! after "not valid JSON: " differs from orjson's error messages.

pub mod json;

use crate::model::{
    incident_violations, iso_from_ordinal, ordinal_from_iso, py_float_repr, py_repr, Channel,
    FieldViolation, Incident, IncidentKind, IncidentStatus, Location, Party, PartyRole,
    SubstanceClass,
};
use json::Json;
use std::collections::HashSet;
use std::fmt::Write;

/// `codec.incident_from_json(raw, path)`: a valid incident, or every violation (deduplicated,
/// first occurrences in order).
pub fn incident_from_json(raw: &[u8], path: &str) -> Result<Incident, Vec<FieldViolation>> {
    match json::parse(raw) {
        Ok(data) => incident_from_value(&data, path),
        Err(exc) => Err(vec![FieldViolation::new(
            path,
            format!("not valid JSON: {exc}"),
        )]),
    }
}

/// `codec.incident_from_dict(data, path)` on a decoded document.
pub fn incident_from_value(data: &Json, path: &str) -> Result<Incident, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let r = Reader::new(data, path, &mut violations);
    let v = &mut violations;
    let version = match r.get("version") {
        None => 1,
        // Python ints are unbounded; orjson's (up to u64::MAX) are saturated into i64.
        Some(Json::Int(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
        Some(_) => {
            r.problem(v, "version", "must be an integer");
            1
        }
    };
    let reported_text = r.text(v, "reported_on", true);
    let reported_text = if reported_text.is_empty() {
        "1970-01-01"
    } else {
        reported_text
    };
    let reported_on = match ordinal_from_iso(reported_text) {
        Some(ordinal) => ordinal,
        None => {
            r.problem(v, "reported_on", "must be a date as YYYY-MM-DD");
            719_163
        }
    };
    let raw_parties: &[Json] = match r.get("parties") {
        None => &[],
        Some(Json::List(items)) => items,
        Some(_) => {
            r.problem(v, "parties", "must be a list");
            &[]
        }
    };
    let incident_id = r.text(v, "incident_id", true).to_string();
    let kind = r.enumeration(v, "kind", IncidentKind::Other, IncidentKind::ALL, |e| {
        e.as_str()
    });
    let reporting_country = r.text(v, "reporting_country", true).to_string();
    let agency = r.text(v, "agency", false).to_string();
    let contact_ref = r.text(v, "contact_ref", false).to_string();
    let channel = r.enumeration(v, "channel", Channel::Unknown, Channel::ALL, |e| e.as_str());
    let status = r.enumeration(
        v,
        "status",
        IncidentStatus::Active,
        IncidentStatus::ALL,
        |e| e.as_str(),
    );
    let substance_class = r.enumeration(
        v,
        "substance_class",
        SubstanceClass::Unknown,
        SubstanceClass::ALL,
        |e| e.as_str(),
    );
    let substances = r.texts(v, "substances");
    let parties = raw_parties
        .iter()
        .enumerate()
        .map(|(i, p)| party(p, &format!("{path}.parties[{i}]"), v))
        .collect();
    let incident = Incident {
        incident_id,
        version,
        kind,
        reported_on,
        reporting_country,
        agency,
        contact_ref,
        channel,
        status,
        substance_class,
        substances,
        parties,
    };
    if violations.is_empty() {
        violations = incident_violations(&incident, path);
    }
    if violations.is_empty() {
        Ok(incident)
    } else {
        Err(dedupe(violations))
    }
}

fn dedupe(violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    let mut seen = HashSet::new();
    violations
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

fn party(data: &Json, path: &str, v: &mut Vec<FieldViolation>) -> Party {
    let r = Reader::new(data, path, v);
    let location = match r.get("location") {
        None | Some(Json::Null) => None,
        Some(value) => r.location(v, value, &format!("{path}.location")),
    };
    let area = match r.get("area") {
        None | Some(Json::Null) => None,
        Some(value) => match value.get("vertices") {
            Some(Json::List(raw)) => Some(
                raw.iter()
                    .enumerate()
                    .filter_map(|(i, p)| r.location(v, p, &format!("{path}.area.vertices[{i}]")))
                    .collect(),
            ),
            _ => {
                r.problem(v, "area", "must be an object with a list of vertices");
                None
            }
        },
    };
    Party {
        role: r.enumeration(v, "role", PartyRole::Other, PartyRole::ALL, |e| e.as_str()),
        name: r.text(v, "name", false).to_string(),
        business_name: r.text(v, "business_name", false).to_string(),
        address_lines: r.texts(v, "address_lines"),
        postcode: r.text(v, "postcode", false).to_string(),
        city: r.text(v, "city", false).to_string(),
        country_subdivision: r.text(v, "country_subdivision", false).to_string(),
        country_code: r.text(v, "country_code", false).to_string(),
        location,
        area,
        phones: r.texts(v, "phones"),
        emails: r.texts(v, "emails"),
        web_domains: r.texts(v, "web_domains"),
        customs_reference: r.text(v, "customs_reference", false).to_string(),
    }
}

/// `_Reader`: typed fields out of a JSON object, violations collected by path.
struct Reader<'a> {
    data: &'a Json,
    path: &'a str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a Json, path: &'a str, v: &mut Vec<FieldViolation>) -> Self {
        if !matches!(data, Json::Object(_)) {
            v.push(FieldViolation::new(path, "must be an object"));
        }
        Reader { data, path }
    }

    fn get(&self, key: &str) -> Option<&'a Json> {
        self.data.get(key)
    }

    fn problem(&self, v: &mut Vec<FieldViolation>, key: &str, description: &str) {
        v.push(FieldViolation::new(
            format!("{}.{key}", self.path),
            description,
        ));
    }

    fn text(&self, v: &mut Vec<FieldViolation>, key: &str, required: bool) -> &'a str {
        match self.get(key) {
            None => {
                if required {
                    self.problem(v, key, "is required");
                }
                ""
            }
            Some(Json::Str(s)) => {
                if required && s.is_empty() {
                    self.problem(v, key, "is required");
                }
                s
            }
            Some(_) => {
                self.problem(v, key, "must be a string");
                ""
            }
        }
    }

    fn texts(&self, v: &mut Vec<FieldViolation>, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Json::List(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::Str(s) => out.push(s.clone()),
                        _ => {
                            self.problem(v, key, "must be a list of strings");
                            return Vec::new();
                        }
                    }
                }
                out
            }
            Some(_) => {
                self.problem(v, key, "must be a list of strings");
                Vec::new()
            }
        }
    }

    fn enumeration<E: Copy>(
        &self,
        v: &mut Vec<FieldViolation>,
        key: &str,
        default: E,
        all: &[E],
        value_of: fn(&E) -> &'static str,
    ) -> E {
        let Some(value) = self.get(key) else {
            return default;
        };
        if let Json::Str(s) = value {
            if let Some(member) = all.iter().find(|e| value_of(e) == s.as_str()) {
                return *member;
            }
        }
        let allowed: Vec<&str> = all.iter().map(value_of).collect();
        self.problem(
            v,
            key,
            &format!(
                "{} is not one of: {}",
                py_repr(&py_str_prefix(value, 40)),
                allowed.join(", ")
            ),
        );
        default
    }

    fn location(&self, v: &mut Vec<FieldViolation>, value: &Json, path: &str) -> Option<Location> {
        if !matches!(value, Json::Object(_)) {
            v.push(FieldViolation::new(
                path,
                "must be an object with lat and lon",
            ));
            return None;
        }
        match (number(value.get("lat")), number(value.get("lon"))) {
            (Some(lat), Some(lon)) => Some(Location { lat, lon }),
            _ => {
                v.push(FieldViolation::new(path, "lat and lon must be numbers"));
                None
            }
        }
    }
}

/// `_is_number` then `float(value)`: ints and floats, never bools.
fn number(value: Option<&Json>) -> Option<f64> {
    match value {
        Some(Json::Int(n)) => Some(*n as f64),
        Some(Json::Float(f)) => Some(*f),
        _ => None,
    }
}

/// `str(value)[:limit]` for a decoded JSON value, built only as far as needed.
pub fn py_str_prefix(value: &Json, limit: usize) -> String {
    let mut out = String::new();
    match value {
        Json::Str(s) => out.push_str(s),
        other => write_py_repr(&mut out, other, limit),
    }
    crate::model::text_prefix(&out, limit).to_string()
}

/// `repr(value)` of the Python object orjson makes, stopping once past `limit` characters.
fn write_py_repr(out: &mut String, value: &Json, limit: usize) {
    if out.chars().count() > limit {
        return;
    }
    match value {
        Json::Null => out.push_str("None"),
        Json::Bool(true) => out.push_str("True"),
        Json::Bool(false) => out.push_str("False"),
        Json::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Json::Float(f) => out.push_str(&py_float_repr(*f)),
        Json::Str(s) => out.push_str(&py_repr(s)),
        Json::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_repr(out, item, limit);
                if out.len() > limit * 4 + 8 && out.chars().count() > limit {
                    return;
                }
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&py_repr(key));
                out.push_str(": ");
                write_py_repr(out, item, limit);
                if out.len() > limit * 4 + 8 && out.chars().count() > limit {
                    return;
                }
            }
            out.push('}');
        }
    }
}

// --- encoding -----------------------------------------------------------------------------

/// orjson's float text: shortest digits, fixed notation for exponents -5..16, otherwise
/// `1e+16` / `1e-7`; NaN and infinities are written as null.
fn write_float(out: &mut String, value: f64) {
    if value.is_finite() {
        out.push_str(&crate::model::format_float_orjson(value));
    } else {
        out.push_str("null");
    }
}

/// orjson's string escaping: `"` `\` and the C0 controls only (short forms for \b \t \n \f
/// \r); everything else, U+007F and non-ASCII included, as is.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_strs(out: &mut String, values: &[String]) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, value);
    }
    out.push(']');
}

fn write_location(out: &mut String, loc: &Location) {
    out.push_str("{\"lat\":");
    write_float(out, loc.lat);
    out.push_str(",\"lon\":");
    write_float(out, loc.lon);
    out.push('}');
}

fn write_party(out: &mut String, party: &Party) {
    out.push_str("{\"role\":");
    write_str(out, party.role.as_str());
    for (key, value) in [
        ("name", &party.name),
        ("business_name", &party.business_name),
        ("postcode", &party.postcode),
        ("city", &party.city),
        ("country_subdivision", &party.country_subdivision),
        ("country_code", &party.country_code),
        ("customs_reference", &party.customs_reference),
    ] {
        if !value.is_empty() {
            let _ = write!(out, ",\"{key}\":");
            write_str(out, value);
        }
    }
    for (key, values) in [
        ("address_lines", &party.address_lines),
        ("phones", &party.phones),
        ("emails", &party.emails),
        ("web_domains", &party.web_domains),
    ] {
        if !values.is_empty() {
            let _ = write!(out, ",\"{key}\":");
            write_strs(out, values);
        }
    }
    if let Some(location) = &party.location {
        out.push_str(",\"location\":");
        write_location(out, location);
    }
    if let Some(vertices) = &party.area {
        out.push_str(",\"area\":{\"vertices\":[");
        for (i, vertex) in vertices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_location(out, vertex);
        }
        out.push_str("]}");
    }
    out.push('}');
}

/// `codec.incident_to_json`: the same bytes orjson writes (key order, omitted empty party
/// fields, compact separators, float and string formatting).
pub fn incident_to_json(incident: &Incident) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    out.push_str("{\"incident_id\":");
    write_str(&mut out, &incident.incident_id);
    let _ = write!(out, ",\"version\":{}", incident.version);
    out.push_str(",\"kind\":");
    write_str(&mut out, incident.kind.as_str());
    out.push_str(",\"reported_on\":");
    write_str(&mut out, &iso_from_ordinal(incident.reported_on));
    out.push_str(",\"reporting_country\":");
    write_str(&mut out, &incident.reporting_country);
    out.push_str(",\"agency\":");
    write_str(&mut out, &incident.agency);
    out.push_str(",\"contact_ref\":");
    write_str(&mut out, &incident.contact_ref);
    out.push_str(",\"channel\":");
    write_str(&mut out, incident.channel.as_str());
    out.push_str(",\"status\":");
    write_str(&mut out, incident.status.as_str());
    out.push_str(",\"substance_class\":");
    write_str(&mut out, incident.substance_class.as_str());
    out.push_str(",\"substances\":");
    write_strs(&mut out, &incident.substances);
    out.push_str(",\"parties\":[");
    for (i, party) in incident.parties.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_party(&mut out, party);
    }
    out.push_str("]}");
    out.into_bytes()
}

#[cfg(test)]
mod tests;
