use super::*;
use crate::h2::conn::request::HeadBuilder;
use crate::h2::hpack::HeaderField;
use crate::server::httpdate::system_time;

/// Fri, 27 Nov 2026 07:40:00 GMT.
const WHEN: u64 = 1_795_737_600 + 7 * 3600 + 40 * 60;

fn entry<'a>(method: &'a [u8], target: &'a [u8]) -> AccessEntry<'a> {
    AccessEntry {
        method,
        target,
        protocol: Protocol::H2,
        status: 200,
        body_bytes: 4412,
        early: false,
        referer: None,
        user_agent: Some(b"curl/8.5"),
        peer: None,
    }
}

fn line(e: &AccessEntry<'_>) -> String {
    let mut out = Vec::new();
    write_line(&mut out, e, &format_clf_date(WHEN));
    String::from_utf8(out).unwrap()
}

#[test]
fn formats_the_combined_format_with_protocol_and_early_flag() {
    assert_eq!(
        line(&entry(b"GET", b"/posts/x")),
        "- - - [27/Nov/2026:07:40:00 +0000] \"GET /posts/x HTTP/2.0\" 200 4412 \"-\" \"curl/8.5\" h2 early=0\n"
    );
    let e = AccessEntry {
        protocol: Protocol::Http11,
        status: 304,
        body_bytes: 0,
        early: true,
        referer: Some(b"https://example.org/a b"),
        user_agent: None,
        peer: Some("[2001:db8::1]:443".parse().unwrap()),
        ..entry(b"HEAD", b"/")
    };
    assert_eq!(
        line(&e),
        "2001:db8::1 - - [27/Nov/2026:07:40:00 +0000] \"HEAD / HTTP/1.1\" 304 - \"https://example.org/a b\" \"-\" \
         http/1.1 early=1\n"
    );
}

#[test]
fn escapes_everything_that_could_forge_a_line_or_a_field() {
    let e = AccessEntry {
        user_agent: Some(b"a\"b\\c\td\ne\x7f\xff "),
        referer: Some(b""),
        ..entry(b"G T", b"/x\r\n1.2.3.4 - - [x] \"GET /")
    };
    assert_eq!(
        line(&e),
        "- - - [27/Nov/2026:07:40:00 +0000] \"G\\x20T /x\\x0d\\x0a1.2.3.4\\x20-\\x20-\\x20[x]\\x20\\x22GET\\x20/ HTTP/2.0\" \
         200 4412 \"-\" \"a\\x22b\\x5cc\\x09d\\x0ae\\x7f\\xff \" h2 early=0\n"
    );
    assert_eq!(line(&e).lines().count(), 1);
}

#[test]
fn dates_follow_the_clock_across_days_and_years() {
    assert_eq!(&format_clf_date(0), b"01/Jan/1970:00:00:00 +0000");
    assert_eq!(&format_clf_date(951_782_400 + 86_399), b"29/Feb/2000:23:59:59 +0000");
    let (sink, _queue) = test_sink(1);
    let log = sink.open(system_time(WHEN));
    assert_eq!(&log.clock.get().value, b"27/Nov/2026:07:40:00 +0000");
    log.set_time(system_time(WHEN) + Duration::from_millis(999));
    assert_eq!(&log.clock.get().value, b"27/Nov/2026:07:40:00 +0000");
    log.set_time(system_time(WHEN + 1));
    assert_eq!(&log.clock.get().value, b"27/Nov/2026:07:40:01 +0000");
}

#[test]
fn an_h2_head_gives_its_fields() {
    let mut b = HeadBuilder::new(RequestHead::default(), false);
    for (name, value) in [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/posts/x?y=1"),
        ("user-agent", "ua/1"),
        ("referer", "https://r/"),
    ] {
        b.field(HeaderField { name: name.as_bytes(), value: value.as_bytes(), sensitive: false });
    }
    let (mut head, ok) = b.finish();
    ok.unwrap();
    let e = AccessEntry::from_h2(&head, 404, 12);
    assert_eq!(
        line(&e),
        "- - - [27/Nov/2026:07:40:00 +0000] \"GET /posts/x?y=1 HTTP/2.0\" 404 12 \"https://r/\" \"ua/1\" h2 early=0\n"
    );
    head.early = EarlyData::Partial;
    assert!(AccessEntry::from_h2(&head, 425, 0).early);
}

/// A sink whose queue nobody reads, so the test sees what is queued.
fn test_sink(capacity: usize) -> (AccessLogSink, Receiver<Message>) {
    let (queue, batches) = mpsc::sync_channel(capacity);
    (AccessLogSink { queue, dropped: Arc::new(AtomicU64::new(0)) }, batches)
}

