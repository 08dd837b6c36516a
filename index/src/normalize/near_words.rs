//! A fixed vocabulary looked up with one typo forgiven, for the words normalisation drops or
//! folds (generic business words, legal-form words): "Tgechnology", "Gruop", "Limitzed".
//!
//! Port of `index/near_words.py`. Which typos are forgiven depends on the word's length,
//! because a one-letter change turns short words into real names ("Sharma" / "pharma"). A
//! letter typed in or two letters swapped count for words of [`TYPO_MIN`] letters or more, an
//! inner letter left out for words of [`MISSING_MIN`] or more, a substituted letter only for
//! words of [`SUBSTITUTION_MIN`] or more. Words of [`FOLDED_MIN`] letters or more also match
//! when their spelling folds to the same sounds and is as long within a letter. Lengths count
//! characters (Python code points).

use super::FastMap;
use std::fmt::Write as _;

pub(super) const FOLDED_MIN: usize = 4;
pub(super) const TYPO_MIN: usize = 5;
pub(super) const MISSING_MIN: usize = 6;
pub(super) const SUBSTITUTION_MIN: usize = 8;

/// The word with each one of its letters left out (one entry per character).
pub fn deletions(word: &str) -> Vec<String> {
    word.char_indices()
        .map(|(i, ch)| {
            let mut variant = String::with_capacity(word.len());
            variant.push_str(&word[..i]);
            variant.push_str(&word[i + ch.len_utf8()..]);
            variant
        })
        .collect()
}

/// Calls `visit` with each one-letter deletion of `word`, in order, built in one reused
/// buffer; stops at the first `Some`.
fn first_deletion<T>(word: &str, mut visit: impl FnMut(&str) -> Option<T>) -> Option<T> {
    let mut buf = String::with_capacity(word.len());
    for (i, ch) in word.char_indices() {
        buf.clear();
        buf.push_str(&word[..i]);
        buf.push_str(&word[i + ch.len_utf8()..]);
        if let Some(found) = visit(&buf) {
            return Some(found);
        }
    }
    None
}

/// Calls `visit` with each swap of two neighbouring letters of `word`, in order.
fn first_transposition<T>(word: &str, mut visit: impl FnMut(&str) -> Option<T>) -> Option<T> {
    let mut buf = String::with_capacity(word.len());
    let mut chars = word.char_indices().peekable();
    while let Some((i, a)) = chars.next() {
        let Some(&(j, b)) = chars.peek() else { break };
        buf.clear();
        buf.push_str(&word[..i]);
        buf.push(b);
        buf.push(a);
        buf.push_str(&word[j + b.len_utf8()..]);
        if let Some(found) = visit(&buf) {
            return Some(found);
        }
    }
    None
}

/// Maps a token to its vocabulary word's canonical form when the token is that word or a
/// forgiven typo of it.
pub(super) struct NearWords {
    exact: FastMap<&'static str, &'static str>,
    fold: fn(&str) -> String,
    folded: FastMap<String, (&'static str, usize)>,
    typo_words: FastMap<&'static str, &'static str>,
    missing_letter: FastMap<String, &'static str>,
    /// Long words' deletions, keyed "{length}:{deletion}".
    substituted: FastMap<String, &'static str>,
    shortest: usize,
    longest: usize,
}

impl NearWords {
    pub(super) fn new(
        vocabulary: impl IntoIterator<Item = (&'static str, &'static str)>,
        fold: fn(&str) -> String,
    ) -> Self {
        let exact: FastMap<&'static str, &'static str> = vocabulary.into_iter().collect();
        // Python iterates `sorted(vocabulary.items())` and keeps the first entry per key.
        let mut sorted: Vec<(&'static str, &'static str)> =
            exact.iter().map(|(&w, &c)| (w, c)).collect();
        sorted.sort_unstable();
        let len = |w: &str| w.chars().count();
        let mut folded = FastMap::default();
        for &(word, canonical) in &sorted {
            if len(word) >= FOLDED_MIN {
                folded.entry(fold(word)).or_insert((canonical, len(word)));
            }
        }
        let typo_sorted: Vec<_> = sorted
            .iter()
            .filter(|(w, _)| len(w) >= TYPO_MIN)
            .copied()
            .collect();
        let typo_words: FastMap<_, _> = typo_sorted.iter().copied().collect();
        let mut missing_letter = FastMap::default();
        let mut substituted = FastMap::default();
        for &(word, canonical) in &typo_sorted {
            let n = len(word);
            if n >= MISSING_MIN {
                // inner letters only: "Hande" is not "handel"
                for (i, ch) in word.char_indices().take(n - 1).skip(2) {
                    let variant = format!("{}{}", &word[..i], &word[i + ch.len_utf8()..]);
                    missing_letter.entry(variant).or_insert(canonical);
                }
            }
            if n >= SUBSTITUTION_MIN {
                for deleted in deletions(word) {
                    substituted
                        .entry(format!("{n}:{deleted}"))
                        .or_insert(canonical);
                }
            }
        }
        let longest = typo_words.keys().map(|w| len(w)).max().unwrap_or(0) + 1;
        NearWords {
            exact,
            fold,
            folded,
            typo_words,
            missing_letter,
            substituted,
            shortest: TYPO_MIN - 1,
            longest,
        }
    }

    pub(super) fn get(&self, token: &str) -> Option<&'static str> {
        if let Some(&exact) = self.exact.get(token) {
            return Some(exact);
        }
        let n = token.chars().count();
        if n >= FOLDED_MIN {
            // "Yao" folds like "yiyao" but is a surname, not a typo of it
            if let Some(&(canonical, word_len)) = self.folded.get(&(self.fold)(token)) {
                if n.abs_diff(word_len) <= 1 {
                    return Some(canonical);
                }
            }
        }
        if !(self.shortest <= n && n <= self.longest) {
            return None;
        }
        if let Some(&found) = self.missing_letter.get(token) {
            return Some(found);
        }
        let long_enough = n >= SUBSTITUTION_MIN;
        let mut key = String::new();
        let found = first_deletion(token, |variant| {
            // a letter typed in, or (long words) a letter substituted
            self.typo_words.get(variant).copied().or_else(|| {
                if !long_enough {
                    return None;
                }
                key.clear();
                let _ = write!(key, "{n}:{variant}");
                self.substituted.get(key.as_str()).copied()
            })
        });
        found
            .or_else(|| first_transposition(token, |variant| self.typo_words.get(variant).copied()))
    }
}
