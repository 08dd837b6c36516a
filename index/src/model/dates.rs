//! Dates as Python's `date.toordinal()` (0001-01-01 is day 1), parsed like CPython 3.11's
//! C `date.fromisoformat`.

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Proleptic Gregorian ordinal, day 1 = 0001-01-01 (valid for any year via floor division).
fn ymd_to_ord(year: i64, month: i64, day: i64) -> i64 {
    // Howard Hinnant's days_from_civil, shifted so that 1970-01-01 is 719163.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + 719_163
}

fn ord_to_ymd(ordinal: i64) -> (i64, i64, i64) {
    let z = ordinal - 719_163 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn valid_ordinal(year: i64, month: i64, day: i64) -> Option<i32> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    i32::try_from(ymd_to_ord(year, month, day)).ok()
}

/// The ordinal of an ISO date, accepting exactly what CPython 3.11's `date.fromisoformat`
/// accepts: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www`, `YYYYWww`, `YYYY-Www-D`, `YYYYWwwD`.
/// Like CPython it only looks at UTF-8 lengths 7, 8 and 10 and does not check that the parse
/// consumed everything, so `"20260101xx"` is 2026-01-01 (a CPython quirk, kept).
pub fn ordinal_from_iso(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    if !matches!(bytes.len(), 7 | 8 | 10) {
        return None;
    }
    // CPython reads a NUL-terminated buffer: past the end there is a NUL, never a digit.
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let digits = |start: usize, count: usize| -> Option<i64> {
        let mut value = 0i64;
        for i in start..start + count {
            let b = at(i);
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(b - b'0');
        }
        Some(value)
    };
    let year = digits(0, 4)?;
    let mut p = 4;
    let separated = at(p) == b'-';
    if separated {
        p += 1;
    }
    if at(p) == b'W' {
        p += 1;
        let week = digits(p, 2)?;
        p += 2;
        let weekday = if p < bytes.len() {
            if separated {
                if at(p) != b'-' {
                    return None;
                }
                p += 1;
            }
            digits(p, 1)?
        } else {
            1
        };
        return iso_week_ordinal(year, week, weekday);
    }
    let month = digits(p, 2)?;
    p += 2;
    if separated {
        if at(p) != b'-' {
            return None;
        }
        p += 1;
    }
    let day = digits(p, 2)?;
    valid_ordinal(year, month, day)
}

/// CPython's `iso_to_ymd` followed by the date range checks.
fn iso_week_ordinal(year: i64, week: i64, weekday: i64) -> Option<i32> {
    if year == 0 {
        // CPython computes nonsense for year 0 (it assumes year >= 1) but every result is
        // out of range; the proleptic calendar gives the same answer: invalid.
        return None;
    }
    let first_day = ymd_to_ord(year, 1, 1);
    let first_weekday = (first_day + 6).rem_euclid(7);
    if !(1..53).contains(&week) {
        let long_year = week == 53 && (first_weekday == 3 || (first_weekday == 2 && is_leap(year)));
        if !long_year {
            return None;
        }
    }
    if !(1..8).contains(&weekday) {
        return None;
    }
    let mut week1_monday = first_day - first_weekday;
    if first_weekday > 3 {
        week1_monday += 7;
    }
    let (y, m, d) = ord_to_ymd(week1_monday + (week - 1) * 7 + weekday - 1);
    valid_ordinal(y, m, d)
}

/// `date.fromordinal(ordinal).isoformat()`; ordinals outside 1..=3652059 (years 1-9999) are
/// formatted by the proleptic calendar rather than refused.
pub fn iso_from_ordinal(ordinal: i32) -> String {
    let (y, m, d) = ord_to_ymd(i64::from(ordinal));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_match_python() {
        assert_eq!(ordinal_from_iso("0001-01-01"), Some(1));
        assert_eq!(ordinal_from_iso("1970-01-01"), Some(719_163));
        assert_eq!(ordinal_from_iso("9999-12-31"), Some(3_652_059));
        assert_eq!(iso_from_ordinal(719_163), "1970-01-01");
        assert_eq!(iso_from_ordinal(3_652_059), "9999-12-31");
        for ordinal in (1..3_652_059).step_by(997) {
            assert_eq!(ordinal_from_iso(&iso_from_ordinal(ordinal)), Some(ordinal));
        }
    }

    #[test]
    fn cpython_quirks() {
        let d = |s: &str| ordinal_from_iso(s).map(iso_from_ordinal);
        assert_eq!(d("20260101xx").as_deref(), Some("2026-01-01"));
        assert_eq!(d("20260101é").as_deref(), Some("2026-01-01"));
        assert_eq!(d("2026W01123").as_deref(), Some("2025-12-29"));
        assert_eq!(d("2026-W53").as_deref(), Some("2026-12-28"));
        assert_eq!(d("2026W537").as_deref(), Some("2027-01-03"));
        assert_eq!(d("2020W537").as_deref(), Some("2021-01-03"));
        assert_eq!(d("9999-W52-5").as_deref(), Some("9999-12-31"));
        assert_eq!(d("0001W011").as_deref(), Some("0001-01-01"));
        for bad in [
            "0000-01-01",
            "9999W527",
            "2026-1-01",
            "2026-01-1x",
            "+026-01-01",
            "2026-02-29",
            "2026W00",
            "2026-W011",
            "2026X0101",
            "2026-01-01\0",
            "2026\0",
            "",
            "yesterday",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }
}
