//! Normalisation: names in any script to comparable Latin tokens, identifiers to canonical
//! forms. Port of `index/normalize.py` with identical results.
//!
//! Names go through: Unicode NFKC → removal of legal forms written in their own script
//! (有限公司, ООО, บริษัท … จำกัด, 주식회사, 株式会社, شركة) → transliteration to Latin (anyascii;
//! Chinese syllables paired into words) → case folding → punctuation (dots and apostrophes
//! join, the rest separates) → runs of single letters joined ("d o o" → "doo") → Latin legal
//! forms of many jurisdictions stripped at either end → generic business words mapped to one
//! canonical token each ("huagong", "chemicals" → "chemical").
//!
//! Python `str` semantics are kept: lengths count characters, and `\w` is Python's Unicode
//! notion (see [`is_py_word`]).

mod address;
mod identifiers;
mod legal_forms;
mod near_words;
mod places;
#[cfg(test)]
mod tests;
mod titles;

use std::borrow::Cow;
use std::sync::LazyLock;

use any_ascii::{any_ascii, any_ascii_char};
use regex::Regex;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

pub use address::{parse_address, StreetAddress};
pub use identifiers::{canonical_domain, canonical_email, canonical_phone};
use legal_forms::{
    GENERIC_CANONICAL, LATIN_LEGAL_PREFIXES, LATIN_LEGAL_PREFIX_PHRASES, LATIN_LEGAL_SUFFIXES,
    LATIN_LEGAL_SUFFIX_PHRASES, LATIN_LEGAL_SUFFIX_PHRASES_SYLLABIC, LEGAL_TOKENS_ANYWHERE,
    NAME_PARTICLES, NATIVE_LEGAL_FORMS, PINYIN_WORDS,
};
pub use near_words::deletions;
use near_words::NearWords;
pub use places::is_place_word;

const LEGAL_TYPO_MIN: usize = 6;
/// Legal forms run into the name's last word ("DeFanYouXianGongSi", "AcmeGmbH").
const GLUED_LEGAL_SUFFIXES: [&str; 5] =
    ["youxiangongsi", "yuxiangongsi", "gongsi", "coltd", "gmbh"];
/// Cyrillic legal forms, in alternation order, matched between non-word characters.
const CYRILLIC_LEGAL_FORMS: [&str; 17] = [
    "ООО", "ОАО", "ЗАО", "ПАО", "НАО", "АО", "ТОО", "ТОВ", "ИП", "ЧП", "ПП", "ОДО", "ЧУП", "УП",
    "ЕООД", "ООД", "АД",
];
/// Spelling variants of one sound across romanisation systems (Natalya/Natalia,
/// Polychronopoulos/Polichronopoylos, Djordje/Jorje, Khan/Han), folded for a second opinion.
const PHONETIC_RULES: [(&str, &str); 12] = [
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("ph", "f"),
    ("oy", "u"),
    ("ou", "u"),
    ("ck", "k"),
    ("tz", "z"),
    ("w", "v"),
    ("y", "i"),
    ("q", "k"),
];

/// All phrases of `LATIN_LEGAL_SUFFIXES | LATIN_LEGAL_PREFIXES`.
fn legal_phrases() -> impl Iterator<Item = &'static str> {
    LATIN_LEGAL_SUFFIX_PHRASES
        .iter()
        .chain(LATIN_LEGAL_SUFFIX_PHRASES_SYLLABIC)
        .chain(LATIN_LEGAL_PREFIX_PHRASES)
        .copied()
}

/// FNV-1a for the fixed word tables: short keys, a fixed vocabulary (a probe with a hostile
/// token meets only the chains the vocabulary made), a fraction of SipHash's cost.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<Fnv>>;

static MAX_LEGAL_FORM_TOKENS: LazyLock<usize> = LazyLock::new(|| {
    legal_phrases()
        .map(|p| p.split_whitespace().count())
        .max()
        .unwrap_or(0)
});
static SUFFIX_ENDS: LazyLock<FastSet<&'static str>> = LazyLock::new(|| {
    LATIN_LEGAL_SUFFIX_PHRASES
        .iter()
        .chain(LATIN_LEGAL_SUFFIX_PHRASES_SYLLABIC)
        .filter_map(|p| p.split_whitespace().last())
        .collect()
});
static PREFIX_STARTS: LazyLock<FastSet<&'static str>> = LazyLock::new(|| {
    LATIN_LEGAL_PREFIX_PHRASES
        .iter()
        .filter_map(|p| p.split_whitespace().next())
        .collect()
});
static NATIVE_LEGAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alternation: Vec<String> = NATIVE_LEGAL_FORMS
        .iter()
        .map(|form| regex::escape(&form.nfkc().collect::<String>()))
        .collect();
    Regex::new(&alternation.join("|")).expect("native legal forms form a valid regex")
});
static GENERIC_WORDS: LazyLock<NearWords> =
    LazyLock::new(|| NearWords::new(GENERIC_CANONICAL.iter().map(|(&w, &c)| (w, c)), phonetic));
