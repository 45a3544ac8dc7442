//! Conditional GET and HEAD (RFC 9110 §13.1–§13.2): whether the client's
//! cached copy of the selected variant is still good, so a 304 can replace
//! the body. Read in place, without allocating; anything that does not
//! parse counts as "no match", since a full 200 is always a correct answer.

use crate::h2::conn::Method;
use crate::server::httpdate::parse_http_date;

/// The request's validators, as sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Validators<'q> {
    pub if_none_match: Option<&'q [u8]>,
    pub if_modified_since: Option<&'q [u8]>,
}

/// True when the response should be 304 Not Modified for a representation
/// with this `etag` (quoted) and `last_modified` (seconds since the epoch).
///
/// The caller asks only when the response would otherwise be 2xx: §13.2.1
/// has servers ignore preconditions on any other outcome (404, 405, 308).
pub fn not_modified(method: Method, v: Validators<'_>, etag: &[u8], last_modified: u64) -> bool {
    // §13.1.2–§13.1.3: for other methods If-None-Match would mean 412 and
    // If-Modified-Since nothing; the site never gets that far (405).
    if !matches!(method, Method::Get | Method::Head) {
        return false;
    }
    // §13.1.3 and §13.2.2 step 3–4: If-Modified-Since is only looked at
    // when there is no If-None-Match, which is the more precise validator.
    if let Some(inm) = v.if_none_match {
        return none_match_fails(inm, etag);
    }
    // An invalid date (or a list of dates) makes the field ignored (§13.1.3).
    v.if_modified_since.and_then(parse_http_date).is_some_and(|since| last_modified <= since)
}

/// Whether `If-None-Match: field` matches `etag`, i.e. its condition is
/// false (§13.1.2): `*`, or a listed entity-tag equal under the weak
/// comparison (§8.8.3.2), which ignores the `W/` prefix.
pub fn none_match_fails(field: &[u8], etag: &[u8]) -> bool {
    let field = field.trim_ascii();
    // `*` matches any current representation, and we have one.
    if field == b"*" {
        return true;
    }
    // Walk the list by hand rather than splitting on commas: an opaque-tag
    // may itself contain commas (§8.8.3).
    let mut rest = field;
    loop {
        rest = skip_separators(rest);
        if rest.is_empty() {
            return false;
        }
        let tag = rest.strip_prefix(b"W/").unwrap_or(rest);
        if tag.first() == Some(&b'"') {
            let Some(close) = tag[1..].iter().position(|&b| b == b'"') else {
                // Unterminated: nothing after it can be read reliably.
                return false;
            };
            let (opaque, after) = tag.split_at(close + 2);
            if opaque == etag {
                return true;
            }
            rest = after;
            // Junk up to the next comma (e.g. `"a"x`) is skipped below.
            if skip_separators(rest).len() == rest.len() && !rest.is_empty() {
                rest = after_comma(rest);
            }
        } else {
            // Not an entity-tag (`*` inside a list, a bare token): skip it.
            rest = after_comma(rest);
        }
    }
}

fn skip_separators(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b',')).count();
    &s[n..]
}

fn after_comma(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == b',').map_or(&[][..], |i| &s[i + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &[u8] = b"\"0123456789abcdef-br\"";
    const LAST: u64 = 1_704_067_200; // Mon, 01 Jan 2024 00:00:00 GMT

    fn inm(v: &str) -> bool {
        none_match_fails(v.as_bytes(), TAG)
    }

    fn check(method: Method, inm: Option<&str>, ims: Option<&str>) -> bool {
        let v = Validators { if_none_match: inm.map(str::as_bytes), if_modified_since: ims.map(str::as_bytes) };
        not_modified(method, v, TAG, LAST)
    }

    #[test]
    fn if_none_match_lists() {
        assert!(inm("\"0123456789abcdef-br\""));
        assert!(inm("W/\"0123456789abcdef-br\""));
        assert!(inm("\"nope\", \"0123456789abcdef-br\""));
        assert!(inm("\"a,b\",W/\"0123456789abcdef-br\" ,"));
        assert!(inm("  *  "));
        assert!(inm("\"x\"junk, \"0123456789abcdef-br\""));
        assert!(inm("bare, \"0123456789abcdef-br\""));
        for no in [
            "\"0123456789abcdef\"",
            "\"0123456789abcdef-gz\"",
            "0123456789abcdef-br",
            "w/\"0123456789abcdef-br\"",
            "\"0123456789abcdef-br",
            "\"other\", *",
            "",
            ",,,",
            "\"",
            "W/",
            "W/\"\"",
        ] {
            assert!(!inm(no), "{no:?}");
        }
    }

    #[test]
    fn if_modified_since() {
        assert!(check(Method::Get, None, Some("Mon, 01 Jan 2024 00:00:00 GMT")));
        assert!(check(Method::Head, None, Some("Tue, 02 Jan 2024 00:00:00 GMT")));
        assert!(!check(Method::Get, None, Some("Sun, 31 Dec 2023 23:59:59 GMT")));
        assert!(!check(Method::Get, None, Some("yesterday")));
        assert!(!check(Method::Get, None, Some("Mon, 01 Jan 2024 00:00:00 GMT, Mon, 01 Jan 2024 00:00:00 GMT")));
        assert!(!check(Method::Get, None, None));
    }

    #[test]
    fn if_none_match_takes_precedence() {
        let date = Some("Mon, 01 Jan 2024 00:00:00 GMT");
        assert!(!check(Method::Get, Some("\"other\""), date));
        assert!(check(Method::Get, Some("\"0123456789abcdef-br\""), Some("Sat, 01 Jan 2000 00:00:00 GMT")));
    }

    #[test]
    fn only_get_and_head() {
        assert!(!check(Method::Post, Some("*"), None));
        assert!(!check(Method::Options, None, Some("Mon, 01 Jan 2024 00:00:00 GMT")));
    }
}
