//! The other side of the flood budgets (issue #8): they bound how *fast* a
//! client may reset streams or ping, not how often over a connection's
//! life. A busy but well-behaved client that stays below the per-second
//! rates for longer than one burst lasts must keep its connection. The
//! rates here are below the defaults (100 resets and 100 PINGs a second;
//! bursts of 256 and 200), and the totals above the bursts, so the test
//! fails if the budgets are never refilled.

mod abuse;
mod server;

use std::time::{Duration, Instant};

use abuse::*;

#[test]
fn cancelling_and_pinging_below_the_rates_keeps_the_connection() {
    let server = start(&[]);
    let watch = Watch::start(&server, "below the rates");
    let mut a = Attacker::tls(&server);
    let start = Instant::now();
    let mut next = 1u32;
    let mut pings = 0u64;
    // 3.5 s at 80 cancelled requests and 70 PINGs a second, in 10 steps a
    // second: 280 resets (burst 256) and 245 PINGs (burst 200).
    for step in 0..35u32 {
        let mut out = Vec::new();
        for _ in 0..8 {
            out.extend(headers(next, END_HEADERS | END_STREAM, &hp::get("/")));
            out.extend(rst_stream(next, CANCEL));
            next += 2;
        }
        for _ in 0..7 {
            pings += 1;
            out.extend(ping(pings));
        }
        a.queue(&out);
        let step_end = start + Duration::from_millis(100) * (step + 1);
        a.pump_until(step_end, |_| false);
        std::thread::sleep(step_end.saturating_duration_since(Instant::now()));
        assert!(
            a.seen.goaway.is_none() && a.closed.is_none(),
            "cut off after {:?} ({} requests cancelled, {pings} PINGs): {:?}",
            start.elapsed(),
            next / 2,
            a.seen.goaway
        );
    }
    a.exchange(&headers(next, END_HEADERS | END_STREAM, &hp::get("/")), Instant::now() + ANSWER_LIMIT, |s| {
        s.ended.contains(&next)
    });
    assert_eq!(a.seen.statuses.get(&next), Some(&200), "a request after it all: {:?}", a.seen.goaway);
    assert_eq!(a.seen.ping_acks, pings, "every PING answered");
    watch.finish();
}
