//! Identifiers in canonical form: phone numbers (E.164), e-mail addresses and web domains.
//!
//! Domains go through Python's `str.encode("idna")` (IDNA 2003 ToASCII per label, RFC 3490/3491/3492) for
//! `canonical_domain`.
//!
//! Exact: the ASCII fast path, label splitting on the four IDNA dots, length checks, the ACE
//! prefix check and Punycode. Nameprep: tables B.1, C.* (prohibited) and D.1 (RandALCat) are
//! RFC 3454's, as Python's `stringprep` gives them; B.2 case folding is approximated by
//! lower-casing with IDNA 2003's ß → ss and ς → σ; NFKC is Unicode 3.2's where characters
//! differ one by one; D.2 (LCat) is approximated by letters outside D.1.

use super::nfkc_as_of;

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators U+001C–U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1C}'..='\u{1F}')
}

fn py_strip(text: &str) -> &str {
    text.trim_matches(is_py_space)
}

/// RFC 3454 table B.1: mapped to nothing.
const MAP_TO_NOTHING: &[(u32, u32)] = &[
    (0xAD, 0xAD),
    (0x34F, 0x34F),
    (0x1806, 0x1806),
    (0x180B, 0x180D),
    (0x200B, 0x200D),
    (0x2060, 0x2060),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
];

/// RFC 3454 tables C.1.2, C.2.2, C.3, C.4, C.6, C.7, C.8 and C.9 (C.5 surrogates cannot
/// occur in a `str`).
const PROHIBITED: &[(u32, u32)] = &[
    (0x80, 0xA0),
    (0x340, 0x341),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2063),
    (0x206A, 0x206F),
    (0x2FF0, 0x2FFB),
    (0x3000, 0x3000),
    (0xE000, 0xF8FF),
    (0xFDD0, 0xFDEF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFF),
    (0x1D173, 0x1D17A),
    (0x1FFFE, 0x1FFFF),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x4FFFE, 0x4FFFF),
    (0x5FFFE, 0x5FFFF),
    (0x6FFFE, 0x6FFFF),
    (0x7FFFE, 0x7FFFF),
    (0x8FFFE, 0x8FFFF),
    (0x9FFFE, 0x9FFFF),
    (0xAFFFE, 0xAFFFF),
    (0xBFFFE, 0xBFFFF),
    (0xCFFFE, 0xCFFFF),
    (0xDFFFE, 0xDFFFF),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xEFFFE, 0x10FFFF),
];

/// Characters whose NFKC in Unicode 3.2 (Python's `unicodedata.ucd_3_2_0`, which nameprep
/// uses) is themselves while this crate's NFKC changes them: mostly characters assigned later.
const NOT_IN_UNICODE_3_2: &[(u32, u32)] = &[
    (0x3F9, 0x3F9),
    (0x558, 0x558),
    (0x58B, 0x58C),
    (0x10FC, 0x10FC),
    (0x1D2C, 0x1D2E),
    (0x1D30, 0x1D3A),
    (0x1D3C, 0x1D4D),
    (0x1D4F, 0x1D6A),
    (0x1D78, 0x1D78),
    (0x1D9B, 0x1DBF),
    (0x2090, 0x209F),
    (0x213B, 0x213C),
    (0x2150, 0x2152),
    (0x2189, 0x2189),
    (0x2C7C, 0x2C7D),
    (0x2D6F, 0x2D6F),
    (0x321D, 0x321E),
    (0x3244, 0x3247),
    (0x3250, 0x3250),
    (0x327C, 0x327E),
    (0x32CC, 0x32CF),
    (0x32FF, 0x32FF),
    (0x3377, 0x337A),
    (0x33DE, 0x33DF),
    (0x33FF, 0x33FF),
    (0xA69C, 0xA69D),
    (0xA770, 0xA770),
    (0xA7F1, 0xA7F4),
    (0xA7F8, 0xA7F9),
    (0xAB5C, 0xAB5F),
    (0xAB69, 0xAB69),
    (0xFA2E, 0xFA2F),
    (0xFA6B, 0xFA6D),
    (0xFA70, 0xFAD9),
    (0xFE10, 0xFE19),
    (0xFE47, 0xFE48),
    (0x10781, 0x10785),
    (0x10787, 0x107B0),
    (0x107B2, 0x107BF),
    (0x1B123, 0x1B126),
    (0x1CCD6, 0x1CCF9),
    (0x1D4C1, 0x1D4C1),
    (0x1D6A4, 0x1D6A6),
    (0x1D7CA, 0x1D7CB),
    (0x1DF95, 0x1DF95),
    (0x1DFCD, 0x1DFFF),
    (0x1E030, 0x1E06D),
    (0x1EE00, 0x1EEBB),
    (0x1F100, 0x1F10A),
    (0x1F110, 0x1F12E),
    (0x1F130, 0x1F14F),
    (0x1F16A, 0x1F16C),
    (0x1F190, 0x1F190),
    (0x1F200, 0x1F202),
    (0x1F210, 0x1F23B),
    (0x1F240, 0x1F248),
    (0x1F250, 0x1F251),
    (0x1FBF0, 0x1FBF9),
];

