//! Street addresses as comparable parts: the street (its name without the type word, in any
//! script and order of writing) and the house number. "Rose-Krebs-Straße 7", "7 Rose Krebs
//! Str." and "ROSE KREBS STRASSE 7, Apt 3" are one address; "пер. Светлый, д. 2" and
//! "Svetlyy per. 2" too.

use std::sync::LazyLock;

use any_ascii::any_ascii;

use super::{is_cjk, nfkc, phonetic, FastSet};

/// Street-type words, dropped from the street's name (any-ascii of other scripts).
#[rustfmt::skip]
const STREET_TYPES: &[&str] = &[
    // English
    "street", "st", "avenue", "ave", "av", "road", "rd", "boulevard", "blvd", "lane", "ln",
    "drive", "dr", "court", "ct", "place", "pl", "square", "sq", "way", "terrace", "ter",
    "highway", "hwy", "crescent", "cres", "close", "parade", "circle", "cir", "park", "grove",
    // German, Dutch
    "strasse", "str", "strase", "gasse", "weg", "platz", "allee", "ring", "damm", "ufer",
    "chaussee", "straat", "laan", "plein", "gracht", "kade", "singel", "dijk", "hof",
    // French, Italian, Spanish, Portuguese
    "rue", "r", "chemin", "impasse", "quai", "bd", "bld", "via", "viale", "piazza", "pza",
    "largo", "corso", "strada", "vicolo", "contrada", "calle", "c", "cl", "avenida", "avda",
    "camino", "carrera", "cra", "kr", "carretera", "paseo", "plaza", "pasaje", "callejon", "rua",
    "travessa", "tv", "praca", "estrada", "rodovia", "alameda", "setor",
    // Slavic (Latin and any-ascii of Cyrillic)
    "ulitsa", "ul", "ulica", "ulice", "aleja", "al", "pereulok", "per", "prospekt", "prosp", "pr",
    "shosse", "shose", "sh", "naberezhnaya", "nab", "ploshchad", "bulvar", "bul", "proezd", "alleya",
    "all", "vulitsya", "vulytsia", "vulitsa", "vul", "ulitsya", "trg", "namesti", "nam", "cesta",
    // Turkish, Greek, Persian
    "sokak", "sok", "sokagi", "cadde", "caddesi", "cad", "bulvari", "odos", "leoforos", "khyabn",
    "kwche", "jadh",
    // Chinese, Korean (any-ascii syllables), South and South-East Asian
    "lu", "jie", "dao", "xiang", "nong", "duan", "ro", "gil", "daero", "jalan", "jl", "jln",
    "duong", "pho", "hem", "ngo", "thanon", "thnn", "th", "soi", "marg", "chowk", "nagar",
];

/// Words that announce the house number ("No. 5", "д. 5", "5号").
#[rustfmt::skip]
const NUMBER_WORDS: &[&str] = &[
    "no", "nr", "n", "num", "numero", "nro", "d", "dom", "bud", "so", "hao", "haus", "house",
];

/// Words of a flat, floor or room: they and their number are not the building's address.
#[rustfmt::skip]
const UNIT_WORDS: &[&str] = &[
    "apt", "apartment", "apto", "suite", "ste", "unit", "flat", "floor", "fl", "room", "rm",
    "interior", "int", "kv", "kvartira", "korp", "korpus", "piso", "planta", "etage", "bldg",
    "depto", "departamento", "andar", "stiege", "stroenie", "hmu", "ceng", "og", "stock",
    "appartamento", "puerta", "edif",
];

/// Words that are a unit before a number ("Block 4", "Studio 87") and may be a street's
/// name otherwise ("Lot straat").
#[rustfmt::skip]
const NUMBERED_UNIT_WORDS: &[&str] = &[
    "lot", "tower", "block", "blk", "office", "of", "oficina", "studio", "k", "et", "top",
    "sala", "loja", "shi", "mu", "moo", "khom", "tang", "ho", "dong", "dept", "building",
    "piano", "khu",
];

/// Floor words written after their number and never before another ("18/F", "3. OG", "18层");
/// "floor" is not one ("Mlinarska 88, Floor 2"), an ordinal before it is ("12th floor").
const FOLLOWING_UNITS: [&str; 3] = ["f", "og", "ceng"];

/// Articles and prepositions in street names ("Calle de Alcalá", "Rue de la Paix"), often
/// left out.
#[rustfmt::skip]
const PARTICLES: &[&str] = &[
    "de", "del", "la", "las", "los", "el", "da", "do", "dos", "das", "di", "della", "du", "des",
    "le", "les", "van", "der", "den", "von", "the", "of",
];

