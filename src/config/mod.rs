//! The command line: every flag, its default, and the checks that turn an
//! operator's mistake into one line on stderr instead of a surprise at run
//! time.
//!
//! [`Invocation::from_args`] parses and validates without touching the
//! file system or the network, so tests can feed it argument lists; the
//! checks that need the file system ([`Config::check_content_dir`], loading
//! the certificate in [`crate::tls`], reading the kernel's settings in
//! [`crate::tuning`]) are separate calls. Without a subcommand the command
//! line configures the server ([`Config`]); each subcommand is one variant
//! of [`Invocation`] with its own arguments.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::server::access_log::Destination;
use crate::tuning;

/// Whether io_uring SQPOLL is on when neither `--sqpoll` nor `--no-sqpoll`
/// is given. Off, from the benchmark harness (BENCHMARKS.md, 2026-11-27):
/// on a 2-vCPU box SQPOLL cost 5-7x the server CPU per request and gave
/// 0.4-0.7x the throughput in every scenario, because its kernel thread
/// takes a core the workers need. Worth trying only with spare cores.
pub const DEFAULT_SQPOLL: bool = false;

/// The TLS listener used when no `--listen` and no `--h2c-listen` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Upper bound of `--workers`.
pub const MAX_WORKERS: usize = 1024;

/// Upper bound of every `--*-ms` flag: 24 hours. Far beyond any sensible
/// timeout, and low enough that `Instant + Duration` can never overflow (it
/// panics if it does) and the value fits the kernel's `u32` milliseconds
/// (`io_uring_params.sq_thread_idle`).
pub const MAX_MS: u64 = 24 * 60 * 60 * 1000;

const DEFAULT_CONTENT: &str = "content";
const DEFAULT_CERTS_DIR: &str = "certs";
const DEFAULT_SQPOLL_IDLE_MS: u64 = 1000;
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 5000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
/// Long enough for a reader on a slow mobile link to take a 16 KiB send
/// (the worker's smallest) or let a window open; short enough that a
/// client that stopped reading gives its memory back soon.
const DEFAULT_WRITE_TIMEOUT_MS: u64 = 30_000;
/// All workers together. A connection that is busy (256 KiB + one record
/// of send buffer, rustls's buffers, the protocol core's queued replies,
/// up to 256 KiB) holds well under 1 MiB, an idle one a few tens of KiB:
/// 20,000 busy connections fit in a 24 GiB machine with room for the page
/// cache, and the cap leaves fds (the service unit raises RLIMIT_NOFILE
/// far above it) and each io_uring's descriptor table (≤ 65,536) to spare.
/// A blog on two cores saturates its CPUs long before that many readers.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 20_000;
const MAX_MAX_CONNECTIONS: u64 = 16 * 1024 * 1024;
/// Two years: what the HSTS preload list asks for.
const DEFAULT_HSTS_MAX_AGE: u64 = 63_072_000;
const MAX_HSTS_MAX_AGE: u64 = 1_000_000_000;
/// 64 Ki sessions: about 20 MB, and at two tickets per full handshake room
/// for the returning readers of the last 32 Ki new connections.
const DEFAULT_SESSION_CACHE: u64 = 65_536;
const MAX_SESSION_CACHE: u64 = 16 * 1024 * 1024;
/// One full TLS record: room for the preface, SETTINGS and several GETs
/// with cookies (RFC 8446 §4.6.1 max_early_data_size).
const DEFAULT_EARLY_DATA_MAX: u64 = 16_384;
const MAX_EARLY_DATA: u64 = 1024 * 1024;

/// The validated configuration of one server process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// TLS 1.3 + ALPN `h2` listeners. Empty only when `h2c_listen` is not
    /// (an h2c-only server behind a TLS-terminating proxy needs no
    /// certificate at all).
    pub listen: Vec<SocketAddr>,
    /// Cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3) listeners.
    pub h2c_listen: Vec<SocketAddr>,
    /// Cleartext HTTP/1.1 listeners that redirect every request to
    /// `https://` + `public_host`.
    pub redirect_listen: Vec<SocketAddr>,
    /// `--public-host`: the site's `host[:port]` in redirects. Always
    /// `Some` when `redirect_listen` is not empty.
    pub public_host: Option<String>,
    /// ALPN `http/1.1` (and clients without ALPN) on TLS listeners;
    /// `--no-http1` turns it off.
    pub http1: bool,
    /// `--cert` and `--key`. `None` with a TLS listener: use
    /// [`crate::tls::ensure_dev_cert`] in `certs_dir`. Always `None` without
    /// a TLS listener.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// The blog's Markdown sources (rendered by the blog; until then only
    /// checked to exist).
    pub content: PathBuf,
    /// Worker threads, `1..=MAX_WORKERS`.
    pub workers: usize,
    /// Pin each worker to one of the CPUs the process may use
    /// (`--no-pin-workers` leaves them to the scheduler).
    pub pin_workers: bool,
    /// io_uring SQPOLL. Always `false` in the epoll build.
    pub sqpoll: bool,
    /// How long the SQPOLL thread spins before it sleeps.
    pub sqpoll_idle: Duration,
    /// How long in-flight streams may finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    /// A TLS handshake must complete within this.
    pub handshake_timeout: Duration,
    /// A request's header block must complete within this, and so must
    /// the client's preface and first SETTINGS.
    pub header_timeout: Duration,
    /// A connection with no open stream is closed after this.
    pub idle_timeout: Duration,
    /// Output that waits this long on the peer (a send that does not
    /// complete, or windows kept shut) closes the connection.
    pub write_timeout: Duration,
    /// Connections held at once, all workers together; each worker takes
    /// its share (`runtime::worker::connection_share`). At least `workers`.
    pub max_connections: usize,
    /// `--metrics-listen`: where `/metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the development certificate lives.
    pub certs_dir: PathBuf,
    /// `strict-transport-security: max-age=N` on TLS responses; 0: none.
    pub hsts_max_age: u64,
    /// TLS sessions kept for resumption (0: no resumption, no 0-RTT).
    pub session_cache: usize,
    /// Early data accepted per resumed connection (0: no 0-RTT).
    pub early_data_max: u32,
    /// `--access-log FILE|-`: one line per response; `None`: no access log.
    pub access_log: Option<Destination>,
    /// `--tuning`: check the kernel's settings at start-up.
    pub tuning: tuning::Mode,
    /// What that check measures against (`workers` is [`Config::workers`]).
    pub tuning_params: tuning::Params,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// No subcommand: run the server.
    Serve(Box<Config>),
    /// `h2ring check-tuning`: print every kernel setting and exit.
    CheckTuning(tuning::Params),
    /// `h2ring export DIR`: write the rendered site as static files.
    Export { content: PathBuf, dir: PathBuf },
}

