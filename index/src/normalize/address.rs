//! Street addresses as comparable parts: the street (its name without the type word, in any
//! script and order of writing) and the house number. "Rose-Krebs-Straße 7", "7 Rose Krebs
//! Str." and "ROSE KREBS STRASSE 7, Apt 3" are one address; "пер. Светлый, д. 2" and
//! "Svetlyy per. 2" too.

use std::sync::LazyLock;

use any_ascii::any_ascii;

use super::{is_cjk, nfkc, phonetic, FastSet};

/// Street-type words, dropped from the street's name (any-ascii of other scripts).
const STREET_TYPES: &[&str] = &[
    // English
    "street",
    "st",
    "avenue",
    "ave",
    "av",
    "road",
    "rd",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "ct",
    "place",
    "pl",
    "square",
    "sq",
    "way",
    "terrace",
    "ter",
    "highway",
    "hwy",
    "crescent",
    "cres",
    "close",
    "parade",
    "circle",
    "cir",
    "park",
    "grove",
    // German, Dutch
    "strasse",
    "str",
    "strase",
    "gasse",
    "weg",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "chaussee",
    "straat",
    "laan",
    "plein",
    "gracht",
    "kade",
    "singel",
    "dijk",
    "hof",
    // French, Italian, Spanish, Portuguese
    "rue",
    "r",
    "chemin",
    "allee",
    "impasse",
    "quai",
    "bd",
    "bld",
    "via",
    "viale",
    "piazza",
    "pza",
    "largo",
    "corso",
    "strada",
    "vicolo",
    "contrada",
    "calle",
    "c",
    "cl",
    "avenida",
    "avda",
    "camino",
    "carrera",
    "cra",
    "kr",
    "carretera",
    "paseo",
    "plaza",
    "pasaje",
    "callejon",
    "rua",
    "travessa",
    "tv",
    "praca",
    "estrada",
    "rodovia",
    "alameda",
    "setor",
    // Slavic (Latin and any-ascii of Cyrillic)
    "ulitsa",
    "ul",
    "ulica",
    "ulice",
    "aleja",
    "al",
    "pereulok",
    "per",
    "prospekt",
    "prosp",
    "pr",
    "shosse",
    "sh",
    "naberezhnaya",
    "nab",
    "ploshchad",
    "pl",
    "bulvar",
    "bul",
    "proezd",
    "alleya",
    "all",
    "vulitsya",
    "vulytsia",
    "vulitsa",
    "vul",
    "ulitsya",
    "trg",
    "namesti",
    "nam",
    "cesta",
    // Turkish, Greek, Persian
    "sokak",
    "sok",
    "sokagi",
    "cadde",
    "caddesi",
    "cad",
    "bulvari",
    "odos",
    "leoforos",
    "khyabn",
    "kwche",
    "jadh",
    // Chinese, Korean (any-ascii syllables), South-East Asian
    "lu",
    "jie",
    "dao",
    "xiang",
    "nong",
    "duan",
    "ro",
    "gil",
    "daero",
    "jalan",
    "jl",
    "jln",
    "duong",
    "pho",
    "hem",
    "ngo",
    "thanon",
    "th",
    "soi",
    "marg",
    "chowk",
    "nagar",
];

/// Words that announce the house number ("No. 5", "д. 5", "5号").
const NUMBER_WORDS: &[&str] = &[
    "no", "nr", "n", "num", "numero", "nro", "d", "dom", "bud", "so", "hao", "haus", "house",
];

/// Words that announce a flat, floor, block or office: they and their number are not the
/// building's address.
const UNIT_WORDS: &[&str] = &[
    "apt",
    "apartment",
    "apto",
    "suite",
    "ste",
    "unit",
    "flat",
    "floor",
    "fl",
    "room",
    "rm",
    "interior",
    "int",
    "kv",
    "kvartira",
    "k",
    "korp",
    "korpus",
    "office",
    "of",
    "oficina",
    "piso",
    "planta",
    "etage",
    "et",
    "bldg",
    "building",
    "block",
    "blk",
    "studio",
    "tower",
    "lot",
    "dept",
    "depto",
    "departamento",
    "sala",
    "andar",
    "loja",
    "stiege",
    "top",
    "stroenie",
    "zuo",
    "ceng",
    "shi",
    "mu",
    "moo",
    "khom",
    "tang",
    "ho",
    "dong",
];

/// Articles and prepositions in street names ("Calle de Alcalá", "Rue de la Paix"), often
/// left out.
const PARTICLES: &[&str] = &[
    "de", "del", "la", "las", "los", "el", "da", "do", "dos", "das", "di", "della", "du", "des",
    "le", "les", "van", "der", "den", "von", "the", "of",
];

/// Words of a post-office box.
const PO_BOX_WORDS: &[&str] = &[
    "pobox", "box", "postfach", "apartado", "caixa", "postal", "bp", "aya", "postbus", "skrytka",
];

/// Street-type endings run into the street's name ("Lotstraat", "Müllerstr.").
const GLUED_TYPES: &[&str] = &[
    "strasse", "strase", "straat", "str", "gasse", "weg", "platz", "allee", "laan", "plein",
    "gracht", "ring", "damm", "ulitsa", "caddesi", "sokak",
];

static STREET_TYPE_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| STREET_TYPES.iter().copied().collect());
static NUMBER_WORD_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| NUMBER_WORDS.iter().copied().collect());
static UNIT_WORD_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| UNIT_WORDS.iter().copied().collect());
static PARTICLE_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| PARTICLES.iter().copied().collect());
static PO_BOX_WORD_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| PO_BOX_WORDS.iter().copied().collect());

