//! The command line: defaults, every flag, every mistake.
use super::*;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    Config::from_args(std::iter::once("h2ring").chain(args.iter().copied()))
}

fn err(args: &[&str]) -> ConfigError {
    let e = parse(args).expect_err("must be rejected");
    let line = e.to_string();
    assert!(!line.contains('\n') && !line.is_empty(), "not one line: {line:?}");
    assert_eq!(e.exit_code(), 1);
    e
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen, vec![addr("127.0.0.1:8443")]);
    assert!(c.h2c_listen.is_empty());
    assert_eq!(c.cert_and_key, None);
    assert_eq!(c.content, PathBuf::from("content"));
    assert_eq!(c.workers, std::thread::available_parallelism().unwrap().get().min(MAX_WORKERS));
    assert_eq!(c.sqpoll, DEFAULT_SQPOLL && !cfg!(feature = "epoll"));
    assert_eq!(c.sqpoll_idle, Duration::from_millis(1000));
    assert_eq!(c.shutdown_grace, Duration::from_millis(5000));
    assert_eq!(c.handshake_timeout, Duration::from_millis(10_000));
    assert_eq!(c.header_timeout, Duration::from_millis(10_000));
    assert_eq!(c.idle_timeout, Duration::from_millis(60_000));
    assert_eq!(c.write_timeout, Duration::from_millis(30_000));
    assert_eq!(c.max_connections, 20_000);
    assert_eq!(c.certs_dir, PathBuf::from("certs"));
    assert_eq!(c.hsts_max_age, 0, "no HSTS with the development certificate");
    assert_eq!(c.session_cache, 65_536);
    assert_eq!(c.early_data_max, 16_384);
    assert!(c.tls_enabled());
    assert_eq!(c.tuning, tuning::Mode::Warn);
    assert_eq!(
        c.tuning_params,
        tuning::Params {
            bdp: tuning::Bdp { gbps: 10, rtt_ms: 50 },
            workers: c.workers,
            proc_root: PathBuf::from("/proc/sys")
        }
    );
}

fn invocation(args: &[&str]) -> Result<Invocation, ConfigError> {
    Invocation::from_args(std::iter::once("h2ring").chain(args.iter().copied()))
}

fn one_line_error(args: &[&str]) -> ConfigError {
    let e = invocation(args).expect_err("must be rejected");
    let line = e.to_string();
    assert!(!line.contains('\n') && !line.is_empty(), "not one line: {line:?}");
    assert_eq!(e.exit_code(), 1);
    e
}

#[test]
fn tuning_flags() {
    assert_eq!(parse(&["--tuning", "strict"]).unwrap().tuning, tuning::Mode::Strict);
    assert_eq!(parse(&["--tuning=off"]).unwrap().tuning, tuning::Mode::Off);
    assert_eq!(parse(&["--tuning", "warn"]).unwrap().tuning, tuning::Mode::Warn);
    let c = parse(&["--workers", "3", "--link-gbps", "1", "--rtt-ms", "10", "--proc-root", "/tmp/fake"]).unwrap();
    assert_eq!(
        c.tuning_params,
        tuning::Params { bdp: tuning::Bdp { gbps: 1, rtt_ms: 10 }, workers: 3, proc_root: PathBuf::from("/tmp/fake") }
    );
    let c = parse(&["--link-gbps", "400", "--rtt-ms", "10000"]).unwrap();
    assert_eq!(c.tuning_params.bdp, tuning::Bdp { gbps: 400, rtt_ms: 10_000 });
    for (flag, bad, min, max) in [
        ("--link-gbps", "0", 1, 400),
        ("--link-gbps", "401", 1, 400),
        ("--link-gbps", "-10", 1, 400),
        ("--rtt-ms", "0", 1, 10_000),
        ("--rtt-ms", "10001", 1, 10_000),
        ("--rtt-ms", "99999999999", 1, 10_000),
    ] {
        let e = err(&[flag, bad]);
        assert_eq!(e, ConfigError::OutOfRange { flag, value: bad.parse().unwrap(), min, max });
        assert_eq!(e.to_string(), format!("{flag} must be between {min} and {max}, not {bad}"));
    }
    assert!(matches!(err(&["--tuning", "loud"]), ConfigError::Usage(_)));
    assert!(err(&["--tuning", "loud"]).to_string().contains("warn, strict, off"), "{}", err(&["--tuning", "loud"]));
    assert!(matches!(err(&["--link-gbps", "ten"]), ConfigError::Usage(_)));
    for flag in ["--link-gbps", "--rtt-ms", "--proc-root"] {
        let e = err(&["--tuning", "off", flag, "5"]);
        assert_eq!(e, ConfigError::TuningFlagUnused { flag });
        assert_eq!(e.to_string(), format!("{flag} has no effect with --tuning off; drop one"));
    }
}

