//! Honorifics, professional titles and generational suffixes: words written around a
//! person's name that are not part of it ("Frau Dr. Anna Weber", "Sheikh Ali Hassan",
//! "г-жа Иванова", "John Smith Jr."). Tokens are as the tokenizer leaves them: ASCII, lower
//! case, dots removed, hyphens splitting.

use std::sync::LazyLock;

use super::FastSet;

/// Words before a name, in many languages (transliterated as any-ascii writes them).
#[rustfmt::skip]
const LEADING: &[&str] = &[
    // English
    "mr", "mrs", "ms", "miss", "mx", "messrs", "dr", "doctor", "prof", "professor", "sir",
    "dame", "lord", "lady", "rev", "revd", "capt", "col", "gen", "hon", "eng", "engr",
    // German, Dutch, Scandinavian
    "herr", "frau", "fraulein", "frl", "dipl", "ing", "mag", "dhr", "mevr", "mevrouw", "univ",
    "univprof", "arch",
    // French, Italian, Spanish, Portuguese
    "mme", "mlle", "monsieur", "madame", "mademoiselle", "maitre", "sig", "sigra", "signor",
    "signora", "signorina", "dott", "dottssa", "dottoressa", "avv", "sr", "sra", "srta", "senor",
    "senora", "senorita", "don", "dona", "dra", "lic", "mtro", "mtra", "sro", "snr", "exmo",
    "exma",
    // Slavic and Baltic (Latin script and any-ascii of Cyrillic)
    "pan", "pani", "panna", "slecna", "mgr", "judr", "mudr", "mvdr", "phdr", "rndr", "doc", "gn",
    "gzha", "gtsa", "gospodin", "gospozha", "gospodzha", "tov", "dobrodiy", "dobrodiyka",
    // Arabic, Persian, Turkish, South Asian
    "sheikh", "shaikh", "sheik", "shaykh", "haji", "hajji", "hadji", "alhaji", "alhajji", "hajj",
    "mullah", "mulla", "ustad", "ustadh", "sayyid", "sayed", "syed", "sayyed", "imam", "jnb",
    "aqy", "aqai", "agha", "srkr", "khnm", "khanom", "khanum", "dktr", "bay", "bayan", "bey",
    "hanim", "ogr", "sri", "shri", "shree", "smt", "kumari", "pandit", "sahib",
    // Greek, Vietnamese, Thai
    "kyrios", "kyria", "ong", "ba", "bac", "quy", "nay", "nang", "nangsaw", "khun", "dch", "dy",
    "ns",
    // particles written before a name and often left out ("da Silva", "van Dijk")
    "de", "del", "della", "da", "di", "do", "dos", "das", "du", "le", "la", "van", "von", "der",
    "den", "ten", "ter",
];

/// Russian and Bulgarian abbreviations that any-ascii writes as two tokens ("г-жа" → g zha).
const LEADING_PAIRS: &[(&str, &str)] = &[("g", "zha"), ("g", "tsa"), ("g", "zhi")];

/// Words after a name.
#[rustfmt::skip]
const TRAILING: &[&str] = &[
    "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "phd", "md", "esq", "mba",
    "dds", "cpa", "obe", "mbe",
];

static LEADING_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| LEADING.iter().copied().collect());
static TRAILING_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| TRAILING.iter().copied().collect());

/// The tokens without the titles before and after the name, never fewer than two tokens
/// (a title may be someone's name: "Don Smith", "Ba Nguyen").
pub(super) fn strip_titles(mut tokens: Vec<String>) -> Vec<String> {
    if tokens.len() > 3
        && LEADING_PAIRS
            .iter()
            .any(|&(a, b)| tokens[0] == a && tokens[1] == b)
    {
        tokens.drain(..2);
    }
    let leading = tokens
        .iter()
        .take_while(|t| LEADING_SET.contains(t.as_str()))
        .count()
        .min(tokens.len().saturating_sub(2));
    tokens.drain(..leading);
    while tokens.len() > 2
        && tokens
            .last()
            .is_some_and(|t| TRAILING_SET.contains(t.as_str()))
    {
        tokens.pop();
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(words: &[&str]) -> Vec<String> {
        strip_titles(words.iter().map(|w| (*w).to_owned()).collect())
    }

    #[test]
    fn titles_go_but_two_tokens_stay() {
        assert_eq!(strip(&["frau", "dr", "anna", "weber"]), ["anna", "weber"]);
        assert_eq!(strip(&["sheikh", "ali", "hassan"]), ["ali", "hassan"]);
        assert_eq!(strip(&["john", "smith", "jr"]), ["john", "smith"]);
        assert_eq!(strip(&["don", "smith"]), ["don", "smith"]);
        assert_eq!(strip(&["mr", "smith"]), ["mr", "smith"]);
        assert_eq!(
            strip(&["g", "zha", "marineta", "bumov"]),
            ["marineta", "bumov"]
        );
        assert_eq!(strip(&["da", "cunha", "machado"]), ["cunha", "machado"]);
    }
}
