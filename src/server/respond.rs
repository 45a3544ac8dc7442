//! Answering requests: plaintext in through the protocol core (HTTP/2 or
//! HTTP/1.1), each request to the handler (or the 0-RTT and redirect
//! rules), responses queued in the core. The same rules for both
//! protocols: `date` on every response, HSTS on TLS, 425 for early
//! requests that are not safe to replay; and every response counted
//! (`WorkerStats::record_response`) and logged (`--access-log`).

use bytes::Bytes;

use super::access_log::AccessEntry;
use super::proto::{AppConn, H1Session};
use super::session::{CloseReason, Responder};
use super::stats::{Counter, Protocol};
use super::{Query, ResponseField};
use crate::h1::{self, H1Request};
use crate::h2::conn::{Connection, EarlyData, Event, Method};

/// Runs plaintext through the protocol core and answers each request;
/// `early` when the bytes arrived as TLS early data, `tls` when the
/// transport is TLS (HSTS is sent only then, RFC 6797 §7.2). Returns how
/// many responses it queued.
pub(super) fn feed(
    app: &mut AppConn,
    close: &mut Option<CloseReason>,
    data: &[u8],
    r: &Responder<'_>,
    tls: bool,
    early: bool,
) -> u32 {
    match app {
        AppConn::Pending => 0,
        AppConn::H2(h2) => feed_h2(h2, close, data, r, tls, early),
        AppConn::H1(h1) => {
            // Its own error responses (400, 408, 431, ...) carry the date
            // and HSTS too; set before `recv`, which may queue one.
            let date = (&b"date"[..], r.date);
            let hsts = hsts(r, tls).map(|v| (&b"strict-transport-security"[..], v));
            h1.conn.set_error_fields(std::iter::once(date).chain(hsts));
            let result = if early { h1.conn.recv_early(data) } else { h1.conn.recv(data) };
            let mut answered = answer_h1(h1, r, tls);
            if let Err(e) = result {
                // The error response (if the request got that far) is
                // queued after the earlier ones; the connection closes
                // once they are out.
                close.get_or_insert(CloseReason::ProtocolError);
                if let Some(status) = e.status {
                    r.stats.record_response(Protocol::Http11, status);
                    answered += 1;
                }
            }
            answered
        }
    }
}

/// Answers requests the protocol core held back until output drained
/// (HTTP/1.1 pipelining past `max_pipelined`); call before filling output.
pub(super) fn pump(app: &mut AppConn, r: &Responder<'_>, tls: bool) -> u32 {
    match app {
        AppConn::H1(h1) => answer_h1(h1, r, tls),
        _ => 0,
    }
}

fn hsts<'a>(r: &Responder<'a>, tls: bool) -> Option<&'a [u8]> {
    if tls { r.sessions.hsts.as_deref() } else { None }
}

fn feed_h2(
    h2: &mut Connection,
    close: &mut Option<CloseReason>,
    data: &[u8],
    r: &Responder<'_>,
    tls: bool,
    early: bool,
) -> u32 {
    let mut answered = 0;
    let result = if early { h2.recv_early(data) } else { h2.recv(data) };
    if result.is_err() {
        // GOAWAY is queued; it is flushed before the socket closes.
        close.get_or_insert(CloseReason::ProtocolError);
    }
    let date = std::iter::once((&b"date"[..], r.date));
    let hsts = hsts(r, tls).map(|v| (&b"strict-transport-security"[..], v));
    while let Some(event) = h2.poll_event() {
        match event {
            Event::Request { stream_id, head, end_stream } => {
                let proxied = head.header(b"early-data") == Some(b"1");
                let safe = matches!(head.method(), Method::Get | Method::Head) && end_stream;
                answered += 1;
                if too_early(r, head.early_data(), proxied, safe) {
                    let fields = TOO_EARLY_FIELDS.iter().map(|f| (f.name, &f.value[..]));
                    let _ = h2.send_response_fields(
                        stream_id,
                        425,
                        fields.chain(date.clone()),
                        TOO_EARLY_LEN,
                        too_early_body(),
                    );
                    done(r, Protocol::H2, 425, || AccessEntry::from_h2(&head, 425, TOO_EARLY_BODY.len() as u64));
                    h2.recycle(head);
                    continue;
                }
                let resp = r.handler.respond(&Query::from_h2(&head));
                done(r, Protocol::H2, resp.status, || AccessEntry::from_h2(&head, resp.status, resp.body.len() as u64));
                let fields = resp.headers.iter().map(|f| (f.name, &f.value[..]));
                // A stream reset meanwhile is not an error worth reporting.
                let _ = h2.send_response_fields(
                    stream_id,
                    resp.status,
                    fields.chain(date.clone()).chain(hsts),
                    resp.content_length,
                    resp.body,
                );
                h2.recycle(head);
            }
            // No handler reads request bodies yet: a request with a body
            // was answered from its headers (and the rest is refused with
            // RST_STREAM NO_ERROR by the protocol core, RFC 9113 §8.1).
            Event::Data { .. } | Event::Trailers { .. } | Event::StreamReset { .. } | Event::GoAway { .. } => {}
        }
    }
    answered
}