/// Why the command line was not accepted. `Display` is one line, without a
/// program-name prefix and without a trailing newline, except for
/// [`ConfigError::HelpOrVersion`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` or `--version`: not an error. Print the text to stdout as
    /// it is (it ends with a newline) and exit 0.
    HelpOrVersion(String),
    /// Rejected by the parser: unknown flag, missing or malformed value, a
    /// flag given twice. Condensed to one line.
    Usage(String),
    /// `--cert` without `--key`.
    CertWithoutKey,
    /// `--key` without `--cert`.
    KeyWithoutCert,
    /// `--cert`/`--key` with only `--h2c-listen` addresses.
    CertWithoutTlsListener,
    /// `--certs-dir` where no development certificate is used.
    CertsDirUnused {
        /// `true`: `--cert`/`--key` are given; `false`: no TLS listener.
        with_cert: bool,
    },
    /// A `--listen`/`--h2c-listen` value that is not a usable `IP:PORT`.
    InvalidAddress { flag: &'static str, value: String, reason: String },
    /// The same address twice (in one flag or across both).
    DuplicateAddress { addr: SocketAddr, first: &'static str, second: &'static str },
    /// A wildcard address of one kind covers a specific address of
    /// another kind on the same port.
    OverlappingAddresses { a: SocketAddr, a_flag: &'static str, b: SocketAddr, b_flag: &'static str },
    /// A number outside its range.
    OutOfRange { flag: &'static str, value: i64, min: u64, max: u64 },
    /// `--sqpoll-idle-ms` while SQPOLL is off.
    SqpollIdleWithoutSqpoll,
    /// `--sqpoll` in the epoll build.
    SqpollNeedsUring,
    /// `--max-connections` below `--workers`: a worker could hold none.
    MaxConnectionsBelowWorkers { max: usize, workers: usize },
    /// `--redirect-listen` without `--public-host`.
    RedirectWithoutPublicHost,
    /// `--public-host` without `--redirect-listen`.
    PublicHostUnused,
    /// A `--public-host` that is not `host[:port]`.
    InvalidPublicHost { value: String, reason: &'static str },
    /// From [`Config::check_content_dir`].
    ContentDir { path: PathBuf, reason: String },
    /// `--link-gbps`, `--rtt-ms` or `--proc-root` with `--tuning off`.
    TuningFlagUnused { flag: &'static str },
    /// [`Config::from_args`] was given a subcommand.
    NotServe { subcommand: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::HelpOrVersion(text) | ConfigError::Usage(text) => f.write_str(text),
            ConfigError::CertWithoutKey => {
                f.write_str("--cert given without --key: pass both, or neither for the development certificate")
            }
            ConfigError::KeyWithoutCert => {
                f.write_str("--key given without --cert: pass both, or neither for the development certificate")
            }
            ConfigError::CertWithoutTlsListener => {
                f.write_str("--cert/--key given but no TLS listener: add --listen ADDR (only --h2c-listen was given)")
            }
            ConfigError::CertsDirUnused { with_cert: true } => f.write_str(
                "--certs-dir has no effect with --cert/--key (it only holds the development certificate); drop one",
            ),
            ConfigError::CertsDirUnused { with_cert: false } => {
                f.write_str("--certs-dir has no effect without a TLS listener (only --h2c-listen was given)")
            }
            ConfigError::InvalidAddress { flag, value, reason } => {
                write!(f, "invalid {flag} address {value:?}: {reason}")
            }
            ConfigError::DuplicateAddress { addr, first, second } if first == second => {
                write!(f, "{first} {addr} is given twice")
            }
            ConfigError::DuplicateAddress { addr, first, second } => {
                write!(f, "{addr} is given to both {first} and {second}; one address serves one protocol")
            }
            ConfigError::OverlappingAddresses { a, a_flag, b, b_flag } => write!(
                f,
                "{a_flag} {a} and {b_flag} {b} overlap: the kernel would route some connections to each; \
                 use different ports"
            ),
            ConfigError::RedirectWithoutPublicHost => {
                f.write_str("--redirect-listen needs --public-host HOST[:PORT], the https:// site it redirects to")
            }
            ConfigError::PublicHostUnused => {
                f.write_str("--public-host has no effect without --redirect-listen; add it or drop --public-host")
            }
            ConfigError::InvalidPublicHost { value, reason } => {
                write!(f, "invalid --public-host {value:?}: {reason}")
            }
            ConfigError::OutOfRange { flag, value, min, max } => {
                write!(f, "{flag} must be between {min} and {max}, not {value}")?;
                if *max == MAX_MS {
                    f.write_str(" (the maximum is 24 hours)")?;
                }
                Ok(())
            }
            ConfigError::SqpollIdleWithoutSqpoll => {
                f.write_str("--sqpoll-idle-ms has no effect without --sqpoll; add --sqpoll or drop it")
            }
            ConfigError::SqpollNeedsUring => {
                f.write_str("--sqpoll needs the io_uring build; this binary was built with --features epoll")
            }
            ConfigError::MaxConnectionsBelowWorkers { max, workers } => write!(
                f,
                "--max-connections {max} is fewer than the {workers} workers: each worker takes an equal share \
                 and needs at least one; raise it or lower --workers"
            ),
            ConfigError::ContentDir { path, reason } => {
                write!(f, "--content {}: {reason}", path.display())
            }
            ConfigError::TuningFlagUnused { flag } => {
                write!(f, "{flag} has no effect with --tuning off; drop one")
            }
            ConfigError::NotServe { subcommand } => {
                write!(f, "`{subcommand}` does not start the server")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// `true` for `--help`/`--version`: print to stdout and exit 0.
    pub fn is_help_or_version(&self) -> bool {
        matches!(self, ConfigError::HelpOrVersion(_))
    }

    /// The process exit code: 0 for `--help`/`--version`, 1 for every
    /// command-line mistake, like every other operator error (unreadable
    /// certificate, busy port): scripts test for one failure status.
    pub fn exit_code(&self) -> i32 {
        if self.is_help_or_version() { 0 } else { 1 }
    }
}

fn default_workers() -> i64 {
    // available_parallelism honours the CPU affinity mask and cgroup quota,
    // so a container limited to 2 CPUs gets 2 workers, not the host's 64.
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS);
    n as i64
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

// Help texts are wrapped by hand: clap wraps only with its `wrap_help`
// feature (and the `terminal_size` crate). clap indents every line after
// the first under the first and appends "[default: ...]" where it knows
// the default.

const NO_PIN_WORKERS_HELP: &str = "\
Leave the workers to the scheduler instead of pinning worker i to
the i-th CPU the process may use: for a box whose cores also run
other busy work (a load generator, a database), where a pinned
worker waits for its core while another core idles [default:
workers are pinned]";

fn sqpoll_help() -> String {
    format!(
        "Use io_uring SQPOLL: one kernel thread, shared by all workers,\n\
         polls the submission queues, so submitting needs no system call;\n\
         it keeps a CPU busy while there is work [default: {}]",
        on_off(DEFAULT_SQPOLL)
    )
}

fn no_sqpoll_help() -> String {
    let default = if DEFAULT_SQPOLL { "" } else { "\n(the default)" };
    format!("Submit io_uring work with system calls, no polling thread{default}")
}

fn workers_help() -> String {
    format!(
        "Worker threads, each with its own io_uring and SO_REUSEPORT\n\
         listeners; 1-{MAX_WORKERS} [default: the number of online CPUs, {} here]",
        default_workers()
    )
}

const LISTEN_HELP: &str = "\
Serve HTTP/2 over TLS 1.3 (ALPN h2) on this address; repeatable,
IPv4 and IPv6 [default: 127.0.0.1:8443, but none when
--h2c-listen is given]";

const H2C_LISTEN_HELP: &str = "\
Serve cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3) on
this address: behind a TLS-terminating proxy, or for benchmarks;
repeatable [default: none]";

const REDIRECT_LISTEN_HELP: &str = "\
Serve cleartext HTTP/1.1 on this address that answers every request
with 308 to the same path on https://--public-host (port 80);
repeatable [default: none]";

const PUBLIC_HOST_HELP: &str = "\
The site's public HOST[:PORT] (as in its https:// URLs), where
--redirect-listen sends readers: example.com, or localhost:8443";

const NO_HTTP1_HELP: &str = "\
Speak only HTTP/2 on TLS listeners: refuse clients that offer only
http/1.1, or no ALPN at all, with no_application_protocol
[default: HTTP/1.1 is served to them; h2 is always preferred]";

const CERT_HELP: &str = "\
PEM certificate chain, the server's own certificate first; needs
--key [default: the development certificate, see --certs-dir]";

const KEY_HELP: &str = "\
PEM private key of --cert: PKCS#8, SEC1 or PKCS#1, unencrypted;
needs --cert [default: the development key, see --certs-dir]";

const CONTENT_HELP: &str = "\
The blog: site.conf, about.md, posts/*.md and static/, rendered
at start-up and again on SIGHUP";

const SESSION_CACHE_HELP: &str = "\
TLS 1.3 sessions kept for resumption, shared by every worker; each
ticket is single-use (the replay protection 0-RTT relies on) and
costs a few hundred bytes; 0 turns resumption and 0-RTT off;
0-16777216";

const EARLY_DATA_MAX_HELP: &str = "\
TLS 1.3 0-RTT: how many bytes of early data a resumed client may
send in its first flight; only GET and HEAD without a body are
answered from it, anything else gets 425 Too Early and is retried
after the handshake; 0 turns 0-RTT off; 0-1048576";

const ACCESS_LOG_HELP: &str = "\
Write one line per response to FILE (appended to, created if
missing), or to stdout with -: the Combined Log Format plus the
protocol (h2, http/1.1) and early=0|1 for TLS early data; buffered
by each worker and written by a thread of its own, so a slow disk
never stalls a worker (lines that cannot keep up are dropped and
counted) [default: none]";

const HSTS_HELP: &str = "\
strict-transport-security max-age sent on TLS responses;
0 sends none [default: 63072000 (two years) with --cert,
0 with the development certificate, so a browser does not pin
https on localhost]; 0-1000000000";

const SQPOLL_IDLE_HELP: &str = "\
How long the SQPOLL thread keeps polling an idle queue before it
sleeps; only with --sqpoll; 1-86400000";

const SHUTDOWN_GRACE_HELP: &str = "\
After SIGINT or SIGTERM, how long in-flight streams may finish
before their connections are closed; 0 closes them at once;
0-86400000";

const HANDSHAKE_TIMEOUT_HELP: &str = "\
A TLS handshake must complete within this;
1-86400000";

const HEADER_TIMEOUT_HELP: &str = "\
A request's header block must arrive completely within this, and
so must a new connection's preface and first SETTINGS (counted
from accept, or from the end of the TLS handshake); 1-86400000";

const IDLE_TIMEOUT_HELP: &str = "\
A connection without open streams is closed after this;
1-86400000";

const WRITE_TIMEOUT_HELP: &str = "\
A connection whose output waits this long on the client is closed:
a send it does not read, or response data held back because it
keeps its flow-control windows shut; 1-86400000";

const METRICS_LISTEN_HELP: &str = "\
Serve Prometheus metrics at http://ADDR/metrics (plain HTTP/1.1,
a thread of its own, one connection at a time): connections,
requests, bytes, TLS, 0-RTT, limits, per-worker ring counters and
response latency; a warning is printed unless ADDR is loopback
[default: none]";

fn max_connections_help() -> String {
    format!(
        "Connections held at once, all workers together, each worker\n\
         taking an equal share; at its share a worker stops accepting\n\
         (new clients wait in the listen queue) until one closes;\n\
         at least --workers, at most {MAX_MAX_CONNECTIONS}"
    )
}

const CERTS_DIR_HELP: &str = "\
Where the self-signed development certificate for localhost,
127.0.0.1 and ::1 is created on first run (dev-cert.pem, and
dev-key.pem readable by its owner only) and reused after; only
without --cert/--key";

const TUNING_HELP: &str = "\
Check the kernel's network settings at start-up (BBR, fq, socket
buffers for --link-gbps x --rtt-ms, backlogs, io_uring): warn
prints what is off and starts; strict prints it and exits with
status 2 (unknown values do not count); off skips
the check";

const LINK_GBPS_HELP: &str = "\
The link's rate in Gbit/s; rate x --rtt-ms is the bandwidth-delay
product the socket buffer limits must hold; 1-400";

const RTT_MS_HELP: &str = "\
The round-trip time in milliseconds to the farthest readers that
should still get the full rate; 1-10000";

const PROC_ROOT_HELP: &str = "\
For testing: read the kernel's settings from this directory
instead of /proc/sys";

const CHECK_TUNING_ABOUT: &str = "\
Print every kernel setting h2ring checks (current, wanted, why) and
the fix; exit 0 when none is off, 1 otherwise (unknown values, e.g.
in a container, do not count)";

const EXPORT_ABOUT: &str = "\
Render --content as the server would and write every resource as a
static file, so another server can serve exactly the same bytes (the
benchmark harness does this for h2o and nginx): / as index.html, an
extension-less path as PATH.html (/posts/x as posts/x.html), other
paths as they are, the 404 page as 404.html, and each precompressed
variant next to its file as FILE.gz and FILE.br (nginx gzip_static and
brotli_static, h2o file.send-compressed)";

const ABOUT: &str = "An HTTP/2 + TLS 1.3 web server on io_uring, thread per core.";

const AFTER_HELP: &str = "\
Addresses are IP:PORT, IPv6 in brackets: 127.0.0.1:8443, 0.0.0.0:443, [::1]:8443, [::]:443.
Durations (--*-ms) are milliseconds.
Logs go to stderr, one line per event, filtered by RUST_LOG laid over the default info,rustls=off:
comma-separated LEVEL or TARGET=LEVEL (off, error, warn, info, debug, trace), e.g. RUST_LOG=warn or
RUST_LOG=info,h2ring::runtime=debug; rustls (which logs every bad handshake) stays off unless named.
Signals: SIGINT or SIGTERM finishes in-flight requests and exits 0; SIGHUP re-renders --content
and swaps it in without dropping connections (a bad edit is reported, the old site stays).
Trust the development certificate in your client, e.g.:
  curl --cacert certs/dev-cert.pem https://localhost:8443/
Exit status: 0 after a clean shutdown, 1 for an operator error, 2 when --tuning strict finds a kernel
setting off. Kernel tuning: `h2ring check-tuning`, and the kit in tuning/ (tuning/README.md).";

/// The raw command line, before validation. Numbers are `i64` so that a
/// negative value reaches the range check and gets its one-line message
/// instead of a parser error about a "-5" flag.
#[derive(Parser, Debug)]
#[command(name = "h2ring", version, about = ABOUT, after_help = AFTER_HELP, args_conflicts_with_subcommands = true,
          disable_help_subcommand = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,

    #[arg(long, value_name = "ADDR", help = LISTEN_HELP)]
    listen: Vec<String>,

    #[arg(long, value_name = "ADDR", help = H2C_LISTEN_HELP)]
    h2c_listen: Vec<String>,

    #[arg(long, value_name = "ADDR", help = REDIRECT_LISTEN_HELP)]
    redirect_listen: Vec<String>,

    #[arg(long, value_name = "HOST[:PORT]", help = PUBLIC_HOST_HELP)]
    public_host: Option<String>,

    #[arg(long, help = NO_HTTP1_HELP)]
    no_http1: bool,

    #[arg(long, value_name = "FILE", help = CERT_HELP)]
    cert: Option<PathBuf>,

    #[arg(long, value_name = "FILE", help = KEY_HELP)]
    key: Option<PathBuf>,

    #[arg(long, value_name = "DIR", default_value = DEFAULT_CONTENT, help = CONTENT_HELP)]
    content: PathBuf,

    #[arg(long, value_name = "N", allow_negative_numbers = true, help = workers_help())]
    workers: Option<i64>,

    #[arg(long, help = NO_PIN_WORKERS_HELP)]
    no_pin_workers: bool,

    #[arg(long, overrides_with = "no_sqpoll", help = sqpoll_help())]
    sqpoll: bool,

    #[arg(long, overrides_with = "sqpoll", help = no_sqpoll_help())]
    no_sqpoll: bool,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_SQPOLL_IDLE_MS as i64,
          help = SQPOLL_IDLE_HELP)]
    sqpoll_idle_ms: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_SHUTDOWN_GRACE_MS as i64,
          help = SHUTDOWN_GRACE_HELP)]
    shutdown_grace_ms: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true,
          default_value_t = DEFAULT_HANDSHAKE_TIMEOUT_MS as i64, help = HANDSHAKE_TIMEOUT_HELP)]
    handshake_timeout_ms: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_HEADER_TIMEOUT_MS as i64,
          help = HEADER_TIMEOUT_HELP)]
    header_timeout_ms: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_IDLE_TIMEOUT_MS as i64,
          help = IDLE_TIMEOUT_HELP)]
    idle_timeout_ms: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_WRITE_TIMEOUT_MS as i64,
          help = WRITE_TIMEOUT_HELP)]
    write_timeout_ms: i64,

    #[arg(long, value_name = "N", allow_negative_numbers = true, default_value_t = DEFAULT_MAX_CONNECTIONS as i64,
          help = max_connections_help())]
    max_connections: i64,

    #[arg(long, value_name = "ADDR", help = METRICS_LISTEN_HELP)]
    metrics_listen: Option<String>,

    #[arg(long, value_name = "DIR", default_value = DEFAULT_CERTS_DIR, help = CERTS_DIR_HELP)]
    certs_dir: PathBuf,

    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, help = HSTS_HELP)]
    hsts_max_age: Option<i64>,

    #[arg(long, value_name = "N", allow_negative_numbers = true, default_value_t = DEFAULT_SESSION_CACHE as i64,
          help = SESSION_CACHE_HELP)]
    session_cache: i64,

    #[arg(long, value_name = "BYTES", allow_negative_numbers = true, default_value_t = DEFAULT_EARLY_DATA_MAX as i64,
          help = EARLY_DATA_MAX_HELP)]
    early_data_max: i64,

    #[arg(long, value_name = "FILE|-", help = ACCESS_LOG_HELP)]
    access_log: Option<PathBuf>,

    #[arg(long, value_name = "MODE", value_enum, default_value_t = TuningArg::Warn,
          help = TUNING_HELP)]
    tuning: TuningArg,

    #[command(flatten)]
    tuning_args: TuningArgs,
}

