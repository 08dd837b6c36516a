//! Name similarity for re-scoring: the Indel ratio of two normalised names with spaces
//! removed and with tokens sorted, a phonetic second opinion for borderline pairs, names
//! aligned with a given name more or fewer or an initial, and one typo counted as one letter.
//! `PreparedName` works out the query side once for the many incident names it meets.

use crate::normalize::{phonetic, phonetic_in_place};

/// A phonetic-only agreement is strong evidence but never an exact match.
pub const PHONETIC_DISCOUNT: f64 = 0.97;
/// Folding moves a pair's similarity by a few hundredths at most; below this it cannot lift a
/// pair anywhere near the name points.
const BORDERLINE_LOW: f64 = 0.75;

/// rapidfuzz's ratio (normalised Indel similarity) as 0–100, on bytes: names are ASCII here.
fn ratio(a: &[u8], b: &[u8]) -> f64 {
    100.0 * rapidfuzz::fuzz::ratio(a.iter().copied(), b.iter().copied())
}

/// The longest name `with_sorted_tokens` sorts on the stack, and its most tokens.
const STACK_NAME: usize = 128;
const STACK_TOKENS: usize = 16;

/// The tokens sorted and joined by single spaces (rapidfuzz's token_sort preprocessing).
fn sorted_tokens(text: &[u8]) -> Vec<u8> {
    let mut tokens: Vec<&[u8]> = text
        .split(|c| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    tokens.sort_unstable();
    tokens.join(&b' ')
}

/// `sorted_tokens` handed to `f`, without a heap allocation for names of usual size.
fn with_sorted_tokens<R>(text: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if text.len() > STACK_NAME {
        return f(&sorted_tokens(text));
    }
    let mut tokens: [&[u8]; STACK_TOKENS] = [&[]; STACK_TOKENS];
    let mut count = 0;
    for token in text
        .split(|c| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        if count == STACK_TOKENS {
            return f(&sorted_tokens(text));
        }
        tokens[count] = token;
        count += 1;
    }
    let tokens = &mut tokens[..count];
    tokens.sort_unstable();
    // Single spaces between the tokens take no more room than the text's own whitespace.
    let mut joined = [0u8; STACK_NAME];
    let mut len = 0;
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            joined[len] = b' ';
            len += 1;
        }
        joined[len..len + token.len()].copy_from_slice(token);
        len += token.len();
    }
    f(&joined[..len])
}

/// `phonetic(text)` handed to `f`, folded on the stack for ASCII names of usual size.
fn with_phonetic<R>(text: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if text.len() > STACK_NAME || !text.is_ascii() {
        return f(phonetic(&String::from_utf8_lossy(text)).as_bytes());
    }
    let mut folded = [0u8; STACK_NAME];
    folded[..text.len()].copy_from_slice(text);
    let len = phonetic_in_place(&mut folded[..text.len()]);
    f(&folded[..len])
}

fn without_spaces(text: &[u8]) -> Vec<u8> {
    text.iter().copied().filter(|&c| c != b' ').collect()
}

/// One spelling of a name set to meet many others: with spaces removed and with tokens sorted.
/// (rapidfuzz's `RatioBatchComparator` would cache more, but it scores "w" against "wy" 0.5,
/// not the ratio's 0.67.)
struct Spelling {
    compact: Vec<u8>,
    sorted: Vec<u8>,
}

impl Spelling {
    fn new(text: &[u8]) -> Self {
        Spelling {
            compact: without_spaces(text),
            sorted: sorted_tokens(text),
        }
    }

    /// The better ratio of the two forms, 0–1.
    fn similarity(&self, other: &[u8]) -> f64 {
        let compact = 100.0
            * rapidfuzz::fuzz::ratio(
                self.compact.iter().copied(),
                other.iter().copied().filter(|&c| c != b' '),
            );
        let sorted = with_sorted_tokens(other, |sorted| ratio(&self.sorted, sorted));
        compact.max(sorted) / 100.0
    }
}

/// A query's name form, prepared once for the many incident forms it is compared with:
/// `similarity` of the two, with the query's spellings (and, at the first borderline pair, its
/// phonetic folding) worked out ahead.
pub struct PreparedName {
    text: String,
    spelling: Spelling,
    folded: std::sync::OnceLock<Spelling>,
}