#[test]
fn check_tuning_subcommand() {
    let workers = std::thread::available_parallelism().unwrap().get().min(MAX_WORKERS);
    let default =
        tuning::Params { bdp: tuning::Bdp { gbps: 10, rtt_ms: 50 }, workers, proc_root: PathBuf::from("/proc/sys") };
    assert_eq!(invocation(&["check-tuning"]), Ok(Invocation::CheckTuning(default.clone())));
    assert_eq!(
        invocation(&["check-tuning", "--link-gbps", "25", "--rtt-ms", "100", "--proc-root", "fake"]),
        Ok(Invocation::CheckTuning(tuning::Params {
            bdp: tuning::Bdp { gbps: 25, rtt_ms: 100 },
            proc_root: PathBuf::from("fake"),
            ..default
        }))
    );
    assert!(matches!(invocation(&[]), Ok(Invocation::Serve(_))));
    assert_eq!(
        one_line_error(&["check-tuning", "--rtt-ms", "0"]),
        ConfigError::OutOfRange { flag: "--rtt-ms", value: 0, min: 1, max: 10_000 }
    );
    // Server flags belong to the server, not to the subcommand.
    for args in [
        &["check-tuning", "--workers", "2"][..],
        &["--workers", "2", "check-tuning"],
        &["--tuning", "strict", "check-tuning"],
        &["check-tuning", "extra"],
        &["check-tunning"],
    ] {
        assert!(matches!(one_line_error(args), ConfigError::Usage(_)), "{args:?}");
    }
    assert_eq!(err(&["check-tuning"]), ConfigError::NotServe { subcommand: "check-tuning".into() });
    let help = invocation(&["check-tuning", "--help"]).unwrap_err();
    assert!(help.is_help_or_version());
    for text in ["--link-gbps", "--rtt-ms", "--proc-root", "For testing", "exit 0"] {
        assert!(help.to_string().contains(text), "check-tuning --help lacks {text:?}");
    }
}

#[test]
fn hsts_session_cache_and_early_data_flags() {
    let with_cert = parse(&["--cert", "c.pem", "--key", "k.pem"]).unwrap();
    assert_eq!(with_cert.hsts_max_age, 63_072_000, "two years with a real certificate");
    let c = parse(&["--hsts-max-age", "600", "--session-cache", "0", "--early-data-max", "0"]).unwrap();
    assert_eq!((c.hsts_max_age, c.session_cache, c.early_data_max), (600, 0, 0));
    let c = parse(&["--session-cache", "16777216", "--early-data-max", "1048576"]).unwrap();
    assert_eq!((c.session_cache, c.early_data_max), (16_777_216, 1_048_576));
    for (flag, bad) in [
        ("--hsts-max-age", "-1"),
        ("--hsts-max-age", "1000000001"),
        ("--session-cache", "-1"),
        ("--session-cache", "16777217"),
        ("--early-data-max", "1048577"),
        ("--early-data-max", "-5"),
    ] {
        let e = err(&[flag, bad]);
        assert!(matches!(e, ConfigError::OutOfRange { flag: f, .. } if f == flag), "{flag} {bad}: {e}");
        assert_eq!(e.to_string().lines().count(), 1);
    }
}

