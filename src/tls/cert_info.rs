//! What an operator needs to recognise a certificate in a log line: its
//! subject's common name, its SHA-256 fingerprint (what `openssl x509
//! -noout -fingerprint -sha256` prints) and its validity period.
//!
//! Only these few fields of the X.509 structure (RFC 5280 §4.1) are read,
//! with a small DER walker: rustls and webpki keep their parsed form
//! private, and a full X.509 parser is a large dependency for one log line.
//! The certificate has already been parsed by webpki when this runs
//! ([`CertifiedKey::keys_match`](rustls::sign::CertifiedKey::keys_match)),
//! so a field that cannot be read here is shown as unknown, never an error.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::digest::{SHA256, digest};

/// The identifying fields of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The last commonName (OID 2.5.4.3) of the subject, if it has one in
    /// a string type we can show.
    pub common_name: Option<String>,
    /// SHA-256 over the whole DER certificate.
    pub sha256: [u8; 32],
    /// `notBefore` and `notAfter` (RFC 5280 §4.1.2.5).
    pub validity: Option<(CertTime, CertTime)>,
}

/// A point in time from a certificate, always UTC (RFC 5280 §4.1.2.5
/// requires the `Z` form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl CertInfo {
    /// Reads the fields from a DER certificate.
    pub fn from_der(der: &[u8]) -> CertInfo {
        let fingerprint = digest(&SHA256, der);
        let mut sha256 = [0; 32];
        sha256.copy_from_slice(fingerprint.as_ref());
        let fields = tbs_fields(der);
        CertInfo {
            common_name: fields.and_then(|(_, subject)| common_name(subject)),
            sha256,
            validity: fields.and_then(|(validity, _)| validity_times(validity)),
        }
    }

    /// The fingerprint as `openssl x509 -fingerprint` prints it:
    /// upper-case hex bytes separated by colons.
    pub fn fingerprint(&self) -> String {
        let hex: Vec<String> = self.sha256.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// Why clients will refuse the certificate at `now`, if its validity
    /// period says so: expired, or not valid yet (a clock or issuance
    /// mistake). Serving it anyway is the operator's call.
    pub fn validity_problem(&self, now: SystemTime) -> Option<String> {
        let (not_before, not_after) = self.validity?;
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if now > not_after.unix_seconds() {
            Some(format!("it expired on {not_after}"))
        } else if now < not_before.unix_seconds() {
            Some(format!("it is not valid before {not_before}"))
        } else {
            None
        }
    }
}

/// `CN "name", SHA-256 AB:CD:…, valid until 2026-05-01 12:00:00 UTC`.
impl fmt::Display for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cn) = &self.common_name {
            // Debug-quoted: the name comes from a file and goes to a log.
            write!(f, "CN {cn:?}, ")?;
        }
        write!(f, "SHA-256 {}", self.fingerprint())?;
        match &self.validity {
            Some((_, not_after)) => write!(f, ", valid until {not_after}"),
            None => f.write_str(", validity unknown"),
        }
    }
}

impl CertTime {
    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// UTCTime `YYMMDDHHMMSSZ` (tag 0x17) or GeneralizedTime
    /// `YYYYMMDDHHMMSSZ` (tag 0x18), the only forms RFC 5280 §4.1.2.5.1–2
    /// allows in a certificate.
    fn from_der(tag: u8, text: &[u8]) -> Option<CertTime> {
        let (year, rest) = match (tag, text.len()) {
            // Two-digit years: 50–99 are 19YY, 00–49 are 20YY.
            (0x17, 13) => {
                let yy = i64::from(digits(&text[..2])?);
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
            }
            (0x18, 15) => (i64::from(digits(&text[..4])?), &text[4..]),
            _ => return None,
        };
        if rest[10] != b'Z' {
            return None;
        }
        let time = CertTime {
            year,
            month: digits(&rest[0..2])?,
            day: digits(&rest[2..4])?,
            hour: digits(&rest[4..6])?,
            minute: digits(&rest[6..8])?,
            second: digits(&rest[8..10])?,
        };
        let valid = (1..=12).contains(&time.month)
            && (1..=31).contains(&time.day)
            && time.hour < 24
            && time.minute < 60
            && time.second < 60;
        valid.then_some(time)
    }
}

