//! Request bodies, read and thrown away as they arrive (RFC 9112 §6–§7):
//! nothing of them is buffered, so the next pipelined request can be
//! parsed. The chunked decoder is strict (CRLF only, no whitespace other
//! than before a chunk extension): a lenient one is where request
//! smuggling between a proxy and its origin lives.

/// Why a body's framing cannot be followed; the connection is closed.
pub(crate) type BodyError = &'static str;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// In the chunk-size hex digits: the value so far and digits read.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size, whitespace before a `;` (BWS, RFC 9112 §7.1.1).
    SizeWs {
        value: u64,
    },
    /// In a chunk extension, up to CR.
    Ext {
        value: u64,
    },
    /// After the CR of the chunk-size line.
    SizeLf {
        value: u64,
    },
    /// Chunk data left.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer field line, or of the final empty line.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
}

/// The body of the request being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Idle,
    /// Content-Length bytes left.
    Length(u64),
    Chunked {
        state: Chunk,
        /// Chunk data so far, against `max_data`.
        data: u64,
        max_data: u64,
        /// Bytes of chunk-size lines, extensions and trailers so far.
        framing: usize,
        max_framing: usize,
    },
}

impl Body {
    pub(crate) fn chunked(max_data: u64, max_framing: usize) -> Self {
        Body::Chunked { state: Chunk::Size { value: 0, digits: 0 }, data: 0, max_data, max_framing, framing: 0 }
    }

    pub(crate) fn is_active(&self) -> bool {
        *self != Body::Idle
    }

    /// Consumes body bytes from the front of `input`, returning how many
    /// it took; the body is over once `self` is `Idle` again.
    pub(crate) fn discard(&mut self, input: &[u8]) -> Result<usize, BodyError> {
        match self {
            Body::Idle => Ok(0),
            Body::Length(left) => {
                let n = (*left).min(input.len() as u64);
                *left -= n;
                if *left == 0 {
                    *self = Body::Idle;
                }
                Ok(n as usize)
            }
            Body::Chunked { state, data, max_data, framing, max_framing } => {
                let mut i = 0;
                while i < input.len() {
                    if let Chunk::Data(left) = state {
                        let n = (*left).min((input.len() - i) as u64);
                        *left -= n;
                        i += n as usize;
                        if *left == 0 {
                            *state = Chunk::DataCr;
                        }
                        continue;
                    }
                    *framing += 1;
                    if *framing > *max_framing {
                        return Err("chunk framing too long");
                    }
                    let b = input[i];
                    i += 1;
                    *state = match (*state, b) {
                        (Chunk::Size { value, digits }, _) if b.is_ascii_hexdigit() => {
                            // 16 hex digits fill a u64; more is a lie or an overflow.
                            if digits == 16 {
                                return Err("chunk size too long");
                            }
                            let d = (b as char).to_digit(16).unwrap_or(0);
                            Chunk::Size { value: value << 4 | u64::from(d), digits: digits + 1 }
                        }
                        (Chunk::Size { digits: 0, .. }, _) => return Err("missing chunk size"),
                        (Chunk::Size { value, .. } | Chunk::SizeWs { value }, b' ' | b'\t') => Chunk::SizeWs { value },
                        (Chunk::Size { value, .. } | Chunk::SizeWs { value } | Chunk::Ext { value }, b';') => {
                            Chunk::Ext { value }
                        }
                        (Chunk::Size { value, .. } | Chunk::Ext { value }, b'\r') => Chunk::SizeLf { value },
                        (Chunk::Ext { value }, _) if is_text(b) => Chunk::Ext { value },
                        (Chunk::SizeLf { value: 0 }, b'\n') => Chunk::TrailerStart,
                        (Chunk::SizeLf { value }, b'\n') => {
                            *data = data.saturating_add(value);
                            if *data > *max_data {
                                return Err("chunked body too large");
                            }
                            Chunk::Data(value)
                        }
                        (Chunk::DataCr, b'\r') => Chunk::DataLf,
                        (Chunk::DataLf, b'\n') => Chunk::Size { value: 0, digits: 0 },
                        (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                        (Chunk::TrailerStart | Chunk::TrailerLine, _) if is_text(b) => Chunk::TrailerLine,
                        (Chunk::TrailerLine, b'\r') => Chunk::TrailerLf,
                        (Chunk::TrailerLf, b'\n') => Chunk::TrailerStart,
                        (Chunk::EndLf, b'\n') => {
                            *self = Body::Idle;
                            return Ok(i);
                        }
                        _ => return Err("invalid chunked framing"),
                    };
                }
                Ok(i)
            }
        }
    }
}

/// Bytes allowed in an extension or a trailer line: visible, SP, HTAB
/// and obs-text; no CR, LF, NUL or other controls.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], split: usize) -> Result<(usize, bool), BodyError> {
        let mut body = Body::chunked(1 << 20, 1024);
        let mut used = 0;
        for part in input.chunks(split.max(1)) {
            let n = body.discard(part)?;
            used += n;
            if !body.is_active() {
                return Ok((used, true));
            }
            assert_eq!(n, part.len());
        }
        Ok((used, false))
    }

    #[test]
    fn chunked_bodies_in_any_split() {
        let body = b"5\r\nhello\r\nA;name=\"v\"\r\n0123456789\r\n0\r\ntrailer: x\r\n\r\nGET";
        for split in 1..body.len() {
            assert_eq!(run(body, split), Ok((body.len() - 3, true)), "split {split}");
        }
        assert_eq!(run(b"0 ;ext\r\n\r\n", 3), Ok((10, true)));
        assert_eq!(run(b"5\r\nhel", 64), Ok((6, false)));
    }

    #[test]
    fn chunked_framing_errors() {
        for bad in [
            &b"\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"5\r\nhelloX\r\n",
            b"0\r\n\n",
            b"0\r\nx: y\n\r\n",
            b"0;a\x00\r\n\r\n",
            b"00000000000000001\r\n",
        ] {
            assert!(run(bad, 64).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(run(b"100001\r\n", 64), Err("chunked body too large"));
        assert_eq!(run(&[b'0'; 16], 64), Ok((16, false)));
        let mut long_ext = b"1;".to_vec();
        long_ext.resize(2000, b'a');
        assert_eq!(run(&long_ext, 64), Err("chunk framing too long"));
    }
}
