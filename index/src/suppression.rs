//! False matches an agency recorded: (party, incident version) pairs that no longer raise its
//! stoplights. The service hands a screen the set of the calling agency; a match of a pair in
//! it stays in the answer, marked SUPPRESSED_BY_OUTCOME, and its score no longer counts toward
//! the party's. Parties are named by the audit trail's keyed digest, so the set holds no
//! names; a pair names the incident version it was cleared against, so a new version of the
//! incident lifts it without the service having to know.

use std::cell::OnceCell;
use std::collections::HashMap;

use crate::model::Party;
use crate::summary::{names_someone, party_digest_bytes};

pub type Digest = [u8; 32];

/// One agency's suppressed pairs, keyed by incident id (most incidents have none, so a match
/// costs one lookup and a party is digested only when one of its incidents is in the set).
pub struct Suppressions {
    key: Vec<u8>,
    by_incident: HashMap<String, Vec<(Digest, i64)>>,
}

impl Suppressions {
    /// `pairs`: (party digest, incident id, incident version), the digest keyed with `key`
    /// (the audit key).
    pub fn new(key: &[u8], pairs: impl IntoIterator<Item = (Digest, String, i64)>) -> Self {
        let mut by_incident: HashMap<String, Vec<(Digest, i64)>> = HashMap::new();
        for (digest, incident_id, version) in pairs {
            let entries = by_incident.entry(incident_id).or_default();
            if !entries.contains(&(digest, version)) {
                entries.push((digest, version));
            }
        }
        Suppressions {
            key: key.to_vec(),
            by_incident,
        }
    }

    pub fn len(&self) -> usize {
        self.by_incident.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_incident.is_empty()
    }

    /// What this set says about one query party's matches.
    pub fn of_party<'a>(&'a self, party: &'a Party) -> PartySuppressions<'a> {
        PartySuppressions {
            suppressions: self,
            party,
            digest: OnceCell::new(),
        }
    }
}

/// A query party seen through an agency's suppressions; digested on first need.
pub struct PartySuppressions<'a> {
    suppressions: &'a Suppressions,
    party: &'a Party,
    digest: OnceCell<Option<Digest>>,
}

impl PartySuppressions<'_> {
    /// Whether this party's match with `version` of `incident_id` is a recorded false match.
    /// A party without a name is never covered: every nameless party has one digest.
    pub fn covers(&self, incident_id: &str, version: i64) -> bool {
        let Some(entries) = self.suppressions.by_incident.get(incident_id) else {
            return false;
        };
        let digest = self.digest.get_or_init(|| {
            let p = self.party;
            names_someone(&p.name, &p.business_name).then(|| {
                party_digest_bytes(
                    &self.suppressions.key,
                    &p.name,
                    &p.business_name,
                    &p.country_code,
                )
            })
        });
        digest.is_some_and(|d| entries.contains(&(d, version)))
    }
}

/// A digest from the audit trail's hex form; None when it is not 64 hex digits.
pub fn digest_from_hex(text: &str) -> Option<Digest> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::party_digest;

    fn party(name: &str, country: &str) -> Party {
        Party {
            name: name.into(),
            country_code: country.into(),
            ..Party::default()
        }
    }

    fn pair(
        key: &[u8],
        name: &str,
        country: &str,
        id: &str,
        version: i64,
    ) -> (Digest, String, i64) {
        let hex = party_digest(key, name, "", country);
        (digest_from_hex(&hex).unwrap(), id.into(), version)
    }

    #[test]
    fn a_pair_covers_its_party_and_incident_version_only() {
        let key = b"audit key";
        let set = Suppressions::new(key, [pair(key, "Hongda Chemical", "CN", "ION-1", 3)]);
        let same = party("  HONGDA   chemical", "cn");
        assert!(set.of_party(&same).covers("ION-1", 3));
        assert!(
            !set.of_party(&same).covers("ION-1", 4),
            "a new version lifts it"
        );
        assert!(!set.of_party(&same).covers("ION-2", 3));
        assert!(!set
            .of_party(&party("Hongda Chemical", "DE"))
            .covers("ION-1", 3));
        let other_key = Suppressions::new(
            b"another key",
            [pair(key, "Hongda Chemical", "CN", "ION-1", 3)],
        );
        assert!(!other_key.of_party(&same).covers("ION-1", 3));
    }

    #[test]
    fn a_nameless_party_is_never_covered() {
        let key = b"k";
        let set = Suppressions::new(key, [pair(key, "", "CN", "ION-1", 1)]);
        assert!(!set.of_party(&party(" ", "CN")).covers("ION-1", 1));
    }

    #[test]
    fn repeated_pairs_count_once_and_bad_hex_is_refused() {
        let key = b"k";
        let set = Suppressions::new(
            key,
            [pair(key, "A B", "", "X", 1), pair(key, "a  b", "", "X", 1)],
        );
        assert_eq!(set.len(), 1);
        assert!(Suppressions::new(key, []).is_empty());
        assert!(digest_from_hex("zz").is_none());
        assert!(digest_from_hex(&"g".repeat(64)).is_none());
        assert!(digest_from_hex(&"é".repeat(32)).is_none());
    }
}
