//! Python's text semantics that the messages depend on: `repr(str)`, `repr(float)`,
//! `str.isspace`, slicing by code points.

use super::printable::NON_PRINTABLE;
use std::fmt::Write;

/// Python's `str.isspace` for one character: Rust's White_Space plus U+001C..U+001F, which
/// Python counts as whitespace (bidirectional classes B and S).
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `not s.strip()`.
pub(crate) fn is_blank(s: &str) -> bool {
    s.chars().all(is_py_space)
}

/// `s[:n]` in code points.
pub(crate) fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// `len(s)`.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// CPython's `str.isprintable` for one character. Exact for CPython 3.11 (Unicode 14.0.0):
/// the table of non-printable code points was generated from CPython itself (categories Cc,
/// Cf, Cs, Co, Cn, Zl, Zp and Zs except the ASCII space). A newer CPython with a newer
/// Unicode database would print newly assigned characters instead of escaping them.
pub(crate) fn is_printable(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x80 {
        return (0x20..0x7f).contains(&cp);
    }
    NON_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// CPython's `repr(s)` for a `str`.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        let cp = c as u32;
        if c == quote || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if c == '\t' {
            out.push_str("\\t");
        } else if c == '\n' {
            out.push_str("\\n");
        } else if c == '\r' {
            out.push_str("\\r");
        } else if cp < 0x20 || cp == 0x7f {
            let _ = write!(out, "\\x{cp:02x}");
        } else if cp < 0x7f || is_printable(c) {
            out.push(c);
        } else if cp <= 0xff {
            let _ = write!(out, "\\x{cp:02x}");
        } else if cp <= 0xffff {
            let _ = write!(out, "\\u{cp:04x}");
        } else {
            let _ = write!(out, "\\U{cp:08x}");
        }
    }
    out.push(quote);
    out
}

/// The shortest round-trip digits of a finite, non-zero `value` and its decimal exponent
/// (value = d.ddd × 10^exp), with the sign.
fn shortest(value: f64) -> (bool, String, i32) {
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (
        value.is_sign_negative(),
        digits,
        exp.parse::<i32>().unwrap_or(0),
    )
}

/// Shortest-digit float text: fixed notation for `low <= exp < 16`, otherwise scientific
/// with the exponent signed and zero-padded to `exp_width` digits.
pub(crate) fn format_float(value: f64, low: i32, exp_width: usize) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    let (negative, digits, exp) = shortest(value);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let n = digits.len() as i32;
    if (low..16).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:0width$}", exp.unsigned_abs(), width = exp_width);
    }
    out
}

/// CPython's `repr(float)` (also `str(float)`): `1.0`, `1e+16`, `1e-05`, `0.0001`.
pub fn py_float_repr(value: f64) -> String {
    format_float(value, -4, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_cpython() {
        assert_eq!(py_repr("ZZ"), "'ZZ'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("'\""), "'\\'\"'");
        assert_eq!(py_repr("a\\b\n\t\r\x00\x7f"), "'a\\\\b\\n\\t\\r\\x00\\x7f'");
        assert_eq!(
            py_repr("\u{85}\u{a0}é\u{2028}\u{ffff}"),
            "'\\x85\\xa0é\\u2028\\uffff'"
        );
        assert_eq!(py_repr("\u{e0001}😀"), "'\\U000e0001😀'");
    }

    #[test]
    fn float_repr_matches_cpython() {
        for (v, s) in [
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(py_float_repr(v), s);
        }
    }
}
