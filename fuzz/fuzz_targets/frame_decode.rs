#![no_main]
//! Arbitrary bytes through `FrameHeader::parse`, `check_size` and `Frame::decode`, frame after frame; every frame
//! that decodes must round-trip through `Frame::encode`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    h2ring_fuzz::codec::frame_decode(data);
});