/// CJK compatibility ideographs whose Unicode 3.2 decomposition was later corrected.
const UNICODE_3_2_DECOMPOSITIONS: &[(char, char)] = &[
    ('\u{2F868}', '\u{2136A}'),
    ('\u{2F874}', '\u{5F33}'),
    ('\u{2F91F}', '\u{43AB}'),
    ('\u{2F95F}', '\u{7AAE}'),
    ('\u{2F9BF}', '\u{4D57}'),
];

/// `unicodedata.ucd_3_2_0.normalize("NFKC", text)`, near enough.
fn nfkc_3_2(text: &str) -> String {
    nfkc_as_of(text, NOT_IN_UNICODE_3_2, UNICODE_3_2_DECOMPOSITIONS)
}

/// RFC 3454 table D.1: characters with bidirectional property R or AL.
const RAND_AL: &[(u32, u32)] = &[
    (0x5BE, 0x5BE),
    (0x5C0, 0x5C0),
    (0x5C3, 0x5C3),
    (0x5D0, 0x5EA),
    (0x5F0, 0x5F4),
    (0x61B, 0x61B),
    (0x61F, 0x61F),
    (0x621, 0x63A),
    (0x640, 0x64A),
    (0x66D, 0x66F),
    (0x671, 0x6D5),
    (0x6DD, 0x6DD),
    (0x6E5, 0x6E6),
    (0x6FA, 0x6FE),
    (0x700, 0x70D),
    (0x710, 0x710),
    (0x712, 0x72C),
    (0x780, 0x7A5),
    (0x7B1, 0x7B1),
    (0x200F, 0x200F),
    (0xFB1D, 0xFB1D),
    (0xFB1F, 0xFB28),
    (0xFB2A, 0xFB36),
    (0xFB38, 0xFB3C),
    (0xFB3E, 0xFB3E),
    (0xFB40, 0xFB41),
    (0xFB43, 0xFB44),
    (0xFB46, 0xFBB1),
    (0xFBD3, 0xFD3D),
    (0xFD50, 0xFD8F),
    (0xFD92, 0xFDC7),
    (0xFDF0, 0xFDFC),
    (0xFE70, 0xFE74),
    (0xFE76, 0xFEFC),
];

pub(super) fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// Table D.2 (LCat), approximated: letters that are not RandALCat.
fn is_l_cat(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric() && !in_table(RAND_AL, c)
}

fn fold_case(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            '\u{345}' => out.push('ι'),
            _ if in_table(MAP_TO_NOTHING, ch) => {}
            _ => out.extend(ch.to_lowercase()),
        }
    }
}

/// RFC 3491 nameprep; `None` where Python raises.
fn nameprep(label: &str) -> Option<String> {
    let mut mapped = String::with_capacity(label.len());
    fold_case(label, &mut mapped);
    let normal = nfkc_3_2(&mapped);
    // B.2 folds case so that NFKC output is folded too ("℃" → "°c")
    let mut refolded = String::with_capacity(normal.len());
    fold_case(&normal, &mut refolded);
    let label = nfkc_3_2(&refolded);
    if label.chars().any(|c| in_table(PROHIBITED, c)) {
        return None;
    }
    if label.chars().any(|c| in_table(RAND_AL, c)) {
        let first = label.chars().next().is_some_and(|c| in_table(RAND_AL, c));
        let last = label
            .chars()
            .next_back()
            .is_some_and(|c| in_table(RAND_AL, c));
        if label.chars().any(is_l_cat) || !first || !last {
            return None;
        }
    }
    Some(label)
}

/// RFC 3492 Punycode, as Python's "punycode" codec writes it.
fn punycode(input: &str) -> String {
    const BASE: u64 = 36;
    const DIGITS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    fn adapt(delta: u64, first: bool, points: u64) -> u64 {
        let mut delta = if first { delta / 700 } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - 1) * 26) / 2 {
            delta /= BASE - 1;
            k += BASE;
        }
        k + (BASE * delta) / (delta + 38)
    }
    let chars: Vec<u64> = input.chars().map(|c| u64::from(c as u32)).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u64;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (128u64, 0u64, 72u64, basic);
    while handled < chars.len() as u64 {
        let m = chars.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (m - n) * (handled + 1);
        n = m;
        for &c in &chars {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        1
                    } else if k >= bias + 26 {
                        26
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(DIGITS[(t + (q - t) % (BASE - t)) as usize] as char);
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(DIGITS[q as usize] as char);
                bias = adapt(delta, handled == basic, handled + 1);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    out
}

/// RFC 3490 ToASCII for one label, as Python's `encodings.idna.ToASCII`.
fn label_to_ascii(label: &str) -> Option<String> {
    let fits = |s: &str| (1..64).contains(&s.len());
    if label.is_ascii() {
        return fits(label).then(|| label.to_owned());
    }
    let label = nameprep(label)?;
    if label.is_ascii() {
        return fits(&label).then_some(label);
    }
    if label.starts_with("xn--") {
        return None;
    }
    let encoded = format!("xn--{}", punycode(&label));
    fits(&encoded).then_some(encoded)
}

/// `text.encode("idna").decode("ascii")`; `None` where Python raises `UnicodeError`.
fn to_ascii(text: &str) -> Option<String> {
    if text.is_ascii() {
        // fast path: only label lengths are checked
        let labels: Vec<&str> = text.split('.').collect();
        let (last, rest) = labels.split_last()?;
        let ok =
            text.is_empty() || (rest.iter().all(|l| (1..64).contains(&l.len())) && last.len() < 64);
        return ok.then(|| text.to_owned());
    }
    let mut labels: Vec<&str> = text
        .split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
        .collect();
    let trailing_dot = labels.last().is_some_and(|l| l.is_empty());
    if trailing_dot {
        labels.pop();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for label in labels {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&label_to_ascii(label)?);
    }
    if trailing_dot {
        out.push('.');
    }
    Some(out)
}

/// `\+[0-9][0-9 ().-]{6,24}` as a full match.
fn is_international_phone(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 8
        && bytes.len() <= 26
        && bytes[0] == b'+'
        && bytes[1].is_ascii_digit()
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_digit() || b" ().-".contains(b))
}

