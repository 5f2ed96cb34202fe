//! SA lifetimes (RFC 4301 §4.4.2.1): soft and hard limits in time, bytes and
//! packets. A soft limit asks for a rekey; a hard limit ends the SA.

use std::time::Duration;

/// One set of limits; `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Limits {
    pub time: Option<Duration>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.time.is_none() && self.bytes.is_none() && self.packets.is_none()
    }

    /// Which of the volume limits `bytes`/`packets` reach, if any.
    pub fn volume_reached(&self, bytes: u64, packets: u64) -> Option<LimitKind> {
        if self.bytes.is_some_and(|b| bytes >= b) {
            Some(LimitKind::Bytes)
        } else if self.packets.is_some_and(|p| packets >= p) {
            Some(LimitKind::Packets)
        } else {
            None
        }
    }
}

/// Soft and hard limits of one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Lifetimes {
    pub soft: Limits,
    pub hard: Limits,
}

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Time,
    Bytes,
    Packets,
}

/// Soft (rekey now) or hard (the SA is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    Soft,
    Hard,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_limits() {
        let l = Limits { time: None, bytes: Some(100), packets: Some(3) };
        assert_eq!(l.volume_reached(99, 2), None);
        assert_eq!(l.volume_reached(100, 0), Some(LimitKind::Bytes));
        assert_eq!(l.volume_reached(1, 3), Some(LimitKind::Packets));
        assert!(Limits::default().is_unlimited());
        assert_eq!(Limits::default().volume_reached(u64::MAX, u64::MAX), None);
    }
}
