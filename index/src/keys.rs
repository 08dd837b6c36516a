//! Name keys for candidate retrieval, and name similarity for re-scoring.
//!
//! Every normalised name is filed under 64-bit keys of several families: FULL (the core tokens
//! sorted), TOKEN, SKELETON (consonant skeleton), PHONETIC (phonetic folding where it differs),
//! PREFIX / SUFFIX (a long token's halves, so one typo leaves one half intact). A query also
//! looks up adjacent tokens joined, each short token with one letter deleted, and the halves a
//! one-letter insertion or deletion would give. Keys are a keyed SipHash-1-3 of the text (the
//! deployment key lives in the snapshot header) XOR a family salt, so a token, a phone number
//! and an H3 cell never share a key by construction, and a snapshot survives an upgrade.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use crate::normalize::{deletions, phonetic, skeleton, NormalizedName};

pub const FULL: u64 = 0x5A17_0F3E_9B2C_4D61;
pub const TOKEN: u64 = 0x2C9E_6B1D_07A4_F358;
pub const SKELETON: u64 = 0x71D3_A85C_E20B_96F4;
pub const PREFIX: u64 = 0x0B6F_D249_5E1A_C783;
pub const SUFFIX: u64 = 0x4E82_17C6_B95D_3A0F;
pub const PHONETIC: u64 = 0x6C3B_F1A0_D58E_2947;
pub const PHONE: u64 = 0x3F51_C0A7_6D28_E9B4;
pub const EMAIL: u64 = 0x68A4_2E9F_B13C_705D;
pub const DOMAIN: u64 = 0x1D7B_94E0_C6F2_5A38;
pub const CELL: u64 = 0x52E6_0B3D_8A71_F4C9;
pub const ADDRESS: u64 = 0x37C8_5E1F_A09D_6B24;
pub const INITIAL: u64 = 0x5B0E_C47A_2D93_F186;
const PLACE: u64 = 0x0F3A_92C5_7E1B_D486;

pub const FULL_WEIGHT: f64 = 3.0;
pub const TOKEN_WEIGHT: f64 = 1.0;
pub const PHONETIC_WEIGHT: f64 = 0.8;
pub const SKELETON_WEIGHT: f64 = 0.6;
pub const HALF_WEIGHT: f64 = 0.4;
/// An initial and a surname ("J. Smith"): more than the surname alone, less than both words.
pub const INITIAL_WEIGHT: f64 = 1.5;
pub const DELETION_WEIGHT: f64 = 0.8;
pub const MAX_DELETION_TOKEN: usize = 7; // longer tokens are covered by their halves
pub const MIN_TOKEN: usize = 2;
pub const MIN_SKELETON_TOKEN: usize = 4;
pub const MIN_HALVED_TOKEN: usize = 6;

/// The deployment's hashing key: the same key gives the same snapshot on any machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keying {
    k0: u64,
    k1: u64,
}

impl Keying {
    pub fn new(k0: u64, k1: u64) -> Self {
        Keying { k0, k1 }
    }

    /// The key as 16 little-endian bytes (the snapshot header's form).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.k0.to_le_bytes());
        out[8..].copy_from_slice(&self.k1.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let (a, b) = bytes.split_at(8);
        Keying::new(
            u64::from_le_bytes(a.try_into().expect("8 bytes")),
            u64::from_le_bytes(b.try_into().expect("8 bytes")),
        )
    }

    pub fn hash(&self, text: &str) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.k0, self.k1);
        hasher.write(text.as_bytes());
        hasher.finish()
    }

    pub fn key(&self, family: u64, text: &str) -> u64 {
        self.hash(text) ^ family
    }

    /// 32-bit key of a normalised place or postcode; 0 means unknown.
    pub fn place(&self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        let key = (self.key(PLACE, text) & 0xFFFF_FFFF) as u32;
        key.max(1)
    }
}

fn halves(token: &str) -> (&str, &str) {
    token.split_at(token.len() / 2) // tokens are ASCII after normalisation
}

/// The name's FULL-key text: "IVANOVA, Natalya OOO" and "Natalya Ivanova" agree.
pub fn whole_name(name: &NormalizedName) -> String {
    let mut tokens: Vec<&str> = name.core_tokens.iter().map(String::as_str).collect();
    tokens.sort_unstable();
    tokens.join(" ")
}

