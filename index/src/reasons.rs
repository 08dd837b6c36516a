//! Reason codes (the API's explanation vocabulary) and identifier kinds.

/// In the order the API lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    NameExact,
    NameStrong,
    NamePartial,
    GeoSameBuilding,
    GeoNear,
    GeoInArea,
    PhoneExact,
    EmailExact,
    DomainExact,
    PostcodeMatch,
    CityMatch,
    CountryMismatch,
    PostcodeMismatch,
    LocationFar,
    MultipleIncidents,
    AddressSame,
    AddressSameStreet,
    AddressOtherNumber,
    /// The caller's agency recorded this (party, incident) pair as a false match: the match
    /// is still shown, but no longer raises the party's stoplight.
    SuppressedByOutcome,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 19] = [
        ReasonCode::NameExact,
        ReasonCode::NameStrong,
        ReasonCode::NamePartial,
        ReasonCode::GeoSameBuilding,
        ReasonCode::GeoNear,
        ReasonCode::GeoInArea,
        ReasonCode::PhoneExact,
        ReasonCode::EmailExact,
        ReasonCode::DomainExact,
        ReasonCode::PostcodeMatch,
        ReasonCode::CityMatch,
        ReasonCode::CountryMismatch,
        ReasonCode::PostcodeMismatch,
        ReasonCode::LocationFar,
        ReasonCode::MultipleIncidents,
        ReasonCode::AddressSame,
        ReasonCode::AddressSameStreet,
        ReasonCode::AddressOtherNumber,
        ReasonCode::SuppressedByOutcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NameExact => "NAME_EXACT",
            ReasonCode::NameStrong => "NAME_STRONG",
            ReasonCode::NamePartial => "NAME_PARTIAL",
            ReasonCode::GeoSameBuilding => "GEO_SAME_BUILDING",
            ReasonCode::GeoNear => "GEO_NEAR",
            ReasonCode::GeoInArea => "GEO_IN_AREA",
            ReasonCode::PhoneExact => "PHONE_EXACT",
            ReasonCode::EmailExact => "EMAIL_EXACT",
            ReasonCode::DomainExact => "DOMAIN_EXACT",
            ReasonCode::PostcodeMatch => "POSTCODE_MATCH",
            ReasonCode::CityMatch => "CITY_MATCH",
            ReasonCode::CountryMismatch => "COUNTRY_MISMATCH",
            ReasonCode::PostcodeMismatch => "POSTCODE_MISMATCH",
            ReasonCode::LocationFar => "LOCATION_FAR",
            ReasonCode::MultipleIncidents => "MULTIPLE_INCIDENTS",
            ReasonCode::AddressSame => "ADDRESS_SAME",
            ReasonCode::AddressSameStreet => "ADDRESS_SAME_STREET",
            ReasonCode::AddressOtherNumber => "ADDRESS_OTHER_NUMBER",
            ReasonCode::SuppressedByOutcome => "SUPPRESSED_BY_OUTCOME",
        }
    }

    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A match's reasons in the order the evidence gave them (a handful at most).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons(Vec<ReasonCode>);

impl Reasons {
    pub fn push(&mut self, code: ReasonCode) {
        self.0.push(code);
    }

    pub fn as_slice(&self) -> &[ReasonCode] {
        &self.0
    }

    /// As a bit set (for an item's reasons, listed in ReasonCode order).
    pub fn bits(&self) -> u32 {
        self.0.iter().fold(0, |bits, code| bits | code.bit())
    }
}

/// The codes of a bit set, in the API's order.
pub fn codes_of(bits: u32) -> impl Iterator<Item = ReasonCode> {
    ReasonCode::ALL
        .into_iter()
        .filter(move |code| bits & code.bit() != 0)
}

/// Identifiers matched exactly; `ALL_SORTED` is their names' alphabetical order, the order
/// evidence lists them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    Phone,
    Email,
    Domain,
}

impl Identifier {
    pub const ALL_SORTED: [Identifier; 3] =
        [Identifier::Domain, Identifier::Email, Identifier::Phone];

    pub fn bit(self) -> u8 {
        match self {
            Identifier::Phone => 1,
            Identifier::Email => 2,
            Identifier::Domain => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Identifier::Phone => "phone",
            Identifier::Email => "email",
            Identifier::Domain => "domain",
        }
    }

    pub fn reason(self) -> ReasonCode {
        match self {
            Identifier::Phone => ReasonCode::PhoneExact,
            Identifier::Email => ReasonCode::EmailExact,
            Identifier::Domain => ReasonCode::DomainExact,
        }
    }

    pub fn family(self) -> u64 {
        match self {
            Identifier::Phone => crate::keys::PHONE,
            Identifier::Email => crate::keys::EMAIL,
            Identifier::Domain => crate::keys::DOMAIN,
        }
    }
}
