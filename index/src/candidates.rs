//! Candidate generation and re-scoring: one prepared query party against one snapshot.
//!
//! Candidates come from four sources: name keys (IDF-weighted hits, the best
//! `name_candidates`), H3 cells (the nearest `geo_candidates` within the radius), identifiers
//! (every party sharing a phone, e-mail or web domain) and areas (every area holding the
//! point). Each candidate is then re-scored on the real strings and distances.

use std::collections::HashMap;

use crate::geo;
use crate::keys::{self, Keying, WeightedKeys};
use crate::model::Party;
use crate::normalize::{is_generic_word, is_place_word, normalize_name};
use crate::policy::Policy;
use crate::reasons::{Identifier, Reasons};
use crate::rounding::py_round;
use crate::scoring::{
    address_points, evidence_points, incident_weight, points_for, points_upper_bound, score_of,
    stoplight_of, AddressAgreement, PairEvidence, Stoplight,
};
use crate::similarity::PreparedName;
use crate::snapshot::{self, country_code, identifiers_of, PartyPlace, Snapshot, NAME_SEP};

const SAME_CITY_BONUS: f64 = 1.0; // about an eighth of a rare token's IDF weight: tie-breaks
const SAME_POSTCODE_BONUS: f64 = 2.0;
const MAX_TOKENS: i64 = 1 << 10;
/// A query name of fewer letters than this is no name ("a", "A.B.").
const MIN_NAME_LETTERS: usize = 3;
/// The similarity a distinctive word alone ("Hongda" for "Shanghai Hongda Chemical") gets: an
/// alert on its own, never a certainty.
const DISTINCTIVE_SIMILARITY: f64 = 0.95;
/// A word is distinctive when at most this share of the index's parties carry it...
const DISTINCTIVE_SHARE: f64 = 1.0 / 5000.0;
/// ...or at most this many, in a small index.
const DISTINCTIVE_MIN_COUNT: usize = 5;
/// Shorter words are too easily someone else's.
const MIN_DISTINCTIVE_WORD: usize = 4; // token groups: name index · this + token index

/// A query party turned into lookup keys once, then matched against any snapshot with the
/// same keying.
pub struct PreparedParty {
    pub role: u8,
    pub names: Vec<PreparedName>, // normalised cores
    /// The names that are one word and nothing else ("Hongda", "Hongda Ltd").
    pub single_words: Vec<String>,
    pub name_keys: WeightedKeys,
    pub groups: Vec<i64>, // per name key, the query token it stands for as a whole, or -1
    pub identifiers: Vec<(u64, Identifier)>,
    pub cells: Vec<u64>,
    pub location: Option<(f64, f64)>,
    pub country: u16,
    /// Postcode, city and street address, keyed.
    pub place: PartyPlace,
}

impl PreparedParty {
    pub fn new(keying: &Keying, party: &Party) -> Self {
        let mut names = Vec::new();
        let mut single_words = Vec::new();
        let mut name_keys = WeightedKeys::default();
        let mut group_of: HashMap<u64, i64> = HashMap::new();
        let mut n = 0i64;
        for raw in party.names() {
            let name = normalize_name(raw);
            if name.core.bytes().filter(|b| *b != b' ').count() < MIN_NAME_LETTERS {
                continue; // "a", "AB": no name to match
            }
            let (looked_up, whole_tokens) = keys::query_name_keys(keying, &name);
            for (&k, &w) in looked_up.keys.iter().zip(&looked_up.weights) {
                name_keys.raise(k, w);
            }
            for (t, token_keys) in whole_tokens.iter().enumerate() {
                for &k in token_keys {
                    group_of.entry(k).or_insert(n * MAX_TOKENS + t as i64);
                }
            }
            if name.tokens.len() == 1 {
                single_words.push(name.core.clone());
            }
            names.push(PreparedName::new(&name.core));
            n += 1;
        }
        let groups = name_keys
            .keys
            .iter()
            .map(|k| group_of.get(k).copied().unwrap_or(-1))
            .collect();
        let mut identifiers: Vec<(u64, Identifier)> = Vec::new();
        for (kind, value) in identifiers_of(party) {
            let key = keying.key(kind.family(), &value);
            match identifiers.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = kind,
                None => identifiers.push((key, kind)),
            }
        }
        let location = party.location.map(|l| (l.lat, l.lon));
        let cells = location
            .map(|(lat, lon)| geo::disk_cells(lat, lon))
            .unwrap_or_default();
        PreparedParty {
            role: party.role.code(),
            names,
            single_words,
            name_keys,
            groups,
            identifiers,
            cells,
            location,
            country: country_code(&party.country_code),
            place: PartyPlace::of(keying, party),
        }
    }
}

