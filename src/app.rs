//! The `h2ring` binary: parse the command line, check the kernel's tuning,
//! set up TLS, start the workers, wait for SIGINT/SIGTERM, shut down
//! gracefully. Every operator error is one line on stderr and exit status
//! 1; `--tuning strict` with a kernel setting off is status 2. A subcommand
//! (`check-tuning`) runs instead of the server. Once the server starts,
//! events are logged through the `log` macros ([`crate::logging`]:
//! levels, `RUST_LOG`).

use std::sync::Arc;

use bytes::Bytes;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Config, ConfigError, Invocation};
use crate::h1::H1Config;
use crate::h2::conn::ConnConfig;
use crate::logging;
use crate::metrics::{self, BackendKind, MetricsEndpoint, MetricsError, Scrape};
use crate::runtime::signals::{self, Signal};
use crate::runtime::spawn::{self, RuntimeOptions, StartError};
use crate::runtime::worker::WorkerShared;
use crate::server::Handler;
use crate::server::access_log::{AccessLogWriter, Destination};
use crate::server::handler_cell::HandlerCell;
use crate::server::session::{SessionConfig, Timeouts};
use crate::server::stats::{self, WorkerStats};
use crate::site::{self, LoadSummary, content::ContentError};
use crate::tls;
use crate::tuning::{self, TuningReport};

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("h2ring: {msg}");
    1
}

/// Runs what the command line asks for; returns the process exit status.
pub fn main() -> i32 {
    match Invocation::from_env() {
        Ok(Invocation::Serve(config)) => serve(*config),
        Ok(Invocation::CheckTuning(params)) => tuning::run_check_command(&params),
        Ok(Invocation::Export { content, dir }) => export(&content, &dir),
        Err(ConfigError::HelpOrVersion(text)) => {
            print!("{text}");
            0
        }
        Err(e) => fail(e),
    }
}

/// `h2ring export DIR`: the site as static files.
fn export(content: &std::path::Path, dir: &std::path::Path) -> i32 {
    let site = match site::load(content) {
        Ok((site, _)) => site,
        Err(e) => return fail(e),
    };
    match site::export::export(&site, dir) {
        Ok(s) => {
            println!("h2ring: exported {} files ({} KiB) to {}", s.files, s.bytes.div_ceil(1024), dir.display());
            0
        }
        Err(e) => fail(format_args!("export: {e}")),
    }
}

/// `--tuning warn|strict`: reads the kernel's settings. Strict with a
/// setting off prints the report and gives the exit status; otherwise the
/// report is printed just before the "listening on" line (so an operator
/// sees it, and an error before that stays one line).
fn check_tuning(config: &Config) -> Result<Option<TuningReport>, i32> {
    if config.tuning == tuning::Mode::Off {
        return Ok(None);
    }
    let report = tuning::check(&config.tuning_params);
    if config.tuning == tuning::Mode::Strict && !report.all_ok() {
        eprint!("{}", tuning::startup_text(&report));
        eprintln!(
            "h2ring: --tuning strict: not starting with kernel settings off (unknown values do not count); \
             fix them, or start with --tuning warn"
        );
        return Err(tuning::STRICT_EXIT_CODE);
    }
    Ok(Some(report))
}