/// The subcommands; each validates into one [`Invocation`] variant.
#[derive(Subcommand, Debug)]
enum Sub {
    #[command(name = "check-tuning", about = "Print every kernel setting h2ring checks, and the fix",
              long_about = CHECK_TUNING_ABOUT)]
    CheckTuning(TuningArgs),
    #[command(name = "export", about = "Write the rendered site as static files into DIR", long_about = EXPORT_ABOUT)]
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// Where to write (created if missing; files of the same names are
    /// replaced, nothing else is touched)
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    #[arg(long, value_name = "DIR", default_value = DEFAULT_CONTENT, help = "The blog to render")]
    content: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum TuningArg {
    Warn,
    Strict,
    Off,
}

/// What the kernel tuning check measures against; both the server and
/// `check-tuning` take these.
#[derive(clap::Args, Debug)]
struct TuningArgs {
    #[arg(long, value_name = "N", allow_negative_numbers = true, default_value_t = tuning::DEFAULT_LINK_GBPS as i64,
          help = LINK_GBPS_HELP)]
    link_gbps: i64,

    #[arg(long, value_name = "MS", allow_negative_numbers = true, default_value_t = tuning::DEFAULT_RTT_MS as i64,
          help = RTT_MS_HELP)]
    rtt_ms: i64,

    #[arg(long, value_name = "DIR", default_value = tuning::DEFAULT_PROC_ROOT, help = PROC_ROOT_HELP)]
    proc_root: PathBuf,
}