/// Letters written for the digits they look like ("+49 l5l2 O456"), in text that is
/// otherwise a phone number; None when it is not.
fn digits_for_lookalikes(raw: &str) -> Option<String> {
    let mut digits = 0;
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let d = match c {
            'O' | 'o' | 'О' | 'о' => '0',
            'I' | 'l' | '|' | 'І' | 'і' => '1',
            _ => c,
        };
        if d.is_ascii_digit() {
            digits += 1;
        } else if !" +().-/".contains(d) {
            return None;
        }
        out.push(d);
    }
    (digits >= 6).then_some(out)
}

/// E.164 form of a phone number, using the party's country for national formats.
pub fn canonical_phone(raw: &str, country_code: &str) -> Option<String> {
    let lookalikes = raw.contains(|c: char| c.is_alphabetic() || c == '|');
    let fixed;
    let raw = if lookalikes {
        fixed = digits_for_lookalikes(raw)?;
        fixed.as_str()
    } else {
        raw
    };
    let text = py_strip(raw).replace("(0)", "");
    if is_international_phone(&text) {
        let digits: String = text.chars().filter(|c| !" ().-".contains(*c)).collect();
        if (8..=16).contains(&digits.len()) {
            return Some(digits);
        }
    }
    let region = if country_code.is_empty() {
        None
    } else {
        Some(country_code.parse().ok()?)
    };
    // phonenumbers reads any script's decimal digits; the crate only ASCII ones
    let ascii_digits: String = raw
        .chars()
        .map(|c| match c {
            '\u{FF0B}' => '+',
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            _ => c,
        })
        .collect();
    let number = phonenumber::parse(region, ascii_digits).ok()?;
    if number.national().value().to_string().len() < 6 {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Lower-cased address without sub-address tag: "Sales+Q3@Ex.COM" → "sales@ex.com"; as
/// written in a link or a header ("mailto:a@ex.com", "<a@ex.com>") too, and with letters of
/// other scripts that look like Latin ones (a Cyrillic "е") read as those.
pub fn canonical_email(raw: &str) -> Option<String> {
    let text = py_strip(raw).to_lowercase();
    let text = text.trim_matches(|c| "<>()[]\"'".contains(c));
    let text = text.strip_prefix("mailto:").unwrap_or(text).trim();
    let folded;
    let text = match text.rsplit_once('@') {
        Some((local, domain)) if !text.is_ascii() => {
            // a mixed-script domain label is a look-alike; a wholly non-Latin one is an IDN
            let mixed = domain.split('.').any(|label| {
                !label.is_ascii() && label.contains(|c: char| c.is_ascii_alphabetic())
            });
            let domain = if mixed {
                any_ascii::any_ascii(domain)
            } else {
                domain.to_owned()
            };
            folded = format!("{}@{domain}", any_ascii::any_ascii(local).to_lowercase());
            folded.as_str()
        }
        _ => text,
    };
    let (local, domain) = text.rsplit_once('@')?;
    if local.is_empty() || !domain.contains('.') || text.contains(' ') {
        return None;
    }
    let local = local.split('+').next().unwrap_or_default();
    let host = canonical_domain(domain)?;
    if local.is_empty() {
        return None;
    }
    Some(format!("{local}@{host}"))
}

/// Registrable host of a web address: "https://www.Ex.com/shop" → "ex.com".
pub fn canonical_domain(raw: &str) -> Option<String> {
    let text = py_strip(raw).to_lowercase();
    // ^[a-z][a-z0-9+.-]*://
    let scheme_len = match text.as_bytes().first() {
        Some(b'a'..=b'z') => text
            .bytes()
            .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b)))
            .filter(|&end| text[end..].starts_with("://"))
            .map_or(0, |end| end + 3),
        _ => 0,
    };
    let text = &text[scheme_len..];
    let host = text
        .split(['/', '?', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    let host = to_ascii(host)?;
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !host.contains('.') || !plain {
        return None;
    }
    Some(host)
}