/// Districts, zones and areas around a street, written by one sender and left out by
/// another ("Pudong New District", "Economic and Technological Development Zone").
#[rustfmt::skip]
const AREA_WORDS: &[&str] = &[
    "district", "dist", "new", "qu", "xinqu", "area", "zone", "province", "sheng", "county", "xian",
    "town", "township", "village", "cun", "zhen", "oblast", "obl", "rayon", "kray", "krai",
    "state", "region", "borough", "colonia", "col", "barrio", "bairro", "quartier", "mahalle",
    "mahallesi", "mah", "sector", "economic", "technological", "technology", "development",
    "industrial", "hitech", "high", "tech", "free", "trade", "kaifaqu", "gongyeyuan", "yuanqu",
];

/// Words of a post-office box.
#[rustfmt::skip]
const PO_BOX_WORDS: &[&str] = &[
    "pobox", "box", "postfach", "apartado", "caixa", "postal", "bp", "aya", "postbus", "skrytka",
];

/// Street-type endings run into the street's name ("Lotstraat", "Müllerstr.").
#[rustfmt::skip]
const GLUED_TYPES: &[&str] = &[
    "strasse", "strase", "straat", "str", "gasse", "weg", "platz", "allee", "laan", "plein",
    "gracht", "ring", "damm", "ulitsa", "caddesi", "sokak",
];

fn set_of(words: &[&'static str]) -> FastSet<&'static str> {
    words.iter().copied().collect()
}

static STREET_TYPE_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(STREET_TYPES));
static NUMBER_WORD_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(NUMBER_WORDS));
static UNIT_WORD_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(UNIT_WORDS));
static NUMBERED_UNIT_SET: LazyLock<FastSet<&'static str>> =
    LazyLock::new(|| set_of(NUMBERED_UNIT_WORDS));
static PARTICLE_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(PARTICLES));
static AREA_WORD_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(AREA_WORDS));
static PO_BOX_WORD_SET: LazyLock<FastSet<&'static str>> = LazyLock::new(|| set_of(PO_BOX_WORDS));

/// A street address in comparable form. Either part may be empty (a PO box is the street
/// "pobox" with its number). `words` are the street's words one by one, for a comparison that
/// forgives a word more or fewer ("Century" / "Century Pudong").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreetAddress {
    pub street: String,
    pub number: String,
    pub words: Vec<String>,
}

