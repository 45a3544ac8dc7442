#![no_main]
//! Arbitrary header blocks in sequence through one `HpackDecoder` with limits, table size changes in between;
//! every decoded list must round-trip through `HpackEncoder` and a second decoder.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    h2ring_fuzz::codec::hpack_decode(data);
});