/// The keys one core token of an incident party's name is filed under.
pub fn index_token_keys(keying: &Keying, token: &str, out: &mut Vec<u64>) {
    let size = token.len();
    if size >= MIN_TOKEN {
        out.push(keying.key(TOKEN, token));
    }
    if size >= MIN_SKELETON_TOKEN {
        let skel = skeleton(token);
        if skel.len() >= 2 && skel != token {
            out.push(keying.key(SKELETON, &skel));
        }
    }
    if size >= MIN_TOKEN {
        let folded = phonetic(token);
        if folded != token {
            out.push(keying.key(PHONETIC, &folded));
        }
    }
    if size >= MIN_HALVED_TOKEN {
        let (head, tail) = halves(token);
        out.push(keying.key(PREFIX, head));
        out.push(keying.key(SUFFIX, tail));
    }
}

/// The keys one incident party's name is filed under (duplicates possible).
pub fn index_name_keys(keying: &Keying, name: &NormalizedName, out: &mut Vec<u64>) {
    if name.tokens.is_empty() {
        return;
    }
    out.push(keying.key(FULL, &whole_name(name)));
    for token in &name.core_tokens {
        index_token_keys(keying, token, out);
    }
    // "Shanghai Hongda" is found under "shanghaihongda" too: names get written run together.
    for pair in name.core_tokens.windows(2) {
        out.push(keying.key(TOKEN, &format!("{}{}", pair[0], pair[1])));
    }
    // "J. Smith" finds "John Smith", and "Smith J." "Smith John".
    let core = &name.core_tokens;
    if let (Some(first), Some(last)) = (core.first(), core.last()) {
        if core.len() >= 2 {
            out.push(keying.key(INITIAL, &initial_key(&first[..1], last)));
            out.push(keying.key(INITIAL, &initial_key(&last[..1], first)));
        }
    }
}

/// The INITIAL key text of an initial and the word at the name's other end.
fn initial_key(initial: &str, word: &str) -> String {
    format!("{initial}|{word}")
}

/// Keys in the order first inserted, each with its weight: what a Python dict of key → weight
/// would hold, so ties among candidates break the same way.
#[derive(Default, Debug, Clone)]
pub struct WeightedKeys {
    pub keys: Vec<u64>,
    pub weights: Vec<f64>,
}

impl WeightedKeys {
    fn position(&self, key: u64) -> Option<usize> {
        self.keys.iter().position(|&k| k == key)
    }

    /// Set the weight, keeping the key's first position.
    pub fn set(&mut self, key: u64, weight: f64) {
        match self.position(key) {
            Some(i) => self.weights[i] = weight,
            None => {
                self.keys.push(key);
                self.weights.push(weight);
            }
        }
    }

    /// Insert only when absent.
    pub fn set_default(&mut self, key: u64, weight: f64) {
        if self.position(key).is_none() {
            self.keys.push(key);
            self.weights.push(weight);
        }
    }

    /// Keep the larger weight.
    pub fn raise(&mut self, key: u64, weight: f64) {
        match self.position(key) {
            Some(i) => self.weights[i] = self.weights[i].max(weight),
            None => {
                self.keys.push(key);
                self.weights.push(weight.max(0.0));
            }
        }
    }
}