/// One reported (scored and explained) match of a query party against an incident party.
#[derive(Debug, Clone)]
pub struct Found {
    pub party: u32,
    pub row: u32,
    pub score: f64,           // rounded to 2 places, as reported
    pub stoplight: Stoplight, // of the unrounded score
    pub reasons: Reasons,
    pub name_similarity: f64, // rounded to 4 places
    pub query_name: String,
    pub incident_name: String,
    pub distance_m: Option<f64>, // rounded to 0.1 m
    pub in_area: bool,
    pub identifiers: u8,
    pub postcode_match: bool,
    pub city_match: bool,
    pub country_match: Option<bool>,
    pub address: AddressAgreement,
    pub weight: f64, // rounded to 4 places
}

fn idf(snapshot: &Snapshot, count: usize) -> f64 {
    f64::max(snapshot.log_parties - (count.max(1) as f64).ln(), 0.1)
}

/// Sorted intersection of two ascending id lists.
fn intersect(small: &[u32], large: &[u32], out: &mut Vec<u32>) {
    for &id in small {
        if large.binary_search(&id).is_ok() {
            out.push(id);
        }
    }
}

/// The best `limit` (party, total) by total descending, ties by party ascending.
fn top(mut scored: Vec<(u32, f64)>, limit: usize) -> Vec<u32> {
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if limit == 0 {
        return Vec::new();
    }
    if scored.len() > limit {
        scored.select_nth_unstable_by(limit - 1, order);
        scored.truncate(limit);
    }
    scored.sort_unstable_by(order);
    scored.into_iter().map(|(p, _)| p).collect()
}

/// Multiplicative hashing of party ids: one multiply, where std's SipHash costs ~20 ns a key
/// and party ids come from the index, not from callers.
#[derive(Default, Clone, Copy)]
struct PartyHasher(u64);

impl std::hash::Hasher for PartyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type PartyMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<PartyHasher>>;

/// (party, weight) hits summed per party, each party's in the order they were added (the
/// order fixes the floating-point sums); parties in no particular order.
fn summed(hits: &[(u32, f64)]) -> Vec<(u32, f64)> {
    let mut at: PartyMap<usize> = PartyMap::default();
    at.reserve(hits.len());
    let mut out: Vec<(u32, f64)> = Vec::with_capacity(hits.len());
    for &(party, weight) in hits {
        match at.entry(party) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()].1 += weight,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push((party, weight));
            }
        }
    }
    out
}

/// The first position at or after `from` whose id is not below `id`, in the ascending `ids`:
/// exponential steps, then a binary search in the last step.
fn gallop(ids: &[u32], from: usize, id: u32) -> usize {
    let mut step = 1;
    let mut hi = from;
    while hi < ids.len() && ids[hi] < id {
        hi = from + step;
        step *= 2;
    }
    let lo = from + step / 4;
    let hi = hi.min(ids.len());
    let lo = lo.min(hi);
    lo + ids[lo..hi].partition_point(|&x| x < id)
}

/// `gallop` over the party ids of ascending (party, total) pairs.
fn gallop_by(totals: &[(u32, f64)], from: usize, id: u32) -> usize {
    let mut step = 1;
    let mut hi = from;
    while hi < totals.len() && totals[hi].0 < id {
        hi = from + step;
        step *= 2;
    }
    let lo = (from + step / 4).min(hi.min(totals.len()));
    let hi = hi.min(totals.len());
    lo + totals[lo..hi].partition_point(|t| t.0 < id)
}

