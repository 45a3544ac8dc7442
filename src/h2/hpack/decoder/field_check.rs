//! The field syntax of RFC 9113 §8.2.1, checked where fields are decoded:
//! a field a client indexes once and then references in every request
//! (`user-agent`, `accept`, `:authority`, ...) is checked once, when it
//! enters the dynamic table, not at every use.

/// What a field's bytes satisfy of RFC 9113 §8.2.1. What follows from it
/// is the request's business (`h2::conn::request`), which also matches
/// pseudo-header names against the defined ones: they are not tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldCheck {
    /// The name is a lowercase token (§8.2.1, and RFC 9110 §5.1: no
    /// separators). False for pseudo-header names.
    pub name_ok: bool,
    /// The value has no NUL, CR or LF, and no leading or trailing SP or
    /// HTAB (§8.2.1).
    pub value_ok: bool,
}

/// HPACK index of the last pseudo-header entry of the static table (RFC
/// 7541 Appendix A: 1–14 are `:authority` … `:status`).
const LAST_STATIC_PSEUDO: usize = 14;

impl FieldCheck {
    pub fn of(name: &[u8], value: &[u8]) -> Self {
        Self { name_ok: valid_name(name), value_ok: valid_value(value) }
    }

    /// The check of static table entry `index` (1-based), known without
    /// looking: every name is a lowercase token but the pseudo-headers',
    /// and no value has a forbidden byte (a test checks the table).
    pub(crate) fn of_static(index: usize) -> Self {
        Self { name_ok: index > LAST_STATIC_PSEUDO, value_ok: true }
    }
}

/// Byte classes for field names (§8.2.1 forbids 0x00-0x20, 0x41-0x5a and
/// 0x7f-0xff; a colon only starts a pseudo-header). Also excludes the
/// separators that RFC 9110 §5.6.2 keeps out of tokens.
const fn name_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = !matches!(
            b as u8,
            b'A'..=b'Z'
                | b':'
                | b'"'
                | b'('
                | b')'
                | b','
                | b'/'
                | b';'
                | b'<'
                | b'='
                | b'>'
                | b'?'
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'{'
                | b'}'
        );
        b += 1;
    }
    t
}
static NAME_OK: [bool; 256] = name_table();

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| NAME_OK[usize::from(b)])
}

fn valid_value(value: &[u8]) -> bool {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    // A fold into a byte without early exit: the compiler turns it into
    // 16-byte compares, several times faster than a byte loop on the long
    // values browsers send (user-agent, accept, cookie).
    let forbidden =
        value.iter().fold(0u8, |bad, &b| bad | u8::from(b == 0) | u8::from(b == b'\r') | u8::from(b == b'\n'));
    forbidden == 0 && !value.first().is_some_and(ws) && !value.last().is_some_and(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::hpack::table::STATIC_TABLE;

    #[test]
    fn static_entries_are_known_without_looking() {
        for (i, &(name, value)) in STATIC_TABLE.iter().enumerate() {
            assert_eq!(FieldCheck::of_static(i + 1), FieldCheck::of(name, value), "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "x-custom", "accept-encoding", "!#$%&'*+-.^_`|~09az"] {
            assert!(valid_name(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "Accept", "a b", "a:b", ":path", "a\0", "a\x7f", "é", "a/b", "a,b", "{x}"] {
            assert!(!valid_name(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        for ok in ["", "x", "a b", "a\tb", "\u{e9}", "\x01\x7f", &"v".repeat(100)] {
            assert!(valid_value(ok.as_bytes()), "{ok:?}");
        }
        let long = "v".repeat(70);
        for bad in
            [" lead", "trail\t", "\t", "a\r\nb", "a\0b", "a\nb", &format!("{long}\r{long}"), &format!("{long}\0")]
        {
            assert!(!valid_value(bad.as_bytes()), "{bad:?}");
        }
    }
}
