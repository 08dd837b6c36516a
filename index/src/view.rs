//! What screening reads: a base snapshot, the delta laid over it, and the generation that names
//! both. The delta is a short stack of overlay layers, each a small snapshot of upserts with
//! the rows that later changes replaced or deleted masked out: applying a change builds a layer
//! of just that change and masks what it supersedes, and layers of about one size are merged
//! (size-tiered, so a change is rebuilt O(log n) times before the next compaction) — the cost
//! of a change follows the change, not the whole pending delta.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::candidates::{match_party, score_every_party, Found, PreparedParty};
use crate::model::{Incident, IncidentStatus, Query};
use crate::policy::Policy;
use crate::reasons::ReasonCode;
use crate::scoring::{combine_scores, stoplight_of, Stoplight};
use crate::snapshot::Snapshot;
use crate::suppression::Suppressions;
use crate::verdict::{result_of, PartyResult, Verdict};

/// A snapshot of recent upserts, the rows of it that later changes superseded, and the
/// upserts it indexes (in row order; retracted ones are held for the count but not indexed).
#[derive(Clone)]
pub struct Layer {
    pub snapshot: Arc<Snapshot>,
    pub masked: Arc<HashSet<u32>>,
    incidents: Arc<Vec<Arc<Incident>>>,
}

impl Layer {
    fn of(incidents: Vec<Arc<Incident>>, keying: crate::keys::Keying) -> Layer {
        let active: Vec<Incident> = incidents
            .iter()
            .filter(|i| i.status != IncidentStatus::Retracted)
            .map(|i| (**i).clone())
            .collect();
        Layer {
            snapshot: Arc::new(Snapshot::build(&active, keying, 0)),
            masked: Arc::new(HashSet::new()),
            incidents: Arc::new(incidents),
        }
    }

    /// The upserts still current in this layer, in order.
    fn live(&self) -> impl Iterator<Item = &Arc<Incident>> {
        self.incidents.iter().filter(|i| {
            self.snapshot
                .row_of(&i.incident_id)
                .is_none_or(|row| !self.masked.contains(&row))
        })
    }

    fn live_count(&self) -> usize {
        self.snapshot.incident_count() - self.masked.len()
    }
}

/// Ids changed since the base was built: upserted (with the layer holding their current
/// version) or deleted.
#[derive(Clone, Default)]
pub struct Delta {
    pub layer_of: HashMap<String, usize>,
    pub deleted: HashSet<String>,
}

impl Delta {
    pub fn len(&self) -> usize {
        self.layer_of.len() + self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone)]
pub struct View {
    pub base: Arc<Snapshot>,
    pub layers: Vec<Layer>,
    pub delta: Delta,
    pub masked_rows: Arc<HashSet<u32>>,
    pub generation: u64,
}

/// Where a match was found: its snapshot and the match.
pub struct Located<'a> {
    pub snapshot: &'a Snapshot,
    pub found: Found,
}

impl View {
    pub fn of(base: Arc<Snapshot>) -> View {
        let generation = base.generation;
        View {
            base,
            layers: Vec::new(),
            delta: Delta::default(),
            masked_rows: Arc::new(HashSet::new()),
            generation,
        }
    }

    pub fn incident_count(&self) -> usize {
        let layers: usize = self.layers.iter().map(Layer::live_count).sum();
        self.base.incident_count() - self.masked_rows.len() + layers
    }

    /// Parties held in the index structures (a changed incident's old parties stay, masked,
    /// until the next compaction).
    pub fn party_count(&self) -> usize {
        self.base.party_count()
            + self
                .layers
                .iter()
                .map(|l| l.snapshot.party_count())
                .sum::<usize>()
    }