static LEGAL_WORDS: LazyLock<NearWords> = LazyLock::new(|| {
    let words = legal_phrases()
        .flat_map(str::split_whitespace)
        .filter(|w| w.chars().count() >= LEGAL_TYPO_MIN)
        .map(|w| (w, w));
    NearWords::new(words, phonetic)
});
/// `anyascii(chr(c)).lower()` for the CJK Unified Ideographs block, where alphabetic.
static PINYIN_SYLLABLES: LazyLock<FastSet<String>> = LazyLock::new(|| {
    (0x4E00..0xA000)
        .filter_map(char::from_u32)
        .map(|c| any_ascii_char(c).to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic()))
        .collect()
});

/// A name ready for matching. `tokens` keep the name's order; `core` leaves out generic
/// business words so that two firms in the same trade do not look alike; when a name is
/// nothing but generic words, `core` is the whole name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalizedName {
    pub tokens: Vec<String>,
    pub core_tokens: Vec<String>,
    pub full: String,
    pub core: String,
}

impl NormalizedName {
    fn of(tokens: Vec<String>, core_tokens: Vec<String>) -> Self {
        let full = tokens.join(" ");
        let core = core_tokens.join(" ");
        NormalizedName {
            tokens,
            core_tokens,
            full,
            core,
        }
    }
}

/// Python's `str.isalnum()` for one character: letters (L*) and numbers (N*).
fn is_py_alnum(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    // Rust's Alphabetic adds Other_Alphabetic (marks, circled/squared letters) to L* and Nl.
    let other_alphabetic_symbol = matches!(c, '\u{24B6}'..='\u{24E9}' | '\u{1F130}'..='\u{1F149}' | '\u{1F150}'..='\u{1F169}' | '\u{1F170}'..='\u{1F189}');
    c.is_numeric()
        || (c.is_alphabetic()
            && !unicode_normalization::char::is_combining_mark(c)
            && !other_alphabetic_symbol)
}

/// Python's `\w` in a `str` pattern: alphanumeric or underscore.
fn is_py_word(c: char) -> bool {
    c == '_' || is_py_alnum(c)
}

/// Characters this crate's NFKC decomposes but Python 3.11's Unicode 14 does not know (they
/// were assigned later); Python leaves them as they are.
const NEWER_THAN_PYTHON: &[(u32, u32)] = &[
    (0x558, 0x558),
    (0x58B, 0x58C),
    (0x209D, 0x209F),
    (0xA7F1, 0xA7F1),
    (0x107BB, 0x107BF),
    (0x1B123, 0x1B126),
    (0x1CCD6, 0x1CCF9),
    (0x1D6A6, 0x1D6A6),
    (0x1DF95, 0x1DF95),
    (0x1DFCD, 0x1DFFF),
    (0x1E030, 0x1E06D),
];

/// NFKC of `text` with the characters in `frozen` (and the keys of `replaced`, which become
/// their values) passed through as an older Unicode version would: unassigned characters are
/// starters that nothing composes with, so the runs between them normalise on their own.
fn nfkc_as_of(text: &str, frozen: &[(u32, u32)], replaced: &[(char, char)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let fixed = replaced
            .iter()
            .find(|(from, _)| *from == c)
            .map(|&(_, to)| to);
        if fixed.is_some() || identifiers::in_table(frozen, c) {
            out.extend(text[start..i].nfkc());
            out.push(fixed.unwrap_or(c));
            start = i + c.len_utf8();
        }
    }
    out.extend(text[start..].nfkc());
    out
}

/// `unicodedata.normalize("NFKC", text)` as Python 3.11 (Unicode 14) computes it.
fn nfkc(text: &str) -> Cow<'_, str> {
    match is_nfkc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(nfkc_as_of(text, NEWER_THAN_PYTHON, &[])),
    }
}

/// Consonant-and-sound fold of a token (Natalya/Natalia, Khan/Han), for a second opinion.
pub fn phonetic(text: &str) -> String {
    let mut folded = text.as_bytes().to_vec();
    let len = phonetic_in_place(&mut folded);
    folded.truncate(len);
    String::from_utf8(folded).expect("ASCII replaced by ASCII keeps UTF-8")
}

