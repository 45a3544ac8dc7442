//! The access log (`--access-log FILE|-`): one line per response, in the
//! NCSA Combined Log Format followed by the protocol and whether the
//! request arrived as TLS early data:
//!
//! ```text
//! - - - [27/Nov/2026:07:40:00 +0000] "GET /posts/x HTTP/2.0" 200 4412 "-" "curl/8.5" h2 early=0
//! ```
//!
//! The first field is the client's address, `-` when unknown: the io_uring
//! multishot accept into a direct descriptor gives none, and the epoll
//! backend does not keep it either. The bytes are the response body queued
//! (`-` for none, as in CLF): a stream the client resets before the end
//! got fewer. Bytes in the method, target, referer and user agent that are
//! not printable ASCII, and `"` and `\`, are written `\xHH` (and so is a
//! space in the method or target), so a request cannot forge a line or a
//! field.
//!
//! Nothing here blocks a worker. Each worker owns an [`AccessLog`] and
//! appends to its in-memory buffer ([`AccessLog::record`], no system call;
//! the timestamp is formatted once a second). A full buffer (64 KiB), the
//! once-a-second sweep and the worker's exit hand it to the one writer
//! thread over a bounded queue with `try_send`; a spare buffer takes its
//! place. When the queue is full the lines are dropped and counted, and the
//! writer warns about them. The writer appends to the file (or stdout) and
//! gives the buffers back for reuse.

use std::cell::Cell;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::httpdate::{format_imf_fixdate, unix_seconds};
use crate::h1::{H1Request, Version};
use crate::h2::conn::{EarlyData, RequestHead};

/// A worker's buffer is handed to the writer once it holds this much.
pub const FLUSH_AT: usize = 64 * 1024;
/// Buffers waiting for the writer, all workers together: up to 4 MiB of
/// lines before any is dropped.
const QUEUE_BATCHES: usize = 64;
/// Buffers the writer gives back to each worker; more are freed.
const SPARES_PER_WORKER: usize = 2;
/// A buffer grown past this (a burst of very long targets) is freed
/// rather than kept.
const KEEP_AT_MOST: usize = 4 * FLUSH_AT;
/// How long shutdown waits for the writer to write the last lines.
const FINISH_WITHIN: Duration = Duration::from_secs(5);

/// Where the access log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `--access-log -`.
    Stdout,
    /// Appended to, created if missing.
    File(PathBuf),
}

impl Destination {
    /// `-` is stdout, anything else a file.
    pub fn from_arg(arg: PathBuf) -> Self {
        if arg.as_os_str() == "-" { Destination::Stdout } else { Destination::File(arg) }
    }
}

/// The protocol a request came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    H2,
    Http11,
    Http10,
}

impl Protocol {
    /// The version in the request line, as Apache and nginx write it.
    fn request_version(self) -> &'static [u8] {
        match self {
            Protocol::H2 => b"HTTP/2.0",
            Protocol::Http11 => b"HTTP/1.1",
            Protocol::Http10 => b"HTTP/1.0",
        }
    }

    /// The ALPN protocol ID (RFC 7301; h2c is `h2` too).
    pub fn alpn_id(self) -> &'static str {
        match self {
            Protocol::H2 => "h2",
            Protocol::Http11 => "http/1.1",
            Protocol::Http10 => "http/1.0",
        }
    }
}

/// One response, borrowed from the request it answers.
#[derive(Clone, Copy, Debug)]
pub struct AccessEntry<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub protocol: Protocol,
    pub status: u16,
    /// Response body bytes queued (0 for HEAD, 304, ...).
    pub body_bytes: u64,
    /// Any of the request arrived as TLS 1.3 early data.
    pub early: bool,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub peer: Option<SocketAddr>,
}

impl<'a> AccessEntry<'a> {
    /// The entry for an HTTP/2 response to `head`.
    pub fn from_h2(head: &'a RequestHead, status: u16, body_bytes: u64) -> Self {
        AccessEntry {
            method: head.method_bytes(),
            target: head.path(),
            protocol: Protocol::H2,
            status,
            body_bytes,
            early: head.early_data() != EarlyData::No,
            referer: head.header(b"referer"),
            user_agent: head.header(b"user-agent"),
            peer: None,
        }
    }

    /// The entry for an HTTP/1.x response to `req`; the target as sent.
    pub fn from_h1(req: &'a H1Request, status: u16, body_bytes: u64) -> Self {
        AccessEntry {
            method: req.method_bytes(),
            target: req.target(),
            protocol: match req.version() {
                Version::Http10 => Protocol::Http10,
                Version::Http11 => Protocol::Http11,
            },
            status,
            body_bytes,
            early: req.early_data() != EarlyData::No,
            referer: req.header(b"referer"),
            user_agent: req.header(b"user-agent"),
            peer: None,
        }
    }
}

/// `27/Nov/2026:07:40:00 +0000`.
const CLF_DATE_LEN: usize = 26;

/// The timestamp, formatted once per second.
#[derive(Clone, Copy, Debug)]
struct ClfClock {
    second: u64,
    value: [u8; CLF_DATE_LEN],
}