    /// A new view with these changes; this one is left as it was. Costs in proportion to the
    /// change (and, amortised, the merges of layers of about its size).
    pub fn apply(&self, upserts: Vec<Incident>, deletions: &[String], generation: u64) -> View {
        let mut delta = self.delta.clone();
        let mut masked: HashSet<u32> = (*self.masked_rows).clone();
        let mut layers = self.layers.clone();
        let mut touched: HashMap<usize, HashSet<u32>> = HashMap::new();
        let mut newest: Vec<Arc<Incident>> = Vec::new();
        let mut in_newest: HashMap<String, usize> = HashMap::new();
        let changed: Vec<String> = upserts
            .iter()
            .map(|i| i.incident_id.clone())
            .chain(deletions.iter().cloned())
            .collect();
        for id in &changed {
            if let Some(row) = self.base.row_of(id) {
                masked.insert(row);
            }
            if let Some(&at) = delta.layer_of.get(id) {
                if let Some(row) = layers[at].snapshot.row_of(id) {
                    touched
                        .entry(at)
                        .or_insert_with(|| (*layers[at].masked).clone())
                        .insert(row);
                }
            }
        }
        for incident in upserts {
            let id = incident.incident_id.clone();
            delta.deleted.remove(&id);
            match in_newest.get(&id) {
                Some(&at) => newest[at] = Arc::new(incident),
                None => {
                    in_newest.insert(id, newest.len());
                    newest.push(Arc::new(incident));
                }
            }
        }
        for id in deletions {
            if let Some(at) = in_newest.remove(id) {
                newest.remove(at);
                for position in in_newest.values_mut() {
                    if *position > at {
                        *position -= 1;
                    }
                }
            }
            delta.layer_of.remove(id);
            delta.deleted.insert(id.clone());
        }
        for (at, rows) in touched {
            layers[at].masked = Arc::new(rows);
        }
        if !newest.is_empty() {
            let at = layers.len();
            for incident in &newest {
                delta.layer_of.insert(incident.incident_id.clone(), at);
            }
            layers.push(Layer::of(newest, self.base.keying));
            merge_tiers(&mut layers, &mut delta, self.base.keying);
        }
        View {
            base: Arc::clone(&self.base),
            layers,
            delta,
            masked_rows: Arc::new(masked),
            generation,
        }
    }

    /// The explained verdict of each query (all valid), in order; matches of the pairs in
    /// `suppressions` (the calling agency's recorded false matches) no longer raise them.
    pub fn screen(
        &self,
        queries: &[Query],
        policy: &Policy,
        today: i32,
        suppressions: Option<&Suppressions>,
    ) -> Vec<Verdict<'_>> {
        let keying = &self.base.keying;
        let masked = |row: u32| self.masked_rows.contains(&row);
        queries
            .iter()
            .map(|query| {
                let parties = query
                    .parties
                    .iter()
                    .enumerate()
                    .map(|(index, party)| {
                        let prepared = PreparedParty::new(keying, party);
                        let mut found: Vec<Located<'_>> =
                            match_party(&self.base, &prepared, policy, today, &masked)
                                .into_iter()
                                .map(|f| Located {
                                    snapshot: &self.base,
                                    found: f,
                                })
                                .collect();
                        for layer in &self.layers {
                            let superseded = |row: u32| layer.masked.contains(&row);
                            let snapshot: &Snapshot = &layer.snapshot;
                            found.extend(
                                match_party(snapshot, &prepared, policy, today, &superseded)
                                    .into_iter()
                                    .map(|f| Located { snapshot, found: f }),
                            );
                        }
                        let of_party = suppressions.map(|s| s.of_party(party));
                        let suppressed = |id: &str, version: i64| {
                            of_party.as_ref().is_some_and(|s| s.covers(id, version))
                        };
                        finish_party(index, prepared.role, found, policy, &suppressed)
                    })
                    .collect();
                result_of(
                    query,
                    parties,
                    policy,
                    self.generation,
                    self.incident_count(),
                )
            })
            .collect()
    }
}

/// The verdict of a query whose candidates a database-backed screener found: `candidates[i]`
/// (a snapshot of the incidents found for party i) is scored party by party with the same
/// evidence, weights and stoplights as the index.
pub fn rescore<'a>(
    query: &Query,
    candidates: &'a [Snapshot],
    policy: &Policy,
    today: i32,
    incident_count: usize,
) -> Verdict<'a> {
    let parties = query
        .parties
        .iter()
        .zip(candidates)
        .enumerate()
        .map(|(index, (party, snapshot))| {
            let prepared = PreparedParty::new(&snapshot.keying, party);
            let found = score_every_party(snapshot, &prepared, policy, today)
                .into_iter()
                .map(|found| Located { snapshot, found })
                .collect();
            finish_party(index, prepared.role, found, policy, &|_, _| false)
        })
        .collect();
    result_of(query, parties, policy, 0, incident_count)
}

