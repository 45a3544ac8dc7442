//! The `h2ring` binary: parse the command line, check the kernel's tuning,
//! set up TLS, start the workers, wait for SIGINT/SIGTERM, shut down
//! gracefully. Every operator error is one line on stderr and exit status
//! 1; `--tuning strict` with a kernel setting off is status 2. A subcommand
//! (`check-tuning`) runs instead of the server.

use std::sync::Arc;

use bytes::Bytes;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError, Invocation};
use crate::h2::conn::ConnConfig;
use crate::runtime::signals::{self, Signal};
use crate::runtime::spawn::{self, RuntimeOptions, StartError};
use crate::runtime::worker::WorkerShared;
use crate::server::Handler;
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
    let tuning_report = match check_tuning(&config) {
        Ok(report) => report,
        Err(status) => return status,
    };
    if let Err(e) = config.check_content_dir() {
        return fail(e);
    }
    let tls = if config.tls_enabled() {
        let paths = match &config.cert_and_key {
            Some(pair) => Ok(pair.clone()),
            None => tls::ensure_dev_cert(&config.certs_dir),
        };
        match paths.and_then(|(cert, key)| tls::load_cert_and_key(&cert, &key)) {
            Ok(key) => Some(tls::server_config(key, config.session_cache, config.early_data_max)),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
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
    });
    if let Err(e) = signals::block_signals() {
        return fail(format_args!("cannot block SIGINT/SIGTERM/SIGHUP: {e}"));
    }
    let opts = RuntimeOptions {
        workers: config.workers,
        tls_addrs: config.listen.clone(),
        h2c_addrs: config.h2c_listen.clone(),
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
    eprintln!(
        "h2ring: listening on {}; {} worker{}; {}, {}; {}: {}",
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
                eprintln!("h2ring: {}: finishing in-flight requests (up to {grace} ms)", sig.name());
                break;
            }
            Some(Signal::Reload) => reload(&config, &shared.handler),
            None => {}
        }
        if running.any_worker_exited() {
            break;
        }
    }
    running.stop();
    let joined = running.join();
    eprintln!("h2ring: {}", stats::summary(&shared.stats));
    eprintln!("h2ring: {}", stats::connections_summary(&shared.stats));
    eprintln!("h2ring: {}", stats::limits_summary(&shared.stats));
    if let Some(store) = session_store {
        let s = store.stats();
        eprintln!(
            "h2ring: session store: {} sessions held, {} operations, {} waited for a shard lock",
            s.entries, s.operations, s.contended
        );
    }
    match joined {
        Ok(()) => 0,
        Err(e) => fail(format_args!("a worker failed: {e}")),
    }
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

/// SIGHUP: render `--content` again and swap it in for new requests; on a
/// bad edit, say why and keep serving the site already loaded.
fn reload(config: &Config, cell: &HandlerCell) {
    let started = Instant::now();
    match load_site(config) {
        Ok((site, summary)) => {
            cell.replace(site);
            let ms = started.elapsed().as_millis();
            eprintln!("h2ring: SIGHUP: reloaded {} in {ms} ms ({})", config.content.display(), describe(&summary));
        }
        Err(e) => eprintln!("h2ring: SIGHUP: {e}; still serving the previous site"),
    }
}