impl ClfClock {
    fn new(now: SystemTime) -> Self {
        let second = unix_seconds(now);
        ClfClock { second, value: format_clf_date(second) }
    }
}

/// CLF's `day/month/year:hour:minute:second zone`, in UTC, rearranged
/// from the IMF-fixdate the `date` header uses (`Fri, 27 Nov 2026 07:40:00 GMT`).
fn format_clf_date(secs: u64) -> [u8; CLF_DATE_LEN] {
    let imf = format_imf_fixdate(secs);
    let mut out = *b"01/Jan/1970:00:00:00 +0000";
    out[0..2].copy_from_slice(&imf[5..7]);
    out[3..6].copy_from_slice(&imf[8..11]);
    out[7..11].copy_from_slice(&imf[12..16]);
    out[12..20].copy_from_slice(&imf[17..25]);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes`, writing as `\xHH` every byte that is not printable
/// ASCII, `"`, `\`, and (`space_too`) a space; `-` for nothing.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8], space_too: bool) {
    if bytes.is_empty() {
        out.push(b'-');
        return;
    }
    for &b in bytes {
        let plain = (b.is_ascii_graphic() && b != b'"' && b != b'\\') || (b == b' ' && !space_too);
        if plain {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
}

/// A quoted field; `"-"` when absent, as Apache and nginx write it.
fn push_quoted(out: &mut Vec<u8>, value: Option<&[u8]>) {
    out.push(b'"');
    match value {
        Some(v) => push_escaped(out, v, false),
        None => out.push(b'-'),
    }
    out.push(b'"');
}

/// Appends one line for `e`, stamped with `date` (a CLF date).
fn write_line(out: &mut Vec<u8>, e: &AccessEntry<'_>, date: &[u8]) {
    // Writing into a Vec cannot fail.
    match e.peer {
        Some(peer) => {
            let _ = write!(out, "{}", peer.ip());
        }
        None => out.push(b'-'),
    }
    out.extend_from_slice(b" - - [");
    out.extend_from_slice(date);
    out.extend_from_slice(b"] \"");
    push_escaped(out, e.method, true);
    out.push(b' ');
    push_escaped(out, e.target, true);
    out.push(b' ');
    out.extend_from_slice(e.protocol.request_version());
    let _ = write!(out, "\" {} ", e.status);
    if e.body_bytes == 0 {
        out.push(b'-');
    } else {
        let _ = write!(out, "{}", e.body_bytes);
    }
    out.push(b' ');
    push_quoted(out, e.referer);
    out.push(b' ');
    push_quoted(out, e.user_agent);
    let _ = writeln!(out, " {} early={}", e.protocol.alpn_id(), u8::from(e.early));
}

/// A full buffer on its way to the writer.
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
    /// Where the buffer goes back to once written.
    back: SyncSender<Vec<u8>>,
}

enum Message {
    Batch(Batch),
    /// Sent by [`AccessLogWriter::finish`] after every worker has exited.
    Stop,
}

/// One worker's access log: owned by the worker thread, used through `&`
/// by its sessions (their [`Responder`](super::session::Responder)).
pub struct AccessLog {
    buf: Cell<Vec<u8>>,
    /// Lines in `buf`.
    lines: Cell<u64>,
    clock: Cell<ClfClock>,
    queue: SyncSender<Message>,
    back: SyncSender<Vec<u8>>,
    returned: Receiver<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Sets the time the next lines are stamped with; formats it only when
    /// the second changed. The worker calls it when it reads the clock.
    pub fn set_time(&self, now: SystemTime) {
        if unix_seconds(now) != self.clock.get().second {
            self.clock.set(ClfClock::new(now));
        }
    }

    /// Appends a line to this worker's buffer; hands the buffer to the
    /// writer once it holds [`FLUSH_AT`] bytes.
    pub fn record(&self, e: &AccessEntry<'_>) {
        let mut buf = self.buf.take();
        write_line(&mut buf, e, &self.clock.get().value);
        self.lines.set(self.lines.get() + 1);
        if buf.len() >= FLUSH_AT {
            buf = self.hand_over(buf);
        }
        self.buf.set(buf);
    }

    /// Hands what is buffered to the writer, without waiting.
    pub fn flush(&self) {
        let buf = self.buf.take();
        let buf = if buf.is_empty() { buf } else { self.hand_over(buf) };
        self.buf.set(buf);
    }

    /// Queues `buf` for the writer and returns a buffer to go on with: a
    /// spare, or `buf` itself emptied when the queue is full (its lines
    /// are dropped and counted).
    fn hand_over(&self, buf: Vec<u8>) -> Vec<u8> {
        let lines = self.lines.replace(0);
        let batch = Batch { bytes: buf, lines, back: self.back.clone() };
        match self.queue.try_send(Message::Batch(batch)) {
            Ok(()) => self.returned.try_recv().unwrap_or_else(|_| Vec::with_capacity(FLUSH_AT + 1024)),
            Err(TrySendError::Full(message) | TrySendError::Disconnected(message)) => {
                self.dropped.fetch_add(lines, Ordering::Relaxed);
                match message {
                    Message::Batch(Batch { mut bytes, .. }) => {
                        bytes.clear();
                        bytes
                    }
                    Message::Stop => Vec::new(),
                }
            }
        }
    }
}

impl Drop for AccessLog {
    /// A worker that exits hands over its last lines.
    fn drop(&mut self) {
        self.flush();
    }
}

/// What the workers share to reach the writer; each opens its own
/// [`AccessLog`].
pub struct AccessLogSink {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl AccessLogSink {
    /// A worker's log, stamped with `now` until [`AccessLog::set_time`].
    pub fn open(&self, now: SystemTime) -> AccessLog {
        let (back, returned) = mpsc::sync_channel(SPARES_PER_WORKER);
        AccessLog {
            buf: Cell::new(Vec::with_capacity(FLUSH_AT + 1024)),
            lines: Cell::new(0),
            clock: Cell::new(ClfClock::new(now)),
            queue: self.queue.clone(),
            back,
            returned,
            dropped: Arc::clone(&self.dropped),
        }
    }
}

/// Why the access log could not start.
#[derive(Debug)]
pub enum AccessLogError {
    Open { path: PathBuf, source: io::Error },
    Spawn(io::Error),
}

impl fmt::Display for AccessLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessLogError::Open { path, source } => {
                write!(f, "--access-log {}: cannot open it for appending: {source}", path.display())
            }
            AccessLogError::Spawn(e) => write!(f, "--access-log: cannot start the writer thread: {e}"),
        }
    }
}