#[test]
fn access_log_is_off_by_default_and_takes_a_file_or_stdout() {
    use crate::server::access_log::Destination;
    assert_eq!(parse(&[]).unwrap().access_log, None);
    assert_eq!(parse(&["--access-log", "-"]).unwrap().access_log, Some(Destination::Stdout));
    let c = parse(&["--access-log=/var/log/h2ring/access.log"]).unwrap();
    assert_eq!(c.access_log, Some(Destination::File("/var/log/h2ring/access.log".into())));
    assert!(matches!(err(&["--access-log"]), ConfigError::Usage(_)));
    let help = Config::help_text();
    assert!(help.contains("--access-log <FILE|->") && help.contains("RUST_LOG"), "{help}");
}

#[test]
fn every_flag_set() {
    let c = parse(&[
        "--listen=0.0.0.0:443",
        "--cert",
        "c.pem",
        "--key",
        "k.pem",
        "--content",
        "/srv/www",
        "--workers",
        "3",
        "--shutdown-grace-ms",
        "0",
        "--handshake-timeout-ms",
        "1",
        "--header-timeout-ms",
        "2",
        "--idle-timeout-ms",
        "86400000",
        "--write-timeout-ms",
        "1500",
        "--max-connections",
        "3",
    ])
    .unwrap();
    assert_eq!(c.listen, vec![addr("0.0.0.0:443")]);
    assert_eq!(c.cert_and_key, Some((PathBuf::from("c.pem"), PathBuf::from("k.pem"))));
    assert_eq!(c.content, PathBuf::from("/srv/www"));
    assert_eq!(c.workers, 3);
    assert_eq!(c.shutdown_grace, Duration::ZERO);
    assert_eq!(c.handshake_timeout, Duration::from_millis(1));
    assert_eq!(c.header_timeout, Duration::from_millis(2));
    assert_eq!(c.idle_timeout, Duration::from_secs(86_400));
    assert_eq!(c.write_timeout, Duration::from_millis(1500));
    assert_eq!(c.max_connections, 3);
}

#[test]
fn max_connections_range_and_workers() {
    assert_eq!(parse(&["--max-connections", "1", "--workers", "1"]).unwrap().max_connections, 1);
    assert_eq!(parse(&["--max-connections", "16777216"]).unwrap().max_connections, 16 << 20);
    for bad in ["0", "-1", "16777217", "9223372036854775807"] {
        let e = err(&["--max-connections", bad]);
        assert!(matches!(e, ConfigError::OutOfRange { flag: "--max-connections", .. }), "{e}");
        assert!(e.to_string().starts_with("--max-connections must be between 1 and 16777216"), "{e}");
    }
    assert!(matches!(err(&["--max-connections", "lots"]), ConfigError::Usage(_)));
    let e = err(&["--max-connections", "3", "--workers", "4"]);
    assert_eq!(e, ConfigError::MaxConnectionsBelowWorkers { max: 3, workers: 4 });
    assert!(e.to_string().starts_with("--max-connections 3 is fewer than the 4 workers"), "{e}");
}

#[test]
fn listen_is_repeatable_with_ipv4_and_ipv6() {
    let c = parse(&[
        "--listen",
        "127.0.0.1:8443",
        "--listen",
        "[::1]:8443",
        "--listen",
        "[::]:443",
        "--listen",
        "0.0.0.0:443",
    ])
    .unwrap();
    assert_eq!(c.listen, vec![addr("127.0.0.1:8443"), addr("[::1]:8443"), addr("[::]:443"), addr("0.0.0.0:443")]);
    assert!(c.h2c_listen.is_empty());
}

