//! A request head (request line and header fields) parsed by `httparse`
//! and checked against RFC 9112: the Host rules (§3.2), the request-target
//! forms (§3.2.1–§3.2.4), and the message framing (§6), where a lenient
//! reading is how requests get smuggled past a proxy in front of us.
//!
//! The head is copied once into the request's own buffer, and fields are
//! kept as spans into it; the connection recycles requests so a steady
//! stream of them allocates nothing.

use std::mem::MaybeUninit;

pub use crate::h2::conn::{EarlyData, Method};

/// Field lines per head that httparse can be given room for: the
/// configured limit is clamped to this (a stack array, left uninitialized).
pub const MAX_HEADERS: usize = 256;

/// The protocol version of the request line. Responses always say
/// `HTTP/1.1` (RFC 9110 §6.2: the highest version we conform to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    /// HTTP/1.1, and later 1.x minors, read as 1.1 (RFC 9110 §2.5).
    Http11,
}

/// How the request's body is framed (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no Content-Length and no Transfer-Encoding, or a length of 0).
    None,
    /// `Content-Length`, greater than 0.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a head is refused: answered with `status` and the connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reject {
    pub status: u16,
    pub reason: &'static str,
}

const fn reject(status: u16, reason: &'static str) -> Reject {
    Reject { status, reason }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // Heads are bounded far below 4 GiB (H1Config clamps the limit).
        Self { start: start as u32, end: end as u32 }
    }
}

/// One HTTP/1.x request head. The body, if any, is read and discarded by
/// the connection (no route of the blog takes one).
#[derive(Debug)]
pub struct H1Request {
    buf: Vec<u8>,
    fields: Vec<(Span, Span)>,
    method: Method,
    method_span: Span,
    target: Span,
    path: Span,
    authority: Option<Span>,
    version: Version,
    keep_alive: bool,
    body: BodyKind,
    expect_continue: bool,
    pub(crate) early: EarlyData,
}

impl Default for H1Request {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            fields: Vec::new(),
            method: Method::Other,
            method_span: Span::default(),
            target: Span::default(),
            path: Span::default(),
            authority: None,
            version: Version::Http11,
            keep_alive: true,
            body: BodyKind::None,
            expect_continue: false,
            early: EarlyData::No,
        }
    }
}

