//! Leveled logging to stderr through the `log` facade: one line per event,
//! filtered by a `RUST_LOG`-style spec.
//!
//! The filter starts from [`DEFAULT_FILTER`] and `RUST_LOG`'s directives
//! are laid over it: a bare level (`warn`) replaces the default level, a
//! `TARGET=LEVEL` directive sets that target and everything below it
//! (`h2ring::runtime=debug` covers `h2ring::runtime::worker`), and the most
//! specific target wins. `rustls` stays `off` unless `RUST_LOG` names it:
//! rustls logs every bad handshake at `warn` or `error` ("Sending fatal
//! alert ..."), so a client sending garbage would otherwise write to our
//! stderr as fast as it can connect.
//!
//! A level that is disabled costs one atomic load: [`log::set_max_level`]
//! is set to the most verbose level any directive allows, and the `log`
//! macros compare against it before formatting anything.
//!
//! Lines start with `h2ring: `, as they always have (operators and tests
//! grep for `h2ring: listening on`): `info` adds nothing more, other levels
//! add their name (`h2ring: warning: ...`), and events from other crates,
//! or at `debug`/`trace`, name their target in brackets.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// What is logged when `RUST_LOG` is unset, and what `RUST_LOG` is laid
/// over: h2ring's events from `info` up, nothing from rustls.
pub const DEFAULT_FILTER: &str = "info,rustls=off";

/// The environment variable read by [`init_from_env`].
pub const ENV_VAR: &str = "RUST_LOG";

/// Which events are logged: a default level and per-target levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    /// `(target, level)`; one entry per target, the last directive naming
    /// it wins.
    targets: Vec<(String, LevelFilter)>,
}

/// Why a `RUST_LOG` value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// Not valid UTF-8.
    NotUnicode,
    /// A level that is not one of `off`, `error`, `warn`, `info`, `debug`,
    /// `trace`.
    UnknownLevel { directive: String },
    /// A target that is not a module path (letters, digits, `_`, `-`, `::`).
    BadTarget { directive: String },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SYNTAX: &str = "directives are LEVEL or TARGET=LEVEL separated by commas, \
                              levels off, error, warn, info, debug, trace; e.g. info,h2ring::runtime=debug";
        match self {
            FilterError::NotUnicode => write!(f, "{ENV_VAR} is not valid UTF-8; {SYNTAX}"),
            FilterError::UnknownLevel { directive } => {
                write!(f, "{ENV_VAR}: {directive:?} names no log level; {SYNTAX}")
            }
            FilterError::BadTarget { directive } => {
                write!(f, "{ENV_VAR}: {directive:?} names no module path; {SYNTAX}")
            }
        }
    }
}

impl std::error::Error for FilterError {}

fn level(text: &str, directive: &str) -> Result<LevelFilter, FilterError> {
    LevelFilter::from_str(text).map_err(|_| FilterError::UnknownLevel { directive: directive.to_string() })
}

fn is_module_path(target: &str) -> bool {
    !target.is_empty()
        && target
            .split("::")
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

impl Filter {
    /// [`DEFAULT_FILTER`] with `spec` (a `RUST_LOG` value) laid over it.
    pub fn with_overrides(spec: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter { default: LevelFilter::Info, targets: Vec::new() };
        filter.apply(DEFAULT_FILTER)?;
        filter.apply(spec)?;
        Ok(filter)
    }

    /// Applies comma-separated directives; empty ones are skipped (a
    /// trailing comma is harmless). On error the filter is unchanged.
    fn apply(&mut self, spec: &str) -> Result<(), FilterError> {
        let mut next = self.clone();
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                Some((target, lvl)) => {
                    let (target, lvl) = (target.trim(), level(lvl.trim(), directive)?);
                    if !is_module_path(target) {
                        return Err(FilterError::BadTarget { directive: directive.to_string() });
                    }
                    next.set(target, lvl);
                }
                // Unlike env_logger, a bare word must be a level, not a
                // target: `RUST_LOG=wanr` is an error, not "trace for a
                // module named wanr".
                None => next.default = level(directive, directive)?,
            }
        }
        *self = next;
        Ok(())
    }

    fn set(&mut self, target: &str, lvl: LevelFilter) {
        match self.targets.iter_mut().find(|(t, _)| t == target) {
            Some(entry) => entry.1 = lvl,
            None => self.targets.push((target.to_string(), lvl)),
        }
    }

    /// The level for `target`: that of the longest directive naming it or
    /// one of its parent modules, else the default.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        let covers = |t: &str| target == t || target.strip_prefix(t).is_some_and(|rest| rest.starts_with("::"));
        self.targets
            .iter()
            .filter(|(t, _)| covers(t))
            .max_by_key(|(t, _)| t.len())
            .map_or(self.default, |(_, lvl)| *lvl)
    }

    /// The most verbose level any target may log at: what
    /// [`log::set_max_level`] is given.
    pub fn max_level(&self) -> LevelFilter {
        self.targets.iter().map(|(_, lvl)| *lvl).fold(self.default, Ord::max)
    }
}

