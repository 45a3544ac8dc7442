//! A request's decoded header block and the checks of RFC 9113 §8.2–§8.3
//! that make a request "malformed" (a stream error of type PROTOCOL_ERROR,
//! §8.1.1).
//!
//! Fields are copied once, out of the HPACK decoder's scratch space into one
//! byte buffer per request; the buffers are recycled by the connection so a
//! steady stream of requests allocates nothing.

use crate::h2::hpack::HeaderField;

/// The request method, parsed once so that callers (and the 0-RTT rules of
/// RFC 8470, which only allow safe methods early) can match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

impl Method {
    fn parse(m: &[u8]) -> Self {
        match m {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"CONNECT" => Self::Connect,
            b"OPTIONS" => Self::Options,
            b"TRACE" => Self::Trace,
            b"PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }
}

/// Whether a header block arrived as TLS 1.3 early data (0-RTT). RFC 8470
/// lets a server answer early requests at once or refuse them with 425 (Too
/// Early, §5.2); the core only reports, the caller decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EarlyData {
    /// No byte of the request arrived as TLS early data.
    #[default]
    No,
    /// The whole header block arrived as early data.
    Complete,
    /// The block began in early data and was completed after it ended
    /// (RFC 8470: such a request must be refused with 425).
    Partial,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Clone, Copy, Debug)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// A request's header block (or trailer block), after validation.
#[derive(Debug)]
pub struct RequestHead {
    buf: Vec<u8>,
    fields: Vec<FieldSpan>,
    method: Method,
    method_span: Option<Span>,
    scheme: Option<Span>,
    authority: Option<Span>,
    path: Option<Span>,
    host: Option<Span>,
    content_length: Option<u64>,
    pub(crate) early: EarlyData,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            fields: Vec::new(),
            method: Method::Other,
            method_span: None,
            scheme: None,
            authority: None,
            path: None,
            host: None,
            content_length: None,
            early: EarlyData::No,
        }
    }
}

impl RequestHead {
    fn slice(&self, span: Span) -> &[u8] {
        &self.buf[span.start as usize..span.end as usize]
    }

    fn opt(&self, span: Option<Span>) -> Option<&[u8]> {
        span.map(|s| self.slice(s))
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The `:method` value as sent (empty in a trailer block).
    pub fn method_bytes(&self) -> &[u8] {
        self.opt(self.method_span).unwrap_or_default()
    }

    /// `:scheme` (absent for CONNECT, §8.5, and in trailers).
    pub fn scheme(&self) -> Option<&[u8]> {
        self.opt(self.scheme)
    }

    /// `:authority`, or the `host` field when the client sent none
    /// (§8.3.1 lets clients that translate HTTP/1.1 send `host` instead).
    pub fn authority(&self) -> Option<&[u8]> {
        self.opt(self.authority).or_else(|| self.opt(self.host))
    }

    /// `:path` (absent for CONNECT and in trailers).
    pub fn path(&self) -> &[u8] {
        self.opt(self.path).unwrap_or_default()
    }

    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether this block (from its HEADERS frame's first byte to the end of
    /// its last frame) arrived as TLS early data; see
    /// [`Connection::recv_early`](super::Connection::recv_early).
    pub fn early_data(&self) -> EarlyData {
        self.early
    }

    /// Regular (non-pseudo) fields in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|f| (self.slice(f.name), self.slice(f.value)))
    }

    /// The first regular field with this (lowercase) name.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub(crate) fn clear(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let fields = std::mem::take(&mut self.fields);
        *self = Self { buf, fields, ..Self::default() };
        self.buf.clear();
        self.fields.clear();
    }

    fn push(&mut self, bytes: &[u8]) -> Span {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(bytes);
        Span { start, end: self.buf.len() as u32 }
    }
}

/// Why a header block is malformed (RFC 9113 §8.1.1); each maps to a stream
/// error of type PROTOCOL_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// §8.2.1: names are lowercase tokens; no controls, spaces or DEL/high bytes.
    InvalidFieldName,
    /// §8.2.1: no NUL, CR or LF, and no leading or trailing SP/HTAB.
    InvalidFieldValue,
    /// §8.3: pseudo-header fields come before all regular fields.
    PseudoAfterRegular,
    /// §8.3: only the defined request pseudo-headers, each at most once.
    UnknownPseudo,
    DuplicatePseudo,
    /// §8.1: trailers carry no pseudo-header fields.
    PseudoInTrailers,
    /// §8.2.2: connection-specific fields are not used in HTTP/2.
    ConnectionSpecific,
    /// §8.2.2: `te` may only carry "trailers".
    InvalidTe,
    /// §8.3.1: :method, :scheme and a non-empty :path are required (§8.5
    /// for CONNECT: :authority required, :scheme and :path absent).
    MissingPseudo,
    InvalidPath,
    /// §8.3.1: a `host` that names another entity than :authority.
    HostMismatch,
    /// §8.1.1: content-length that is not a number, or several that differ.
    InvalidContentLength,
    /// §8.1.1: content-length disagrees with the DATA received.
    ContentLengthMismatch,
    /// §8.1: a trailer block without END_STREAM.
    TrailersWithoutEndStream,
}

