#![no_main]
//! Arbitrary bytes after the client preface, cut into arbitrary pieces, into a `Connection`; every request is
//! answered with a small body, the output is read with a buffer of arbitrary size and checked frame by frame.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    h2ring_fuzz::peer::run_bytes(data);
});