/// Formats one event as one line (with its newline): control characters
/// in the message are escaped, so a message can never span lines.
pub fn format_line(level: Level, target: &str, message: &fmt::Arguments<'_>) -> String {
    let mut line = String::from("h2ring: ");
    let ours = target == "h2ring" || target.starts_with("h2ring::");
    match level {
        Level::Error => line.push_str("error: "),
        Level::Warn => line.push_str("warning: "),
        Level::Info => {}
        Level::Debug => line.push_str("debug: "),
        Level::Trace => line.push_str("trace: "),
    }
    if !ours || level > Level::Info {
        line.push('[');
        line.push_str(target);
        line.push_str("] ");
    }
    let start = line.len();
    // Writing into a String cannot fail.
    let _ = fmt::write(&mut line, *message);
    if line[start..].chars().any(char::is_control) {
        let raw = line.split_off(start);
        for c in raw.chars() {
            if c.is_control() {
                line.extend(c.escape_default());
            } else {
                line.push(c);
            }
        }
    }
    line.push('\n');
    line
}

/// The logger: filters by target, writes each line to stderr in one write.
struct StderrLogger {
    filter: Filter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), record.target(), record.args());
        // Nowhere to report a failing stderr.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the stderr logger with [`DEFAULT_FILTER`] and `RUST_LOG` laid
/// over it. Called once, before the server logs anything; a second call
/// keeps the first logger.
pub fn init_from_env() -> Result<(), FilterError> {
    let spec = match std::env::var(ENV_VAR) {
        Ok(spec) => spec,
        Err(std::env::VarError::NotPresent) => String::new(),
        Err(std::env::VarError::NotUnicode(_)) => return Err(FilterError::NotUnicode),
    };
    let filter = Filter::with_overrides(&spec)?;
    let max = filter.max_level();
    if log::set_boxed_logger(Box::new(StderrLogger { filter })).is_ok() {
        log::set_max_level(max);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(spec: &str) -> Filter {
        Filter::with_overrides(spec).unwrap()
    }

    #[test]
    fn defaults_log_h2ring_at_info_and_nothing_from_rustls() {
        let f = filter("");
        assert_eq!(f.level_for("h2ring::app"), LevelFilter::Info);
        assert_eq!(f.level_for("rustls::common_state"), LevelFilter::Off);
        assert_eq!(f.level_for("rustls"), LevelFilter::Off);
        assert_eq!(f.max_level(), LevelFilter::Info);
    }

    #[test]
    fn overrides_replace_the_default_level_and_add_targets() {
        let f = filter("warn, h2ring::runtime=debug,");
        assert_eq!(f.level_for("h2ring::app"), LevelFilter::Warn);
        assert_eq!(f.level_for("h2ring::runtime"), LevelFilter::Debug);
        assert_eq!(f.level_for("h2ring::runtime::worker"), LevelFilter::Debug);
        // A prefix that is not a whole module does not match.
        assert_eq!(f.level_for("h2ring::runtimes"), LevelFilter::Warn);
        // A bare level leaves rustls off; naming it turns it on.
        assert_eq!(f.level_for("rustls::server"), LevelFilter::Off);
        assert_eq!(f.max_level(), LevelFilter::Debug);
        let f = filter("rustls=error,h2ring=off");
        assert_eq!(f.level_for("rustls::server::hs"), LevelFilter::Error);
        assert_eq!(f.level_for("h2ring::runtime::worker"), LevelFilter::Off);
        assert_eq!(f.level_for("something_else"), LevelFilter::Info);
    }

    #[test]
    fn the_most_specific_target_wins_and_the_last_directive_for_one_target() {
        let f = filter("h2ring=error,h2ring::runtime::worker=trace,h2ring=WARN");
        assert_eq!(f.level_for("h2ring::app"), LevelFilter::Warn);
        assert_eq!(f.level_for("h2ring::runtime::worker"), LevelFilter::Trace);
        assert_eq!(f.max_level(), LevelFilter::Trace);
    }

    #[test]
    fn bad_directives_are_refused_with_the_directive_named() {
        for (spec, bad) in
            [("wanr", "wanr"), ("info,h2ring=loud", "h2ring=loud"), ("=info", "=info"), ("a::::b=info", "a::::b=info")]
        {
            let err = Filter::with_overrides(spec).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("RUST_LOG: ") && text.contains(&format!("{bad:?}")), "{spec}: {text}");
            assert!(!text.contains('\n'), "{text}");
        }
        assert!(matches!(Filter::with_overrides("h2ring"), Err(FilterError::UnknownLevel { .. })));
        assert!(matches!(Filter::with_overrides("h2ring/regex"), Err(FilterError::UnknownLevel { .. })));
        assert!(matches!(Filter::with_overrides("h2ring ring=info"), Err(FilterError::BadTarget { .. })));
    }

    #[test]
    fn lines_keep_the_prefix_and_escape_control_characters() {
        let line = |level, target, msg: &str| format_line(level, target, &format_args!("{msg}"));
        assert_eq!(line(Level::Info, "h2ring::app", "listening on x"), "h2ring: listening on x\n");
        assert_eq!(line(Level::Warn, "h2ring::app", "SIGHUP: bad"), "h2ring: warning: SIGHUP: bad\n");
        assert_eq!(line(Level::Error, "h2ring", "a worker failed"), "h2ring: error: a worker failed\n");
        assert_eq!(line(Level::Debug, "h2ring::runtime", "x"), "h2ring: debug: [h2ring::runtime] x\n");
        assert_eq!(
            line(Level::Warn, "rustls::common_state", "alert"),
            "h2ring: warning: [rustls::common_state] alert\n"
        );
        assert_eq!(line(Level::Info, "h2ring::app", "two\nlines\x1b \"q\""), "h2ring: two\\nlines\\u{1b} \"q\"\n");
    }
}
