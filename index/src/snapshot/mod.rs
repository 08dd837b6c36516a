//! The immutable Snapshot: every field a verdict needs in flat columns, every key (names,
//! identifiers, H3 cells) in one postings table. Built in bulk, in parallel; never changed;
//! readers share it without locks.

pub mod column;
pub mod file;

use rayon::prelude::*;

pub use column::Column;

use crate::geo::{self, AreaIndex};
use crate::keys::{self, Keying};
use crate::model::{Incident, IncidentStatus, Party};
use crate::normalize::{
    canonical_domain, canonical_email, canonical_phone, normalize_name, normalize_place,
    normalize_postcode, parse_address,
};
use crate::reasons::Identifier;

/// Separates one party's name forms in its packed names.
pub const NAME_SEP: char = '\x1e';

/// Many short strings in one UTF-8 buffer: string `i` is `blob[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedStrings {
    pub blob: Column<u8>,
    pub offsets: Column<u64>,
}

impl PackedStrings {
    pub fn new() -> Self {
        PackedStrings {
            blob: Column::default(),
            offsets: Column::from(vec![0]),
        }
    }

    /// Append one string (copying the columns out first when they are mapped).
    pub fn push(&mut self, text: &str) {
        let blob = self.blob.make_mut();
        blob.extend_from_slice(text.as_bytes());
        let end = blob.len() as u64;
        self.offsets.make_mut().push(end);
    }

    /// Give back the spare capacity that pushes left.
    pub fn shrink_to_fit(&mut self) {
        self.blob.shrink_to_fit();
        self.offsets.shrink_to_fit();
    }

    /// The i-th string's UTF-8 bytes.
    pub fn get_bytes(&self, i: usize) -> &[u8] {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub fn get(&self, i: usize) -> &str {
        let bytes = &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize];
        // Built from &str, or checked when loaded from a file (`file::load`).
        std::str::from_utf8(bytes).expect("packed strings hold UTF-8 by construction")
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn nbytes(&self) -> usize {
        self.blob.len() + self.offsets.len() * 8
    }
}

impl Default for PackedStrings {
    /// No strings (`offsets` = [0], as `new`).
    fn default() -> Self {
        PackedStrings::new()
    }
}

/// 64-bit keys to ascending party ids (CSR layout), with a bucket index over the keys' top bits:
/// keys are keyed hashes, spread evenly, so a lookup reads one bucket of a few keys instead of
/// binary-searching millions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Postings {
    pub keys: Column<u64>,
    pub starts: Column<u32>,
    pub values: Column<u32>,
    buckets: Vec<u32>,
    shift: u32,
}

/// Keys per bucket of the index, on average.
const KEYS_PER_BUCKET: usize = 4;

impl Postings {
    /// The postings of these columns (checked by the caller), with their bucket index.
    pub fn new(keys: Column<u64>, starts: Column<u32>, values: Column<u32>) -> Self {
        let bits = (keys.len() / KEYS_PER_BUCKET).max(1).ilog2().clamp(1, 40);
        let shift = 64 - bits;
        let mut buckets = Vec::with_capacity((1usize << bits) + 1);
        let mut at = 0usize;
        for bucket in 0..(1u64 << bits) {
            while at < keys.len() && (keys[at] >> shift) < bucket {
                at += 1;
            }
            buckets.push(at as u32);
        }
        buckets.push(keys.len() as u32);
        Postings {
            keys,
            starts,
            values,
            buckets,
            shift,
        }
    }

    /// From (key, party) pairs, duplicates allowed.
    pub fn build(mut pairs: Vec<(u64, u32)>) -> Self {
        pairs.par_sort_unstable();
        pairs.dedup();
        let mut keys = Vec::new();
        let mut starts = Vec::new();
        let mut values = Vec::with_capacity(pairs.len());
        for (i, &(key, party)) in pairs.iter().enumerate() {
            if keys.last() != Some(&key) {
                keys.push(key);
                starts.push(i as u32);
            }
            values.push(party);
        }
        starts.push(values.len() as u32);
        Postings::new(keys.into(), starts.into(), values.into())
    }