/// A street address in comparable form. Either part may be empty (a PO box is the street
/// "pobox" with its number).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreetAddress {
    pub street: String,
    pub number: String,
}

/// Chinese, Japanese and Korean characters one syllable a token, everything to lower-case
/// ASCII words and numbers.
fn address_tokens(text: &str) -> Vec<String> {
    let text = nfkc(text);
    let mut spaced = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_cjk(c) || ('\u{AC00}'..='\u{D7A3}').contains(&c) {
            spaced.push(' ');
            spaced.push_str(&any_ascii(c.encode_utf8(&mut [0; 4])));
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    let latin = any_ascii(&spaced).to_ascii_lowercase();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in latin.chars() {
        match c {
            '.' | '\'' => {}
            'a'..='z' | '0'..='9' => {
                // "12a" stays one token, "a12" and "str12" split before the digits
                if c.is_ascii_digit()
                    && current
                        .bytes()
                        .last()
                        .is_some_and(|b| b.is_ascii_alphabetic())
                {
                    tokens.push(std::mem::take(&mut current));
                }
                current.push(c);
            }
            _ => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn house_number(token: &str) -> Option<String> {
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &token[digits..];
    let number = token[..digits].trim_start_matches('0');
    let number = if number.is_empty() { "0" } else { number };
    Some(if rest.len() == 1 {
        format!("{number}{rest}")
    } else {
        number.to_owned()
    })
}

fn strip_glued_type(token: &str) -> &str {
    for ending in GLUED_TYPES {
        if let Some(name) = token.strip_suffix(ending) {
            if name.len() >= 3 {
                return name;
            }
        }
    }
    token
}

/// The street and house number of address lines; `postcode` and `city` (normalised as
/// `normalize_postcode` and `normalize_place` give them) are left out when the lines repeat
/// them.
pub fn parse_address(lines: &[String], postcode: &str, city: &str) -> StreetAddress {
    let text = lines.join(" , ");
    let tokens = address_tokens(&text);
    let city_tokens: Vec<&str> = city.split(' ').filter(|t| !t.is_empty()).collect();
    let postcode = postcode.to_ascii_lowercase();
    let mut street: Vec<&str> = Vec::new();
    let mut number: Option<String> = None;
    let mut po_box = false;
    let mut skip_number = false;
    for (i, token) in tokens.iter().enumerate() {
        let token = token.as_str();
        if token.starts_with(|c: char| c.is_ascii_digit()) {
            if !std::mem::take(&mut skip_number) && number.is_none() && token != postcode {
                number = house_number(token);
            }
            continue;
        }
        let numbered = tokens
            .get(i + 1)
            .is_some_and(|next| next.starts_with(|c: char| c.is_ascii_digit()));
        if numbered && UNIT_WORD_SET.contains(token) {
            skip_number = true; // "Apt 3", "кв. 6": a flat, not the house
            continue;
        }
        if PO_BOX_WORD_SET.contains(token) {
            po_box = true;
            continue;
        }
        if token == "po"
            || STREET_TYPE_SET.contains(token)
            || NUMBER_WORD_SET.contains(token)
            || PARTICLE_SET.contains(token)
            || city_tokens.contains(&token)
            || token == postcode
        {
            continue;
        }
        street.push(strip_glued_type(token));
    }
    let street = if po_box {
        "pobox".to_owned()
    } else {
        phonetic(&street.concat())
    };
    StreetAddress {
        street,
        number: number.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> StreetAddress {
        parse_address(&[line.to_owned()], "", "")
    }

    #[test]
    fn one_address_written_many_ways() {
        let same = [
            ("Rose-Krebs-Straße 7", "7 Rose Krebs Str., Apt 3"),
            ("ROSE KREBS STRASSE 7", "Rose-Krebs-Str. 7"),
            ("пер. Светлый, д. 2", "Svetlyy per. 2"),
            ("ул. Вишневая, д. 19 стр. 1", "ulitsa Vishnevaya 19"),
            ("192, boulevard Aimée Carlier", "192 bd Aimee Carlier"),
            ("Lotstraat 61", "Lot straat 61"),
            ("Calle de Alcalá 45, 3º", "C/ Alcala 45"),
            ("永和路48號", "Yong He Lu 48 Hao"),
            ("Số 817 phố Lý Chính Thắng", "817 Ly Chinh Thang"),
            ("P.O. Box 1234", "PO BOX 1234"),
            ("Flat 17, 22 Janet Meadows", "22 Janet Meadows"),
        ];
        for (a, b) in same {
            let (pa, pb) = (parse(a), parse(b));
            assert_eq!(pa, pb, "{a} / {b}");
            assert!(
                !pa.street.is_empty() && !pa.number.is_empty(),
                "{a}: {pa:?}"
            );
        }
    }

    #[test]
    fn other_numbers_and_streets_differ() {
        assert_ne!(
            parse("Rose-Krebs-Straße 7").number,
            parse("Rose-Krebs-Straße 9").number
        );
        assert_ne!(
            parse("Rose-Krebs-Straße 7").street,
            parse("Rose-Weg 7").street
        );
        assert_eq!(parse("12a Main Street").number, "12a");
    }

    #[test]
    fn the_city_and_postcode_in_a_line_are_not_the_address() {
        let with = parse_address(&["Hauptstr. 5, 10115 Berlin".to_owned()], "10115", "berlin");
        assert_eq!(with, parse("Hauptstraße 5"));
        assert_eq!(parse_address(&[], "", ""), StreetAddress::default());
    }
}
