//! The `h2ring` binary: parse the command line, set up TLS, start the
//! workers, wait for SIGINT/SIGTERM, shut down gracefully. Every operator
//! error is one line on stderr and exit status 1.

use std::sync::Arc;

use bytes::Bytes;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::h2::conn::ConnConfig;
use crate::runtime::spawn::{self, RuntimeOptions};
use crate::runtime::{signals, worker::WorkerShared};
use crate::server::builtin::BuiltinSite;
use crate::server::handler_cell::HandlerCell;
use crate::server::session::{SessionConfig, Timeouts};
use crate::tls;

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("h2ring: {msg}");
    1
}

/// Runs the server; returns the process exit status.
pub fn main() -> i32 {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(ConfigError::HelpOrVersion(text)) => {
            print!("{text}");
            return 0;
        }
        Err(e) => return fail(e),
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
            Ok(key) => Some(tls::server_config(key, tls::DEFAULT_SESSION_CACHE_SIZE)),
            Err(e) => return fail(e),
        }
    } else {
        None
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
            },
        },
        handler: Arc::new(HandlerCell::new(Arc::new(BuiltinSite::default()))),
        shutdown: Arc::new(AtomicBool::new(false)),
        shutdown_grace: config.shutdown_grace,
    });
    if let Err(e) = signals::block_shutdown_signals() {
        return fail(format_args!("cannot block SIGINT/SIGTERM: {e}"));
    }
    let opts = RuntimeOptions {
        workers: config.workers,
        tls_addrs: config.listen.clone(),
        h2c_addrs: config.h2c_listen.clone(),
        sqpoll: config.sqpoll,
        sqpoll_idle_ms: config.sqpoll_idle.as_millis().min(u128::from(u32::MAX)) as u32,
    };
    let running = match spawn::start(&opts, shared) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut addrs: Vec<String> = running.tls_addrs.iter().map(|a| format!("https://{a}")).collect();
    addrs.extend(running.h2c_addrs.iter().map(|a| format!("h2c://{a}")));
    eprintln!(
        "h2ring: listening on {}; {} worker{}; {}, {}",
        addrs.join(" "),
        config.workers,
        if config.workers == 1 { "" } else { "s" },
        running.backend,
        running.sqpoll
    );
    loop {
        if let Some(sig) = signals::wait_shutdown_signal(Duration::from_millis(500)) {
            let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
            eprintln!("h2ring: {name}: finishing in-flight requests (up to {} ms)", config.shutdown_grace.as_millis());
            break;
        }
        if running.any_worker_exited() {
            break;
        }
    }
    running.stop();
    match running.join() {
        Ok(()) => 0,
        Err(e) => fail(format_args!("a worker failed: {e}")),
    }
}