    /// The party ids filed under `key` (empty when absent).
    pub fn get(&self, key: u64) -> &[u32] {
        &self.values[self.range(key)]
    }

    /// `get` of each key, in order. The lookups go in rounds (every key's bucket, then every
    /// key's place in it, then every found key's ids), so that in a large index their cache
    /// misses overlap instead of waiting one behind another.
    pub fn get_many(&self, keys: &[u64]) -> Vec<&[u32]> {
        let buckets: Vec<(usize, usize)> = keys
            .iter()
            .map(|&key| {
                let bucket = (key >> self.shift) as usize;
                match (self.buckets.get(bucket), self.buckets.get(bucket + 1)) {
                    (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
                    _ => (0, 0),
                }
            })
            .collect();
        let found: Vec<Option<usize>> = keys
            .iter()
            .zip(&buckets)
            .map(|(&key, &(lo, hi))| {
                self.keys[lo..hi]
                    .iter()
                    .position(|&k| k == key)
                    .map(|i| lo + i)
            })
            .collect();
        found
            .into_iter()
            .map(|at| match at {
                Some(i) => &self.values[self.starts[i] as usize..self.starts[i + 1] as usize],
                None => &[][..],
            })
            .collect()
    }

    /// Where the ids filed under `key` lie in `values` (empty when absent).
    pub fn range(&self, key: u64) -> std::ops::Range<usize> {
        let bucket = (key >> self.shift) as usize;
        let (lo, hi) = match (self.buckets.get(bucket), self.buckets.get(bucket + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => return 0..0,
        };
        match self.keys[lo..hi].binary_search(&key) {
            Ok(i) => self.starts[lo + i] as usize..self.starts[lo + i + 1] as usize,
            Err(_) => 0..0,
        }
    }

    pub fn nbytes(&self) -> usize {
        self.keys.len() * 8 + self.starts.len() * 4 + self.values.len() * 4 + self.buckets.len() * 4
    }
}

pub fn country_code(code: &str) -> u16 {
    let bytes = code.as_bytes();
    if bytes.len() == 2 {
        (u16::from(bytes[0]) << 8) | u16::from(bytes[1])
    } else {
        0
    }
}

pub fn country_text(code: u16) -> String {
    if code == 0 {
        return String::new();
    }
    let bytes = [(code >> 8) as u8, (code & 0xFF) as u8];
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A party's identifiers in canonical form, with their kinds (phones, then e-mails, then web
/// domains, in the party's order).
pub fn identifiers_of(party: &Party) -> Vec<(Identifier, String)> {
    let mut found = Vec::new();
    for raw in &party.phones {
        if let Some(phone) = canonical_phone(raw, &party.country_code) {
            found.push((Identifier::Phone, phone));
        }
    }
    for raw in &party.emails {
        if let Some(email) = canonical_email(raw) {
            found.push((Identifier::Email, email));
        }
    }
    for raw in &party.web_domains {
        if let Some(domain) = canonical_domain(raw) {
            found.push((Identifier::Domain, domain));
        }
    }
    found
}

/// Where a party is, as keys: postcode, city, street and house number (0: unknown), and the
/// key its full street address is filed under in the postings (with its country), when it
/// has both a street and a number.
pub struct PartyPlace {
    pub postcode: u32,
    pub city: u32,
    pub street: u32,
    pub street_words: [u32; STREET_WORDS],
    pub house: u32,
    pub address_key: Option<u64>,
}

/// A street's words kept one by one (its first few), to forgive a word more or fewer.
pub const STREET_WORDS: usize = 3;

/// The keyed words of a street: its first `STREET_WORDS` (a district or quarter, when
/// written, mostly comes after the street), ascending, zeros after.
fn street_words(keying: &Keying, words: &[String]) -> [u32; STREET_WORDS] {
    let mut keys: Vec<u32> = Vec::with_capacity(STREET_WORDS);
    for word in words {
        let key = keying.place(word);
        if keys.len() < STREET_WORDS && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.sort_unstable();
    let mut out = [0; STREET_WORDS];
    out[..keys.len()].copy_from_slice(&keys);
    out
}

/// Whether two streets' words are one street: all of the fewer words among the others'.
pub fn same_street_words(a: &[u32], b: &[u32]) -> bool {
    let (na, nb) = (
        a.iter().filter(|&&w| w != 0).count(),
        b.iter().filter(|&&w| w != 0).count(),
    );
    if na == 0 || nb == 0 {
        return false;
    }
    let (fewer, more) = if na <= nb {
        (&a[..na], &b[..nb])
    } else {
        (&b[..nb], &a[..na])
    };
    fewer.iter().all(|w| more.contains(w))
}

impl PartyPlace {
    pub fn of(keying: &Keying, party: &Party) -> Self {
        let postcode = normalize_postcode(&party.postcode);
        let city = normalize_place(&party.city);
        let address = parse_address(&party.address_lines, &postcode, &city);
        let address_key = (!address.street.is_empty() && !address.number.is_empty()).then(|| {
            let full = format!(
                "{}|{}|{}",
                party.country_code, address.street, address.number
            );
            keying.key(keys::ADDRESS, &full)
        });
        PartyPlace {
            postcode: keying.place(&postcode),
            city: keying.place(&city),
            street: keying.place(&address.street),
            street_words: street_words(keying, &address.words),
            house: keying.place(&address.number),
            address_key,
        }
    }
}

/// One incident party prepared for the columns, built in parallel.
struct PartyRow {
    role: u8,
    lat: f64,
    lon: f64,
    country: u16,
    postcode: u32,
    city: u32,
    street: u32,
    street_words: [u32; STREET_WORDS],
    house: u32,
    names: String,
    keys: Vec<u64>,
    area: Option<Vec<[f64; 2]>>,
}

fn party_row(keying: &Keying, party: &Party) -> PartyRow {
    let mut names = String::new();
    let mut keys = Vec::new();
    for raw in party.names() {
        let name = normalize_name(raw);
        if name.tokens.is_empty() {
            continue;
        }
        if !names.is_empty() {
            names.push(NAME_SEP);
        }
        names.push_str(&name.core);
        keys::index_name_keys(keying, &name, &mut keys);
    }
    for (kind, value) in identifiers_of(party) {
        keys.push(keying.key(kind.family(), &value));
    }
    let place = PartyPlace::of(keying, party);
    keys.extend(place.address_key);
    let (lat, lon) = match party.location {
        Some(loc) => (loc.lat, loc.lon),
        None => (f64::NAN, f64::NAN),
    };
    keys.sort_unstable();
    keys.dedup();
    PartyRow {
        role: party.role.code(),
        lat,
        lon,
        country: country_code(&party.country_code),
        postcode: place.postcode,
        city: place.city,
        street: place.street,
        street_words: place.street_words,
        house: place.house,
        names,
        keys,
        area: party
            .area
            .as_ref()
            .map(|vertices| vertices.iter().map(|v| [v.lat, v.lon]).collect()),
    }
}

/// ln(parties + 1), at least ln 2: the IDF numerator (recomputed when a file is loaded).
pub fn log_parties(parties: usize) -> f64 {
    (parties.max(1) as f64 + 1.0).ln()
}

/// Degrees in fixed point, 1e-7 degrees a unit (about a centimetre).
pub fn e7(degrees: f64) -> i32 {
    (degrees * 1e7).round() as i32
}

/// The cell index of located parties: (cell, party, lat, lon in 1e-7 degrees), any order.
fn cell_index(mut located: Vec<(u64, u32, i32, i32)>) -> (Postings, Column<i32>, Column<i32>) {
    located.sort_unstable_by_key(|&(cell, party, _, _)| (cell, party));
    let mut keys = Vec::new();
    let mut starts = Vec::new();
    let mut values = Vec::with_capacity(located.len());
    let mut lats = Vec::with_capacity(located.len());
    let mut lons = Vec::with_capacity(located.len());
    for (i, &(cell, party, lat, lon)) in located.iter().enumerate() {
        if keys.last() != Some(&cell) {
            keys.push(cell);
            starts.push(i as u32);
        }
        values.push(party);
        lats.push(lat);
        lons.push(lon);
    }
    starts.push(values.len() as u32);
    (
        Postings::new(keys.into(), starts.into(), values.into()),
        lats.into(),
        lons.into(),
    )
}

/// An immutable index of incident parties.
pub struct Snapshot {
    pub generation: u64,
    pub keying: Keying,
    pub incident_ids: PackedStrings,
    /// Keyed hashes of the incident ids, ascending, and the row of each.
    pub id_hashes: Column<u64>,
    pub id_rows: Column<u32>,
    pub versions: Column<i64>,
    pub kinds: Column<u8>,
    pub substances: Column<u8>,
    pub channels: Column<u8>,
    pub reported_on: Column<i32>,
    pub reporting_countries: Column<u16>,
    pub agency_ids: Column<u32>,
    pub agencies: PackedStrings,
    pub contact_refs: PackedStrings,
    pub party_incident: Column<u32>,
    pub party_role: Column<u8>,
    /// (lat, lon) of each party, NaN without a location: read together, so side by side.
    pub party_point: Column<[f64; 2]>,
    pub party_country: Column<u16>,
    pub party_postcode: Column<u32>,
    pub party_city: Column<u32>,
    /// Keyed street name and house number (0: unknown), compared for address agreement.
    pub party_street: Column<u32>,
    /// `STREET_WORDS` keyed street words a party, flattened.
    pub party_street_words: Column<u32>,
    pub party_house: Column<u32>,
    pub party_names: PackedStrings,
    pub postings: Postings,
    /// Located parties by H3 cell, each with its point in fixed point (1e-7 degrees, about a
    /// centimetre) beside it: a query sweeps a cell's parties in order and reads the exact
    /// point only of those that may be within the radius.
    pub cells: Postings,
    pub cell_lat_e7: Column<i32>,
    pub cell_lon_e7: Column<i32>,
    pub areas: AreaIndex,
    pub log_parties: f64,
}

/// A snapshot under construction, fed incidents a batch at a time: a batch's incidents can be
/// dropped once added (their parties' rows are what the snapshot keeps), so a large build never
/// holds every decoded incident at once.
pub struct SnapshotBuilder {
    keying: Keying,
    incident_ids: PackedStrings,
    contact_refs: PackedStrings,
    agencies: PackedStrings,
    party_names: PackedStrings,
    versions: Vec<i64>,
    kinds: Vec<u8>,
    substances: Vec<u8>,
    channels: Vec<u8>,
    reported_on: Vec<i32>,
    reporting_countries: Vec<u16>,
    agency_ids: Vec<u32>,
    party_incident: Vec<u32>,
    party_role: Vec<u8>,
    party_point: Vec<[f64; 2]>,
    party_country: Vec<u16>,
    party_postcode: Vec<u32>,
    party_city: Vec<u32>,
    party_street: Vec<u32>,
    party_street_words: Vec<u32>,
    party_house: Vec<u32>,
    agency_index: std::collections::HashMap<String, u32>,
    pairs: Vec<(u64, u32)>,
    located: Vec<(u64, u32, i32, i32)>,
    area_parties: Vec<u32>,
    area_ends: Vec<u32>,
    area_vertices: Vec<[f64; 2]>,
    hashes: Vec<(u64, u32)>,
}

impl SnapshotBuilder {
    pub fn new(keying: Keying) -> Self {
        SnapshotBuilder {
            keying,
            incident_ids: PackedStrings::new(),
            contact_refs: PackedStrings::new(),
            agencies: PackedStrings::new(),
            party_names: PackedStrings::new(),
            versions: Vec::new(),
            kinds: Vec::new(),
            substances: Vec::new(),
            channels: Vec::new(),
            reported_on: Vec::new(),
            reporting_countries: Vec::new(),
            agency_ids: Vec::new(),
            party_incident: Vec::new(),
            party_role: Vec::new(),
            party_point: Vec::new(),
            party_country: Vec::new(),
            party_postcode: Vec::new(),
            party_city: Vec::new(),
            party_street: Vec::new(),
            party_street_words: Vec::new(),
            party_house: Vec::new(),
            agency_index: Default::default(),
            pairs: Vec::new(),
            located: Vec::new(),
            area_parties: Vec::new(),
            area_ends: Vec::new(),
            area_vertices: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// Index these incidents after those added before, in order; retracted ones are left out
    /// and never match. Their parties are normalised and keyed in parallel.
    pub fn add(&mut self, incidents: &[Incident]) {
        let keying = self.keying;
        let active: Vec<&Incident> = incidents
            .iter()
            .filter(|i| i.status != IncidentStatus::Retracted)
            .collect();
        let rows: Vec<Vec<PartyRow>> = active
            .par_iter()
            .map(|incident| {
                incident
                    .parties
                    .iter()
                    .map(|p| party_row(&keying, p))
                    .collect()
            })
            .collect();
        for (incident, parties) in active.iter().zip(rows) {
            let row = self.versions.len() as u32;
            self.incident_ids.push(&incident.incident_id);
            self.hashes.push((keying.hash(&incident.incident_id), row));
            self.contact_refs.push(&incident.contact_ref);
            self.versions.push(incident.version);
            self.kinds.push(incident.kind.code());
            self.substances.push(incident.substance_class.code());
            self.channels.push(incident.channel.code());
            self.reported_on.push(incident.reported_on);
            self.reporting_countries
                .push(country_code(&incident.reporting_country));
            let next = self.agency_index.len() as u32;
            let agencies = &mut self.agencies;
            let agency = *self
                .agency_index
                .entry(incident.agency.clone())
                .or_insert_with(|| {
                    agencies.push(&incident.agency);
                    next
                });
            self.agency_ids.push(agency);
            for party in parties {
                let pid = self.party_incident.len() as u32;
                self.party_incident.push(row);
                self.party_role.push(party.role);
                self.party_point.push([party.lat, party.lon]);
                self.party_country.push(party.country);
                self.party_postcode.push(party.postcode);
                self.party_city.push(party.city);
                self.party_street.push(party.street);
                self.party_street_words
                    .extend_from_slice(&party.street_words);
                self.party_house.push(party.house);
                self.party_names.push(&party.names);
                self.pairs.extend(party.keys.iter().map(|&k| (k, pid)));
                if let Some(cell) = geo::cell_of(party.lat, party.lon) {
                    self.located.push((cell, pid, e7(party.lat), e7(party.lon)));
                }
                if let Some(vertices) = party.area {
                    self.area_parties.push(pid);
                    self.area_vertices.extend(vertices);
                    self.area_ends.push(self.area_vertices.len() as u32);
                }
            }
        }
    }

    /// The snapshot of everything added.
    pub fn finish(mut self, generation: u64) -> Snapshot {
        for strings in [
            &mut self.incident_ids,
            &mut self.contact_refs,
            &mut self.agencies,
            &mut self.party_names,
        ] {
            strings.shrink_to_fit();
        }
        let mut hashes = self.hashes;
        hashes.sort_unstable();
        let log_parties = log_parties(self.party_incident.len());
        let (cells, cell_lat_e7, cell_lon_e7) = cell_index(self.located);
        Snapshot {
            generation,
            keying: self.keying,
            incident_ids: self.incident_ids,
            id_hashes: hashes.iter().map(|h| h.0).collect(),
            id_rows: hashes.iter().map(|h| h.1).collect(),
            versions: self.versions.into(),
            kinds: self.kinds.into(),
            substances: self.substances.into(),
            channels: self.channels.into(),
            reported_on: self.reported_on.into(),
            reporting_countries: self.reporting_countries.into(),
            agency_ids: self.agency_ids.into(),
            agencies: self.agencies,
            contact_refs: self.contact_refs,
            party_incident: self.party_incident.into(),
            party_role: self.party_role.into(),
            party_point: self.party_point.into(),
            party_country: self.party_country.into(),
            party_postcode: self.party_postcode.into(),
            party_city: self.party_city.into(),
            party_street: self.party_street.into(),
            party_street_words: self.party_street_words.into(),
            party_house: self.party_house.into(),
            party_names: self.party_names,
            postings: Postings::build(self.pairs),
            cells,
            cell_lat_e7,
            cell_lon_e7,
            areas: AreaIndex::new(self.area_parties, self.area_ends, self.area_vertices),
            log_parties,
        }
    }
}

impl Snapshot {
    /// Index every active incident, in order; retracted ones are left out and never match.
    pub fn build(incidents: &[Incident], keying: Keying, generation: u64) -> Snapshot {
        let mut builder = SnapshotBuilder::new(keying);
        builder.add(incidents);
        builder.finish(generation)
    }

    pub fn incident_count(&self) -> usize {
        self.incident_ids.len()
    }

    pub fn party_count(&self) -> usize {
        self.party_incident.len()
    }

    /// The keyed street words of party `p`.
    pub fn street_words_of(&self, p: usize) -> &[u32] {
        &self.party_street_words[p * STREET_WORDS..(p + 1) * STREET_WORDS]
    }

    /// The row of an incident id, when this snapshot holds it.
    pub fn row_of(&self, incident_id: &str) -> Option<u32> {
        let h = self.keying.hash(incident_id);
        let mut pos = self.id_hashes.partition_point(|&x| x < h);
        while pos < self.id_hashes.len() && self.id_hashes[pos] == h {
            let row = self.id_rows[pos];
            if self.incident_ids.get(row as usize) == incident_id {
                return Some(row);
            }
            pos += 1;
        }
        None
    }

    /// Bytes held in the snapshot's columns (the R-tree included).
    pub fn nbytes(&self) -> usize {
        let per_row = 8 + 4 + 8 + 1 + 1 + 1 + 4 + 2 + 4;
        let per_party = 4 + 1 + 8 + 8 + 2 + 4 + 4 + 4 + 4 + 4 * STREET_WORDS;
        self.incident_count() * per_row
            + self.party_count() * per_party
            + self.incident_ids.nbytes()
            + self.contact_refs.nbytes()
            + self.agencies.nbytes()
            + self.party_names.nbytes()
            + self.postings.nbytes()
            + self.areas.nbytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_street_with_a_word_more_is_the_same_street() {
        let k = Keying::new(3, 4);
        let words = |text: &[&str]| {
            street_words(
                &k,
                &text.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>(),
            )
        };
        let century = words(&["centuri"]);
        assert!(same_street_words(&century, &words(&["centuri", "pudong"])));
        assert!(same_street_words(
            &words(&["pudong", "centuri"]),
            &words(&["centuri", "pudong"])
        ));
        assert!(!same_street_words(&century, &words(&["zhongshan"])));
        assert!(!same_street_words(&[0; STREET_WORDS], &century));
    }

    proptest::proptest! {
        #[test]
        fn looking_up_many_keys_at_once_finds_what_one_by_one_does(
            pairs in proptest::collection::vec((0u64..64, 0u32..50), 0..300),
            probes in proptest::collection::vec(0u64..80, 0..40),
        ) {
            // Keys spread over the top bits, as keyed hashes are, with some absent.
            let spread = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let postings = Postings::build(pairs.iter().map(|&(k, p)| (spread(k), p)).collect());
            let keys: Vec<u64> = probes.iter().map(|&k| spread(k)).collect();
            let one_by_one: Vec<&[u32]> = keys.iter().map(|&k| postings.get(k)).collect();
            proptest::prop_assert_eq!(postings.get_many(&keys), one_by_one);
        }
    }
}
