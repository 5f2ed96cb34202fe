//! Per-SA counters (RFC 4301 §4.4.2.1 lists what an SAD entry tracks).
use crate::drop::{DropCounters, DropReason};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaStats {
    /// Packets and bytes (of the resulting outer packets) protected.
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Packets and bytes (of the resulting inner packets) accepted.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// Inbound drops by reason.
    pub drops_in: DropCounters,
    /// Outbound refusals by reason.
    pub drops_out: DropCounters,
}

impl SaStats {
    /// Replayed plus too-old packets.
    pub fn replay_drops(&self) -> u64 {
        self.drops_in.get(DropReason::Replay) + self.drops_in.get(DropReason::TooOld)
    }

    /// Packets whose ICV or AEAD tag did not verify.
    pub fn auth_failures(&self) -> u64 {
        self.drops_in.get(DropReason::IcvMismatch)
    }
}