#[test]
fn h2c_only_has_no_tls_listener() {
    let c = parse(&["--h2c-listen", "127.0.0.1:8080", "--h2c-listen", "[::1]:8080"]).unwrap();
    assert!(c.listen.is_empty());
    assert!(!c.tls_enabled());
    assert_eq!(c.h2c_listen, vec![addr("127.0.0.1:8080"), addr("[::1]:8080")]);

    let both = parse(&["--h2c-listen", "127.0.0.1:8080", "--listen", "127.0.0.1:8443"]).unwrap();
    assert_eq!(both.listen, vec![addr("127.0.0.1:8443")]);
    // A wildcard and a specific address on different ports are fine.
    parse(&["--listen", "0.0.0.0:8443", "--h2c-listen", "127.0.0.1:8080"]).unwrap();
    // IPv6 sockets are V6ONLY: [::] does not cover 127.0.0.1.
    parse(&["--listen", "[::]:8443", "--h2c-listen", "127.0.0.1:8443"]).unwrap();
}

#[test]
fn help_explains_every_flag_and_default() {
    let e = parse(&["--help"]).unwrap_err();
    assert!(e.is_help_or_version());
    assert_eq!(e.exit_code(), 0);
    let ConfigError::HelpOrVersion(text) = &e else { unreachable!() };
    assert_eq!(text, &Config::help_text());
    for arg in Args::command().get_arguments() {
        let long = format!("--{}", arg.get_long().unwrap());
        assert!(text.contains(&long), "--help does not mention {long}");
    }
    for flag in [
        "--listen",
        "--h2c-listen",
        "--cert",
        "--key",
        "--content",
        "--workers",
        "--sqpoll",
        "--no-sqpoll",
        "--sqpoll-idle-ms",
        "--shutdown-grace-ms",
        "--handshake-timeout-ms",
        "--header-timeout-ms",
        "--idle-timeout-ms",
        "--write-timeout-ms",
        "--max-connections",
        "--certs-dir",
        "--tuning",
        "--link-gbps",
        "--rtt-ms",
        "--proc-root",
        "check-tuning",
    ] {
        assert!(text.contains(&format!("{flag} ")), "--help does not mention {flag}");
    }
    for default in [
        "[default: 127.0.0.1:8443",
        "[default: none]",
        "[default: content]",
        "[default: the number of online CPUs",
        "[default: 1000]",
        "[default: 5000]",
        "[default: 10000]",
        "[default: 60000]",
        "[default: 30000]",
        "[default: 20000]",
        "[default: certs]",
        "the development certificate",
        "the development key",
        "[default: warn]",
        "[default: 50]",
        "[default: /proc/sys]",
        "status 2",
    ] {
        assert!(text.contains(default), "--help lacks {default:?}");
    }
    assert!(text.contains(&format!("[default: {}]", on_off(DEFAULT_SQPOLL))));
    assert!(text.contains(&MAX_MS.to_string()), "the help's range must follow MAX_MS");
    // Every argument has help text.
    assert!(Args::command().get_arguments().all(|a| a.get_help().is_some()));
    assert!(matches!(parse(&["-h"]), Err(ConfigError::HelpOrVersion(_))));
}

#[test]
fn version() {
    let e = parse(&["--version"]).unwrap_err();
    assert_eq!(e, ConfigError::HelpOrVersion(format!("h2ring {}\n", env!("CARGO_PKG_VERSION"))));
    assert_eq!(e.exit_code(), 0);
}

#[test]
fn cert_and_key_come_together() {
    assert_eq!(err(&["--cert", "c.pem"]), ConfigError::CertWithoutKey);
    assert_eq!(err(&["--key", "k.pem"]), ConfigError::KeyWithoutCert);
    assert!(err(&["--cert", "c.pem"]).to_string().starts_with("--cert given without --key"));
    assert!(err(&["--key", "k.pem"]).to_string().starts_with("--key given without --cert"));
    assert_eq!(
        err(&["--h2c-listen", "127.0.0.1:8080", "--cert", "c", "--key", "k"]),
        ConfigError::CertWithoutTlsListener
    );
}

