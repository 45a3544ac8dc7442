//! `accept-encoding` (RFC 9110 §12.5.3): which of a resource's variants to
//! send. Parsed in place, without allocating; malformed members are
//! skipped rather than failing the request, since sending identity is
//! always a safe answer.

use super::resource::Encoding;

/// The encoded variants a resource has (identity it always has).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    pub gzip: bool,
    pub brotli: bool,
}

/// The weights (qvalues in thousandths, RFC 9110 §12.4.2) the field gives
/// to the codings we know; `None` where the field does not name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Weights {
    pub brotli: Option<u16>,
    pub gzip: Option<u16>,
    pub identity: Option<u16>,
    pub any: Option<u16>,
}

/// An identity the field does not mention is acceptable (§12.5.3 rule 2),
/// but the client said nothing for it: least preferred of the acceptable.
const IMPLICIT_IDENTITY: u16 = 1;

/// Picks the coding to send: the highest weight among the variants the
/// resource has; ties go to the smaller encoding (br, then gzip, then
/// identity).
pub fn choose(accept_encoding: Option<&[u8]>, offered: Offered) -> Encoding {
    // No field: the client has no preference (§12.5.3), but nothing says
    // it can decode anything; like common servers, send no coding.
    let Some(value) = accept_encoding else {
        return Encoding::Identity;
    };
    let w = parse(value);
    // `*` stands for every coding not listed (§12.5.3), identity included.
    let weight = |listed: Option<u16>, have: bool| if have { listed.or(w.any).unwrap_or(0) } else { 0 };
    let candidates = [
        (weight(w.brotli, offered.brotli), Encoding::Brotli),
        (weight(w.gzip, offered.gzip), Encoding::Gzip),
        (w.identity.or(w.any).unwrap_or(IMPLICIT_IDENTITY), Encoding::Identity),
    ];
    let mut best = (0, Encoding::Identity);
    for c in candidates {
        // Strictly greater: an equal weight keeps the earlier preference.
        if c.0 > best.0 {
            best = c;
        }
    }
    // q=0 on everything, identity included (`*;q=0`): rather than 406, we
    // disregard the field and send identity, which RFC 9110 §12.1 allows
    // (a server may ignore proactive negotiation preferences).
    best.1
}

