//! The core's plain data, its contract validation and the conversion from preflight.v1
//! messages: a port of `index/model.py`, `index/countries.py`, `index/errors.py` and the
//! request half of `service/rpc/convert.py` with the same field paths and messages.
//!
//! Python measures text in code points (`len`, slicing); so does everything here.

mod convert;
mod dates;
mod printable;
mod text;
mod validate;

pub use convert::{error_message, item_error, party_from_pb, query_from_pb, validate_request};
pub use dates::{iso_from_ordinal, ordinal_from_iso};
pub use text::{py_float_repr, py_repr};

/// `s[:n]` in code points.
pub fn text_prefix(s: &str, n: usize) -> &str {
    text::prefix(s, n)
}

/// orjson's float text (`1.0`, `0.00001`, `1e-6`, `1e+16`) for a finite value.
pub fn format_float_orjson(value: f64) -> String {
    text::format_float(value, -5, 1)
}
pub use validate::{
    incident_violations, is_country_code, party_violations, query_violations, s10_check_digit,
    s10_problem, COUNTRY_CODES, MAX_ADDRESS_LINES, MAX_ADDRESS_LINE_CHARS, MAX_AREA_VERTICES,
    MAX_CONTENT_LINES, MAX_DESCRIPTION_CHARS, MAX_IDENTIFIERS_PER_KIND, MAX_IDENTIFIER_CHARS,
    MAX_ID_CHARS, MAX_NAME_CHARS, MAX_PARTIES_PER_INCIDENT, MAX_PARTIES_PER_QUERY,
    MAX_SHORT_FIELD_CHARS, MAX_SUBSTANCES, S10_WEIGHTS,
};