fn name_candidates(snapshot: &Snapshot, q: &PreparedParty, policy: &Policy) -> Vec<u32> {
    let postings = snapshot.postings.get_many(&q.name_keys.keys);
    let mut hits: Vec<(u32, f64)> = Vec::new();
    for (i, posting) in postings.iter().enumerate() {
        let count = posting.len();
        if count == 0 || count > policy.name_df_cap {
            continue;
        }
        let weight = q.name_keys.weights[i] * idf(snapshot, count);
        hits.extend(posting.iter().map(|&party| (party, weight)));
    }
    let found = hits.len();
    let common: Vec<usize> = (0..postings.len())
        .filter(|&i| {
            let count = postings[i].len();
            count > policy.name_df_cap && count <= policy.common_key_df_cap && q.groups[i] >= 0
        })
        .collect();
    if found < policy.name_candidates && common.len() >= 2 {
        // Only common whole tokens hit ("John Jane PHAM", "Luo Iang"): parties holding the
        // rarest key of two of them are candidates too.
        let mut mine = common.clone();
        mine.sort_by_key(|&i| postings[i].len());
        let mut seen_groups = Vec::new();
        mine.retain(|&i| {
            if seen_groups.contains(&q.groups[i]) {
                false
            } else {
                seen_groups.push(q.groups[i]);
                true
            }
        });
        if mine.len() >= 2 {
            let smallest = postings[mine[0]];
            let mut both = Vec::new();
            for &other in mine.iter().skip(1).take(2) {
                intersect(smallest, postings[other], &mut both);
            }
            both.sort_unstable();
            both.dedup();
            hits.extend(both.into_iter().map(|party| (party, 1.0)));
        }
    }
    if hits.is_empty() {
        return Vec::new();
    }
    let mut totals = summed(&hits);
    // Common whole-token keys weigh in: among the many "Luo" parties, the ones under the
    // query's other, common, token ("Iang" → "Yang") first.
    if !common.is_empty() {
        totals.sort_unstable_by_key(|t| t.0);
        for &i in &common {
            let weight = q.name_keys.weights[i] * idf(snapshot, postings[i].len());
            // Both sides ascend: walk the shorter one, gallop through the longer.
            let posting = postings[i];
            if totals.len() <= posting.len() {
                let mut from = 0;
                for (party, total) in totals.iter_mut() {
                    from = gallop(posting, from, *party);
                    if posting.get(from) == Some(party) {
                        *total += weight;
                    }
                }
            } else {
                let mut from = 0;
                for &party in posting {
                    from = gallop_by(&totals, from, party);
                    if let Some(t) = totals.get_mut(from).filter(|t| t.0 == party) {
                        t.1 += weight;
                    }
                }
            }
        }
    }
    // Many parties can carry one name ("Jane Bui"): the ones in the query's city and at its
    // postcode first. The bonuses only add, so a candidate that stays below the k-th best total
    // even with both cannot make the top k: its party record is never read.
    let limit = policy.name_candidates;
    if q.place.city != 0 || q.place.postcode != 0 {
        let floor = kth_largest(&totals, limit) - (SAME_CITY_BONUS + SAME_POSTCODE_BONUS + 0.5);
        totals.retain(|&(_, total)| total >= floor);
        for (party, total) in totals.iter_mut() {
            let p = *party as usize;
            if q.place.city != 0 && snapshot.party_city[p] == q.place.city {
                *total += SAME_CITY_BONUS;
            }
            if q.place.postcode != 0 && snapshot.party_postcode[p] == q.place.postcode {
                *total += SAME_POSTCODE_BONUS;
            }
        }
    }
    top(totals, limit)
}