/// Reads the weights of br, gzip (and `x-gzip`, RFC 9110 §8.4.1.3),
/// identity and `*`. Tokens are case-insensitive (§8.4.1); the first
/// mention of a coding counts; members that do not parse are ignored.
pub fn parse(value: &[u8]) -> Weights {
    let mut w = Weights::default();
    // §5.6.1: empty list members (`a,,b`) are allowed and ignored.
    for member in value.split(|&b| b == b',') {
        let Some((coding, q)) = member_weight(member) else {
            continue;
        };
        let slot = if coding.eq_ignore_ascii_case(b"br") {
            &mut w.brotli
        } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            &mut w.gzip
        } else if coding.eq_ignore_ascii_case(b"identity") {
            &mut w.identity
        } else if coding == b"*" {
            &mut w.any
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
    w
}

/// `coding [ OWS ";" OWS "q=" qvalue ]` → (coding, weight); `None` when
/// malformed or empty.
fn member_weight(member: &[u8]) -> Option<(&[u8], u16)> {
    let (coding, weight) = match member.iter().position(|&b| b == b';') {
        Some(i) => (&member[..i], Some(&member[i + 1..])),
        None => (member, None),
    };
    let coding = coding.trim_ascii();
    if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let q = match weight {
        None => 1000,
        Some(p) => {
            let p = p.trim_ascii();
            // Parameter names are case-insensitive (§5.6.6).
            let v = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q="))?;
            qvalue(v)?
        }
    };
    Some((coding, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
/// (RFC 9110 §12.4.2), in thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths =
        frac.iter().chain(std::iter::repeat(&b'0')).take(3).fold(0, |acc, d| acc * 10 + u16::from(d - b'0'));
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Offered = Offered { gzip: true, brotli: true };

    fn pick(v: &str) -> Encoding {
        choose(Some(v.as_bytes()), ALL)
    }

    #[test]
    fn browser_strings() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(pick("gzip, deflate"), Encoding::Gzip);
        assert_eq!(pick("deflate, zstd"), Encoding::Identity);
        assert_eq!(pick("br"), Encoding::Brotli);
        assert_eq!(pick("x-gzip"), Encoding::Gzip);
    }

    #[test]
    fn weights() {
        assert_eq!(pick("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(pick("gzip;q=0.5, br;q=0.4"), Encoding::Gzip);
        assert_eq!(pick("gzip;q=1, br;q=0.5"), Encoding::Gzip);
        assert_eq!(pick("gzip;q=0.5, br;q=0.5"), Encoding::Brotli, "ties go to br");
        assert_eq!(pick("gzip;q=0.5"), Encoding::Gzip, "an unmentioned identity is least preferred");
        assert_eq!(pick("gzip;q=0.5, identity"), Encoding::Identity);
        assert_eq!(pick("br;q=0.001, identity;q=0"), Encoding::Brotli);
        assert_eq!(pick("gzip;q=1.000, br;q=0.999"), Encoding::Gzip);
    }

    #[test]
    fn wildcard_and_identity() {
        assert_eq!(pick("*"), Encoding::Brotli);
        assert_eq!(pick("*;q=0"), Encoding::Identity, "nothing acceptable: identity anyway");
        assert_eq!(pick("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(pick("*;q=0, identity"), Encoding::Identity);
        assert_eq!(pick("identity;q=0"), Encoding::Identity, "nothing acceptable: identity anyway");
        assert_eq!(pick("identity;q=0, gzip;q=0.1"), Encoding::Gzip);
        assert_eq!(pick("br;q=0.2, *;q=0.5"), Encoding::Gzip, "* covers gzip, not the listed br");
        assert_eq!(pick("identity"), Encoding::Identity);
        let w = parse(b"*;q=0");
        assert_eq!((w.any, w.identity), (Some(0), None));
    }

    #[test]
    fn only_offered_variants() {
        assert_eq!(choose(Some(b"br, gzip"), Offered { gzip: true, brotli: false }), Encoding::Gzip);
        assert_eq!(choose(Some(b"br"), Offered { gzip: true, brotli: false }), Encoding::Identity);
        assert_eq!(choose(Some(b"br, gzip"), Offered::default()), Encoding::Identity);
    }

    #[test]
    fn absent_and_empty() {
        assert_eq!(choose(None, ALL), Encoding::Identity);
        assert_eq!(pick(""), Encoding::Identity);
        assert_eq!(pick(" "), Encoding::Identity);
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(pick("GZIP, BR"), Encoding::Brotli);
        assert_eq!(pick("Gzip;Q=0.9,Br;q=0.8"), Encoding::Gzip);
        assert_eq!(pick("  gzip ;  q=0.3 ,\tbr\t; q=0.2  "), Encoding::Gzip);
        assert_eq!(pick("gzip;q=1.0, identity; q=0.5, *;q=0"), Encoding::Gzip);
    }

    #[test]
    fn garbage_is_ignored() {
        for v in [";;;q=,", ",,,", ";", "q=1", "br;q=", "br;q=2", "br;q=1.5", "br;q=0.1234", "br;q=-1", "br;q=.5"] {
            assert_eq!(pick(v), Encoding::Identity, "{v:?}");
        }
        assert_eq!(pick("br;q=abc, gzip"), Encoding::Gzip);
        assert_eq!(pick("br;level=5, gzip"), Encoding::Gzip);
        assert_eq!(pick("b r, gzip"), Encoding::Gzip);
        assert_eq!(pick("br;q=0.5;q=1, gzip"), Encoding::Gzip);
        assert_eq!(pick("br\u{e9}, gzip"), Encoding::Gzip);
        assert_eq!(parse(b"br;q=0, br"), Weights { brotli: Some(0), ..Weights::default() }, "first mention counts");
    }

    #[test]
    fn qvalues() {
        for (v, q) in [("0", 0), ("0.", 0), ("0.5", 500), ("0.05", 50), ("0.123", 123), ("1", 1000), ("1.000", 1000)] {
            assert_eq!(qvalue(v.as_bytes()), Some(q), "{v}");
        }
        for v in ["", ".", "1.001", "2", "00", "0.1234", "01", " 1", "1 "] {
            assert_eq!(qvalue(v.as_bytes()), None, "{v:?}");
        }
    }
}