/// `phonetic` of the UTF-8 text in `text`, written over it; the folded length. The rules apply
/// one after another, each to every non-overlapping occurrence from the left (`str::replace`).
/// They are ASCII, so they work on bytes without breaking UTF-8, and none lengthens the text,
/// so each rewrites it in place: what it writes never overtakes what it has still to read.
pub fn phonetic_in_place(text: &mut [u8]) -> usize {
    let mut len = text.len();
    for (old, new) in PHONETIC_RULES {
        len = replace_in_place(&mut text[..len], old.as_bytes(), new.as_bytes());
    }
    // ([a-z])\1+ → \1 (a byte of a multi-byte character is never ASCII)
    let mut kept = 0;
    for read in 0..len {
        let b = text[read];
        if !(b.is_ascii_lowercase() && kept > 0 && text[kept - 1] == b) {
            text[kept] = b;
            kept += 1;
        }
    }
    kept
}

/// Every non-overlapping `old` in `text`, from the left, replaced by the no longer `new`; the
/// new length.
fn replace_in_place(text: &mut [u8], old: &[u8], new: &[u8]) -> usize {
    debug_assert!(!old.is_empty() && new.len() <= old.len());
    // Byte by byte: the rules are one to three letters, too short for memcmp to pay.
    let occurs_at = |text: &[u8], at: usize| {
        text.len() - at >= old.len() && old.iter().zip(&text[at..]).all(|(a, b)| a == b)
    };
    let (mut read, mut write) = (0, 0);
    while read < text.len() {
        if occurs_at(text, read) {
            text[write..write + new.len()].copy_from_slice(new);
            write += new.len();
            read += old.len();
        } else {
            text[write] = text[read];
            write += 1;
            read += 1;
        }
    }
    write
}

/// Consonant skeleton for transliteration variants: Mohammed/Muhammad → "md".
pub fn skeleton(token: &str) -> String {
    // drop "aeiouyhw", then (.)\1+ → \1 where `.` is anything but a newline
    let mut out = String::with_capacity(token.len());
    let mut last = None;
    for ch in token.chars().filter(|c| !"aeiouyhw".contains(*c)) {
        if ch != '\n' && last == Some(ch) {
            continue;
        }
        last = Some(ch);
        out.push(ch);
    }
    out
}

fn pinyin_join(syllables: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    'outer: while i < syllables.len() {
        for width in [4, 3, 2] {
            if i + width <= syllables.len() {
                let candidate = syllables[i..i + width].concat();
                if PINYIN_WORDS.contains(candidate.as_str()) {
                    words.push(candidate);
                    i += width;
                    continue 'outer;
                }
            }
        }
        words.push(syllables[i..(i + 2).min(syllables.len())].concat());
        i += 2;
    }
    format!(" {} ", words.join(" "))
}

/// Chinese characters to pinyin words: known words first, otherwise syllables in pairs.
fn pinyin_words(run: &str) -> String {
    let syllables: Vec<String> = run
        .chars()
        .map(|c| any_ascii_char(c).to_ascii_lowercase())
        .collect();
    pinyin_join(&syllables)
}

/// `(?<![\w])(ООО|…|АД)(?![\w])` → " ".
fn remove_cyrillic_legal(text: &str) -> Cow<'_, str> {
    if !text.contains(|c| matches!(c, 'А'..='Я')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut skip_to = 0;
    for (i, ch) in text.char_indices() {
        if i < skip_to {
            prev = Some(ch);
            continue;
        }
        if !prev.is_some_and(is_py_word) {
            let rest = &text[i..];
            let found = CYRILLIC_LEGAL_FORMS.iter().find(|form| {
                rest.starts_with(**form)
                    && !rest[form.len()..].chars().next().is_some_and(is_py_word)
            });
            if let Some(form) = found {
                out.push(' ');
                skip_to = i + form.len();
                prev = Some(ch);
                continue;
            }
        }
        out.push(ch);
        prev = Some(ch);
    }
    Cow::Owned(out)
}