impl Malformed {
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidFieldName => "invalid field name",
            Self::InvalidFieldValue => "invalid field value",
            Self::PseudoAfterRegular => "pseudo-header after regular field",
            Self::UnknownPseudo => "unknown pseudo-header",
            Self::DuplicatePseudo => "duplicate pseudo-header",
            Self::PseudoInTrailers => "pseudo-header in trailers",
            Self::ConnectionSpecific => "connection-specific header field",
            Self::InvalidTe => "te other than trailers",
            Self::MissingPseudo => "missing required pseudo-header",
            Self::InvalidPath => "invalid :path",
            Self::HostMismatch => "host differs from :authority",
            Self::InvalidContentLength => "invalid content-length",
            Self::ContentLengthMismatch => "content-length does not match DATA",
            Self::TrailersWithoutEndStream => "trailers without END_STREAM",
        }
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
    !name.is_empty() && name.iter().all(|&b| NAME_OK[b as usize])
}

fn valid_value(value: &[u8]) -> bool {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    !value.first().is_some_and(ws)
        && !value.last().is_some_and(ws)
        && !value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
}

/// Builds a [`RequestHead`] from decoded fields, validating as it goes. The
/// first violation is kept and later fields are skipped, but the caller
/// keeps feeding the decoder so the HPACK context stays in sync.
pub(crate) struct HeadBuilder {
    head: RequestHead,
    trailers: bool,
    seen_regular: bool,
    error: Option<Malformed>,
}

impl HeadBuilder {
    pub(crate) fn new(mut head: RequestHead, trailers: bool) -> Self {
        head.clear();
        Self { head, trailers, seen_regular: false, error: None }
    }

    pub(crate) fn field(&mut self, f: HeaderField<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.check(f) {
            self.error = Some(e);
        }
    }