impl fmt::Display for CertTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, as in `server::httpdate`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version` in TBSCertificate.
const VERSION: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3 (RFC 5280 appendix A.1), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// One DER element: its tag, its contents and what follows it. Only
/// single-byte tags (all X.509 needs) and definite lengths (all DER has).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Four length bytes already allow 4 GiB; more is not a certificate.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        (bytes.iter().fold(0usize, |n, &b| n << 8 | usize::from(b)), rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The element of `tag` at the start of `input`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// The contents of TBSCertificate's `validity` and `subject` (RFC 5280
/// §4.1: version, serialNumber, signature, issuer, validity, subject, …).
fn tbs_fields(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let tbs = match element(tbs)? {
        (VERSION, _, rest) => rest,
        _ => tbs,
    };
    let (_serial, rest) = expect(tbs, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    Some((validity, subject))
}

fn validity_times(validity: &[u8]) -> Option<(CertTime, CertTime)> {
    let (tag, text, rest) = element(validity)?;
    let not_before = CertTime::from_der(tag, text)?;
    let (tag, text, _) = element(rest)?;
    Some((not_before, CertTime::from_der(tag, text)?))
}

/// The last commonName in the subject: a Name is a SEQUENCE of SETs of
/// (type, value) SEQUENCEs, most general first, so the last one is the
/// most specific.
fn common_name(mut subject: &[u8]) -> Option<String> {
    let mut found = None;
    while let Some((set, rest)) = expect(subject, SET) {
        subject = rest;
        let mut attributes = set;
        while let Some((attribute, rest)) = expect(attributes, SEQUENCE) {
            attributes = rest;
            let Some((oid, value)) = expect(attribute, OID) else { continue };
            if oid != COMMON_NAME {
                continue;
            }
            // UTF8String, PrintableString, TeletexString (in practice
            // Latin-1 or ASCII), IA5String; BMPString and the rest are
            // left out rather than shown garbled.
            if let Some((0x0c | 0x13 | 0x14 | 0x16, text, _)) = element(value) {
                found = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rcgen_cert(cn: Option<&str>, not_after_year: i32) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::OrganizationName, "h2ring tests");
        if let Some(cn) = cn {
            name.push(rcgen::DnType::CommonName, cn);
        }
        params.distinguished_name = name;
        params.not_before = rcgen::date_time_ymd(2020, 2, 29);
        params.not_after = rcgen::date_time_ymd(not_after_year, 12, 31);
        params.self_signed(&key).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_name_validity_and_fingerprint() {
        let cert = rcgen_cert(Some("www.example.test"), 2049);
        let info = CertInfo::from_der(cert.der());
        assert_eq!(info.common_name.as_deref(), Some("www.example.test"));
        let (not_before, not_after) = info.validity.unwrap();
        assert_eq!(not_before.to_string(), "2020-02-29 00:00:00 UTC");
        // 2049 is a UTCTime year, 2050 and later GeneralizedTime (RFC 5280
        // §4.1.2.5); both forms are read.
        assert_eq!(not_after.to_string(), "2049-12-31 00:00:00 UTC");
        assert_eq!(not_before.unix_seconds(), 1_582_934_400);
        let later = CertInfo::from_der(rcgen_cert(None, 2051).der());
        assert_eq!(later.validity.unwrap().1.to_string(), "2051-12-31 00:00:00 UTC");
        assert_eq!(later.validity.unwrap().1.unix_seconds(), 2_587_593_600);
        assert_eq!(later.common_name, None);

        let fingerprint = info.fingerprint();
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        assert_eq!(fingerprint.split(':').count(), 32);
        assert_eq!(fingerprint, fingerprint.to_uppercase());
        let line = info.to_string();
        assert_eq!(
            line,
            format!("CN \"www.example.test\", SHA-256 {fingerprint}, valid until 2049-12-31 00:00:00 UTC")
        );
        assert_ne!(info.sha256, later.sha256);
    }

    #[test]
    fn validity_problems() {
        let info = CertInfo::from_der(rcgen_cert(Some("x"), 2030).der());
        let (not_before, not_after) = info.validity.unwrap();
        let within = at(not_before.unix_seconds() as u64 + 1);
        assert_eq!(info.validity_problem(within), None);
        assert_eq!(info.validity_problem(at(not_after.unix_seconds() as u64)), None);
        let expired = info.validity_problem(at(not_after.unix_seconds() as u64 + 1)).unwrap();
        assert_eq!(expired, "it expired on 2030-12-31 00:00:00 UTC");
        let early = info.validity_problem(at(1_000_000_000)).unwrap();
        assert_eq!(early, "it is not valid before 2020-02-29 00:00:00 UTC");
    }

    #[test]
    fn unreadable_fields_are_unknown_not_errors() {
        for der in [&b""[..], b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x89\x01", b"\x30\x03\x30\x01"] {
            let info = CertInfo::from_der(der);
            assert!(info.common_name.is_none() && info.validity.is_none(), "{der:?}");
            assert!(info.to_string().ends_with("validity unknown"));
        }
        // Every prefix of a real certificate: no panic, whatever is read.
        let cert = rcgen_cert(Some("x"), 2030);
        for len in 0..cert.der().len() {
            let _ = CertInfo::from_der(&cert.der()[..len]);
        }
    }

    #[test]
    fn certificate_times() {
        let t = CertTime::from_der(0x17, b"500101000000Z").unwrap();
        assert_eq!(t.to_string(), "1950-01-01 00:00:00 UTC");
        let t = CertTime::from_der(0x17, b"491231235959Z").unwrap();
        assert_eq!(t.unix_seconds(), 2_524_607_999);
        let t = CertTime::from_der(0x18, b"99991231235959Z").unwrap();
        assert_eq!(t.to_string(), "9999-12-31 23:59:59 UTC");
        for (tag, bad) in [
            (0x17, &b"700101000000+"[..]),
            (0x17, b"701301000000Z"),
            (0x17, b"70010100006 Z"),
            (0x18, b"700101000000Z"),
            (0x17, b"19700101000000Z"),
            (0x17, b"7001010000Z"),
            (0x04, b"700101000000Z"),
        ] {
            assert_eq!(CertTime::from_der(tag, bad), None, "{bad:?}");
        }
        assert_eq!(CertTime::from_der(0x18, b"19700101000000Z").unwrap().unix_seconds(), 0);
    }
}