impl std::error::Error for AccessLogError {}

/// What the writer did, for the summary at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterReport {
    pub written: u64,
    /// Lines whose write failed.
    pub lost: u64,
    /// Lines dropped by workers because the queue was full.
    pub dropped: u64,
}

enum Output {
    Stdout,
    File(File),
}

impl Output {
    fn open(dest: &Destination) -> Result<Output, AccessLogError> {
        match dest {
            Destination::Stdout => Ok(Output::Stdout),
            Destination::File(path) => OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map(Output::File)
                .map_err(|source| AccessLogError::Open { path: path.clone(), source }),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::File(file) => file.write_all(bytes),
        }
    }
}

/// The writer thread.
pub struct AccessLogWriter {
    queue: SyncSender<Message>,
    done: Receiver<WriterReport>,
    thread: JoinHandle<()>,
}

impl AccessLogWriter {
    /// Opens `dest` and starts the writer; the sink goes to the workers.
    pub fn start(dest: &Destination) -> Result<(AccessLogWriter, AccessLogSink), AccessLogError> {
        let output = Output::open(dest)?;
        let (queue, batches) = mpsc::sync_channel(QUEUE_BATCHES);
        let dropped = Arc::new(AtomicU64::new(0));
        let (report, done) = mpsc::sync_channel(1);
        let counted = Arc::clone(&dropped);
        let thread = std::thread::Builder::new()
            .name("h2ring-access-log".into())
            .spawn(move || {
                let _ = report.send(write_batches(output, &batches, &counted));
            })
            .map_err(AccessLogError::Spawn)?;
        Ok((AccessLogWriter { queue: queue.clone(), done, thread }, AccessLogSink { queue, dropped }))
    }

    /// Called after every worker has exited (and handed over its last
    /// lines): waits for the writer to write everything, up to a few
    /// seconds (a stdout nobody reads must not hang the shutdown).
    /// `None` if it did not finish in time.
    pub fn finish(self) -> Option<WriterReport> {
        let deadline = Instant::now() + FINISH_WITHIN;
        let mut stop = Message::Stop;
        loop {
            match self.queue.try_send(stop) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => break,
                Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                    stop = again;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TrySendError::Full(_)) => return None,
            }
        }
        let report = self.done.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
        let _ = self.thread.join();
        Some(report)
    }
}

/// The writer's loop: writes each batch, gives its buffer back, and warns
/// (at most once a second) about lines the workers dropped.
fn write_batches(mut output: Output, batches: &Receiver<Message>, dropped: &AtomicU64) -> WriterReport {
    let mut report = WriterReport::default();
    let mut failing = false;
    let mut warned_dropped = 0;
    let mut warned_at: Option<Instant> = None;
    while let Ok(Message::Batch(batch)) = batches.recv() {
        match output.write(&batch.bytes) {
            Ok(()) => {
                report.written += batch.lines;
                failing = false;
            }
            Err(e) => {
                report.lost += batch.lines;
                if !failing {
                    log::error!("access log: cannot write: {e}; lines are lost until writing works again");
                    failing = true;
                }
            }
        }
        let mut bytes = batch.bytes;
        if bytes.capacity() <= KEEP_AT_MOST {
            bytes.clear();
            let _ = batch.back.try_send(bytes);
        }
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped > warned_dropped && warned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            log::warn!("access log: {} lines dropped: the writer fell behind", now_dropped - warned_dropped);
            warned_dropped = now_dropped;
            warned_at = Some(Instant::now());
        }
    }
    report.dropped = dropped.load(Ordering::Relaxed);
    report
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Stdout => f.write_str("stdout"),
            Destination::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests;