/// The k-th largest total (the smallest of all when there are fewer than k).
fn kth_largest(totals: &[(u32, f64)], k: usize) -> f64 {
    let mut values: Vec<f64> = totals.iter().map(|t| t.1).collect();
    if values.is_empty() {
        return f64::NEG_INFINITY;
    }
    let k = k.clamp(1, values.len());
    let (_, kth, _) = values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

/// How far a distance from fixed-point coordinates on a local flat map may be from the exact
/// haversine within the radius (centimetres, in truth): a margin, not a tolerance of results.
const ROUGH_ERROR_M: f64 = 0.5;
const METRES_PER_E7: f64 = geo::EARTH_RADIUS_M * std::f64::consts::PI / 180.0 * 1e-7;

/// The nearest `geo_candidates` parties within the radius (ties: lower party id). A sweep over
/// the cells' fixed-point points gives each party a rough distance; only the parties that may
/// be among the nearest by the exact distance (rough distance within twice the error of the
/// k-th rough one) get their exact point read and measured, so the exact nearest are found.
fn geo_candidates(snapshot: &Snapshot, q: &PreparedParty, policy: &Policy) -> Vec<u32> {
    let Some((lat, lon)) = q.location else {
        return Vec::new();
    };
    let k = policy.geo_candidates;
    let radius = policy.near_radius_m;
    let flat_enough = lat.abs() < 80.0; // the flat map holds within the radius off the poles
    let cos_lat = lat.to_radians().cos();
    let (lat_e7, lon_e7) = (i64::from(snapshot::e7(lat)), i64::from(snapshot::e7(lon)));
    let mut rough: Vec<(f64, u32)> = Vec::new();
    for &cell in &q.cells {
        let range = snapshot.cells.range(cell);
        let parties = &snapshot.cells.values[range.clone()];
        let lats = &snapshot.cell_lat_e7[range.clone()];
        let lons = &snapshot.cell_lon_e7[range];
        for ((&party, &party_lat), &party_lon) in parties.iter().zip(lats).zip(lons) {
            let dy = (i64::from(party_lat) - lat_e7) as f64 * METRES_PER_E7;
            if dy.abs() > radius + ROUGH_ERROR_M {
                continue; // a great circle is at least as long as its latitude difference
            }
            let mut dlon = i64::from(party_lon) - lon_e7;
            if dlon > 1_800_000_000 {
                dlon -= 3_600_000_000;
            } else if dlon < -1_800_000_000 {
                dlon += 3_600_000_000;
            }
            let dx = dlon as f64 * METRES_PER_E7 * cos_lat;
            let distance = dx.hypot(dy);
            if flat_enough && distance > radius + ROUGH_ERROR_M {
                continue;
            }
            rough.push((distance, party));
        }
    }
    if flat_enough && k > 0 && rough.len() > k {
        let (_, kth, _) = rough.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        let bound = kth.0 + 2.0 * ROUGH_ERROR_M;
        rough.retain(|r| r.0 <= bound);
    }
    let mut near = Vec::with_capacity(rough.len());
    for (_, party) in rough {
        let [party_lat, party_lon] = snapshot.party_point[party as usize];
        let d = geo::haversine_m(lat, lon, party_lat, party_lon);
        if d <= radius {
            near.push((party, -d));
        }
    }
    top(near, k)
}

fn identifier_hits(snapshot: &Snapshot, q: &PreparedParty, policy: &Policy) -> Vec<(u32, u8)> {
    let mut hits: Vec<(u32, u8)> = Vec::new();
    for &(key, kind) in &q.identifiers {
        let posting = snapshot.postings.get(key);
        if posting.is_empty() || posting.len() > policy.identifier_df_cap {
            continue;
        }
        for &party in posting {
            match hits.iter_mut().find(|(p, _)| *p == party) {
                Some(hit) => hit.1 |= kind.bit(),
                None => hits.push((party, kind.bit())),
            }
        }
    }
    hits
}

/// The best name similarity of a pair over all their name forms, and the (query, incident)
/// forms that give it (the first best combination, query names outermost).
fn best_names<'a>(query: &'a [PreparedName], incident: &'a [u8]) -> (f64, &'a str, &'a [u8]) {
    let mut best: Option<(f64, &str, &[u8])> = None;
    if incident.is_empty() {
        return (0.0, "", b"");
    }
    for q in query {
        for form in incident.split(|&b| b == NAME_SEP as u8) {
            let s = q.similarity(form);
            if best.is_none_or(|(b, _, _)| s > b) {
                best = Some((s, q.text(), form));
            }
        }
    }
    best.unwrap_or((0.0, "", b""))
}