/// Merges the newest layers while the newest is at least half the size of the one before it,
/// so layer sizes fall geometrically: a handful of layers, each change rebuilt O(log n) times.
fn merge_tiers(layers: &mut Vec<Layer>, delta: &mut Delta, keying: crate::keys::Keying) {
    while layers.len() >= 2 {
        let newest = &layers[layers.len() - 1];
        let older = &layers[layers.len() - 2];
        if newest.incidents.len() * 2 < older.incidents.len() {
            break;
        }
        let merged: Vec<Arc<Incident>> = older.live().chain(newest.live()).cloned().collect();
        layers.truncate(layers.len() - 2);
        let at = layers.len();
        for incident in &merged {
            delta.layer_of.insert(incident.incident_id.clone(), at);
        }
        layers.push(Layer::of(merged, keying));
    }
}

/// A query party's verdict from its matches: the best match per incident, ranked. A match
/// `suppressed(incident id, version)` names stays, marked and GREEN, after those that count,
/// and its score is left out of the party's.
fn finish_party<'a>(
    index: usize,
    role: u8,
    found: Vec<Located<'a>>,
    policy: &Policy,
    suppressed: &dyn Fn(&str, i64) -> bool,
) -> PartyResult<'a> {
    let mut best: Vec<(&'a str, Located<'a>, bool)> = Vec::new();
    let mut by_id: HashMap<&'a str, usize> = HashMap::new();
    for located in found {
        let id = located
            .snapshot
            .incident_ids
            .get(located.found.row as usize);
        match by_id.get(id) {
            Some(&at) => {
                let (new, old) = (&located.found, &best[at].1.found);
                if (new.score, new.name_similarity) > (old.score, old.name_similarity) {
                    best[at].1 = located;
                }
            }
            None => {
                by_id.insert(id, best.len());
                best.push((id, located, false));
            }
        }
    }
    for (id, located, hidden) in &mut best {
        let version = located.snapshot.versions[located.found.row as usize];
        if suppressed(id, version) {
            *hidden = true;
            located.found.reasons.push(ReasonCode::SuppressedByOutcome);
            located.found.stoplight = Stoplight::Green;
        }
    }
    best.sort_by(|(ia, a, ha), (ib, b, hb)| {
        ha.cmp(hb)
            .then(b.found.score.total_cmp(&a.found.score))
            .then(ia.cmp(ib))
    });
    let scores: Vec<f64> = best
        .iter()
        .filter(|(_, _, hidden)| !hidden)
        .map(|(_, l, _)| l.found.score)
        .collect();
    let score = combine_scores(policy, &scores);
    let mut best: Vec<Located<'a>> = best.into_iter().map(|(_, located, _)| located).collect();
    best.truncate(policy.max_matches_per_party);
    PartyResult {
        index,
        role,
        stoplight: stoplight_of(policy, score),
        score: crate::rounding::py_round(score, 2),
        matches: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keying;
    use crate::model::{Channel, IncidentKind, Party, SubstanceClass};
    use proptest::prelude::*;

    fn incident(id: usize, version: i64, retracted: bool) -> Incident {
        Incident {
            incident_id: format!("ION-{id}"),
            version,
            kind: IncidentKind::Seizure,
            reported_on: 739_000,
            reporting_country: "DE".into(),
            agency: String::new(),
            contact_ref: String::new(),
            channel: Channel::Unknown,
            status: if retracted {
                IncidentStatus::Retracted
            } else {
                IncidentStatus::Active
            },
            substance_class: SubstanceClass::Unknown,
            substances: Vec::new(),
            parties: vec![Party {
                name: format!("Party Number{id} V{version}"),
                ..Party::default()
            }],
        }
    }

    /// (id, version) of each incident the view indexes and has not masked, sorted.
    fn live(view: &View) -> Vec<(String, i64)> {
        let mut ids = Vec::new();
        let mut add = |snapshot: &Snapshot, masked: &HashSet<u32>| {
            for row in 0..snapshot.incident_count() {
                if !masked.contains(&(row as u32)) {
                    ids.push((
                        snapshot.incident_ids.get(row).to_owned(),
                        snapshot.versions[row],
                    ));
                }
            }
        };
        add(&view.base, &view.masked_rows);
        for layer in &view.layers {
            add(&layer.snapshot, &layer.masked);
        }
        ids.sort();
        ids
    }

    const KEY: &[u8] = b"audit key";

    /// Incident `id` (version `version`) whose one party is `name` in CN with a shared phone.
    fn phoned(id: usize, version: i64, name: &str) -> Incident {
        let mut incident = incident(id, version, false);
        incident.parties = vec![Party {
            name: name.into(),
            country_code: "CN".into(),
            phones: vec!["+86 21 5555 0188".into()],
            ..Party::default()
        }];
        incident
    }

    fn query_of(name: &str) -> Query {
        Query {
            item_id: "EE471108151FR".into(),
            parties: vec![Party {
                name: name.into(),
                country_code: "CN".into(),
                phones: vec!["+86 21 5555 0188".into()],
                ..Party::default()
            }],
            channel: Channel::Unknown,
            contents: Vec::new(),
        }
    }

    fn suppressing(name: &str, pairs: &[(&str, i64)]) -> Suppressions {
        let digest = crate::summary::party_digest_bytes(KEY, name, "", "CN");
        Suppressions::new(
            KEY,
            pairs.iter().map(|(id, v)| (digest, (*id).to_owned(), *v)),
        )
    }

    /// (incident id, score, stoplight, suppressed) of the party's matches, and its score and
    /// stoplight.
    type Seen = (Vec<(String, f64, Stoplight, bool)>, f64, Stoplight);

    fn seen(view: &View, query: &Query, suppressions: Option<&Suppressions>) -> Seen {
        let policy = crate::policy::default_policy();
        let verdicts = view.screen(std::slice::from_ref(query), &policy, 739_100, suppressions);
        let party = &verdicts[0].parties[0];
        let matches = party
            .matches
            .iter()
            .map(|m| {
                let id = m.snapshot.incident_ids.get(m.found.row as usize).to_owned();
                let hidden = m
                    .found
                    .reasons
                    .as_slice()
                    .contains(&ReasonCode::SuppressedByOutcome);
                (id, m.found.score, m.found.stoplight, hidden)
            })
            .collect();
        (matches, party.score, verdicts[0].stoplight)
    }

    #[test]
    fn a_suppressed_match_stays_in_the_answer_and_raises_nothing() {
        let keying = Keying::new(3, 4);
        let view = View::of(Arc::new(Snapshot::build(
            &[phoned(1, 1, "Hongda Chemical")],
            keying,
            1,
        )));
        let query = query_of("Hongda Chemical");
        let (plain, plain_score, plain_light) = seen(&view, &query, None);
        assert_eq!(plain_light, Stoplight::Red);
        let hidden = suppressing("hongda  CHEMICAL", &[("ION-1", 1)]);
        let (matches, score, light) = seen(&view, &query, Some(&hidden));
        assert_eq!((score, light), (0.0, Stoplight::Green));
        assert_eq!(matches.len(), 1);
        let (id, match_score, match_light, marked) = &matches[0];
        assert_eq!(
            (id.as_str(), *match_light, *marked),
            ("ION-1", Stoplight::Green, true)
        );
        assert_eq!(
            *match_score, plain[0].1,
            "the evidence is still shown as it is"
        );
        assert!(plain_score > 0.0);
    }

    #[test]
    fn only_the_cleared_version_and_party_are_suppressed() {
        let keying = Keying::new(3, 4);
        let base = View::of(Arc::new(Snapshot::build(
            &[phoned(1, 1, "Hongda Chemical")],
            keying,
            1,
        )));
        let cleared = suppressing("Hongda Chemical", &[("ION-1", 1)]);
        let newer = base.apply(vec![phoned(1, 2, "Hongda Chemical")], &[], 2);
        assert_eq!(
            seen(&newer, &query_of("Hongda Chemical"), Some(&cleared)).2,
            Stoplight::Red
        );
        let others = suppressing("Someone Else", &[("ION-1", 1)]);
        assert_eq!(
            seen(&base, &query_of("Hongda Chemical"), Some(&others)).2,
            Stoplight::Red
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn a_delta_holds_what_a_fresh_build_of_the_final_state_holds(
            changes in proptest::collection::vec((0usize..40, any::<bool>(), any::<bool>()), 1..120),
            batch in 1usize..6,
        ) {
            let keying = Keying::new(3, 4);
            let base: Vec<Incident> = (0..20).map(|i| incident(i, 1, false)).collect();
            let mut view = View::of(Arc::new(Snapshot::build(&base, keying, 1)));
            let mut state: HashMap<usize, Incident> = base.iter().cloned().enumerate().collect();
            for (n, chunk) in changes.chunks(batch).enumerate() {
                let mut upserts = Vec::new();
                let mut deletions = Vec::new();
                for &(id, delete, retracted) in chunk {
                    if delete {
                        deletions.push(format!("ION-{id}"));
                        state.remove(&id);
                        upserts.retain(|i: &Incident| i.incident_id != format!("ION-{id}"));
                    } else {
                        let updated = incident(id, n as i64 + 2, retracted);
                        upserts.retain(|i: &Incident| i.incident_id != updated.incident_id);
                        upserts.push(updated.clone());
                        state.insert(id, updated);
                    }
                }
                deletions.retain(|d| !upserts.iter().any(|u| &u.incident_id == d));
                view = view.apply(upserts, &deletions, n as u64 + 2);
            }
            let fresh: Vec<Incident> = state.into_values().collect();
            let fresh = View::of(Arc::new(Snapshot::build(&fresh, keying, 9)));
            prop_assert_eq!(live(&view), live(&fresh));
            prop_assert_eq!(view.incident_count(), fresh.incident_count());
            prop_assert!(view.layers.len() <= 8, "{} layers", view.layers.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn suppression_never_raises_a_score_and_keeps_every_match(
            names in proptest::collection::vec(0usize..4, 1..7),
            hidden in proptest::collection::vec(any::<bool>(), 7),
        ) {
            const NAMES: [&str; 4] =
                ["Hongda Chemical", "Hongda Chemicals", "Hong Da Trading", "Natalya Ivanova"];
            let incidents: Vec<Incident> =
                names.iter().enumerate().map(|(i, &n)| phoned(i, 1, NAMES[n])).collect();
            let view = View::of(Arc::new(Snapshot::build(&incidents, Keying::new(3, 4), 1)));
            let query = query_of("Hongda Chemical");
            let chosen: Vec<(String, i64)> = (0..incidents.len())
                .filter(|&i| hidden[i])
                .map(|i| (format!("ION-{i}"), 1))
                .collect();
            let pairs: Vec<(&str, i64)> = chosen.iter().map(|(id, v)| (id.as_str(), *v)).collect();
            let set = suppressing("Hongda Chemical", &pairs);
            let (plain, plain_score, plain_light) = seen(&view, &query, None);
            let (marked, score, light) = seen(&view, &query, Some(&set));
            prop_assert!(score <= plain_score);
            prop_assert!(light <= plain_light);
            let ids = |m: &[(String, f64, Stoplight, bool)]| {
                let mut ids: Vec<String> = m.iter().map(|x| x.0.clone()).collect();
                ids.sort();
                ids
            };
            prop_assert_eq!(ids(&plain), ids(&marked));
            for (id, _, match_light, is_hidden) in &marked {
                let wanted = chosen.iter().any(|(c, _)| c == id);
                prop_assert_eq!(*is_hidden, wanted);
                prop_assert!(!is_hidden || *match_light == Stoplight::Green);
            }
            let first_hidden = marked.iter().position(|m| m.3).unwrap_or(marked.len());
            prop_assert!(marked[first_hidden..].iter().all(|m| m.3), "counted matches come first");
            if marked.iter().all(|m| m.3) {
                prop_assert_eq!((score, light), (0.0, Stoplight::Green));
            }
            let empty = Suppressions::new(KEY, []);
            prop_assert_eq!(seen(&view, &query, Some(&empty)), (plain, plain_score, plain_light));
        }
    }
}