impl TuningArgs {
    fn validate(self, workers: usize) -> Result<tuning::Params, ConfigError> {
        let (gbps_min, gbps_max) = tuning::LINK_GBPS_RANGE;
        let (rtt_min, rtt_max) = tuning::RTT_MS_RANGE;
        let gbps = in_range("--link-gbps", self.link_gbps, gbps_min, gbps_max)?;
        let rtt_ms = in_range("--rtt-ms", self.rtt_ms, rtt_min, rtt_max)?;
        Ok(tuning::Params { bdp: tuning::Bdp { gbps, rtt_ms }, workers, proc_root: self.proc_root })
    }
}

fn in_range(flag: &'static str, value: i64, min: u32, max: u32) -> Result<u32, ConfigError> {
    match u32::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ConfigError::OutOfRange { flag, value, min: u64::from(min), max: u64::from(max) }),
    }
}

impl Invocation {
    /// Parses and validates a command line. The first item is the program
    /// name, as in `std::env::args_os()`.
    pub fn from_args<I, T>(args: I) -> Result<Invocation, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Args::command().try_get_matches_from(args).map_err(from_clap)?;
        let mut parsed = Args::from_arg_matches(&matches).map_err(from_clap)?;
        match parsed.command.take() {
            None => validate(parsed, &matches).map(|config| Invocation::Serve(Box::new(config))),
            Some(Sub::CheckTuning(args)) => {
                // Memory locked per worker ring is judged for the default
                // worker count, as the server would start.
                let workers = usize::try_from(default_workers()).unwrap_or(1);
                args.validate(workers).map(Invocation::CheckTuning)
            }
            Some(Sub::Export(args)) => Ok(Invocation::Export { content: args.content, dir: args.dir }),
        }
    }

    /// [`Invocation::from_args`] on this process's command line.
    pub fn from_env() -> Result<Invocation, ConfigError> {
        Invocation::from_args(std::env::args_os())
    }
}