/// Runs the server.
fn serve(config: Config) -> i32 {
    if let Err(e) = logging::init_from_env() {
        return fail(e);
    }
    let tuning_report = match check_tuning(&config) {
        Ok(report) => report,
        Err(status) => return status,
    };
    if let Err(e) = config.check_content_dir() {
        return fail(e);
    }
    let (access_writer, access_sink) = match config.access_log.as_ref().map(AccessLogWriter::start).transpose() {
        Ok(started) => started.unzip(),
        Err(e) => return fail(e),
    };
    let tls = if config.tls_enabled() {
        let paths = match &config.cert_and_key {
            Some(pair) => Ok(pair.clone()),
            None => tls::ensure_dev_cert(&config.certs_dir),
        };
        match paths.and_then(|(cert, key)| tls::CertReloader::load(cert, key)) {
            Ok(certs) => Some((
                tls::server_config(certs.resolver(), config.session_cache, config.early_data_max, config.http1),
                certs,
            )),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let (tls, certs) = tls.unzip();
    let (tls, session_store) = tls.unzip();
    let (site, summary) = match load_site(&config) {
        Ok(loaded) => loaded,
        Err(e) => return fail(e),
    };
    let shared = Arc::new(WorkerShared {
        sessions: SessionConfig {
            tls,
            hsts: (config.hsts_max_age > 0).then(|| Bytes::from(format!("max-age={}", config.hsts_max_age))),
            h2: ConnConfig::default(),
            h1: H1Config::default(),
            http1: config.http1,
            redirect_base: config.public_host.as_ref().map(|h| Bytes::from(format!("https://{h}"))),
            timeouts: Timeouts {
                handshake: config.handshake_timeout,
                header: config.header_timeout,
                idle: config.idle_timeout,
                write: config.write_timeout,
            },
        },
        handler: Arc::new(HandlerCell::new(site)),
        shutdown: Arc::new(AtomicBool::new(false)),
        shutdown_grace: config.shutdown_grace,
        stats: (0..config.workers).map(|_| WorkerStats::default()).collect(),
        max_connections: config.max_connections,
        access_log: access_sink,
    });
    if let Err(e) = signals::block_signals() {
        return fail(format_args!("cannot block SIGINT/SIGTERM/SIGHUP: {e}"));
    }
    // After the signal mask is set, so its thread inherits it; before the
    // workers, so a busy address fails before they start.
    let metrics = config.metrics_listen.map(|addr| start_metrics(addr, &shared, session_store.clone()));
    let metrics = match metrics.transpose() {
        Ok(endpoint) => endpoint,
        Err(e) => return fail(e),
    };
    let opts = RuntimeOptions {
        workers: config.workers,
        tls_addrs: config.listen.clone(),
        h2c_addrs: config.h2c_listen.clone(),
        redirect_addrs: config.redirect_listen.clone(),
        pin_workers: config.pin_workers,
        sqpoll: config.sqpoll,
        sqpoll_idle_ms: config.sqpoll_idle.as_millis().min(u128::from(u32::MAX)) as u32,
    };
    let running = match spawn::start(&opts, Arc::clone(&shared)) {
        Ok(r) => r,
        Err(e) => {
            // A backend that cannot start (io_uring disabled, ENOMEM from
            // RLIMIT_MEMLOCK) may be explained by the tuning report; a busy
            // port or a bad address stays one line.
            if let (StartError::Backend(_), Some(report)) = (&e, &tuning_report) {
                eprint!("{}", tuning::startup_text(report));
            }
            return fail(e);
        }
    };
    if let Some(report) = &tuning_report {
        eprint!("{}", tuning::startup_text(report));
    }
    let mut addrs: Vec<String> = running.tls_addrs.iter().map(|a| format!("https://{a}")).collect();
    addrs.extend(running.h2c_addrs.iter().map(|a| format!("h2c://{a}")));
    addrs.extend(running.redirect_addrs.iter().map(|a| format!("redirect=http://{a}")));
    addrs.extend(metrics.as_ref().map(|m| format!("metrics=http://{}/metrics", m.local_addr())));
    log::info!(
        "listening on {}; {} worker{}; {}, {}; {}: {}",
        addrs.join(" "),
        config.workers,
        if config.workers == 1 { "" } else { "s" },
        running.backend,
        running.sqpoll,
        config.content.display(),
        describe(&summary)
    );
    loop {
        match signals::wait_signal(Duration::from_millis(500)) {
            Some(sig @ Signal::Shutdown(_)) => {
                let grace = config.shutdown_grace.as_millis();
                log::info!("{}: finishing in-flight requests (up to {grace} ms)", sig.name());
                break;
            }
            Some(Signal::Reload) => reload(&config, &shared.handler, certs.as_ref()),
            None => {}
        }
        if running.any_worker_exited() {
            break;
        }
    }
    running.stop();
    let joined = running.join();
    if let Some(endpoint) = metrics {
        endpoint.stop();
    }
    // The workers have handed over their last lines.
    if let (Some(writer), Some(dest)) = (access_writer, &config.access_log) {
        finish_access_log(writer, dest);
    }
    log::info!("{}", stats::summary(&shared.stats));
    log::info!("{}", stats::connections_summary(&shared.stats));
    log::info!("{}", stats::limits_summary(&shared.stats));
    if let Some(store) = session_store {
        let s = store.stats();
        log::info!(
            "session store: {} sessions held, {} operations, {} waited for a shard lock",
            s.entries,
            s.operations,
            s.contended
        );
    }
    match joined {
        Ok(()) => 0,
        Err(e) => {
            log::error!("a worker failed: {e}");
            1
        }
    }
}

/// Waits for the access log's writer and says what it wrote.
fn finish_access_log(writer: AccessLogWriter, dest: &Destination) {
    let s = |n: u64| if n == 1 { "" } else { "s" };
    match writer.finish() {
        Some(r) if r.dropped + r.lost > 0 => log::warn!(
            "access log: {} line{} written to {dest}; {} dropped (the writer fell behind), {} lost (writes failed)",
            r.written,
            s(r.written),
            r.dropped,
            r.lost
        ),
        Some(r) => log::info!("access log: {} line{} written to {dest}", r.written, s(r.written)),
        None => log::warn!("access log: the writer did not finish in time; the last lines to {dest} may be lost"),
    }
}

/// `--metrics-listen`: serves the workers' counters (and the TLS session
/// store's), summed at each scrape, from a thread of its own.
fn start_metrics(
    addr: std::net::SocketAddr,
    shared: &Arc<WorkerShared>,
    store: Option<Arc<tls::ShardedSessionStore>>,
) -> Result<MetricsEndpoint, MetricsError> {
    let shared = Arc::clone(shared);
    let endpoint = metrics::start(addr, move || {
        let session_store = store.as_ref().map(|s| s.stats());
        metrics::render(&Scrape { workers: &shared.stats, backend: BackendKind::current(), session_store })
    })?;
    if let Some(line) = metrics::exposure_warning(endpoint.local_addr()) {
        log::warn!("{line}");
    }
    Ok(endpoint)
}

/// Renders the site in `--content`.
fn load_site(config: &Config) -> Result<(Arc<dyn Handler>, LoadSummary), ContentError> {
    let (site, summary) = site::load(&config.content)?;
    Ok((Arc::new(site), summary))
}

fn describe(summary: &LoadSummary) -> String {
    format!(
        "{} posts, {} resources, {} KiB with precompressed variants",
        summary.posts,
        summary.resources,
        summary.bytes.div_ceil(1024)
    )
}

/// SIGHUP: read the certificate and key again (with TLS) and swap them in
/// for new handshakes, then render `--content` again and swap it in for new
/// requests. Each is independent: a bad certificate or a bad edit is
/// reported, the previous one keeps serving, and the other still reloads.
fn reload(config: &Config, cell: &HandlerCell, certs: Option<&tls::CertReloader>) {
    // The certificate's lines do not say "SIGHUP": scripts and tests take
    // the "SIGHUP: …" line as the content reload's outcome.
    if let Some(certs) = certs {
        match certs.reload() {
            Ok(reloaded) => {
                let line = reloaded.describe(certs.cert_path());
                match reloaded.info.validity_problem(SystemTime::now()) {
                    None => log::info!("{line}"),
                    Some(problem) => log::warn!("{line}; {problem}, so clients will refuse it"),
                }
            }
            Err(e) => log::warn!("certificate not reloaded: {e}; still serving the previous certificate"),
        }
    }
    let started = Instant::now();
    match load_site(config) {
        Ok((site, summary)) => {
            cell.replace(site);
            let ms = started.elapsed().as_millis();
            log::info!("SIGHUP: reloaded {} in {ms} ms ({})", config.content.display(), describe(&summary));
        }
        Err(e) => log::warn!("SIGHUP: {e}; still serving the previous site"),
    }
}