/// For a query party, its matches in `snapshot` with at least the report score, parties
/// ascending; rows in `excluded` (replaced or deleted by a delta) never match.
pub fn match_party(
    snapshot: &Snapshot,
    q: &PreparedParty,
    policy: &Policy,
    today: i32,
    excluded: &dyn Fn(u32) -> bool,
) -> Vec<Found> {
    let ids = identifier_hits(snapshot, q, policy);
    let areas = match q.location {
        Some((lat, lon)) if !snapshot.areas.is_empty() => snapshot.areas.containing(lat, lon),
        _ => Vec::new(),
    };
    let mut pairs = name_candidates(snapshot, q, policy);
    pairs.extend(geo_candidates(snapshot, q, policy));
    if let Some(key) = q.place.address_key {
        let posting = snapshot.postings.get(key);
        if posting.len() <= policy.identifier_df_cap {
            pairs.extend_from_slice(posting);
        }
    }
    pairs.extend(ids.iter().map(|h| h.0));
    pairs.extend(&areas);
    pairs.sort_unstable();
    pairs.dedup();
    let pairs: Vec<u32> = pairs
        .into_iter()
        .filter(|&p| !excluded(snapshot.party_incident[p as usize]))
        .collect();
    let distinctive = distinctive_words(snapshot, q);
    let context = PairContext {
        ids: &ids,
        areas: &areas,
        distinctive: &distinctive,
    };
    score_pairs(snapshot, q, policy, today, &pairs, &context, true)
}

/// The query's one-word names that are distinctive in `snapshot`: rare there, not a
/// business or place word.
fn distinctive_words<'a>(snapshot: &Snapshot, q: &'a PreparedParty) -> Vec<&'a str> {
    let cap =
        DISTINCTIVE_MIN_COUNT.max((snapshot.party_count() as f64 * DISTINCTIVE_SHARE) as usize);
    q.names
        .iter()
        .map(PreparedName::text)
        .filter(|name| {
            name.len() >= MIN_DISTINCTIVE_WORD
                && !name.contains(' ')
                && !is_generic_word(name)
                && !is_place_word(name)
                && (1..=cap).contains(
                    &snapshot
                        .postings
                        .get(snapshot.keying.key(keys::TOKEN, name))
                        .len(),
                )
        })
        .collect()
}

/// What a pair's scoring needs besides the two parties: the shared identifiers, the areas
/// holding the query's point, and the query's distinctive words.
struct PairContext<'a> {
    ids: &'a [(u32, u8)],
    areas: &'a [u32],
    distinctive: &'a [&'a str],
}

/// An incident party's name form holding one of the distinctive words as a whole word.
fn holds_distinctive<'a>(
    incident: &'a [u8],
    distinctive: &[&'a str],
) -> Option<(&'a str, &'a [u8])> {
    for form in incident.split(|&b| b == NAME_SEP as u8) {
        for &word in distinctive {
            if form.split(|&b| b == b' ').any(|w| w == word.as_bytes()) {
                return Some((word, form));
            }
        }
    }
    None
}

/// Every party of `snapshot` scored against the query party (the re-scoring of candidates
/// found elsewhere, by a database-backed screener): identifiers as shared, areas and
/// distinctive words left out.
pub fn score_every_party(
    snapshot: &Snapshot,
    q: &PreparedParty,
    policy: &Policy,
    today: i32,
) -> Vec<Found> {
    let everyone: Vec<u32> = (0..snapshot.party_count() as u32).collect();
    let mut ids: Vec<(u32, u8)> = Vec::new();
    for &(key, kind) in &q.identifiers {
        for &party in snapshot.postings.get(key) {
            match ids.iter_mut().find(|(p, _)| *p == party) {
                Some(hit) => hit.1 |= kind.bit(),
                None => ids.push((party, kind.bit())),
            }
        }
    }
    // Areas and distinctive words are the index's alone: a word is rare or not among all
    // incidents, not among the few handed over here.
    let context = PairContext {
        ids: &ids,
        areas: &[],
        distinctive: &[],
    };
    score_pairs(snapshot, q, policy, today, &everyone, &context, false)
}