impl PreparedName {
    pub fn new(text: &str) -> Self {
        PreparedName {
            text: text.to_owned(),
            spelling: Spelling::new(text.as_bytes()),
            folded: std::sync::OnceLock::new(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// `similarity(self, other)`.
    pub fn similarity(&self, other: &[u8]) -> f64 {
        let own = self.text.as_bytes();
        let mut spelled = self.spelling.similarity(other);
        if (BORDERLINE_LOW..PHONETIC_DISCOUNT).contains(&spelled) {
            let folded = self
                .folded
                .get_or_init(|| Spelling::new(phonetic(&self.text).as_bytes()));
            let other_folded = with_phonetic(other, |other| folded.similarity(other));
            spelled = spelled.max(PHONETIC_DISCOUNT * other_folded);
        }
        if spelled < ALIGNED_CAP - EXTRA_TOKEN_COST && may_align(own, other) {
            spelled = spelled.max(aligned_similarity(own, other));
        }
        if (BORDERLINE_LOW..TYPO_CEILING).contains(&spelled) {
            spelled = spelled.max(one_typo_similarity(own, other));
        }
        spelled
    }
}

/// 0–1 similarity of two normalised name forms (space-separated tokens): the better of the
/// names with spaces removed ("shang hai hong da" meets "shanghai hongda") and with tokens
/// sorted ("ivanova natalya" meets "natalya ivanova"); a borderline pair gets a second opinion
/// on its phonetic folding, discounted; names that align with a given name more or fewer, or
/// one typo apart, get what that is worth.
pub fn similarity(a: &str, b: &str) -> f64 {
    PreparedName::new(a).similarity(b.as_bytes())
}

/// The first letters of the words that `aligned_in_order` pairs first (each name's first
/// word, or its second when written surname first): without one pair that agrees, two
/// names of several words cannot align, and most candidate pairs are rejected here without
/// splitting either name.
fn may_align(a: &[u8], b: &[u8]) -> bool {
    fn heads(text: &[u8]) -> Option<[u8; 2]> {
        let space = text.iter().position(|&c| c == b' ')?;
        Some([*text.first()?, *text.get(space + 1)?])
    }
    match (heads(a), heads(b)) {
        (Some([a0, a1]), Some([b0, b1])) => a0 == b0 || a1 == b0 || a0 == b1,
        _ => false,
    }
}

/// One typo is worth at most this (a name of few letters less).
const TYPO_CEILING: f64 = 0.975;
/// Typos in words shorter than this change them too much to be sure.
const MIN_TYPO_WORD: usize = 5;

/// One slip of the keyboard, whatever its kind: the names' words agree in order but for one
/// pair a letter apart (a letter replaced, two swapped, one added or left out: "Bignzrdi",
/// "Larosn", "Dragbn"). The Indel ratio counts a replaced or swapped letter twice and an added
/// one once; here each counts as one letter in the name's length.
pub fn one_typo_similarity(a: &[u8], b: &[u8]) -> f64 {
    let (wa, wb) = (words_of(a), words_of(b));
    if wa.len() != wb.len() || wa.is_empty() {
        return 0.0;
    }
    let mut differing = wa.iter().zip(&wb).filter(|(x, y)| x != y);
    let Some((x, y)) = differing.next() else {
        return 0.0;
    };
    if differing.next().is_some() || x.len().min(y.len()) < MIN_TYPO_WORD || !one_edit_apart(x, y) {
        return 0.0;
    }
    let letters = wa
        .iter()
        .map(|w| w.len())
        .sum::<usize>()
        .max(wb.iter().map(|w| w.len()).sum());
    (1.0 - 1.0 / (2 * letters) as f64).min(TYPO_CEILING)
}

/// Damerau-Levenshtein distance 1: one letter replaced, added, left out, or two neighbours
/// swapped.
fn one_edit_apart(x: &[u8], y: &[u8]) -> bool {
    let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
    let prefix = short.iter().zip(long).take_while(|(p, q)| p == q).count();
    match long.len() - short.len() {
        0 => {
            let rest = prefix + 1;
            rest <= short.len()
                && (short[rest..] == long[rest..]
                    || (rest < short.len()
                        && short[prefix] == long[rest]
                        && short[rest] == long[prefix]
                        && short[rest + 1..] == long[rest + 1..]))
        }
        1 => short[prefix..] == long[prefix + 1..],
        _ => false,
    }
}

fn words_of(text: &[u8]) -> Vec<&[u8]> {
    text.split(|&c| c == b' ')
        .filter(|t| !t.is_empty())
        .collect()
}

/// `words_of(text)` handed to `f`, on the stack for names of usual size.
fn with_words<R>(text: &[u8], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut words: [&[u8]; STACK_TOKENS] = [&[]; STACK_TOKENS];
    let mut count = 0;
    for word in text.split(|&c| c == b' ').filter(|t| !t.is_empty()) {
        if count == STACK_TOKENS {
            return f(&words_of(text));
        }
        words[count] = word;
        count += 1;
    }
    f(&words[..count])
}

/// Scratch of `len` values for one comparison: on the stack when it fits.
fn with_scratch<T: Copy + Default, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let mut stack = [T::default(); STACK_TOKENS];
    if len <= STACK_TOKENS {
        f(&mut stack[..len])
    } else {
        f(&mut vec![T::default(); len])
    }
}

/// An aligned name is never more than a strong match...
const ALIGNED_CAP: f64 = 0.985;
/// ...less for each given name, middle name or patronymic one side has and the other lacks...
const EXTRA_TOKEN_COST: f64 = 0.03;
/// ...and for each initial standing for a whole given name.
const INITIAL_COST: f64 = 0.03;
/// Two tokens are one word spelt differently from this ratio on.
const SAME_TOKEN: f64 = 0.8;

/// Names as people write them: with a given name more or fewer ("Hans Peter Müller" for
/// "Hans Müller", a patronymic added) or an initial for a given name ("J. Smith"). The
/// shorter name's first and last words meet the other's first and last (one name may be
/// written surname first: "SIDOROV Ivan Petrovich" for "Ivan Sidorov"), its other words meet
/// words in between: what comes and goes is a middle name, never a surname ("Glegoła Drgas"
/// is not "Stefan Glegoła Drgas", nor "da Cunha" "da Cunha Machado"). An initial meets a word
/// with its letter, and a whole word of three letters or more must agree. The longer name's
/// unmatched words cost a little each. 0 when the names do not align.
pub fn aligned_similarity(a: &[u8], b: &[u8]) -> f64 {
    with_words(a, |ta| {
        with_words(b, |tb| {
            let (short, long) = if ta.len() <= tb.len() {
                (ta, tb)
            } else {
                (tb, ta)
            };
            if short.len() < 2 {
                return 0.0;
            }
            // Either name may be written surname first: the longer one turned by a word, or
            // the shorter one.
            let mut best: f64 = 0.0;
            for (short_turn, long_turn) in [(0, 0), (0, 1), (1, 0)] {
                best = best.max(aligned_in_order(
                    &Turned(short, short_turn),
                    &Turned(long, long_turn),
                ));
            }
            best
        })
    })
}

/// A name's words read from the `.1`-th on, wrapping round (a `rotate_left` without a copy).
struct Turned<'a, 'w>(&'a [&'w [u8]], usize);

impl<'w> Turned<'_, 'w> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn at(&self, i: usize) -> &'w [u8] {
        self.0[(i + self.1) % self.0.len()]
    }
}