macro_rules! core_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($variant:ident = $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every member in the Python declaration order (the order of `code`).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Python value (`StrEnum` value).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }

            /// The member whose Python value is `value`.
            #[allow(clippy::should_implement_trait)]
            pub fn from_str(value: &str) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Position in the Python declaration order.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The member at position `code` (the inverse of `code`), None when out of range.
            pub fn try_from_code(code: u8) -> Option<Self> {
                Self::ALL.get(usize::from(code)).copied()
            }

            /// The member at position `code`. Codes come from `code()` only (snapshots);
            /// an out-of-range code is a bug and panics.
            pub fn from_code(code: u8) -> Self {
                match Self::try_from_code(code) {
                    Some(member) => member,
                    None => panic!(concat!("no ", stringify!($name), " with code {}"), code),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();

            fn from_str(value: &str) -> Result<Self, ()> {
                $name::from_str(value).ok_or(())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

core_enum!(
    /// Exporter: sender / consignor; importer: addressee / consignee.
    PartyRole {
        Exporter = "exporter",
        Importer = "importer",
        Other = "other",
    }
);

core_enum!(IncidentKind {
    Seizure = "seizure",
    SuspiciousShipment = "suspicious_shipment",
    IllicitManufacture = "illicit_manufacture",
    PrecursorDiversion = "precursor_diversion",
    Other = "other",
});

core_enum!(IncidentStatus {
    Active = "active",
    Retracted = "retracted",
});

core_enum!(Channel {
    LetterPost = "letter_post",
    ParcelPost = "parcel_post",
    Express = "express",
    AirCargo = "air_cargo",
    SeaFreight = "sea_freight",
    Road = "road",
    Unknown = "unknown",
});

core_enum!(SubstanceClass {
    Fentanyl = "fentanyl",
    OtherSyntheticOpioid = "other_synthetic_opioid",
    SyntheticCathinone = "synthetic_cathinone",
    SyntheticCannabinoid = "synthetic_cannabinoid",
    Phenethylamine = "phenethylamine",
    Tryptamine = "tryptamine",
    DesignerBenzodiazepine = "designer_benzodiazepine",
    Adulterant = "adulterant",
    Ats = "ats",
    Cocaine = "cocaine",
    Precursor = "precursor",
    Equipment = "equipment",
    Other = "other",
    Unknown = "unknown",
});

// --- proto numbers, exactly as convert.py maps them ---------------------------------------

impl PartyRole {
    /// `_ROLES`: UNSPECIFIED (0) is `Other`; an unknown number is None (a violation).
    pub fn from_pb(number: i32) -> Option<Self> {
        match number {
            0 | 3 => Some(PartyRole::Other),
            1 => Some(PartyRole::Exporter),
            2 => Some(PartyRole::Importer),
            _ => None,
        }
    }

    /// `_ROLE_NUMBERS`.
    pub fn to_pb(self) -> i32 {
        match self {
            PartyRole::Exporter => 1,
            PartyRole::Importer => 2,
            PartyRole::Other => 3,
        }
    }
}

impl Channel {
    /// `_CHANNELS`: UNSPECIFIED (0) is `Unknown`.
    pub fn from_pb(number: i32) -> Option<Self> {
        match number {
            0 => Some(Channel::Unknown),
            1..=6 => Some(Self::ALL[(number - 1) as usize]),
            _ => None,
        }
    }

    /// `_CHANNEL_NUMBERS`: `Unknown` is 0.
    pub fn to_pb(self) -> i32 {
        match self {
            Channel::Unknown => 0,
            other => i32::from(other.code()) + 1,
        }
    }

    /// `POSTAL_CHANNELS`: items that carry a UPU S10 id.
    pub fn is_postal(self) -> bool {
        matches!(self, Channel::LetterPost | Channel::ParcelPost)
    }
}

impl IncidentKind {
    /// `_KINDS`: no mapping for UNSPECIFIED (0), which is a violation.
    pub fn from_pb(number: i32) -> Option<Self> {
        match number {
            1..=5 => Some(Self::ALL[(number - 1) as usize]),
            _ => None,
        }
    }

    pub fn to_pb(self) -> i32 {
        i32::from(self.code()) + 1
    }
}

impl IncidentStatus {
    /// `_STATUSES`: UNSPECIFIED (0) is `Active`.
    pub fn from_pb(number: i32) -> Option<Self> {
        match number {
            0 | 1 => Some(IncidentStatus::Active),
            2 => Some(IncidentStatus::Retracted),
            _ => None,
        }
    }

    pub fn to_pb(self) -> i32 {
        i32::from(self.code()) + 1
    }
}

impl SubstanceClass {
    /// `_SUBSTANCES`: UNSPECIFIED (0) is `Unknown`; the proto has no UNKNOWN member.
    pub fn from_pb(number: i32) -> Option<Self> {
        match number {
            0 => Some(SubstanceClass::Unknown),
            1..=13 => Some(Self::ALL[(number - 1) as usize]),
            _ => None,
        }
    }

    /// `_SUBSTANCE_NUMBERS`: `Unknown` is 0.
    pub fn to_pb(self) -> i32 {
        match self {
            SubstanceClass::Unknown => 0,
            other => i32::from(other.code()) + 1,
        }
    }
}

// --- plain data ---------------------------------------------------------------------------

/// WGS 84 degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// A shipment party (sender/exporter, addressee/importer) as declared or as recorded.
/// `area` is the polygon's vertices (Python's `Area.vertices`).
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    pub role: PartyRole,
    pub name: String,
    pub business_name: String,
    pub address_lines: Vec<String>,
    pub postcode: String,
    pub city: String,
    pub country_subdivision: String,
    pub country_code: String,
    pub location: Option<Location>,
    pub area: Option<Vec<Location>>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub web_domains: Vec<String>,
    pub customs_reference: String,
}

impl Default for Party {
    fn default() -> Self {
        Party {
            role: PartyRole::Other,
            name: String::new(),
            business_name: String::new(),
            address_lines: Vec::new(),
            postcode: String::new(),
            city: String::new(),
            country_subdivision: String::new(),
            country_code: String::new(),
            location: None,
            area: None,
            phones: Vec::new(),
            emails: Vec::new(),
            web_domains: Vec::new(),
            customs_reference: String::new(),
        }
    }
}

impl Party {
    /// The non-blank of `name` and `business_name`, in that order (Python `str.strip`).
    pub fn names(&self) -> Vec<&str> {
        [self.name.as_str(), self.business_name.as_str()]
            .into_iter()
            .filter(|n| !text::is_blank(n))
            .collect()
    }
}

/// One line of the CN 23 declaration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContentLine {
    pub description: String,
    pub hs_code: String,
    pub origin_country: String,
}

/// One postal item or shipment to screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub item_id: String,
    pub parties: Vec<Party>,
    pub channel: Channel,
    pub contents: Vec<ContentLine>,
}

/// One IONICS incident. `reported_on` is Python's `date.toordinal()` (0001-01-01 is 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub incident_id: String,
    pub version: i64,
    pub kind: IncidentKind,
    pub reported_on: i32,
    pub reporting_country: String,
    pub agency: String,
    pub contact_ref: String,
    pub channel: Channel,
    pub status: IncidentStatus,
    pub substance_class: SubstanceClass,
    pub substances: Vec<String>,
    pub parties: Vec<Party>,
}

/// One offending field, named by its path in the request (`parties[1].country_code`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

#[cfg(test)]
mod tests;