#[test]
fn certs_dir_only_for_the_dev_cert() {
    assert_eq!(parse(&["--certs-dir", "/etc/h2ring"]).unwrap().certs_dir, PathBuf::from("/etc/h2ring"));
    assert_eq!(
        err(&["--certs-dir", "x", "--cert", "c", "--key", "k"]),
        ConfigError::CertsDirUnused { with_cert: true }
    );
    assert_eq!(
        err(&["--certs-dir", "x", "--h2c-listen", "127.0.0.1:8080"]),
        ConfigError::CertsDirUnused { with_cert: false }
    );
}

#[test]
fn workers_range() {
    assert_eq!(parse(&["--workers", "1"]).unwrap().workers, 1);
    assert_eq!(parse(&["--workers", "1024"]).unwrap().workers, 1024);
    for bad in ["0", "1025", "-1", "9223372036854775807"] {
        let e = err(&["--workers", bad]);
        assert!(matches!(e, ConfigError::OutOfRange { flag: "--workers", .. }), "{e}");
        assert!(e.to_string().starts_with("--workers must be between 1 and 1024"), "{e}");
    }
    assert!(matches!(err(&["--workers", "many"]), ConfigError::Usage(_)));
    assert!(matches!(err(&["--workers", "99999999999999999999"]), ConfigError::Usage(_)));
}

#[test]
fn millisecond_ranges() {
    for flag in
        ["--sqpoll-idle-ms", "--handshake-timeout-ms", "--header-timeout-ms", "--idle-timeout-ms", "--write-timeout-ms"]
    {
        let mut args = vec![flag, "0"];
        if flag == "--sqpoll-idle-ms" {
            if cfg!(feature = "epoll") {
                continue;
            }
            args.push("--sqpoll");
        }
        let e = err(&args);
        assert!(matches!(e, ConfigError::OutOfRange { min: 1, .. }), "{e}");
        assert!(e.to_string().starts_with(&format!("{flag} must be between 1 and 86400000")), "{e}");
    }
    for flag in [
        "--shutdown-grace-ms",
        "--handshake-timeout-ms",
        "--header-timeout-ms",
        "--idle-timeout-ms",
        "--write-timeout-ms",
    ] {
        let e = err(&[flag, "86400001"]);
        assert!(e.to_string().contains("24 hours"), "{e}");
        let e = err(&[flag, "-5"]);
        assert!(e.to_string().ends_with("not -5 (the maximum is 24 hours)"), "{e}");
    }
}

#[test]
fn invalid_addresses_say_what_is_wrong() {
    let cases = [
        ("x", "expected IP:PORT"),
        ("localhost:8443", "host names are not resolved"),
        ("::1:8443", "IPv6 address needs brackets"),
        ("::1", "IPv6 address needs brackets"),
        ("127.0.0.1", "missing the port"),
        ("8443", "missing the IP address"),
        (":8443", "missing the IP address"),
        ("127.0.0.1:70000", "port must be a number"),
        ("127.0.0.1:http", "port must be a number"),
        ("[::1]8443", "expected IP:PORT"),
    ];
    for (value, reason) in cases {
        for flag in ["--listen", "--h2c-listen"] {
            let e = err(&[flag, value]);
            let line = e.to_string();
            assert!(line.starts_with(&format!("invalid {flag} address \"{value}\": ")), "{line}");
            assert!(line.contains(reason), "{value}: {line}");
        }
    }
}