impl Config {
    /// [`Invocation::from_args`] for a command line that starts the server;
    /// a subcommand is [`ConfigError::NotServe`].
    pub fn from_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        match Invocation::from_args(args)? {
            Invocation::Serve(config) => Ok(*config),
            Invocation::CheckTuning(_) => Err(ConfigError::NotServe { subcommand: "check-tuning".into() }),
            Invocation::Export { .. } => Err(ConfigError::NotServe { subcommand: "export".into() }),
        }
    }

    /// The `--help` text, as `--help` prints it.
    pub fn help_text() -> String {
        Args::command().render_help().to_string()
    }

    /// Whether a TLS listener exists, i.e. whether a certificate is needed.
    pub fn tls_enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    /// Checks that `--content` names a readable directory: separate from
    /// [`Config::from_args`] because it touches the file system.
    pub fn check_content_dir(&self) -> Result<(), ConfigError> {
        let error = |reason: String| ConfigError::ContentDir { path: self.content.clone(), reason };
        match std::fs::metadata(&self.content) {
            Ok(meta) if meta.is_dir() => {
                std::fs::read_dir(&self.content).map_err(|e| error(format!("cannot list it: {e}")))?;
                Ok(())
            }
            Ok(_) => Err(error("not a directory".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(error("no such directory; create it or pass --content DIR".into()))
            }
            Err(e) => Err(error(e.to_string())),
        }
    }
}