impl H1Request {
    fn slice(&self, span: Span) -> &[u8] {
        self.buf.get(span.start as usize..span.end as usize).unwrap_or_default()
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (any token; [`Method::Other`] says nothing more).
    pub fn method_bytes(&self) -> &[u8] {
        self.slice(self.method_span)
    }

    /// The request-target exactly as sent.
    pub fn target(&self) -> &[u8] {
        self.slice(self.target)
    }

    /// The target in origin form, query included, as the site looks it up:
    /// the target itself for origin form (`/a?b`), `*`, and CONNECT's
    /// authority form; for absolute form (`http://host/a?b`, RFC 9112
    /// §3.2.2) the part after the authority, `/` when that is empty.
    pub fn path(&self) -> &[u8] {
        self.slice(self.path)
    }

    /// The host the request is for: the authority of an absolute-form
    /// target (which overrides Host, RFC 9112 §3.2.2), else the Host field
    /// (absent only in HTTP/1.0).
    pub fn authority(&self) -> Option<&[u8]> {
        self.authority.map(|s| self.slice(s))
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the client lets the connection stay open after this
    /// response: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive` (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Whether a body follows the head (for RFC 8470: an early request
    /// with a body is not answered early, like an h2 request without
    /// END_STREAM).
    pub fn has_body(&self) -> bool {
        self.body != BodyKind::None
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1).
    /// No 100 is sent: the final response goes at once.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// Whether the head arrived as TLS early data (0-RTT): the first byte
    /// of its request line and its final empty line are compared with the
    /// offset where early data ended ([`super::Connection::recv_early`]).
    pub fn early_data(&self) -> EarlyData {
        self.early
    }

    /// Field lines in the order received, names as sent, values without
    /// surrounding whitespace.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|&(n, v)| (self.slice(n), self.slice(v)))
    }

    /// The value of the first field line named `name`, compared without
    /// regard to case (RFC 9110 §5.1).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Parses `head`, the request line through the empty line that ends
    /// the field section, into `self` (whose buffers are reused).
    pub(crate) fn parse(&mut self, head: &[u8], max_headers: usize) -> Result<(), Reject> {
        self.buf.clear();
        self.buf.extend_from_slice(head);
        self.fields.clear();
        self.authority = None;
        self.early = EarlyData::No;
        let mut outcome = self.parse_copy(max_headers);
        if let Err(Patch::Minor(at)) = outcome {
            // RFC 9110 §2.5: a higher 1.x minor is read as the highest we
            // implement. httparse knows only 1.0 and 1.1, so the copy says 1.1.
            if let Some(minor) = self.buf.get_mut(at) {
                *minor = b'1';
            }
            outcome = self.parse_copy(max_headers);
        }
        match outcome {
            Ok(()) => Ok(()),
            Err(Patch::Minor(_)) => Err(reject(400, "invalid HTTP version")),
            Err(Patch::Reject(r)) => Err(r),
        }
    }

    fn parse_copy(&mut self, max_headers: usize) -> Result<(), Patch> {
        self.fields.clear();
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let limit = max_headers.clamp(1, MAX_HEADERS);
        let buf = &self.buf[..];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(buf, &mut headers[..limit]) {
            Ok(httparse::Status::Complete(n)) if n == buf.len() => {}
            Ok(_) => return Err(Patch::Reject(reject(400, "malformed request head"))),
            Err(e) => return Err(parse_error(e, buf)),
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(Patch::Reject(reject(400, "malformed request line")));
        };
        let span_of = |part: &[u8]| {
            // Every slice httparse returns lies within `buf`.
            let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
            if start <= buf.len() && part.len() <= buf.len() - start {
                Ok(Span::new(start, start + part.len()))
            } else {
                Err(Patch::Reject(reject(400, "malformed request head")))
            }
        };
        let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
        let method_span = span_of(method.as_bytes())?;
        let target_span = span_of(target.as_bytes())?;

        let mut framing = Framing::default();
        let mut host: Option<Span> = None;
        let mut hosts = 0;
        for h in req.headers.iter() {
            let name = span_of(h.name.as_bytes())?;
            let value = trim(h.value);
            let value_span = span_of(value)?;
            self.fields.push((name, value_span));
            let n = h.name.as_bytes();
            if n.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                host = Some(value_span);
                if !valid_authority(value, true) {
                    return Err(Patch::Reject(reject(400, "invalid Host")));
                }
            } else {
                framing.field(n, value).map_err(Patch::Reject)?;
            }
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one ever.
        if hosts > 1 {
            return Err(Patch::Reject(reject(400, "more than one Host")));
        }
        if hosts == 0 && version == Version::Http11 {
            return Err(Patch::Reject(reject(400, "missing Host")));
        }
        let body = framing.body(version).map_err(Patch::Reject)?;

        let method = method_of(method.as_bytes());
        let t0 = target_span.start as usize;
        let (path, authority, slash_rest) = match target_form(method, target.as_bytes()).map_err(Patch::Reject)? {
            Form::Whole => (target_span, None, None),
            Form::Absolute { authority: (a0, a1), path_start } => {
                let authority = Some(Span::new(t0 + a0, t0 + a1));
                match path_start {
                    Some(p) => (Span::new(t0 + p, target_span.end as usize), authority, None),
                    None => (Span::default(), authority, Some(t0 + a1)),
                }
            }
        };

        self.method = method;
        self.method_span = method_span;
        self.target = target_span;
        self.version = version;
        self.body = body;
        self.keep_alive = match version {
            Version::Http11 => !framing.close,
            Version::Http10 => framing.keep_alive && !framing.close,
        };
        // RFC 9110 §10.1.1: an HTTP/1.0 request's 100-continue is ignored.
        self.expect_continue = framing.expect_continue && version == Version::Http11;
        self.authority = authority.or(host);
        self.path = path;
        if let Some(rest) = slash_rest {
            // `http://host` means `/`, `http://host?q` means `/?q` (RFC 9112
            // §3.2.4): that path is built after the head.
            let start = self.buf.len();
            self.buf.push(b'/');
            self.buf.extend_from_within(rest..self.target.end as usize);
            self.path = Span::new(start, self.buf.len());
        }
        Ok(())
    }
}

/// A parse that failed, or that may succeed on a copy saying `HTTP/1.1`.
enum Patch {
    /// An `HTTP/1.x` version with x > 1: the index of the minor digit.
    Minor(usize),
    Reject(Reject),
}

/// Maps an httparse error to the answer. A request line whose version is
/// well-formed but not 1.x is answered with 505 (RFC 9110 §15.6.6), which
/// includes the HTTP/2 connection preface (`PRI * HTTP/2.0`).
fn parse_error(e: httparse::Error, head: &[u8]) -> Patch {
    use httparse::Error as E;
    Patch::Reject(match e {
        E::TooManyHeaders => reject(431, "too many header fields"),
        E::Version => return version_error(head),
        E::HeaderName => reject(400, "invalid header field name or line folding"),
        E::HeaderValue => reject(400, "invalid header field value"),
        E::NewLine => reject(400, "invalid line ending"),
        E::Token => reject(400, "invalid request line"),
        E::Status => reject(400, "invalid request line"),
    })
}

fn version_error(head: &[u8]) -> Patch {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..line_end].strip_suffix(b"\r").unwrap_or(&head[..line_end]);
    let Some(at) = line.iter().rposition(|&b| b == b' ') else {
        return Patch::Reject(reject(400, "invalid HTTP version"));
    };
    match &line[at + 1..] {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            // httparse took 1.0 and 1.1; this is 1.2 to 1.9.
            let leading_blank = head.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if leading_blank == 0 {
                Patch::Minor(line.len() - 1)
            } else {
                Patch::Reject(reject(400, "invalid request line"))
            }
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Patch::Reject(reject(505, "HTTP version not supported"))
        }
        // `HTTP/2`, `HTTP/3`: not the syntax, but clear enough.
        [b'H', b'T', b'T', b'P', b'/', major] if (b'2'..=b'9').contains(major) => {
            Patch::Reject(reject(505, "HTTP version not supported"))
        }
        _ => Patch::Reject(reject(400, "invalid HTTP version")),
    }
}

