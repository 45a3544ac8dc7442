//! A request's decoded header block and the checks of RFC 9113 §8.2–§8.3
//! that make a request "malformed" (a stream error of type PROTOCOL_ERROR,
//! §8.1.1).
//!
//! Fields are copied once, out of the HPACK decoder's scratch space into one
//! byte buffer per request; the buffers are recycled by the connection so a
//! steady stream of requests allocates nothing.

use crate::h2::hpack::{FieldCheck, HeaderField};

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

/// The fields a server's answer commonly depends on (content negotiation,
/// RFC 9110 §12.5.3; conditional requests, §13.1; RFC 8470's `early-data`),
/// located as the block is decoded so that [`RequestHead::header`] finds
/// them without a scan of every field.
const LOCATED: [&[u8]; 4] = [b"accept-encoding", b"if-none-match", b"if-modified-since", b"early-data"];

/// `name`'s index in [`LOCATED`]. Slice comparisons rather than a `match`
/// on byte-string patterns, which compiles to one compare per byte: the
/// lengths differ, so at most one name is compared, in a few wide loads.
#[inline]
fn located_slot(name: &[u8]) -> Option<usize> {
    LOCATED.iter().position(|&n| n == name)
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
    /// The first value of each field of [`LOCATED`].
    located: [Option<Span>; LOCATED.len()],
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
            located: [None; LOCATED.len()],
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

    /// The first regular field with this (lowercase) name. The fields
    /// answers usually read (`accept-encoding`, `if-none-match`,
    /// `if-modified-since`, `early-data`) were located while decoding; any
    /// other name is a scan of the fields.
    #[inline]
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        match located_slot(name) {
            Some(i) => self.opt(self.located[i]),
            None => self.headers().find(|(n, _)| *n == name).map(|(_, v)| v),
        }
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
    head: Box<RequestHead>,
    trailers: bool,
    seen_regular: bool,
    error: Option<Malformed>,
}

impl HeadBuilder {
    /// Starts on `head` (a recycled one, or `RequestHead::default()`),
    /// emptied first.
    pub(crate) fn new(head: impl Into<Box<RequestHead>>, trailers: bool) -> Self {
        let mut head = head.into();
        head.clear();
        Self { head, trailers, seen_regular: false, error: None }
    }

    #[cfg(test)]
    pub(crate) fn field(&mut self, f: HeaderField<'_>) {
        self.checked_field(f, FieldCheck::of(f.name, f.value));
    }

    /// [`field`](Self::field) with the syntax already checked, as
    /// [`HpackDecoder::decode_checked`](crate::h2::hpack::HpackDecoder::decode_checked)
    /// delivers it.
    pub(crate) fn checked_field(&mut self, f: HeaderField<'_>, syntax: FieldCheck) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.check(f, syntax) {
            self.error = Some(e);
        }
    }

    fn check(&mut self, f: HeaderField<'_>, syntax: FieldCheck) -> Result<(), Malformed> {
        if !syntax.value_ok {
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
            // Guards compare whole slices (the length, then a wide load or
            // two); byte-string patterns would compare byte by byte.
            let slot = match pseudo {
                p if p == b"method" => &mut h.method_span,
                p if p == b"scheme" => &mut h.scheme,
                p if p == b"authority" => &mut h.authority,
                p if p == b"path" => &mut h.path,
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
        if !syntax.name_ok {
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
        if f.name == b"host" {
            self.head.host.get_or_insert(value);
        } else if let Some(i) = located_slot(f.name) {
            self.head.located[i].get_or_insert(value);
        }
        self.head.fields.push(FieldSpan { name, value });
        Ok(())
    }

    /// Finishes the block: the checks that need all fields (§8.3.1, §8.5).
    pub(crate) fn finish(self) -> (Box<RequestHead>, Result<(), Malformed>) {
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
mod tests;