/// How a word of one name meets a word of the other: (score, by an initial), if it does.
fn word_match(a: &[u8], b: &[u8]) -> Option<(f64, bool)> {
    if a.len() == 1 || b.len() == 1 {
        return (a[0] == b[0]).then_some((1.0, true));
    }
    let r = ratio(a, b) / 100.0;
    (r >= SAME_TOKEN).then_some((r, false))
}

/// `aligned_similarity` for one order of each name: ends to ends, the rest in between.
fn aligned_in_order(short: &Turned<'_, '_>, long: &Turned<'_, '_>) -> f64 {
    let (last_s, last_l) = (short.len() - 1, long.len() - 1);
    with_scratch(long.len(), |used: &mut [bool]| {
        with_scratch(short.len(), |partner: &mut [usize]| {
            for (k, partner_k) in partner.iter_mut().enumerate().take(last_s).skip(1) {
                let mut best: Option<(usize, f64)> = None;
                for (i, taken) in used.iter().enumerate().take(last_l).skip(1) {
                    if *taken {
                        continue;
                    }
                    if let Some((score, _)) = word_match(short.at(k), long.at(i)) {
                        if best.is_none_or(|(_, s)| score > s) {
                            best = Some((i, score));
                        }
                    }
                }
                let Some((i, _)) = best else {
                    return 0.0;
                };
                used[i] = true;
                *partner_k = i;
            }
            // the ends first, then the words in between, in order (the order of the sum)
            let pairs = [(0, 0), (last_s, last_l)]
                .into_iter()
                .chain((1..last_s).map(|k| (k, partner[k])));
            aligned_score(
                pairs.map(|(k, i)| (short.at(k), long.at(i))),
                short.len(),
                long.len(),
            )
        })
    })
}