/// Chinese, Japanese and Korean characters one syllable a token; words run together in
/// capitals split ("XinDianJie"); everything to lower-case ASCII words and numbers, a number
/// apart from the letters around it except one letter after it ("12a").
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
    let latin = any_ascii(&spaced);
    let chars: Vec<char> = latin.chars().collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '\'' {
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            let prev = chars[i - 1];
            let camel = prev.is_ascii_lowercase() && c.is_ascii_uppercase();
            let into_digits = prev.is_ascii_alphabetic() && c.is_ascii_digit();
            let out_of_digits =
                prev.is_ascii_digit() && c.is_ascii_alphabetic() && !numbers_suffix(&chars[i..]);
            if camel || into_digits || out_of_digits {
                tokens.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Endings of ordinal numbers ("2nd", "1er", "3-ya").
const ORDINAL_ENDINGS: [&str; 10] = ["st", "nd", "rd", "th", "er", "re", "eme", "ya", "yy", "iy"];

/// Letters that stay with the number before them: one letter ("12a") or an ordinal ending
/// ("2nd", "1er", "3-ya").
fn numbers_suffix(rest: &[char]) -> bool {
    let letters: String = rest
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    letters.len() == 1
        || ["st", "nd", "rd", "th", "er", "re", "eme", "ya", "yy", "iy"].contains(&letters.as_str())
}

fn is_number(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit())
}

fn house_number(token: &str) -> String {
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    let number = token[..digits].trim_start_matches('0');
    let number = if number.is_empty() { "0" } else { number };
    format!("{number}{}", &token[digits..])
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
    // the street's words with its type words and particles, should those be all it has
    // ("Lê Duẩn": a particle and a type word elsewhere, a name here)
    let mut fallback: Vec<&str> = Vec::new();
    let mut number: Option<String> = None;
    let mut po_box = false;
    let mut skip_number = false;
    let mut number_announced = false;
    // a flat's number, the only number of an address that has no house number ("Studio 85,
    // Sutton Trail")
    let mut unit_number: Option<String> = None;
    for (i, token) in tokens.iter().enumerate() {
        let token = token.as_str();
        let next = tokens.get(i + 1).map(String::as_str);
        if is_number(token) {
            // "2nd floor": an ordinal before a unit word is the unit's, not the house's
            let ordinal = ORDINAL_ENDINGS.iter().any(|end| {
                token
                    .strip_suffix(end)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            // "18/F", "3 OG", "18层": a floor written after its number
            let unit_follows = next.is_some_and(|n| FOLLOWING_UNITS.contains(&n))
                || (ordinal && next.is_some_and(|n| UNIT_WORD_SET.contains(n)));
            // "Room 1801, No. 1 Xinghuo Road": a number announced as the house's is the house's
            let announced = i > 0 && NUMBER_WORD_SET.contains(tokens[i - 1].as_str());
            let skipped = std::mem::take(&mut skip_number);
            if skipped && unit_number.is_none() {
                unit_number = Some(house_number(token));
            }
            if !skipped
                && !unit_follows
                && token != postcode
                && (number.is_none() || (announced && !number_announced))
            {
                number = Some(house_number(token));
                number_announced = announced;
            }
            continue;
        }
        if NUMBERED_UNIT_SET.contains(token) && next.is_some_and(|n| n.len() == 1) {
            continue; // "Block B", "Tower A"
        }
        let numbered = next.is_some_and(is_number);
        if UNIT_WORD_SET.contains(token) || (numbered && NUMBERED_UNIT_SET.contains(token)) {
            // "Apt 3", "кв. 6": a flat, not the house; but "2nd floor, 76" has its number first
            let numbered_before = i > 0 && is_number(&tokens[i - 1]);
            skip_number = numbered && !numbered_before;
            continue;
        }
        if PO_BOX_WORD_SET.contains(token) {
            po_box = true;
            continue;
        }
        if token.len() > 1 && !NUMBER_WORD_SET.contains(token) {
            fallback.push(token);
        }
        if token.len() == 1
            || STREET_TYPE_SET.contains(token)
            || NUMBER_WORD_SET.contains(token)
            || PARTICLE_SET.contains(token)
            || AREA_WORD_SET.contains(token)
            || city_tokens.contains(&token)
            || token == postcode
        {
            continue;
        }
        street.push(strip_glued_type(token));
    }
    if street.is_empty() {
        street = fallback;
    }
    let words: Vec<String> = if po_box {
        vec!["pobox".to_owned()]
    } else {
        street.iter().map(|w| phonetic(w)).collect()
    };
    StreetAddress {
        street: words.concat(),
        number: number.or(unit_number).unwrap_or_default(),
        words,
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
            ("76, Talwar, 2nd floor", "76 Talwar"),
            ("2nd floor, 76 Talwar", "76 Talwar"),
            ("Paseo de Adán Vicens 123 Piso 47", "Paseo Adan Vicens 123"),
            ("Hercegovačka 185c, Unit 7", "Hercegovacka 185c"),
            ("Mlinarska 88, Floor 2", "Mlinarska 88"),
            ("Studio 236H, Gary Ville", "STUDIO 236H GARY VILLE"),
            ("4/55 Khu 55 Lê Duẩn", "4/55 Le Duan"),
            (
                "Room 1801, 18/F, Block B, No. 1 Xinghuo Road",
                "1 Xinghuo Rd",
            ),
            (
                "Tower A, 12th Floor, 88 Century Avenue",
                "88 Century Ave., 3/F",
            ),
            ("新店街173號", "XinDianJie173Hao"),
            ("논현294가 51-51", "NONHYEON294GA 51-51"),
            ("274/87 ถ.พรมอ่อน", "274/87 Th. Phrmo'on"),
            ("H.No. 39, Sem Zila", "H NO 39 SEM ZILA"),
        ];
        for (a, b) in same {
            let (pa, pb) = (parse(a), parse(b));
            assert_eq!(
                (&pa.street, &pa.number),
                (&pb.street, &pb.number),
                "{a} / {b}"
            );
            assert!(
                !pa.street.is_empty() && !pa.number.is_empty(),
                "{a}: {pa:?}"
            );
        }
    }

    #[test]
    fn other_numbers_and_streets_differ() {
        assert_ne!(
            parse("Paseo Vicens 123 Piso 47"),
            parse("Paseo Vicens 105 Piso 47")
        );
        assert_ne!(
            parse("Rose-Krebs-Straße 7").number,
            parse("Rose-Krebs-Straße 9").number
        );
        assert_ne!(
            parse("Rose-Krebs-Straße 7").street,
            parse("Rose-Weg 7").street
        );
        assert_eq!(parse("12a Main Street").number, "12a");
        let district = parse("88 Century Avenue, Pudong New District");
        assert_eq!(district.words, ["centuri", "pudong"]);
    }

    #[test]
    fn the_city_and_postcode_in_a_line_are_not_the_address() {
        let with = parse_address(&["Hauptstr. 5, 10115 Berlin".to_owned()], "10115", "berlin");
        assert_eq!(with, parse("Hauptstraße 5"));
        assert_eq!(parse_address(&[], "", ""), StreetAddress::default());
    }
}
