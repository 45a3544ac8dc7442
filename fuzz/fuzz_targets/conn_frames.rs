#![no_main]
//! Structured: a script of plausible client frames (HEADERS with valid or corrupted HPACK blocks, CONTINUATION,
//! DATA, WINDOW_UPDATE, RST_STREAM, SETTINGS, PING, PRIORITY, GOAWAY, unknown and malformed frames, on mostly small
//! odd stream ids), serialized by hand, fed to a `Connection` in pieces between server-side actions (responses,
//! resets, shutdown, reads), with the same checks as `conn_recv`.

use h2ring_fuzz::ConnScript;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: ConnScript| {
    h2ring_fuzz::peer::run_script(&input.0);
});
