//! Prefixed integers (RFC 7541 §5.1).
//!
//! An integer starts in the low N bits of an octet whose high bits carry the
//! representation type; values that don't fit continue in 7-bit groups,
//! least significant first, with the high bit set on every octet but the last.

use super::DecodeError;

/// The most continuation octets we accept. 5 × 7 = 35 bits is enough for any
/// `u32` above the largest prefix (255); a longer run can only be an overflow
/// or a padded ("over-long") encoding such as `1f 80 80 80 80 80 00`, which we
/// reject so that a peer can't make us loop over arbitrarily many 0x80 octets.
const MAX_CONTINUATION: usize = 5;

/// Appends `value` as an integer with a `prefix_bits`-bit prefix (1..=8)
/// (RFC 7541 §5.1). `flags` supplies the bits of the first octet above the
/// prefix (the representation type); bits of `flags` inside the prefix are
/// ignored. An out-of-range `prefix_bits` is clamped to 1..=8.
pub fn encode_integer(value: usize, prefix_bits: u8, flags: u8, dst: &mut Vec<u8>) {
    let max_prefix = prefix_max(prefix_bits);
    let flags = flags & !(max_prefix as u8);
    if value < max_prefix {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.push(0x80 | (rest as u8 & 0x7f));
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// Decodes an integer with a `prefix_bits`-bit prefix from the start of `src`
/// (the first octet's bits above the prefix are ignored). Returns the value
/// and the number of octets consumed.
///
/// Values above `u32::MAX` and encodings with more than five continuation
/// octets are [`DecodeError::IntegerOverflow`]; running out of input is
/// [`DecodeError::Truncated`].
pub fn decode_integer(src: &[u8], prefix_bits: u8) -> Result<(usize, usize), DecodeError> {
    let max_prefix = prefix_max(prefix_bits);
    let Some((&first, rest)) = src.split_first() else {
        return Err(DecodeError::Truncated);
    };
    let prefix = usize::from(first) & max_prefix;
    if prefix < max_prefix {
        return Ok((prefix, 1));
    }
    let mut value = prefix as u64;
    for (i, &b) in rest.iter().enumerate() {
        if i == MAX_CONTINUATION {
            return Err(DecodeError::IntegerOverflow);
        }
        value += u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if value > u64::from(u32::MAX) {
                return Err(DecodeError::IntegerOverflow);
            }
            let value = usize::try_from(value).map_err(|_| DecodeError::IntegerOverflow)?;
            return Ok((value, i + 2));
        }
    }
    // The block ended inside the integer; distinguish a long run of 0x80s
    // that already overflowed from plain truncation.
    if rest.len() > MAX_CONTINUATION { Err(DecodeError::IntegerOverflow) } else { Err(DecodeError::Truncated) }
}

/// 2^N - 1 for N clamped to 1..=8.
fn prefix_max(prefix_bits: u8) -> usize {
    (1usize << prefix_bits.clamp(1, 8)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: usize, n: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode_integer(v, n, 0, &mut out);
        out
    }

    #[test]
    fn rfc_examples() {
        // C.1.1, C.1.2, C.1.3
        assert_eq!(enc(10, 5), [0x0a]);
        assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
        assert_eq!(enc(42, 8), [0x2a]);
        assert_eq!(decode_integer(&[0xea], 5), Ok((10, 1)));
        assert_eq!(decode_integer(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
    }

    #[test]
    fn boundaries_round_trip() {
        for n in 1..=8u8 {
            let m = (1usize << n) - 1;
            for v in [0, 1, m - 1, m, m + 1, m + 127, m + 128, 16383, 16384, 1 << 21, u32::MAX as usize] {
                let bytes = enc(v, n);
                assert_eq!(decode_integer(&bytes, n), Ok((v, bytes.len())), "v={v} n={n}");
                // Every strict prefix of a multi-octet integer is truncated.
                for cut in 0..bytes.len() {
                    assert_eq!(decode_integer(&bytes[..cut], n), Err(DecodeError::Truncated));
                }
            }
        }
    }

    #[test]
    fn flags_are_kept_and_prefix_bits_ignored_on_decode() {
        let mut out = Vec::new();
        encode_integer(5, 6, 0x40, &mut out);
        assert_eq!(out, [0x45]);
        assert_eq!(decode_integer(&[0xff, 0x00], 7), Ok((127, 2)));
        assert_eq!(decode_integer(&[0xc5], 6), Ok((5, 1)));
    }

    #[test]
    fn overflow_rejected() {
        // u32::MAX + 1 with a 5-bit prefix.
        let mut big = Vec::new();
        encode_integer(u32::MAX as usize + 1, 5, 0, &mut big);
        assert_eq!(decode_integer(&big, 5), Err(DecodeError::IntegerOverflow));
        // Six continuation octets, even if they only encode zeros.
        let padded = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(decode_integer(&padded, 5), Err(DecodeError::IntegerOverflow));
        // Five are fine (value 31).
        assert_eq!(decode_integer(&padded[..5].iter().copied().chain([0]).collect::<Vec<_>>(), 5), Ok((31, 6)));
        // An endless run of 0x80 stops after the limit, not at the end of input.
        let endless = [0xffu8; 1000];
        assert_eq!(decode_integer(&endless, 8), Err(DecodeError::IntegerOverflow));
    }
}