/// How the query's street address compares with an incident party's (keyed street, its words
/// and house number, 0 unknown; one street when all of the fewer words are among the others'); it counts only in the same place (`same_place`: the same
/// postcode or city, or points within the "far" distance), as many cities have a Main Street 1.
fn address_agreement(
    q: &PreparedParty,
    street: u32,
    words: &[u32],
    house: u32,
    same_place: bool,
) -> AddressAgreement {
    let same_street = q.place.street != 0
        && (street == q.place.street || snapshot::same_street_words(&q.place.street_words, words));
    if !same_street || !same_place {
        return AddressAgreement::Unknown;
    }
    match (q.place.house, house) {
        (0, _) | (_, 0) => AddressAgreement::SameStreet,
        (a, b) if a != b => AddressAgreement::OtherNumber,
        _ => AddressAgreement::Same,
    }
}

/// What scoring reads of an incident party and its incident.
struct PartyRecord<'a> {
    row: u32,
    country: u16,
    names: &'a [u8],
    point: [f64; 2],
    postcode: u32,
    city: u32,
    street: u32,
    street_words: &'a [u32],
    house: u32,
    kind: u8,
    substance: u8,
    reported_on: i32,
}

impl<'a> PartyRecord<'a> {
    fn read(snapshot: &'a Snapshot, party: u32) -> Self {
        let p = party as usize;
        let row = snapshot.party_incident[p];
        let r = row as usize;
        PartyRecord {
            row,
            country: snapshot.party_country[p],
            names: snapshot.party_names.get_bytes(p),
            point: snapshot.party_point[p],
            postcode: snapshot.party_postcode[p],
            city: snapshot.party_city[p],
            street: snapshot.party_street[p],
            street_words: snapshot.street_words_of(p),
            house: snapshot.party_house[p],
            kind: snapshot.kinds[r],
            substance: snapshot.substances[r],
            reported_on: snapshot.reported_on[r],
        }
    }
}

