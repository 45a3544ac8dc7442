//! Shared parts of the fuzz targets: the hand-written client side ([`wire`]), the structured script generator
//! ([`script`]) and the checking client ([`peer`]). `tests/randomized.rs` compiles the same three files into
//! `cargo test` through `#[path]`, with a PRNG in place of libFuzzer's bytes.

pub mod codec;
pub mod peer;
pub mod script;
pub mod wire;

use arbitrary::{Arbitrary, Unstructured};

/// libFuzzer's bytes as the generator's entropy: the structure comes from [`script::gen_script`], so the fuzzer's
/// mutations of the bytes become mutations of the frame sequence.
pub struct Bytes<'a, 'b>(pub &'b mut Unstructured<'a>);

impl script::Entropy for Bytes<'_, '_> {
    fn byte(&mut self) -> u8 {
        u8::arbitrary(self.0).unwrap_or(0)
    }

    fn exhausted(&self) -> bool {
        self.0.is_empty()
    }
}

/// The `conn_frames` input: an `Arbitrary` script of frame kinds with plausible fields.
#[derive(Debug)]
pub struct ConnScript(pub script::Script);

impl<'a> Arbitrary<'a> for ConnScript {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(ConnScript(script::gen_script(&mut Bytes(u), 400)))
    }
}
