//! A connection flood past the server's file-descriptor limit (issue #8):
//! at EMFILE/ENFILE the server must pause accepting with a backoff, not
//! spin on a listener that stays readable, keep serving the connections it
//! holds, and accept again once descriptors are free. The server is
//! started with RLIMIT_NOFILE 64 (inherited from this process, which
//! lowers its own soft limit just for the spawn; this binary holds this one
//! test so nothing else runs meanwhile).

mod abuse;
mod server;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use abuse::*;

/// CPU time (user + system) the process has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after "(comm)": state is field 3; utime and stime 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

fn with_fd_limit<T>(soft: u64, f: impl FnOnce() -> T) -> T {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit.
    unsafe { assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0) };
    let saved = limit.rlim_cur;
    limit.rlim_cur = soft;
    // SAFETY: as above; lowering the soft limit is always allowed.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0) };
    let out = f();
    limit.rlim_cur = saved;
    // SAFETY: as above; back to the saved soft limit, below the hard one.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0) };
    out
}

#[test]
fn accepting_backs_off_at_the_descriptor_limit_and_recovers() {
    let server = with_fd_limit(64, || start(&["--handshake-timeout-ms", "10000"]));
    // The honest client keeps the connection it has: new ones cannot be
    // accepted while the flood holds every descriptor.
    let watch = Watch::start_with(&server, "descriptor limit", usize::MAX);
    let connections: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(server.tls).unwrap()).collect();
    // Let the server take what it can and run into the limit.
    std::thread::sleep(Duration::from_millis(300));
    let queued = listen_queue(server.tls.port());
    assert!(queued > 0, "the server accepted all 300 connections: it never reached its descriptor limit");
    let before = cpu_time(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_time(server.pid()) - before;
    // The honest client's requests cost a few ms each; a loop retrying
    // accept on a readable listener burns a whole core per worker.
    assert!(spent < Duration::from_millis(400), "the server used {spent:?} of CPU in 1 s at the descriptor limit");

    // Free the descriptors: the server accepts again.
    drop(connections);
    let t0 = Instant::now();
    let mut a = Attacker::tls(&server);
    a.exchange(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")), Instant::now() + ANSWER_LIMIT, |s| {
        s.ended.contains(&1)
    });
    assert_eq!(a.seen.statuses.get(&1), Some(&200), "a new connection is served once descriptors are free");
    println!(
        "ABUSE descriptor limit: {queued} connections left in the listen queue, {spent:?} CPU in 1 s at the limit; \
         a new connection served after {:?}",
        t0.elapsed()
    );
    watch.finish();
}
