//! HTTP dates (RFC 9110 §5.6.7): `Date` and `Last-Modified` are sent as
//! IMF-fixdate; `If-Modified-Since` is parsed in all three formats a
//! recipient must accept (IMF-fixdate, RFC 850, asctime). Whole seconds
//! since the Unix epoch, UTC; no time-zone database needed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT` is 29 bytes.
pub const IMF_FIXDATE_LEN: usize = 29;

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// Seconds since the epoch (times before it are clamped to it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31); the
/// proleptic Gregorian algorithm of H. Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn two(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// Formats `secs` (since the epoch) as IMF-fixdate. Years past 9999 are
/// clamped: the format has four digits.
pub fn format_imf_fixdate(secs: u64) -> [u8; IMF_FIXDATE_LEN] {
    let secs = secs.min(253_402_300_799); // 9999-12-31T23:59:59Z
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    let year = year as u32;
    two(&mut out[12..14], year / 100);
    two(&mut out[14..16], year % 100);
    two(&mut out[17..19], rem / 3600);
    two(&mut out[20..22], rem / 60 % 60);
    two(&mut out[23..25], rem % 60);
    out
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn month_number(s: &[u8]) -> Option<u32> {
    MONTHS.iter().position(|m| m.as_slice() == s).map(|i| i as u32 + 1)
}

/// `HH:MM:SS` → seconds into the day. RFC 9110 allows a leap second (60).
fn time_of_day(s: &[u8]) -> Option<u32> {
    if s.len() != 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&s[0..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    (h < 24 && m < 60 && sec <= 60).then_some(h * 3600 + m * 60 + sec.min(59))
}

fn to_secs(year: u32, month: u32, day: u32, tod: u32) -> Option<u64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day == 0 || day > len[month as usize - 1] || year < 1970 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(days as u64 * 86_400 + u64::from(tod))
}

/// Parses an HTTP-date in any of the three formats (RFC 9110 §5.6.7);
/// `None` for anything else (which makes a conditional header ignored,
/// §13.1.3). Dates before the epoch are not representable here: `None`.
pub fn parse_http_date(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    // At most six space-separated parts, kept on the stack.
    let mut parts: [&[u8]; 6] = [&[]; 6];
    let mut n = 0;
    for p in v.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
        if n == parts.len() {
            return None;
        }
        parts[n] = p;
        n += 1;
    }
    match &parts[..n] {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [wd, day, mon, year, time, b"GMT"] if wd.ends_with(b",") && day.len() == 2 && year.len() == 4 => {
            to_secs(digits(year)?, month_number(mon)?, digits(day)?, time_of_day(time)?)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years are
        // taken as the nearest past century that is not more than 50
        // years ahead, §5.6.7).
        [wd, date, time, b"GMT"] if wd.ends_with(b",") => {
            let mut f = date.split(|&b| b == b'-');
            let (day, mon, yy) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || day.len() != 2 || yy.len() != 2 {
                return None;
            }
            let yy = digits(yy)?;
            let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
            to_secs(year, month_number(mon)?, digits(day)?, time_of_day(time)?)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_wd, mon, day, time, year] if year.len() == 4 => {
            to_secs(digits(year)?, month_number(mon)?, digits(day)?, time_of_day(time)?)
        }
        _ => None,
    }
}

/// The `date` field value, formatted at most once per second by each
/// worker (RFC 9110 §6.6.1: an origin server with a clock sends it).
#[derive(Clone, Debug)]
pub struct DateCache {
    second: u64,
    value: [u8; IMF_FIXDATE_LEN],
}

impl DateCache {
    pub fn new(now: SystemTime) -> Self {
        let second = unix_seconds(now);
        Self { second, value: format_imf_fixdate(second) }
    }

    /// Re-formats only when the second has changed.
    pub fn update(&mut self, now: SystemTime) {
        let second = unix_seconds(now);
        if second != self.second {
            self.second = second;
            self.value = format_imf_fixdate(second);
        }
    }

    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

/// `UNIX_EPOCH + secs`, for callers that keep `SystemTime`s.
pub fn system_time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: u64 = 784_111_777; // RFC 9110's Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn formats_the_rfc_example() {
        assert_eq!(&format_imf_fixdate(EXAMPLE), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format_imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&format_imf_fixdate(1_795_737_600), b"Fri, 27 Nov 2026 00:00:00 GMT");
    }

    #[test]
    fn parses_all_three_formats() {
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(EXAMPLE));
    }

    #[test]
    fn rejects_invalid_dates() {
        for bad in [
            &b""[..],
            b"yesterday",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 31 Feb 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1969 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn round_trips_across_leap_years_and_centuries() {
        let mut t = 0u64;
        while t < 253_402_300_799 {
            let s = format_imf_fixdate(t);
            assert_eq!(parse_http_date(&s), Some(t), "{}", String::from_utf8_lossy(&s));
            t += 86_400 * 37 + 3_601;
        }
    }

    #[test]
    fn date_cache_changes_once_per_second() {
        let mut c = DateCache::new(system_time(EXAMPLE));
        c.update(system_time(EXAMPLE) + Duration::from_millis(999));
        assert_eq!(c.value(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        c.update(system_time(EXAMPLE + 1));
        assert_eq!(c.value(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