/// The keys a query name looks up, each with the weight a hit gives a candidate; and per core
/// token (of at least MIN_TOKEN letters), the keys that stand for the whole token: the token
/// itself, and its phonetic folding as a PHONETIC and as a TOKEN key.
pub fn query_name_keys(keying: &Keying, name: &NormalizedName) -> (WeightedKeys, Vec<[u64; 3]>) {
    let mut keys = WeightedKeys::default();
    let mut whole_tokens = Vec::new();
    if name.tokens.is_empty() {
        return (keys, whole_tokens);
    }
    keys.set(keying.key(FULL, &whole_name(name)), FULL_WEIGHT);
    let core = &name.core_tokens;
    for pair in core.windows(2) {
        let joined = format!("{}{}", pair[0], pair[1]);
        keys.set(keying.key(TOKEN, &joined), TOKEN_WEIGHT);
    }
    if let (Some(first), Some(last)) = (core.first(), core.last()) {
        if core.len() >= 2 && first.len() == 1 {
            keys.set(
                keying.key(INITIAL, &initial_key(first, last)),
                INITIAL_WEIGHT,
            );
        }
        if core.len() >= 2 && last.len() == 1 {
            keys.set(
                keying.key(INITIAL, &initial_key(last, first)),
                INITIAL_WEIGHT,
            );
        }
    }
    for token in core {
        let size = token.len();
        let token_key = keying.key(TOKEN, token);
        if size >= MIN_TOKEN {
            keys.set(token_key, TOKEN_WEIGHT);
        }
        if size >= MIN_SKELETON_TOKEN {
            let skel = skeleton(token);
            if skel.len() >= 2 && skel != *token {
                keys.set_default(keying.key(SKELETON, &skel), SKELETON_WEIGHT);
            }
        }
        if size >= MIN_TOKEN {
            let folded = phonetic(token);
            let phonetic_keys = [keying.key(PHONETIC, &folded), keying.key(TOKEN, &folded)];
            for k in phonetic_keys {
                keys.set_default(k, PHONETIC_WEIGHT);
            }
            whole_tokens.push([token_key, phonetic_keys[0], phonetic_keys[1]]);
        }
        if (MIN_SKELETON_TOKEN..=MAX_DELETION_TOKEN).contains(&size) {
            for deleted in deletions(token) {
                keys.set_default(keying.key(TOKEN, &deleted), DELETION_WEIGHT);
            }
        }
        for original in [size.wrapping_sub(1), size, size + 1] {
            if size == 0 || original < MIN_HALVED_TOKEN {
                continue;
            }
            let head_len = original / 2;
            let tail_len = original - head_len;
            if head_len <= size {
                keys.set_default(keying.key(PREFIX, &token[..head_len]), HALF_WEIGHT);
            }
            if tail_len <= size {
                keys.set_default(keying.key(SUFFIX, &token[size - tail_len..]), HALF_WEIGHT);
            }
        }
    }
    (keys, whole_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize_name;

    fn keying() -> Keying {
        Keying::new(1, 2)
    }

    #[test]
    fn an_initial_and_a_surname_find_the_whole_name() {
        let k = keying();
        let mut indexed = Vec::new();
        index_name_keys(&k, &normalize_name("Aniela Kumorek"), &mut indexed);
        for query in ["A. Kumorek", "Kumorek A."] {
            let (looked_up, _) = query_name_keys(&k, &normalize_name(query));
            let initial = looked_up.keys.iter().find(|key| indexed.contains(key));
            assert!(initial.is_some(), "{query}");
        }
        assert_eq!(
            normalize_name("I. Crnekovic").core_tokens,
            ["i", "crnekovic"]
        );
    }

    #[test]
    fn names_written_together_are_found() {
        let k = keying();
        let record = normalize_name("Shanghai Hongda Chemical");
        let mut indexed = Vec::new();
        index_name_keys(&k, &record, &mut indexed);
        assert!(indexed.contains(&k.key(TOKEN, "shanghaihongda")));
    }

    #[test]
    fn full_key_ignores_token_order() {
        let a = normalize_name("IVANOVA, Natalya");
        let b = normalize_name("Natalya Ivanova");
        let k = keying();
        assert_eq!(k.key(FULL, &whole_name(&a)), k.key(FULL, &whole_name(&b)));
    }

    #[test]
    fn a_query_finds_the_index_keys_of_the_same_name() {
        let k = keying();
        let name = normalize_name("Shanghai Hongda Chemical Co., Ltd");
        let mut indexed = Vec::new();
        index_name_keys(&k, &name, &mut indexed);
        let (looked_up, whole) = query_name_keys(&k, &name);
        // every key but the initials' (looked up only by a name with an initial)
        let initials = [
            k.key(INITIAL, &initial_key("s", "hongda")),
            k.key(INITIAL, &initial_key("h", "shanghai")),
        ];
        assert!(indexed
            .iter()
            .all(|key| looked_up.keys.contains(key) || initials.contains(key)));
        assert!(initials.iter().all(|key| indexed.contains(key)));
        assert_eq!(whole.len(), name.core_tokens.len());
    }

    #[test]
    fn places_are_never_zero_unless_unknown() {
        let k = keying();
        assert_eq!(k.place(""), 0);
        assert_ne!(k.place("berlin"), 0);
        assert_eq!(k.place("berlin"), k.place("berlin"));
    }

    #[test]
    fn keying_round_trips_through_bytes() {
        let k = Keying::new(0x0123_4567_89AB_CDEF, 42);
        assert_eq!(Keying::from_bytes(k.to_bytes()), k);
    }
}