/// Turns clap's multi-line report (message, blank line, tips, usage, "For
/// more information") into the message plus its tips on one line: the
/// usage block repeats what `--help` says, the tips ("a similar argument
/// exists: '--listen'") are worth keeping.
fn from_clap(err: clap::Error) -> ConfigError {
    use clap::error::ErrorKind;
    let text = err.render().to_string();
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return ConfigError::HelpOrVersion(text);
    }
    let mut line = String::new();
    for raw in text.lines() {
        let l = raw.trim();
        if let Some(message) = l.strip_prefix("error: ") {
            line.push_str(message);
        } else if let Some(tip) = l.strip_prefix("tip: ") {
            line.push_str("; ");
            line.push_str(tip);
        } else if let Some(values) = l.strip_prefix("[possible values: ") {
            line.push_str("; expected one of: ");
            line.push_str(values.trim_end_matches(']'));
        } else if l.starts_with("Usage:") {
            break;
        } else if l.starts_with('<') || l.starts_with("--") {
            // The missing arguments, listed under "were not provided:".
            line.push(' ');
            line.push_str(l);
        }
    }
    if line.is_empty() {
        line = text.lines().next().unwrap_or("invalid command line").trim().to_string();
    }
    line.push_str(" (see --help)");
    ConfigError::Usage(line)
}

fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

fn ms(flag: &'static str, value: i64, min: u64) -> Result<Duration, ConfigError> {
    match u64::try_from(value) {
        Ok(v) if (min..=MAX_MS).contains(&v) => Ok(Duration::from_millis(v)),
        _ => Err(ConfigError::OutOfRange { flag, value, min, max: MAX_MS }),
    }
}

