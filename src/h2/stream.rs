//! Stream states of RFC 9113 §5.1, as seen by a server that never pushes.
//!
//! A server without push never uses "reserved (local)" or "reserved
//! (remote)": clients cannot push (§8.4) and we never send PUSH_PROMISE, so
//! the states a stream can be in are the five below. "idle" streams have no
//! record at all: they are the ids above the highest one the client used.

/// The state of one stream (RFC 9113 §5.1, Figure 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    Idle,
    Open,
    /// The client sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// We sent END_STREAM; the client may still send.
    HalfClosedLocal,
    Closed,
}

impl StreamState {
    /// The state after the request's HEADERS opened an idle stream.
    pub fn opened(end_stream: bool) -> Self {
        if end_stream { Self::HalfClosedRemote } else { Self::Open }
    }

    /// Whether the client may still send DATA or trailers (§5.1: only in
    /// "open" and "half-closed (local)").
    pub fn can_recv(self) -> bool {
        matches!(self, Self::Open | Self::HalfClosedLocal)
    }

    /// Whether we may still send HEADERS or DATA on it.
    pub fn can_send(self) -> bool {
        matches!(self, Self::Open | Self::HalfClosedRemote)
    }

    /// The client's END_STREAM arrived (on DATA or trailers).
    pub fn recv_end_stream(self) -> Self {
        match self {
            Self::Open => Self::HalfClosedRemote,
            Self::HalfClosedLocal => Self::Closed,
            other => other,
        }
    }

    /// We sent END_STREAM.
    pub fn send_end_stream(self) -> Self {
        match self {
            Self::Open => Self::HalfClosedLocal,
            Self::HalfClosedRemote => Self::Closed,
            other => other,
        }
    }
}

/// A flow-control window (RFC 9113 §6.9). Signed because a SETTINGS change
/// of SETTINGS_INITIAL_WINDOW_SIZE can make a send window negative (§6.9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowWindow(i64);

/// The largest window a WINDOW_UPDATE may produce (§6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// A window grew past 2^31-1 (§6.9.1: FLOW_CONTROL_ERROR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOverflow;

impl FlowWindow {
    pub const fn new(size: u32) -> Self {
        Self(size as i64)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The number of bytes that may be sent now (0 when negative).
    pub fn available(self) -> u32 {
        self.0.clamp(0, MAX_WINDOW) as u32
    }

    pub fn increase(&mut self, by: u32) -> Result<(), WindowOverflow> {
        self.adjust(i64::from(by))
    }

    /// Applies a signed change, as a new SETTINGS_INITIAL_WINDOW_SIZE does
    /// to every open stream (§6.9.2).
    pub fn adjust(&mut self, delta: i64) -> Result<(), WindowOverflow> {
        let next = self.0 + delta;
        if next > MAX_WINDOW {
            return Err(WindowOverflow);
        }
        self.0 = next;
        Ok(())
    }

    /// Consumes `len` bytes; false when the window did not allow them.
    pub fn consume(&mut self, len: u32) -> bool {
        if i64::from(len) > self.0 {
            return false;
        }
        self.0 -= i64::from(len);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_response_lifecycle() {
        let s = StreamState::opened(true);
        assert_eq!(s, StreamState::HalfClosedRemote);
        assert!(!s.can_recv() && s.can_send());
        assert_eq!(s.send_end_stream(), StreamState::Closed);

        let s = StreamState::opened(false);
        assert!(s.can_recv() && s.can_send());
        let s = s.send_end_stream();
        assert_eq!(s, StreamState::HalfClosedLocal);
        assert!(s.can_recv() && !s.can_send());
        assert_eq!(s.recv_end_stream(), StreamState::Closed);
    }

    #[test]
    fn window_rules() {
        let mut w = FlowWindow::new(10);
        assert!(w.consume(10));
        assert!(!w.consume(1));
        w.adjust(-5).unwrap();
        assert_eq!(w.available(), 0);
        assert_eq!(w.get(), -5);
        w.increase(6).unwrap();
        assert_eq!(w.available(), 1);
        let mut full = FlowWindow::new(MAX_WINDOW as u32);
        assert_eq!(full.increase(1), Err(WindowOverflow));
    }
}