/// `(?<![\u0600-\u06FF])(?:ال|لل)(?=[\u0600-\u06FF])` → "".
fn remove_arabic_article(text: &str) -> Cow<'_, str> {
    let arabic = |c: char| matches!(c, '\u{0600}'..='\u{06FF}');
    if !text.contains('\u{0644}') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut skip_to = 0;
    for (i, ch) in text.char_indices() {
        if i >= skip_to && !prev.is_some_and(arabic) {
            let rest = &text[i..];
            let found = ["\u{0627}\u{0644}", "\u{0644}\u{0644}"]
                .into_iter()
                .find(|article| {
                    rest.starts_with(article)
                        && rest[article.len()..].chars().next().is_some_and(arabic)
                });
            if let Some(article) = found {
                skip_to = i + article.len();
            }
        }
        if i >= skip_to {
            out.push(ch);
        }
        prev = Some(ch);
    }
    Cow::Owned(out)
}

/// `ου|ού|Ου|ΟΥ|Ού` → "ou" (the matches cannot overlap, so one left-to-right pass).
fn replace_greek_ou(text: &str) -> Cow<'_, str> {
    if !text.contains(['ο', 'Ο']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        let next = chars.peek().copied();
        let pair = matches!(
            (ch, next),
            ('ο', Some('υ' | 'ύ')) | ('Ο', Some('υ' | 'Υ' | 'ύ'))
        );
        if pair {
            chars.next();
            out.push_str("ou");
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// Runs of CJK ideographs → their pinyin words.
fn replace_cjk_runs(text: &str) -> Cow<'_, str> {
    if !text.contains(is_cjk) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut run_start: Option<usize> = None;
    for (i, ch) in text.char_indices() {
        match (is_cjk(ch), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                out.push_str(&pinyin_words(&text[start..i]));
                run_start = None;
                out.push(ch);
            }
            (false, None) => out.push(ch),
            (true, Some(_)) => {}
        }
    }
    if let Some(start) = run_start {
        out.push_str(&pinyin_words(&text[start..]));
    }
    Cow::Owned(out)
}

fn to_latin(text: &str) -> String {
    let text = NATIVE_LEGAL_RE.replace_all(text, " ");
    let text = remove_cyrillic_legal(&text).into_owned();
    let text = remove_arabic_article(&text).into_owned();
    let text = replace_greek_ou(&text).into_owned();
    any_ascii(&replace_cjk_runs(&text))
}

