//! One space of drop reasons for the whole packet path: the ESP/AH engine's
//! ([`esprit_esp::DropReason`]) and the path's own ([`PathDrop`]), counted in
//! fixed arrays (no map, no allocation per drop).

use esprit_esp::DropReason;

/// Drops decided by the packet path around the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathDrop {
    /// An inner packet that is not IPv4/IPv6.
    NotIp,
    /// The outbound policy says `discard`.
    PolicyDiscard,
    /// A `require` policy has no SA yet (ACQUIRE raised).
    NoSa,
    /// The SA reached a hard lifetime.
    SaExpired,
    /// No SA for the SPI of an inbound packet.
    UnknownSpi,
    /// The decrypted packet does not match the SA's policy.
    InboundPolicy,
    /// A packet on the UDP socket that is neither ESP, IKE nor a keepalive.
    GarbageUdp,
    /// AH cannot be sent in UDP (RFC 3948 covers ESP only).
    AhInUdp,
    /// The outer socket refused the packet (e.g. the peer's port is closed).
    SendError,
    /// A bypass packet has no route out (netstack mode, or IPv6 in tun mode).
    BypassUnroutable,
    /// The inner side (TUN or netstack) had no room for a decrypted packet.
    InnerQueueFull,
    /// A packet read failed because the TUN device disappeared.
    TunGone,
    /// A TUN read failed for another reason (counted, the reader goes on).
    TunReadError,
    /// A packet larger than a [`crate::PacketBuf`] holds.
    TooBig,
    /// An IKE message on the NAT-T socket found the IKE thread's queue full.
    IkeQueueFull,
    /// The policy said bypass, but an established outbound SA covers the
    /// destination: refused rather than sent in the clear (see
    /// `protected_peers`).
    BypassToProtectedPeer,
}

/// The label of [`PathDrop::BypassToProtectedPeer`] in `esprit status`.
pub const BYPASS_TO_PROTECTED_PEER: &str = "bypass_to_protected_peer (cleartext to a peer with an established SA refused)";

impl PathDrop {
    pub const ALL: [PathDrop; 16] = [
        PathDrop::NotIp,
        PathDrop::PolicyDiscard,
        PathDrop::NoSa,
        PathDrop::SaExpired,
        PathDrop::UnknownSpi,
        PathDrop::InboundPolicy,
        PathDrop::GarbageUdp,
        PathDrop::AhInUdp,
        PathDrop::SendError,
        PathDrop::BypassUnroutable,
        PathDrop::InnerQueueFull,
        PathDrop::TunGone,
        PathDrop::TunReadError,
        PathDrop::TooBig,
        PathDrop::IkeQueueFull,
        PathDrop::BypassToProtectedPeer,
    ];
    pub const COUNT: usize = PathDrop::ALL.len();

    /// The label shown by `esprit status` and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            PathDrop::NotIp => "inner packet is not IP",
            PathDrop::PolicyDiscard => "policy discard",
            PathDrop::NoSa => "no SA for policy (acquire)",
            PathDrop::SaExpired => "SA hard lifetime reached",
            PathDrop::UnknownSpi => "unknown SPI",
            PathDrop::InboundPolicy => "decrypted packet does not match its policy",
            PathDrop::GarbageUdp => "garbage on the UDP socket",
            PathDrop::AhInUdp => "AH cannot be sent in UDP",
            PathDrop::SendError => "outer send/receive error",
            PathDrop::BypassUnroutable => "bypass packet cannot be sent in the clear here",
            PathDrop::InnerQueueFull => "inner side full",
            PathDrop::TunGone => "TUN device disappeared",
            PathDrop::TunReadError => "TUN read error",
            PathDrop::TooBig => "packet larger than the buffer",
            PathDrop::IkeQueueFull => "IKE queue full",
            PathDrop::BypassToProtectedPeer => BYPASS_TO_PROTECTED_PEER,
        }
    }
}

/// Any reason a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Path(PathDrop),
    Engine(DropReason),
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Path(p) => p.as_str(),
            Reason::Engine(e) => e.as_str(),
        }
    }
}

impl From<PathDrop> for Reason {
    fn from(p: PathDrop) -> Reason {
        Reason::Path(p)
    }
}

impl From<DropReason> for Reason {
    fn from(e: DropReason) -> Reason {
        Reason::Engine(e)
    }
}

/// Drop counters indexed by reason.
#[derive(Debug, Clone, Default)]
pub struct DropCounters {
    path: [u64; PathDrop::COUNT],
    engine: esprit_esp::DropCounters,
}

impl DropCounters {
    #[inline]
    pub fn count(&mut self, r: impl Into<Reason>) {
        match r.into() {
            Reason::Path(p) => self.path[p as usize] += 1,
            Reason::Engine(e) => self.engine.count(e),
        }
    }

    /// Counts `n` drops of one reason at once.
    pub fn add(&mut self, r: PathDrop, n: u64) {
        self.path[r as usize] += n;
    }

    pub fn get(&self, r: impl Into<Reason>) -> u64 {
        match r.into() {
            Reason::Path(p) => self.path[p as usize],
            Reason::Engine(e) => self.engine.get(e),
        }
    }

    pub fn total(&self) -> u64 {
        self.path.iter().sum::<u64>() + self.engine.total()
    }

    /// Non-zero counters: the engine's reasons, then the path's.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        let engine = self.engine.iter().map(|(r, n)| (Reason::Engine(r), n));
        let path = PathDrop::ALL.iter().map(|&p| (Reason::Path(p), self.path[p as usize])).filter(|&(_, n)| n != 0);
        engine.chain(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_space_for_both_kinds() {
        let mut c = DropCounters::default();
        c.count(PathDrop::UnknownSpi);
        c.count(PathDrop::UnknownSpi);
        c.count(DropReason::Replay);
        assert_eq!(c.get(PathDrop::UnknownSpi), 2);
        assert_eq!(c.get(DropReason::Replay), 1);
        assert_eq!(c.total(), 3);
        let v: Vec<_> = c.iter().map(|(r, n)| (r.as_str(), n)).collect();
        assert_eq!(v, vec![(DropReason::Replay.as_str(), 1), ("unknown SPI", 2)]);
    }

    #[test]
    fn all_lists_every_reason_once() {
        for (i, p) in PathDrop::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i, "{p:?} out of order");
        }
    }
}