fn queued(batches: &Receiver<Message>) -> Vec<(u64, Vec<u8>)> {
    batches
        .try_iter()
        .filter_map(|m| match m {
            Message::Batch(b) => Some((b.lines, b.bytes)),
            Message::Stop => None,
        })
        .collect()
}

#[test]
fn lines_stay_in_the_buffer_until_a_flush_or_a_full_buffer() {
    let (sink, batches) = test_sink(8);
    let log = sink.open(system_time(WHEN));
    log.record(&entry(b"GET", b"/a"));
    log.record(&entry(b"GET", b"/b"));
    assert!(queued(&batches).is_empty());
    log.flush();
    let got = queued(&batches);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 2);
    assert_eq!(got[0].1, [line(&entry(b"GET", b"/a")), line(&entry(b"GET", b"/b"))].concat().as_bytes());
    // Nothing buffered, nothing sent.
    log.flush();
    assert!(queued(&batches).is_empty());
    let long = vec![b'a'; 1000];
    let per_buffer = FLUSH_AT.div_ceil(line(&entry(b"GET", &long)).len());
    for _ in 0..per_buffer {
        log.record(&entry(b"GET", &long));
    }
    let got = queued(&batches);
    assert_eq!(got.len(), 1, "a full buffer goes without a flush");
    assert_eq!(got[0].0, per_buffer as u64);
    assert!(got[0].1.len() >= FLUSH_AT);
}

#[test]
fn a_full_queue_drops_and_counts_lines_instead_of_waiting() {
    let (sink, batches) = test_sink(1);
    let log = sink.open(system_time(WHEN));
    log.record(&entry(b"GET", b"/1"));
    log.flush();
    log.record(&entry(b"GET", b"/2"));
    log.record(&entry(b"GET", b"/3"));
    log.flush();
    assert_eq!(sink.dropped.load(Ordering::Relaxed), 2);
    // The buffer is reused, and the next flush goes once there is room.
    let got = queued(&batches);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 1);
    log.record(&entry(b"GET", b"/4"));
    drop(log);
    let got = queued(&batches);
    assert_eq!(got.len(), 1, "the last lines are handed over when the worker's log goes");
    assert_eq!(got[0].1, line(&entry(b"GET", b"/4")).as_bytes());
}

#[test]
fn the_writer_appends_every_line_and_reports() {
    let path = std::env::temp_dir().join(format!("h2ring-access-log-unit-{}.log", std::process::id()));
    std::fs::write(&path, b"kept\n").unwrap();
    let (writer, sink) = AccessLogWriter::start(&Destination::File(path.clone())).unwrap();
    let logs: Vec<AccessLog> = (0..2).map(|_| sink.open(system_time(WHEN))).collect();
    logs[0].record(&entry(b"GET", b"/w0"));
    logs[1].record(&entry(b"GET", b"/w1"));
    logs[0].flush();
    logs[0].record(&entry(b"GET", b"/w0-again"));
    drop(logs);
    let report = writer.finish().unwrap();
    assert_eq!(report, WriterReport { written: 3, lost: 0, dropped: 0 });
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "kept");
    lines.sort_unstable();
    assert_eq!(lines.len(), 3);
    for (got, target) in lines.iter().zip(["/w0", "/w0-again", "/w1"]) {
        assert_eq!(format!("{got}\n"), line(&entry(b"GET", target.as_bytes())));
    }
}

#[test]
fn an_unopenable_file_is_one_clear_error() {
    let err = AccessLogWriter::start(&Destination::File("/nonexistent-h2ring-dir/access.log".into()))
        .err()
        .expect("no such directory");
    let text = err.to_string();
    assert!(text.starts_with("--access-log /nonexistent-h2ring-dir/access.log: cannot open it"), "{text}");
    assert_eq!(Destination::from_arg("-".into()), Destination::Stdout);
    assert_eq!(Destination::from_arg("./-".into()), Destination::File("./-".into()));
}

#[test]
fn an_h1_request_gives_its_fields_and_version() {
    let mut req = H1Request::default();
    req.parse(b"GET http://example.org/a?b HTTP/1.0\r\nUser-Agent: old/1\r\nReferer: /r\r\n\r\n", 32).unwrap();
    assert_eq!(
        line(&AccessEntry::from_h1(&req, 200, 5)),
        "- - - [27/Nov/2026:07:40:00 +0000] \"GET http://example.org/a?b HTTP/1.0\" 200 5 \"/r\" \"old/1\" \
         http/1.0 early=0\n"
    );
    req.parse(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 32).unwrap();
    req.early = EarlyData::Complete;
    let e = AccessEntry::from_h1(&req, 200, 0);
    assert_eq!((e.protocol, e.early, e.user_agent), (Protocol::Http11, true, None));
}
