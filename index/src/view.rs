//! What screening reads: a base snapshot, the delta laid over it (an overlay snapshot of recent
//! upserts, and the base rows they replace or delete), and the generation that names both.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::candidates::{match_party, score_every_party, Found, PreparedParty};
use crate::model::{Incident, Query};
use crate::policy::Policy;
use crate::scoring::{combine_scores, stoplight_of};
use crate::snapshot::Snapshot;
use crate::verdict::{result_of, PartyResult, Verdict};

/// Recent upserts in first-upserted order (a re-upsert keeps its place), and deletions.
#[derive(Clone, Default)]
pub struct Delta {
    pub upserts: Vec<Arc<Incident>>,
    pub positions: HashMap<String, usize>,
    pub deleted: HashSet<String>,
}

impl Delta {
    pub fn len(&self) -> usize {
        self.upserts.len() + self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone)]
pub struct View {
    pub base: Arc<Snapshot>,
    pub overlay: Option<Arc<Snapshot>>,
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
            overlay: None,
            delta: Delta::default(),
            masked_rows: Arc::new(HashSet::new()),
            generation,
        }
    }

    pub fn incident_count(&self) -> usize {
        let overlay = self.overlay.as_ref().map_or(0, |o| o.incident_count());
        self.base.incident_count() - self.masked_rows.len() + overlay
    }

    /// Parties held in the index structures (a changed incident's old parties stay in the
    /// base, masked, until the next compaction).
    pub fn party_count(&self) -> usize {
        self.base.party_count() + self.overlay.as_ref().map_or(0, |o| o.party_count())
    }

    /// A new view with these changes; this one is left as it was.
    pub fn apply(&self, upserts: Vec<Incident>, deletions: &[String], generation: u64) -> View {
        let mut delta = self.delta.clone();
        let mut masked: HashSet<u32> = (*self.masked_rows).clone();
        let mut changed: Vec<&str> = Vec::new();
        let mut removed = false;
        for incident in upserts {
            let id = incident.incident_id.clone();
            delta.deleted.remove(&id);
            match delta.positions.get(&id) {
                Some(&at) => delta.upserts[at] = Arc::new(incident),
                None => {
                    delta.positions.insert(id, delta.upserts.len());
                    delta.upserts.push(Arc::new(incident));
                }
            }
        }
        for id in deletions {
            if let Some(at) = delta.positions.remove(id) {
                delta.upserts.remove(at);
                removed = true;
            }
            delta.deleted.insert(id.clone());
        }
        if removed {
            delta.positions = delta
                .upserts
                .iter()
                .enumerate()
                .map(|(i, incident)| (incident.incident_id.clone(), i))
                .collect();
        }
        changed.extend(delta.positions.keys().map(String::as_str));
        changed.extend(delta.deleted.iter().map(String::as_str));
        for id in changed {
            if let Some(row) = self.base.row_of(id) {
                masked.insert(row);
            }
        }
        let overlay = (!delta.upserts.is_empty()).then(|| {
            let incidents: Vec<Incident> = delta.upserts.iter().map(|i| (**i).clone()).collect();
            Arc::new(Snapshot::build(&incidents, self.base.keying, 0))
        });
        View {
            base: Arc::clone(&self.base),
            overlay,
            delta,
            masked_rows: Arc::new(masked),
            generation,
        }
    }

    /// The explained verdict of each query (all valid), in order.
    pub fn screen(&self, queries: &[Query], policy: &Policy, today: i32) -> Vec<Verdict<'_>> {
        let keying = &self.base.keying;
        let masked = |row: u32| self.masked_rows.contains(&row);
        let nothing = |_: u32| false;
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
                        if let Some(overlay) = &self.overlay {
                            found.extend(
                                match_party(overlay, &prepared, policy, today, &nothing)
                                    .into_iter()
                                    .map(|f| Located {
                                        snapshot: overlay,
                                        found: f,
                                    }),
                            );
                        }
                        finish_party(index, prepared.role, found, policy)
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
            finish_party(index, prepared.role, found, policy)
        })
        .collect();
    result_of(query, parties, policy, 0, incident_count)
}

/// A query party's verdict from its matches: the best match per incident, ranked.
fn finish_party<'a>(
    index: usize,
    role: u8,
    found: Vec<Located<'a>>,
    policy: &Policy,
) -> PartyResult<'a> {
    let mut best: Vec<Located<'a>> = Vec::new();
    let mut by_id: HashMap<&'a str, usize> = HashMap::new();
    for located in found {
        let id = located
            .snapshot
            .incident_ids
            .get(located.found.row as usize);
        match by_id.get(id) {
            Some(&at) => {
                let current = &best[at].found;
                let (new, old) = (&located.found, current);
                if (new.score, new.name_similarity) > (old.score, old.name_similarity) {
                    best[at] = located;
                }
            }
            None => {
                by_id.insert(id, best.len());
                best.push(located);
            }
        }
    }
    best.sort_by(|a, b| {
        let ia = a.snapshot.incident_ids.get(a.found.row as usize);
        let ib = b.snapshot.incident_ids.get(b.found.row as usize);
        b.found.score.total_cmp(&a.found.score).then(ia.cmp(ib))
    });
    let scores: Vec<f64> = best.iter().map(|l| l.found.score).collect();
    let score = combine_scores(policy, &scores);
    best.truncate(policy.max_matches_per_party);
    PartyResult {
        index,
        role,
        stoplight: stoplight_of(policy, score),
        score: crate::rounding::py_round(score, 2),
        matches: best,
    }
}