#[test]
fn duplicate_and_overlapping_addresses() {
    let a = addr("127.0.0.1:8443");
    assert_eq!(
        err(&["--listen", "127.0.0.1:8443", "--listen", "127.0.0.1:8443"]),
        ConfigError::DuplicateAddress { addr: a, first: "--listen", second: "--listen" }
    );
    assert_eq!(
        err(&["--listen", "127.0.0.1:8443", "--listen", "127.0.0.1:8443"]).to_string(),
        "--listen 127.0.0.1:8443 is given twice"
    );
    let e = err(&["--listen", "[::1]:8443", "--h2c-listen", "[0:0::1]:8443"]);
    assert_eq!(
        e,
        ConfigError::DuplicateAddress { addr: addr("[::1]:8443"), first: "--listen", second: "--h2c-listen" }
    );
    assert!(e.to_string().contains("both --listen and --h2c-listen"));
    let e = err(&["--h2c-listen", "127.0.0.1:80", "--h2c-listen", "127.0.0.1:80"]);
    assert!(e.to_string().starts_with("--h2c-listen 127.0.0.1:80 is given twice"), "{e}");

    for (tls, h2c) in [("0.0.0.0:8443", "127.0.0.1:8443"), ("127.0.0.1:8443", "0.0.0.0:8443"), ("[::1]:1", "[::]:1")] {
        let e = err(&["--listen", tls, "--h2c-listen", h2c]);
        assert_eq!(
            e,
            ConfigError::OverlappingAddresses {
                a: addr(tls),
                a_flag: "--listen",
                b: addr(h2c),
                b_flag: "--h2c-listen"
            }
        );
    }
}

#[test]
fn sqpoll_switches() {
    if cfg!(feature = "epoll") {
        assert_eq!(err(&["--sqpoll"]), ConfigError::SqpollNeedsUring);
        assert!(!parse(&["--no-sqpoll"]).unwrap().sqpoll);
        return;
    }
    assert!(parse(&["--sqpoll"]).unwrap().sqpoll);
    assert!(!parse(&["--no-sqpoll"]).unwrap().sqpoll);
    // The last one wins, as with most Unix tools.
    assert!(!parse(&["--sqpoll", "--no-sqpoll"]).unwrap().sqpoll);
    assert!(parse(&["--no-sqpoll", "--sqpoll"]).unwrap().sqpoll);
    let c = parse(&["--sqpoll", "--sqpoll-idle-ms", "50"]).unwrap();
    assert_eq!(c.sqpoll_idle, Duration::from_millis(50));
    assert_eq!(err(&["--no-sqpoll", "--sqpoll-idle-ms", "50"]), ConfigError::SqpollIdleWithoutSqpoll);
    if !DEFAULT_SQPOLL {
        assert_eq!(err(&["--sqpoll-idle-ms", "50"]), ConfigError::SqpollIdleWithoutSqpoll);
    }
}

#[test]
fn parser_errors_are_one_line_with_tips() {
    let e = err(&["--lsten", "127.0.0.1:1"]);
    assert_eq!(
        e.to_string(),
        "unexpected argument '--lsten' found; a similar argument exists: '--listen' (see --help)"
    );
    assert!(matches!(err(&["serve"]), ConfigError::Usage(_)));
    assert!(matches!(err(&["--workers"]), ConfigError::Usage(_)));
    assert!(matches!(err(&["--workers", "2", "--workers", "3"]), ConfigError::Usage(_)));
    assert!(matches!(err(&["--cert", ""]), ConfigError::Usage(_)));
    assert!(matches!(err(&["--sqpoll=yes"]), ConfigError::Usage(_)));
}