/// Field values without the optional whitespace around them (RFC 9110
/// §5.5; httparse drops the leading part).
fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    &v[start..end]
}

/// RFC 3986 §3.2: `host [":" port]`, reg-name, IPv4 or an IP literal in
/// brackets, without userinfo. Host may be empty (RFC 9112 §3.2); an
/// absolute-form target's authority may not.
fn valid_authority(a: &[u8], allow_empty: bool) -> bool {
    if a.is_empty() {
        return allow_empty;
    }
    a.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// What the framing and connection-management fields say.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    /// Transfer-Encoding field lines seen.
    transfer_encoding: bool,
    /// Transfer codings listed, over all lines.
    codings: u32,
    /// `chunked` was listed (at most once, and last).
    chunked_last: bool,
    /// A coding other than `chunked` was listed.
    other_coding: bool,
    /// `chunked` was listed and another coding after it, or twice.
    chunked_misplaced: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Framing {
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), Reject> {
        if name.eq_ignore_ascii_case(b"content-length") {
            // RFC 9110 §8.6: one decimal; repeated lines must agree. A list
            // (`5, 5`) is refused rather than reconciled.
            let n = parse_decimal(value).ok_or(reject(400, "invalid Content-Length"))?;
            if self.content_length.is_some_and(|m| m != n) {
                return Err(reject(400, "conflicting Content-Length"));
            }
            self.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
            for coding in list(value) {
                self.codings += 1;
                if self.chunked_last {
                    // Anything after chunked, chunked included (RFC 9112 §6.1).
                    self.chunked_misplaced = true;
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.chunked_last = true;
                } else {
                    self.chunked_last = false;
                    self.other_coding = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in list(value) {
                if option.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && value.eq_ignore_ascii_case(b"100-continue") {
            self.expect_continue = true;
        }
        Ok(())
    }

    /// RFC 9112 §6.1 and §6.3: how long the body is, or why that cannot be
    /// known for sure (each answered with the connection closed).
    fn body(&self, version: Version) -> Result<BodyKind, Reject> {
        if self.transfer_encoding {
            if version == Version::Http10 {
                return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
            }
            if self.content_length.is_some() {
                return Err(reject(400, "both Transfer-Encoding and Content-Length"));
            }
            if !self.chunked_last || self.chunked_misplaced || self.codings == 0 {
                return Err(reject(400, "chunked is not the final transfer coding"));
            }
            if self.other_coding {
                // Valid framing, but codings we do not implement (§6.1: 501).
                return Err(reject(501, "transfer coding not implemented"));
            }
            return Ok(BodyKind::Chunked);
        }
        Ok(match self.content_length {
            None | Some(0) => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        })
    }
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), trimmed,
/// empty ones skipped.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// `1*DIGIT` that fits a u64.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(
        0u64,
        |n, &b| {
            if b.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None }
        },
    )
}

fn method_of(m: &[u8]) -> Method {
    // Methods are case-sensitive (RFC 9110 §9.1).
    match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        b"PUT" => Method::Put,
        b"DELETE" => Method::Delete,
        b"CONNECT" => Method::Connect,
        b"OPTIONS" => Method::Options,
        b"TRACE" => Method::Trace,
        b"PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

/// The request-target forms (RFC 9112 §3.2).
enum Form {
    /// Origin form, `*`, or CONNECT's authority form: used as sent.
    Whole,
    /// `http://authority[/path][?query]`; offsets within the target. No
    /// path start means the path is `/` followed by what follows the
    /// authority (nothing, or `?query`).
    Absolute { authority: (usize, usize), path_start: Option<usize> },
}

fn target_form(method: Method, t: &[u8]) -> Result<Form, Reject> {
    if t.first() == Some(&b'/') || t == b"*" {
        return Ok(Form::Whole);
    }
    if method == Method::Connect {
        return if valid_authority(t, false) { Ok(Form::Whole) } else { Err(reject(400, "invalid CONNECT target")) };
    }
    let scheme_len = if t.len() >= 7 && t[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if t.len() >= 8 && t[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return Err(reject(400, "invalid request target"));
    };
    let rest = &t[scheme_len..];
    let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    if !valid_authority(&rest[..end], false) {
        return Err(reject(400, "invalid authority in request target"));
    }
    let path_start = (rest.get(end) == Some(&b'/')).then_some(scheme_len + end);
    Ok(Form::Absolute { authority: (scheme_len, scheme_len + end), path_start })
}