    fn check(&mut self, f: HeaderField<'_>) -> Result<(), Malformed> {
        if !valid_value(f.value) {
            return Err(Malformed::InvalidFieldValue);
        }
        if let Some(pseudo) = f.name.strip_prefix(b":") {
            if self.trailers {
                return Err(Malformed::PseudoInTrailers);
            }
            if self.seen_regular {
                return Err(Malformed::PseudoAfterRegular);
            }
            let h = &mut self.head;
            let slot = match pseudo {
                b"method" => &mut h.method_span,
                b"scheme" => &mut h.scheme,
                b"authority" => &mut h.authority,
                b"path" => &mut h.path,
                // :protocol needs SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441
                // §4), which we do not send; :status is a response field.
                _ => return Err(Malformed::UnknownPseudo),
            };
            if slot.is_some() {
                return Err(Malformed::DuplicatePseudo);
            }
            let start = h.buf.len() as u32;
            h.buf.extend_from_slice(f.value);
            *slot = Some(Span { start, end: h.buf.len() as u32 });
            if pseudo == b"method" {
                h.method = Method::parse(f.value);
            }
            return Ok(());
        }
        self.seen_regular = true;
        if !valid_name(f.name) {
            return Err(Malformed::InvalidFieldName);
        }
        match f.name {
            b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade" => {
                return Err(Malformed::ConnectionSpecific);
            }
            b"te" if f.value != b"trailers" => return Err(Malformed::InvalidTe),
            b"content-length" => {
                let n = parse_content_length(f.value).ok_or(Malformed::InvalidContentLength)?;
                if self.head.content_length.is_some_and(|prev| prev != n) {
                    return Err(Malformed::InvalidContentLength);
                }
                self.head.content_length = Some(n);
            }
            _ => {}
        }
        let name = self.head.push(f.name);
        let value = self.head.push(f.value);
        if f.name == b"host" && self.head.host.is_none() {
            self.head.host = Some(value);
        }
        self.head.fields.push(FieldSpan { name, value });
        Ok(())
    }

    /// Finishes the block: the checks that need all fields (§8.3.1, §8.5).
    pub(crate) fn finish(self) -> (RequestHead, Result<(), Malformed>) {
        let mut result = self.error.map_or(Ok(()), Err);
        if result.is_ok() && !self.trailers {
            result = Self::check_request(&self.head);
        }
        (self.head, result)
    }

    fn check_request(h: &RequestHead) -> Result<(), Malformed> {
        if h.method_span.is_none() {
            return Err(Malformed::MissingPseudo);
        }
        if h.method == Method::Connect {
            // §8.5: CONNECT carries :authority only.
            if h.authority.is_none() || h.scheme.is_some() || h.path.is_some() {
                return Err(Malformed::MissingPseudo);
            }
            return Ok(());
        }
        let (Some(_), Some(path)) = (h.scheme, h.path) else {
            return Err(Malformed::MissingPseudo);
        };
        let path = h.slice(path);
        // §8.3.1: never empty; origin-form, or "*" for a server-wide OPTIONS.
        let asterisk = path == b"*" && h.method == Method::Options;
        if !(path.starts_with(b"/") || asterisk) {
            return Err(Malformed::InvalidPath);
        }
        if let (Some(a), Some(host)) = (h.authority, h.host)
            && !h.slice(a).eq_ignore_ascii_case(h.slice(host))
        {
            return Err(Malformed::HostMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(fields: &[(&str, &str)], trailers: bool) -> (RequestHead, Result<(), Malformed>) {
        let mut b = HeadBuilder::new(RequestHead::default(), trailers);
        for (n, v) in fields {
            b.field(HeaderField { name: n.as_bytes(), value: v.as_bytes(), sensitive: false });
        }
        b.finish()
    }

    const GET: &[(&str, &str)] = &[(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/x")];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        GET.iter().copied().chain(extra.iter().copied()).collect()
    }

    #[test]
    fn valid_request_exposes_fields() {
        let (h, r) = build(&with(&[("accept", "*/*"), ("cookie", "a=1"), ("cookie", "b=2")]), false);
        r.unwrap();
        assert_eq!(h.method(), Method::Get);
        assert_eq!(h.method_bytes(), b"GET");
        assert_eq!(h.scheme(), Some(&b"https"[..]));
        assert_eq!(h.authority(), Some(&b"a.test"[..]));
        assert_eq!(h.path(), b"/x");
        assert_eq!(h.headers().count(), 3);
        assert_eq!(h.header(b"cookie"), Some(&b"a=1"[..]));
    }

    #[test]
    fn malformed_requests() {
        let cases: &[(&[(&str, &str)], Malformed)] = &[
            (&[(":method", "GET"), (":scheme", "https")], Malformed::MissingPseudo),
            (&[(":method", "GET"), (":scheme", "https"), (":path", "")], Malformed::InvalidPath),
            (&[(":method", "GET"), (":scheme", "https"), (":path", "x")], Malformed::InvalidPath),
            (&[(":method", "GET"), (":method", "GET")], Malformed::DuplicatePseudo),
            (&[(":method", "GET"), (":status", "200")], Malformed::UnknownPseudo),
            (&[(":method", "GET"), ("a", "b"), (":path", "/")], Malformed::PseudoAfterRegular),
            (&[(":method", "CONNECT"), (":authority", "a:443"), (":path", "/")], Malformed::MissingPseudo),
        ];
        for (fields, want) in cases {
            assert_eq!(build(fields, false).1, Err(*want), "{fields:?}");
        }
        let extra: &[((&str, &str), Malformed)] = &[
            (("Accept", "x"), Malformed::InvalidFieldName),
            (("a b", "x"), Malformed::InvalidFieldName),
            (("", "x"), Malformed::InvalidFieldName),
            (("x", " lead"), Malformed::InvalidFieldValue),
            (("x", "trail\t"), Malformed::InvalidFieldValue),
            (("x", "a\r\nb"), Malformed::InvalidFieldValue),
            (("x", "a\0b"), Malformed::InvalidFieldValue),
            (("connection", "close"), Malformed::ConnectionSpecific),
            (("transfer-encoding", "chunked"), Malformed::ConnectionSpecific),
            (("keep-alive", "1"), Malformed::ConnectionSpecific),
            (("upgrade", "h2c"), Malformed::ConnectionSpecific),
            (("proxy-connection", "x"), Malformed::ConnectionSpecific),
            (("te", "gzip"), Malformed::InvalidTe),
            (("content-length", "12a"), Malformed::InvalidContentLength),
            (("host", "b.test"), Malformed::HostMismatch),
        ];
        for (field, want) in extra {
            assert_eq!(build(&with(&[*field]), false).1, Err(*want), "{field:?}");
        }
        assert_eq!(
            build(&with(&[("content-length", "1"), ("content-length", "2")]), false).1,
            Err(Malformed::InvalidContentLength)
        );
    }

    #[test]
    fn accepted_edge_cases() {
        build(&with(&[("te", "trailers"), ("host", "A.TEST"), ("content-length", "5")]), false).1.unwrap();
        let (h, r) = build(&[(":method", "CONNECT"), (":authority", "a:443")], false);
        r.unwrap();
        assert_eq!(h.method(), Method::Connect);
        build(&[(":method", "OPTIONS"), (":scheme", "https"), (":path", "*")], false).1.unwrap();
        let (h, r) = build(&[(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "h")], false);
        r.unwrap();
        assert_eq!(h.authority(), Some(&b"h"[..]));
    }

    #[test]
    fn trailers_reject_pseudo_and_keep_fields() {
        assert_eq!(build(&[(":path", "/")], true).1, Err(Malformed::PseudoInTrailers));
        let (h, r) = build(&[("x-checksum", "abc")], true);
        r.unwrap();
        assert_eq!(h.header(b"x-checksum"), Some(&b"abc"[..]));
    }

    #[test]
    fn recycled_head_starts_empty() {
        let (h, _) = build(GET, false);
        let (h2, r) = {
            let mut b = HeadBuilder::new(h, true);
            b.field(HeaderField { name: b"x", value: b"y", sensitive: false });
            b.finish()
        };
        r.unwrap();
        assert_eq!(h2.path(), b"");
        assert_eq!(h2.headers().count(), 1);
    }
}