fn answer_h1(h1: &mut H1Session, r: &Responder<'_>, tls: bool) -> u32 {
    let mut answered = 0;
    let date = std::iter::once((&b"date"[..], r.date));
    let hsts = hsts(r, tls).map(|v| (&b"strict-transport-security"[..], v));
    while let Some(req) = h1.conn.poll_request() {
        answered += 1;
        if h1.redirect {
            let len = redirect(&mut h1.conn, &req, r);
            done(r, Protocol::Http11, 308, || AccessEntry::from_h1(&req, 308, len));
            h1.conn.recycle(req);
            continue;
        }
        let proxied = req.header(b"early-data") == Some(b"1");
        let safe = matches!(req.method(), Method::Get | Method::Head) && !req.has_body();
        if too_early(r, req.early_data(), proxied, safe) {
            let fields = TOO_EARLY_FIELDS.iter().map(|f| (f.name, &f.value[..]));
            let _ = h1.conn.send_response(425, fields.chain(date.clone()), TOO_EARLY_LEN, too_early_body());
            done(r, Protocol::Http11, 425, || AccessEntry::from_h1(&req, 425, TOO_EARLY_BODY.len() as u64));
            h1.conn.recycle(req);
            continue;
        }
        let resp = r.handler.respond(&Query::from_h1(&req));
        done(r, Protocol::Http11, resp.status, || AccessEntry::from_h1(&req, resp.status, resp.body.len() as u64));
        let fields = resp.headers.iter().map(|f| (f.name, &f.value[..]));
        let _ =
            h1.conn.send_response(resp.status, fields.chain(date.clone()).chain(hsts), resp.content_length, resp.body);
        h1.conn.recycle(req);
    }
    answered
}

/// Counts a response and, with `--access-log`, writes its line (built
/// only then: nothing is formatted on the hot path otherwise).
fn done<'e>(r: &Responder<'_>, protocol: Protocol, status: u16, entry: impl FnOnce() -> AccessEntry<'e>) {
    r.stats.record_response(protocol, status);
    if let Some(log) = r.access_log {
        log.record(&entry());
    }
}

/// RFC 8470: whether a request must be refused with 425 Too Early, and
/// counts what was decided. A request is early if any byte of it arrived
/// as early data, or if an intermediary says it did (`Early-Data: 1`,
/// §5.1). Only a `safe` one (GET or HEAD without a body) whose whole head
/// was early is answered: repeating it changes nothing (RFC 9110 §9.2.1),
/// and a body or a head completed later could be a replay spliced with new
/// bytes.
fn too_early(r: &Responder<'_>, early: EarlyData, proxied: bool, safe: bool) -> bool {
    if early == EarlyData::No && !proxied {
        return false;
    }
    if safe && early != EarlyData::Partial {
        r.stats.bump(Counter::EarlyServed);
        false
    } else {
        r.stats.bump(Counter::TooEarly);
        true
    }
}

/// The `--redirect-listen` answer to every request: 308 to the same path
/// on `https://` + `--public-host` (RFC 9110 §15.4.9: the method and body
/// are kept, so a POST is not turned into a GET). Returns the body length.
fn redirect(conn: &mut h1::Connection, req: &H1Request, r: &Responder<'_>) -> u64 {
    let base = r.sessions.redirect_base.as_deref().unwrap_or(b"https://localhost");
    // An origin-form target (or the path of an absolute-form one); `*`
    // and authority-form targets have no path to keep.
    let path = req.path();
    let path = if path.starts_with(b"/") { path } else { b"/" };
    let mut location = Vec::with_capacity(base.len() + path.len());
    location.extend_from_slice(base);
    location.extend_from_slice(path);
    let fields = [
        (&b"location"[..], &location[..]),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"server", b"h2ring"),
        (b"date", r.date),
    ];
    let body = Bytes::from_static(REDIRECT_BODY);
    let len = Some(body.len() as u64);
    let _ = conn.send_response(308, fields, len, body);
    REDIRECT_BODY.len() as u64
}

const REDIRECT_BODY: &[u8] = b"This site is served over HTTPS.\n";

const TOO_EARLY_BODY: &[u8] = b"Too Early: this request arrived in TLS early data; retry it after the handshake.\n";
const TOO_EARLY_LEN: Option<u64> = Some(TOO_EARLY_BODY.len() as u64);

fn too_early_body() -> Bytes {
    Bytes::from_static(TOO_EARLY_BODY)
}

static TOO_EARLY_FIELDS: [ResponseField; 3] = [
    ResponseField::from_static(b"content-type", b"text/plain; charset=utf-8"),
    ResponseField::from_static(b"cache-control", b"no-store"),
    ResponseField::from_static(b"server", b"h2ring"),
];