/// The reported matches among `pairs` (ascending party ids); with `bounded`, pairs whose
/// points cannot reach the report score are skipped unscored.
#[allow(clippy::too_many_arguments)]
fn score_pairs(
    snapshot: &Snapshot,
    q: &PreparedParty,
    policy: &Policy,
    today: i32,
    pairs: &[u32],
    context: &PairContext<'_>,
    bounded: bool,
) -> Vec<Found> {
    let (ids, areas) = (context.ids, context.areas);
    let report_points = points_for(policy, policy.report_score);
    // All the pairs' party and incident fields are read first, in a loop of loads alone, so
    // that their cache misses (one or more a column, in a large index) overlap instead of
    // waiting one by one behind each pair's name comparison.
    let records: Vec<PartyRecord<'_>> = pairs
        .iter()
        .map(|&party| PartyRecord::read(snapshot, party))
        .collect();
    let mut out = Vec::new();
    for (&party, record) in pairs.iter().zip(&records) {
        let row = record.row;
        let country = record.country;
        let forms = record.names;
        let (mut similarity, mut query_name, mut incident_name) = best_names(&q.names, forms);
        if similarity < DISTINCTIVE_SIMILARITY && country != 0 && country == q.country {
            if let Some((word, form)) = holds_distinctive(forms, context.distinctive) {
                (similarity, query_name, incident_name) = (DISTINCTIVE_SIMILARITY, word, form);
            }
        }
        let distance = match q.location {
            Some((lat, lon)) => {
                let [party_lat, party_lon] = record.point;
                geo::haversine_m(lat, lon, party_lat, party_lon)
            }
            None => f64::NAN,
        };
        let postcode_match = q.place.postcode != 0 && record.postcode == q.place.postcode;
        let city_match = q.place.city != 0 && q.place.city == record.city;
        let address = address_agreement(
            q,
            record.street,
            record.street_words,
            record.house,
            postcode_match || city_match || distance <= policy.far_location_m,
        );
        let (address_alone, mut address_beside) = address_points(policy, address);
        if postcode_match {
            address_beside += policy.postcode_weight;
        }
        if city_match {
            address_beside += policy.city_weight;
        }
        let weight = incident_weight(
            policy,
            record.kind,
            record.substance,
            i64::from(today) - i64::from(record.reported_on),
        );
        let identifiers = ids.iter().find(|h| h.0 == party).map_or(0, |h| h.1);
        let in_area = areas.binary_search(&party).is_ok();
        let special = identifiers != 0 || in_area;
        let bound = points_upper_bound(policy, similarity, distance, address_alone, address_beside)
            * weight;
        if bounded && !(special || bound >= report_points) {
            continue;
        }
        let incident_postcode = record.postcode;
        let ev = PairEvidence {
            name_similarity: similarity,
            distance_m: (!distance.is_nan()).then_some(distance),
            in_area,
            identifiers,
            postcode_match: (q.place.postcode != 0 && incident_postcode != 0)
                .then_some(q.place.postcode == incident_postcode),
            city_match,
            country_match: (country != 0 && q.country != 0).then_some(country == q.country),
            address,
        };
        let (points, reasons) = evidence_points(policy, &ev);
        let score = score_of(policy, points * weight);
        if score < policy.report_score {
            continue;
        }
        out.push(Found {
            party,
            row,
            score: py_round(score, 2),
            stoplight: stoplight_of(policy, score),
            reasons,
            name_similarity: py_round(similarity, 4),
            query_name: query_name.to_owned(),
            incident_name: String::from_utf8_lossy(incident_name).into_owned(),
            distance_m: ev.distance_m.map(|d| py_round(d, 1)),
            in_area,
            identifiers,
            postcode_match: ev.postcode_match == Some(true),
            city_match: ev.city_match,
            country_match: ev.country_match,
            address,
            weight: py_round(weight, 4),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, Incident, IncidentKind, IncidentStatus, Location, SubstanceClass};
    use crate::policy::default_policy;
    use proptest::prelude::*;

    fn located(id: usize, lat: f64, lon: f64) -> Incident {
        Incident {
            incident_id: format!("ION-{id}"),
            version: 1,
            kind: IncidentKind::Seizure,
            reported_on: 739_000,
            reporting_country: "DE".into(),
            agency: String::new(),
            contact_ref: String::new(),
            channel: Channel::Unknown,
            status: IncidentStatus::Active,
            substance_class: SubstanceClass::Unknown,
            substances: Vec::new(),
            parties: vec![Party {
                name: format!("P{id}"),
                location: Some(Location { lat, lon }),
                ..Party::default()
            }],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn the_nearest_found_are_the_exact_nearest(
            centre_lat in -79.0f64..79.0,
            centre_lon in -179.99f64..179.99,
            offsets in proptest::collection::vec((-0.006f64..0.006, -0.006f64..0.006, 0u8..4), 1..300),
            query in (-0.004f64..0.004, -0.004f64..0.004),
        ) {
            // Points cluster, some on one spot (geocoded to a centre), as real ones do.
            let incidents: Vec<Incident> = offsets
                .iter()
                .enumerate()
                .map(|(i, &(dlat, dlon, same))| {
                    let (dlat, dlon) = if same == 0 { (0.0, 0.0) } else { (dlat, dlon) };
                    located(i, centre_lat + dlat, centre_lon + dlon)
                })
                .collect();
            let snapshot = Snapshot::build(&incidents, Keying::new(1, 1), 0);
            let policy = default_policy();
            let party = Party {
                location: Some(Location { lat: centre_lat + query.0, lon: centre_lon + query.1 }),
                ..Party::default()
            };
            let q = PreparedParty::new(&snapshot.keying, &party);
            let (lat, lon) = q.location.unwrap();
            let mut exact: Vec<(u32, f64)> = (0..snapshot.party_count() as u32)
                .filter_map(|p| {
                    let [plat, plon] = snapshot.party_point[p as usize];
                    let d = geo::haversine_m(lat, lon, plat, plon);
                    (d <= policy.near_radius_m).then_some((p, -d))
                })
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let expected: Vec<u32> = exact.iter().take(policy.geo_candidates).map(|e| e.0).collect();
            prop_assert_eq!(geo_candidates(&snapshot, &q, &policy), expected);
        }
    }
}