/// `\b(?:[A-Z][a-z]*){3,}\b` on ASCII text, each match through `_camel_pinyin`: a match is
/// exactly a whole word (maximal `[A-Za-z0-9_]` run) of letters that starts with a capital
/// and has at least three; "AngGeXinXiWangLuo" → " angge xinxi wangluo " when every
/// capitalised syllable is pinyin, otherwise the word is left as it is.
fn camel_pinyin(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        let word = &text[start..i];
        let capitals = word.bytes().filter(u8::is_ascii_uppercase).count();
        if capitals < 3
            || !bytes[start].is_ascii_uppercase()
            || !word.bytes().all(|b| b.is_ascii_alphabetic())
        {
            continue;
        }
        let mut syllables: Vec<String> = Vec::with_capacity(capitals);
        for b in word.bytes() {
            if b.is_ascii_uppercase() {
                syllables.push(String::new());
            }
            if let Some(last) = syllables.last_mut() {
                last.push(b.to_ascii_lowercase() as char);
            }
        }
        if syllables.iter().all(|s| PINYIN_SYLLABLES.contains(s)) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 8));
            out.push_str(&text[copied..start]);
            out.push_str(&pinyin_join(&syllables));
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// `text.casefold().translate(_JOINERS)` then `_SPLIT_RE.split` without empty parts, for
/// ASCII text: dots, apostrophes and backticks join, anything but [a-z0-9] separates.
fn ascii_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for b in text.bytes() {
        match b.to_ascii_lowercase() {
            b'.' | b'\'' | b'`' => {}
            c @ (b'a'..=b'z' | b'0'..=b'9') => current.push(c as char),
            _ if !current.is_empty() => tokens.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// "d o o" → "doo", "s a de c v" → "sa de cv": initials and dotted abbreviations.
fn join_single_letters(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut run = String::new();
    for token in tokens {
        if token.len() == 1 && token.as_bytes()[0].is_ascii_alphabetic() {
            run.push_str(&token);
            continue;
        }
        if !run.is_empty() {
            out.push(std::mem::take(&mut run));
        }
        out.push(token);
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

fn strip_glued_legal_form(token: &mut String) {
    for suffix in GLUED_LEGAL_SUFFIXES {
        if token.ends_with(suffix) && token.len() - suffix.len() >= 3 {
            token.truncate(token.len() - suffix.len());
            return;
        }
    }
}

fn strip_legal_forms(mut tokens: Vec<String>) -> Vec<String> {
    let mut changed = true;
    while changed && tokens.len() > 1 {
        changed = false;
        let (first, last) = (&tokens[0], &tokens[tokens.len() - 1]);
        if !SUFFIX_ENDS.contains(last.as_str()) && !PREFIX_STARTS.contains(first.as_str()) {
            break;
        }
        let n = tokens.len();
        for width in (1..=(*MAX_LEGAL_FORM_TOKENS).min(n - 1)).rev() {
            if LATIN_LEGAL_SUFFIXES.contains(&tokens[n - width..]) {
                tokens.truncate(n - width);
                changed = true;
                break;
            }
            if LATIN_LEGAL_PREFIXES.contains(&tokens[..width]) {
                tokens.drain(..width);
                changed = true;
                break;
            }
        }
    }
    tokens
}

/// Keeps the tokens `keep` accepts, unless that would leave none.
fn retain_or_all(tokens: Vec<String>, keep: impl Fn(&str) -> bool) -> Vec<String> {
    if tokens.iter().any(|t| keep(t)) {
        tokens.into_iter().filter(|t| keep(t)).collect()
    } else {
        tokens
    }
}

/// The comparable form of a person's or organisation's name in any script.
pub fn normalize_name(raw: &str) -> NormalizedName {
    let text = nfkc(raw);
    let text = if text.is_ascii() {
        text
    } else {
        Cow::Owned(to_latin(&text))
    };
    let text = camel_pinyin(&text);
    let tokens = join_single_letters(ascii_tokens(&text));
    // A one-letter first word is an initial ("I. Crnković", "E. Gómez"), not a conjunction.
    let initial = tokens.first().filter(|t| t.len() == 1).cloned();
    let mut tokens = retain_or_all(tokens, |t| !NAME_PARTICLES.contains(t));
    if let Some(initial) = initial.filter(|i| tokens.first() != Some(i)) {
        tokens.insert(0, initial);
    }
    // A misspelt legal form ("Gmbj", "Ltdd") is read as the form; a name of one word is the
    // name, however near a form it is ("YouXianGongSiF GmbH" leaves "youxiangongsif").
    let several = tokens.len() > 1;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| match LEGAL_WORDS.get(&t) {
            Some(word) if word != t && several => word.to_owned(),
            _ => t,
        })
        .collect();
    let mut tokens = strip_legal_forms(titles::strip_titles(tokens));
    if let Some(last) = tokens.last_mut() {
        strip_glued_legal_form(last);
    }
    // Titles, legal forms at either end and legal forms anywhere can each uncover another
    // ("Dr. OOO Ivanov", "d.o.o. AO X"): strip until nothing changes, so that normalising a
    // normalised name changes nothing.
    loop {
        let before = tokens.len();
        if tokens.len() > 1 {
            tokens = retain_or_all(tokens, |t| !LEGAL_TOKENS_ANYWHERE.contains(t));
        }
        tokens = strip_legal_forms(titles::strip_titles(tokens));
        if tokens.len() == before {
            break;
        }
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| match GENERIC_WORDS.get(&t) {
            Some(word) if word != t => word.to_owned(),
            _ => t,
        })
        .collect();
    let mut core: Vec<String> = tokens
        .iter()
        .filter(|t| !GENERIC_CANONICAL.contains_key(t.as_str()))
        .cloned()
        .collect();
    if core.len() > 2 {
        // middle initials: "John M. Le"; a first or last one stands for a given name
        // ("A. Morris O'Brien") and stays
        let last = core.len() - 1;
        let mut at = 0;
        core.retain(|t| {
            at += 1;
            at == 1 || at == last + 1 || t.len() > 1 || t.bytes().all(|b| b.is_ascii_digit())
        });
    }
    if core.is_empty() {
        core = tokens.clone();
    }
    NormalizedName::of(tokens, core)
}

/// Whether a normalised token is a generic business word ("trading", "chemical", "global").
pub fn is_generic_word(token: &str) -> bool {
    GENERIC_CANONICAL.contains_key(token)
}

/// City or subdivision in comparable form ("São Paulo" → "sao paulo").
pub fn normalize_place(raw: &str) -> String {
    let text = nfkc(raw);
    let text = if text.is_ascii() {
        text
    } else {
        Cow::Owned(any_ascii(&text))
    };
    ascii_tokens(&text).join(" ")
}

/// "SW1A 1AA" → "SW1A1AA", "01-234" → "01234".
pub fn normalize_postcode(raw: &str) -> String {
    let mut text = any_ascii(raw);
    text.retain(|c| c.is_ascii_alphanumeric());
    text.make_ascii_uppercase();
    text
}