/// The aligned similarity of word pairs that align, or 0 when one pair does not.
fn aligned_score<'w>(
    pairs: impl Iterator<Item = (&'w [u8], &'w [u8])>,
    short_len: usize,
    long_len: usize,
) -> f64 {
    let (mut total, mut initials, mut words) = (0.0, 0usize, 0usize);
    for (a, b) in pairs {
        let Some((score, initial)) = word_match(a, b) else {
            return 0.0;
        };
        total += score;
        if initial {
            initials += 1;
        } else if a.len() >= 3 {
            words += 1;
        }
    }
    if words == 0 {
        return 0.0;
    }
    let extra = (long_len - short_len) as f64;
    let mean = total / short_len as f64;
    (ALIGNED_CAP * mean - EXTRA_TOKEN_COST * extra - INITIAL_COST * initials as f64).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// `aligned_similarity` as first written, with its words in vectors: what it must give.
    fn aligned_from_scratch(a: &[u8], b: &[u8]) -> f64 {
        let (ta, tb) = (words_of(a), words_of(b));
        let (short, long) = if ta.len() <= tb.len() {
            (ta, tb)
        } else {
            (tb, ta)
        };
        if short.len() < 2 {
            return 0.0;
        }
        let mut best: f64 = 0.0;
        let mut long_rotated = long.clone();
        long_rotated.rotate_left(1);
        let mut short_rotated = short.clone();
        short_rotated.rotate_left(1);
        for (s, l) in [
            (&short, &long),
            (&short, &long_rotated),
            (&short_rotated, &long),
        ] {
            best = best.max(aligned_in_order_from_scratch(s, l));
        }
        best
    }

    /// `aligned_similarity` for one order of each name: ends to ends, the rest in between.
    fn aligned_in_order_from_scratch(short: &[&[u8]], long: &[&[u8]]) -> f64 {
        let (last_s, last_l) = (short.len() - 1, long.len() - 1);
        let mut pairs = vec![(short[0], long[0]), (short[last_s], long[last_l])];
        let mut used = vec![false; long.len()];
        for token in &short[1..last_s] {
            let mut best: Option<(usize, f64)> = None;
            for i in 1..last_l {
                if used[i] {
                    continue;
                }
                if let Some((score, _)) = word_match(token, long[i]) {
                    if best.is_none_or(|(_, s)| score > s) {
                        best = Some((i, score));
                    }
                }
            }
            let Some((i, _)) = best else {
                return 0.0;
            };
            used[i] = true;
            pairs.push((token, long[i]));
        }
        let (mut total, mut initials, mut words) = (0.0, 0usize, 0usize);
        for (a, b) in &pairs {
            let Some((score, initial)) = word_match(a, b) else {
                return 0.0;
            };
            total += score;
            if initial {
                initials += 1;
            } else if a.len() >= 3 {
                words += 1;
            }
        }
        if words == 0 {
            return 0.0;
        }
        let extra = (long.len() - short.len()) as f64;
        let mean = total / short.len() as f64;
        (ALIGNED_CAP * mean - EXTRA_TOKEN_COST * extra - INITIAL_COST * initials as f64).max(0.0)
    }

    /// The comparison as first written, each pair from scratch: what `PreparedName` must give.
    fn from_scratch(a: &[u8], b: &[u8]) -> f64 {
        let spelling = |a: &[u8], b: &[u8]| {
            let compact = ratio(&without_spaces(a), &without_spaces(b));
            compact.max(ratio(&sorted_tokens(a), &sorted_tokens(b))) / 100.0
        };
        let mut spelled = spelling(a, b);
        if (BORDERLINE_LOW..PHONETIC_DISCOUNT).contains(&spelled) {
            let text = |bytes| String::from_utf8_lossy(bytes).into_owned();
            let folded = PHONETIC_DISCOUNT
                * spelling(phonetic(&text(a)).as_bytes(), phonetic(&text(b)).as_bytes());
            spelled = spelled.max(folded);
        }
        if spelled < ALIGNED_CAP - EXTRA_TOKEN_COST && may_align(a, b) {
            spelled = spelled.max(aligned_from_scratch(a, b));
        }
        if (BORDERLINE_LOW..TYPO_CEILING).contains(&spelled) {
            spelled = spelled.max(one_typo_similarity(a, b));
        }
        spelled
    }

    /// Names that spell alike, sound alike, align (initials, words of a few shared stems), run
    /// long, or have more words than the stack holds.
    const NAMES: &str = "[abcdhkwy ]{0,14}|[a-z]{1,9}( [a-z]{1,9}){0,3}|[a-c ]{120,150}|\
        (a|j|jo|john|johan|hans|han|muller|mueller|peter|ivan|ivanov|sidorov|ab|abc)\
        ( (a|j|jo|john|johan|hans|han|muller|mueller|peter|ivan|ivanov|sidorov|ab|abc)){1,5}|\
        (a|b|ab|abc)( (a|b|ab|abc)){15,19}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn aligning_on_the_stack_gives_what_vectors_gave(a in NAMES, b in NAMES) {
            let expected = aligned_from_scratch(a.as_bytes(), b.as_bytes());
            prop_assert_eq!(aligned_similarity(a.as_bytes(), b.as_bytes()).to_bits(), expected.to_bits());
        }

        #[test]
        fn a_prepared_name_compares_as_from_scratch(
            a in NAMES,
            others in proptest::collection::vec(NAMES, 1..6),
        ) {
            let prepared = PreparedName::new(&a);
            for b in &others {
                let expected = from_scratch(a.as_bytes(), b.as_bytes());
                prop_assert_eq!(prepared.similarity(b.as_bytes()).to_bits(), expected.to_bits());
            }
        }
    }

    #[test]
    fn a_name_of_many_tokens_sorts_as_a_short_one() {
        let many = "q p o n m l k j i h g f e d c b a z y";
        with_sorted_tokens(many.as_bytes(), |sorted| {
            assert_eq!(sorted, sorted_tokens(many.as_bytes()).as_slice());
        });
        with_sorted_tokens(b"  kim   lee ", |sorted| assert_eq!(sorted, b"kim lee"));
    }

    #[test]
    fn ratio_is_rapidfuzz_indel_ratio() {
        assert!((ratio(b"kitten", b"sitting") - 61.538_461_538_461_54).abs() < 1e-9);
        assert_eq!(ratio(b"", b""), 100.0);
    }

    #[test]
    fn token_order_and_spacing_do_not_matter() {
        assert_eq!(similarity("ivanova natalya", "natalya ivanova"), 1.0);
        assert_eq!(similarity("shang hai hong da", "shanghai hongda"), 1.0);
        assert!(similarity("hongda", "weida") < 0.8);
    }

    #[test]
    fn names_with_a_given_name_more_or_an_initial_align() {
        let middle = similarity("hans peter muller", "hans muller");
        assert!((0.95..0.96).contains(&middle), "{middle}");
        let initial = similarity("j smith", "john smith");
        assert!((0.95..0.96).contains(&initial), "{initial}");
        assert!(similarity("j smith", "karl smith") < 0.8);
        // a whole word must agree, not only initials
        assert_eq!(aligned_similarity(b"j k", b"john karl smith"), 0.0);
        assert_eq!(aligned_similarity(b"smith", b"john smith"), 0.0);
        assert_eq!(aligned_similarity(b"anna weber", b"hans muller"), 0.0);
        assert_eq!(
            aligned_similarity(b"glegola drgas", b"stefan glegola drgas"),
            0.0
        );
        assert_eq!(aligned_similarity(b"da cunha", b"da cunha machado"), 0.0);
        assert!(aligned_similarity(b"ivan sidorov", b"sidorov ivan petrovich") > 0.9);
        assert!(aligned_similarity(b"sidorov ivan", b"ivan petrovich sidorov") > 0.9);
    }

    #[test]
    fn one_typo_of_any_kind_counts_as_one_letter() {
        for typo in [
            "achille bignzrdi",
            "achille bignadri",
            "achille bignardy",
            "achille bignrdi",
        ] {
            let s = similarity(typo, "achille bignardi");
            assert!((0.96..=0.975).contains(&s), "{typo}: {s}");
        }
        assert_eq!(
            one_typo_similarity(b"achille bignardi", b"achille bignardi"),
            0.0
        );
        assert_eq!(
            one_typo_similarity(b"achille bignzrdy", b"achille bignardi"),
            0.0
        );
        assert_eq!(
            one_typo_similarity(b"ahille bignzrdi", b"achille bignardi"),
            0.0
        );
        assert_eq!(one_typo_similarity(b"li wan", b"li wen"), 0.0); // too short to tell
    }
}