fn validate(args: Args, matches: &ArgMatches) -> Result<Config, ConfigError> {
    let mut listen = parse_addrs("--listen", &args.listen)?;
    let h2c_listen = parse_addrs("--h2c-listen", &args.h2c_listen)?;
    if listen.is_empty() && h2c_listen.is_empty() {
        listen.push(DEFAULT_LISTEN.parse().expect("DEFAULT_LISTEN is a valid socket address"));
    }
    let redirect_listen = parse_addrs("--redirect-listen", &args.redirect_listen)?;
    check_distinct(&[(&listen, "--listen"), (&h2c_listen, "--h2c-listen"), (&redirect_listen, "--redirect-listen")])?;
    let public_host = match (&args.public_host, redirect_listen.is_empty()) {
        (None, false) => return Err(ConfigError::RedirectWithoutPublicHost),
        (Some(_), true) => return Err(ConfigError::PublicHostUnused),
        (Some(h), false) => Some(check_public_host(h)?),
        (None, true) => None,
    };

    let cert_and_key = match (args.cert, args.key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (Some(_), None) => return Err(ConfigError::CertWithoutKey),
        (None, Some(_)) => return Err(ConfigError::KeyWithoutCert),
        (None, None) => None,
    };
    if listen.is_empty() && cert_and_key.is_some() {
        return Err(ConfigError::CertWithoutTlsListener);
    }
    if given(matches, "certs_dir") && (cert_and_key.is_some() || listen.is_empty()) {
        return Err(ConfigError::CertsDirUnused { with_cert: cert_and_key.is_some() });
    }

    let workers = args.workers.unwrap_or_else(default_workers);
    let workers = match usize::try_from(workers) {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => n,
        _ => {
            return Err(ConfigError::OutOfRange { flag: "--workers", value: workers, min: 1, max: MAX_WORKERS as u64 });
        }
    };

    // `overrides_with` makes the last of --sqpoll/--no-sqpoll win, so at
    // most one of the two is set here.
    let explicit_sqpoll = args.sqpoll;
    let sqpoll = if args.sqpoll {
        true
    } else if args.no_sqpoll {
        false
    } else {
        DEFAULT_SQPOLL
    };
    if cfg!(feature = "epoll") && explicit_sqpoll {
        return Err(ConfigError::SqpollNeedsUring);
    }
    let sqpoll = sqpoll && !cfg!(feature = "epoll");
    if !sqpoll && given(matches, "sqpoll_idle_ms") {
        return Err(ConfigError::SqpollIdleWithoutSqpoll);
    }

    let hsts_max_age = match args.hsts_max_age {
        None if cert_and_key.is_some() => DEFAULT_HSTS_MAX_AGE,
        None => 0,
        Some(v) => match u64::try_from(v) {
            Ok(v) if v <= MAX_HSTS_MAX_AGE => v,
            _ => {
                return Err(ConfigError::OutOfRange {
                    flag: "--hsts-max-age",
                    value: v,
                    min: 0,
                    max: MAX_HSTS_MAX_AGE,
                });
            }
        },
    };

    let tuning = match args.tuning {
        TuningArg::Warn => tuning::Mode::Warn,
        TuningArg::Strict => tuning::Mode::Strict,
        TuningArg::Off => tuning::Mode::Off,
    };
    if tuning == tuning::Mode::Off {
        for (id, flag) in [("link_gbps", "--link-gbps"), ("rtt_ms", "--rtt-ms"), ("proc_root", "--proc-root")] {
            if given(matches, id) {
                return Err(ConfigError::TuningFlagUnused { flag });
            }
        }
    }
    let tuning_params = args.tuning_args.validate(workers)?;

    let max_connections = match u64::try_from(args.max_connections) {
        Ok(v) if (1..=MAX_MAX_CONNECTIONS).contains(&v) => v as usize,
        _ => {
            return Err(ConfigError::OutOfRange {
                flag: "--max-connections",
                value: args.max_connections,
                min: 1,
                max: MAX_MAX_CONNECTIONS,
            });
        }
    };
    if max_connections < workers {
        return Err(ConfigError::MaxConnectionsBelowWorkers { max: max_connections, workers });
    }

    Ok(Config {
        listen,
        h2c_listen,
        redirect_listen,
        public_host,
        http1: !args.no_http1,
        cert_and_key,
        content: args.content,
        workers,
        pin_workers: !args.no_pin_workers,
        sqpoll,
        // 0 would not mean "never sleep": the kernel replaces 0 by one
        // second, so reject it rather than mislead.
        sqpoll_idle: ms("--sqpoll-idle-ms", args.sqpoll_idle_ms, 1)?,
        shutdown_grace: ms("--shutdown-grace-ms", args.shutdown_grace_ms, 0)?,
        handshake_timeout: ms("--handshake-timeout-ms", args.handshake_timeout_ms, 1)?,
        header_timeout: ms("--header-timeout-ms", args.header_timeout_ms, 1)?,
        idle_timeout: ms("--idle-timeout-ms", args.idle_timeout_ms, 1)?,
        write_timeout: ms("--write-timeout-ms", args.write_timeout_ms, 1)?,
        max_connections,
        metrics_listen: args.metrics_listen.as_deref().map(|v| parse_addr("--metrics-listen", v)).transpose()?,
        certs_dir: args.certs_dir,
        hsts_max_age,
        session_cache: bounded("--session-cache", args.session_cache, MAX_SESSION_CACHE)? as usize,
        early_data_max: bounded("--early-data-max", args.early_data_max, MAX_EARLY_DATA)? as u32,
        access_log: args.access_log.map(Destination::from_arg),
        tuning,
        tuning_params,
    })
}