#[test]
fn content_dir_check() {
    let ok = parse(&["--content", env!("CARGO_MANIFEST_DIR")]).unwrap();
    ok.check_content_dir().unwrap();
    let missing = parse(&["--content", "/nonexistent/h2ring-content"]).unwrap();
    let e = missing.check_content_dir().unwrap_err();
    assert!(e.to_string().starts_with("--content /nonexistent/h2ring-content: no such directory"), "{e}");
    let file = parse(&["--content", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")]).unwrap();
    assert!(file.check_content_dir().unwrap_err().to_string().ends_with("not a directory"));
}

#[test]
fn export_subcommand() {
    let inv = Invocation::from_args(["h2ring", "export", "/tmp/out"]).unwrap();
    assert_eq!(inv, Invocation::Export { content: PathBuf::from("content"), dir: PathBuf::from("/tmp/out") });
    let inv = Invocation::from_args(["h2ring", "export", "out", "--content", "/srv/blog"]).unwrap();
    assert_eq!(inv, Invocation::Export { content: PathBuf::from("/srv/blog"), dir: PathBuf::from("out") });
    let e = Invocation::from_args(["h2ring", "export"]).unwrap_err();
    assert!(e.to_string().contains("<DIR>"), "{e}");
    assert!(matches!(Config::from_args(["h2ring", "export", "x"]), Err(ConfigError::NotServe { .. })));
}

#[test]
fn metrics_listen_is_off_by_default_and_takes_one_address() {
    assert_eq!(parse(&[]).unwrap().metrics_listen, None);
    assert_eq!(parse(&["--metrics-listen", "127.0.0.1:9100"]).unwrap().metrics_listen, Some(addr("127.0.0.1:9100")));
    assert_eq!(parse(&["--metrics-listen=[::1]:0"]).unwrap().metrics_listen, Some(addr("[::1]:0")));
    let line = err(&["--metrics-listen", "localhost:9100"]).to_string();
    assert!(line.starts_with("invalid --metrics-listen address \"localhost:9100\": host names"), "{line}");
    let twice = err(&["--metrics-listen", "127.0.0.1:1", "--metrics-listen", "127.0.0.1:2"]);
    assert!(matches!(twice, ConfigError::Usage(_)), "{twice}");
    let help = Config::help_text();
    assert!(help.contains("--metrics-listen <ADDR>") && help.contains("/metrics"), "{help}");
}

#[test]
fn redirect_listener_and_public_host() {
    let c = parse(&["--redirect-listen", "[::]:80", "--public-host", "Blog.Example:8443"]).unwrap();
    assert_eq!(c.redirect_listen, [addr("[::]:80")]);
    assert_eq!(c.public_host.as_deref(), Some("blog.example:8443"));
    assert!(c.http1, "HTTP/1.1 is on by default");
    assert!(!parse(&["--no-http1"]).unwrap().http1);
    for good in ["example.com", "localhost:8443", "[::1]:8443", "[2001:db8::1]", "127.0.0.1"] {
        assert!(parse(&["--redirect-listen", "127.0.0.1:80", "--public-host", good]).is_ok(), "{good}");
    }

    assert_eq!(err(&["--redirect-listen", "127.0.0.1:80"]), ConfigError::RedirectWithoutPublicHost);
    assert_eq!(err(&["--public-host", "example.com"]), ConfigError::PublicHostUnused);
    for bad in [
        "https://example.com",
        "example.com/",
        "exa mple.com",
        "::1",
        "example.com:0",
        "example.com:x",
        ":443",
        "[zz]:1",
    ] {
        let e = err(&["--redirect-listen", "127.0.0.1:80", "--public-host", bad]);
        assert!(matches!(e, ConfigError::InvalidPublicHost { .. }), "{bad}: {e:?}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    // One address, one protocol; a wildcard redirect port over a TLS one.
    let e = err(&["--listen", "127.0.0.1:8080", "--redirect-listen", "127.0.0.1:8080", "--public-host", "x"]);
    assert!(e.to_string().contains("both --listen and --redirect-listen"), "{e}");
    let e = err(&["--listen", "127.0.0.1:8080", "--redirect-listen", "0.0.0.0:8080", "--public-host", "x"]);
    assert_eq!(
        e,
        ConfigError::OverlappingAddresses {
            a: addr("127.0.0.1:8080"),
            a_flag: "--listen",
            b: addr("0.0.0.0:8080"),
            b_flag: "--redirect-listen"
        }
    );
}

#[test]
fn workers_are_pinned_unless_told_not_to() {
    assert!(parse(&[]).unwrap().pin_workers);
    assert!(!parse(&["--no-pin-workers"]).unwrap().pin_workers);
}
