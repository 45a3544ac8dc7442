//! What a CQE's `user_data` says: which operation of which connection (or
//! listener) completed.
//!
//! Layout, low bits first:
//!
//! | bits  | field                                                       |
//! |-------|-------------------------------------------------------------|
//! | 0–7   | [`Op`]                                                      |
//! | 8–31  | generation of the connection (24 bits; for accepts 0 multishot, 1 single-shot; else 0) |
//! | 32–63 | connection key (slab index) or listener index               |
//!
//! The generation is belt and braces: a key only returns to the slab after
//! every operation of its connection has completed, so no CQE can name a
//! reused key. If one ever did, the generation would not match and the
//! backend would drop it (and count it in `UringStats::stale_cqes`) rather
//! than deliver it to the new connection. It also keeps the `user_data` of
//! an `AsyncCancel` from ever matching a later connection's request.
//!
//! `user_data` 0 is never produced (every `Op` is non-zero).

/// The operation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    /// Accept on listener `key` (multishot, or single-shot: generation 1).
    Accept = 1,
    /// The pause (100 ms to 1 s) after an accept failed for lack of resources.
    AcceptBackoff = 2,
    /// `AsyncCancel` of a listener's accept or backoff (stop_accepting).
    ListenerCancel = 3,
    /// Multishot poll on the waker's eventfd.
    Wake = 4,
    /// Multishot receive of connection `key`.
    Recv = 5,
    /// The send of connection `key`.
    Send = 6,
    /// `AsyncCancel` of every request on connection `key` (close).
    ConnCancel = 7,
    /// `Close` of connection `key`'s direct descriptor.
    Close = 8,
    /// The cancel-everything request of `Drop`.
    Shutdown = 9,
}

impl Op {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Accept,
            2 => Self::AcceptBackoff,
            3 => Self::ListenerCancel,
            4 => Self::Wake,
            5 => Self::Recv,
            6 => Self::Send,
            7 => Self::ConnCancel,
            8 => Self::Close,
            9 => Self::Shutdown,
            _ => return None,
        })
    }
}

pub(super) const GEN_MASK: u32 = 0x00ff_ffff;

pub(super) fn encode(op: Op, key: usize, generation: u32) -> u64 {
    // Keys come from a slab bounded by the fixed-file table (≤ 2^20) or
    // from the listener list, so they always fit in 32 bits.
    ((key as u64 & 0xffff_ffff) << 32) | (u64::from(generation & GEN_MASK) << 8) | op as u64
}

pub(super) fn decode(user_data: u64) -> Option<(Op, usize, u32)> {
    let op = Op::from_u8(user_data as u8)?;
    let generation = (user_data >> 8) as u32 & GEN_MASK;
    Some((op, (user_data >> 32) as usize, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (op, key, generation) in [(Op::Accept, 0, 0), (Op::Recv, 7, 1), (Op::Close, u32::MAX as usize, GEN_MASK)] {
            let ud = encode(op, key, generation);
            assert_ne!(ud, 0);
            assert_eq!(decode(ud), Some((op, key, generation)));
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(0xff), None);
        // A generation wraps within its 24 bits and never spills into the key.
        assert_eq!(decode(encode(Op::Send, 3, GEN_MASK + 2)), Some((Op::Send, 3, 1)));
    }
}