fn bounded(flag: &'static str, value: i64, max: u64) -> Result<u64, ConfigError> {
    match u64::try_from(value) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(ConfigError::OutOfRange { flag, value, min: 0, max }),
    }
}

fn parse_addrs(flag: &'static str, values: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    values.iter().map(|v| parse_addr(flag, v)).collect()
}

fn parse_addr(flag: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidAddress { flag, value: value.to_string(), reason: reason.into() };
    let Ok(addr) = value.parse::<SocketAddr>() else {
        return Err(invalid(address_hint(value)));
    };
    // Port 0 is allowed: the first worker's socket picks the ephemeral
    // port and the others bind that same port (runtime::spawn), which the
    // start-up line reports.
    Ok(addr)
}

/// The likely mistake behind a value that is not `IP:PORT`.
fn address_hint(value: &str) -> &'static str {
    if value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
        return "an IPv6 address needs brackets and a port, e.g. [::1]:8443";
    }
    if value.parse::<IpAddr>().is_ok() {
        return "missing the port, e.g. 127.0.0.1:8443";
    }
    if value.bytes().all(|b| b.is_ascii_digit()) || value.starts_with(':') {
        return "missing the IP address, e.g. 0.0.0.0:PORT for every IPv4 interface or [::]:PORT for IPv6";
    }
    if let Some((host, port)) = value.rsplit_once(':') {
        let host_is_ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok();
        if host_is_ip {
            return if port.parse::<u16>().is_ok() {
                "expected IP:PORT with IPv6 in brackets, e.g. [::1]:8443"
            } else {
                "the port must be a number from 1 to 65535"
            };
        }
        if port.parse::<u16>().is_ok() {
            return "host names are not resolved; give an IP address, e.g. 127.0.0.1 or [::1]";
        }
    }
    "expected IP:PORT, e.g. 127.0.0.1:8443 or [::1]:8443"
}

/// `host[:port]` as it goes after `https://` in a `location`: a DNS name
/// or an IP literal (IPv6 in brackets), and an optional port; nothing
/// that could end the URL's authority (RFC 3986 §3.2) or the header line.
fn check_public_host(value: &str) -> Result<String, ConfigError> {
    let bad = |reason| Err(ConfigError::InvalidPublicHost { value: value.to_string(), reason });
    let (host, port) = match value.find(']') {
        Some(end) if value.starts_with('[') => match &value[end + 1..] {
            "" => (&value[..=end], None),
            rest => match rest.strip_prefix(':') {
                Some(p) => (&value[..=end], Some(p)),
                None => return bad("only :PORT may follow an IPv6 address"),
            },
        },
        _ => match value.rsplit_once(':') {
            // A bare IPv6 literal has colons but no brackets.
            Some((h, _)) if h.contains(':') => return bad("an IPv6 address goes in brackets, as in [::1]:8443"),
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        },
    };
    if host.is_empty() {
        return bad("the host is empty");
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(1..))
    {
        return bad("the port is not a number from 1 to 65535");
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Some(ip) = literal {
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address between the brackets");
        }
    } else if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') || host.len() > 253 {
        return bad("a host name has only letters, digits, '-' and '.' (no scheme, path or spaces)");
    }
    Ok(value.to_ascii_lowercase())
}

/// Every fixed address at most once across all listener flags, and no
/// wildcard of one kind covering a specific address of another.
fn check_distinct(groups: &[(&[SocketAddr], &'static str)]) -> Result<(), ConfigError> {
    let all: Vec<(SocketAddr, &'static str)> =
        groups.iter().flat_map(|&(addrs, flag)| addrs.iter().map(move |&a| (a, flag))).collect();
    // Port 0 means "any free port": each such listener gets its own.
    for (i, &(a, first)) in all.iter().enumerate().filter(|(_, (a, _))| a.port() != 0) {
        if let Some(&(_, second)) = all[i + 1..].iter().find(|(b, _)| *b == a) {
            return Err(ConfigError::DuplicateAddress { addr: a, first, second });
        }
    }
    // With SO_REUSEPORT on every socket, the kernel lets 0.0.0.0:8443 and
    // 127.0.0.1:8443 be bound together and sends each connection to the most
    // specific match, so a wildcard of one kind and a specific address of
    // another on one port split clients between protocols silently. IPv6
    // sockets are IPV6_V6ONLY (runtime::listen), so only the same family
    // overlaps.
    for (i, &(a, a_flag)) in all.iter().enumerate() {
        for &(b, b_flag) in &all[i + 1..] {
            let same_family = a.is_ipv4() == b.is_ipv4();
            let wildcard = a.ip().is_unspecified() || b.ip().is_unspecified();
            if a_flag != b_flag && same_family && a.port() == b.port() && a.port() != 0 && wildcard {
                return Err(ConfigError::OverlappingAddresses { a, a_flag, b, b_flag });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
