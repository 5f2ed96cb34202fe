//! The data plane's state: the SPD/SAD, held packets, counters.

use std::fmt;
use std::time::{Duration, Instant};

use esprit_esp::Sa;
use esprit_sadb::acquire::Acquire;
use esprit_sadb::decider::{Direction, Verdict};
use esprit_sadb::sad::LifetimeEvent;
use esprit_sadb::sadb::Sadb;
use esprit_sadb::spd::Action;

use crate::held::Held;
use crate::protected_peers::ProtectedPeers;
use crate::reason::{DropCounters, PathDrop, Reason};

/// Counters of packets that went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub out_protected: u64,
    pub out_clear: u64,
    pub in_decrypted: u64,
    pub nat_keepalives: u64,
    pub ike_messages: u64,
    /// Outbound packets held while IKE negotiated their SA.
    pub held: u64,
    /// Batched I/O, counted by the I/O side: TUN reads that carried a
    /// super-segment (offloads) and the packets cut from them; UDP GSO sends
    /// and the datagrams they carried; UDP buffers the kernel coalesced
    /// (GRO) and the datagrams in them.
    pub tun_super_segments: u64,
    pub tun_segments: u64,
    pub gso_sends: u64,
    pub gso_datagrams: u64,
    pub gro_buffers: u64,
    pub gro_datagrams: u64,
}

/// Something the owner of the data plane should log (from [`Dataplane::tick`]).
#[derive(Debug)]
pub enum Notice {
    /// An SA reached a soft or hard lifetime.
    Expired(LifetimeEvent),
    /// A policy needs an SA and nothing negotiates one (no IKE).
    UnhandledAcquire(Acquire),
    /// Packets to a peer with an established SA matched a bypass policy and
    /// were dropped, not sent in the clear (`new` since the last tick).
    RefusedCleartext { new: u64, total: u64 },
}

impl Notice {
    /// Whether the operator should be warned (not just informed).
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::RefusedCleartext { .. })
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Expired(e) => write!(f, "SA {:#010x} {} -> {}: {:?} lifetime reached ({:?})", e.spi, e.src, e.dst, e.expiry, e.limit),
            Notice::UnhandledAcquire(a) => write!(
                f,
                "ACQUIRE: policy {} needs an SA for {} -> {} (proto {}); no key manager is configured, packets are dropped",
                a.policy_id, a.flow.src, a.flow.dst, a.flow.proto
            ),
            Notice::RefusedCleartext { new, total } => write!(
                f,
                "{new} packet(s) to a peer with an established SA matched a bypass policy and were dropped, not sent in the clear (total {total}; `esprit status`: {})",
                crate::reason::BYPASS_TO_PROTECTED_PEER
            ),
        }
    }
}

/// The packet path of one instance.
pub struct Dataplane {
    pub(crate) sadb: Sadb<Sa>,
    pub(crate) held: Held,
    /// Hold packets that wait for an SA instead of dropping them (IKE is on).
    pub hold_on_acquire: bool,
    /// The outer transport is ESP in UDP (RFC 3948): tunnel-mode ESP is
    /// sealed and opened without an IP header ([`crate::Out::Esp`],
    /// [`Dataplane::inbound_udp`]).
    pub esp_in_udp: bool,
    pub(crate) drops: DropCounters,
    /// The cleartext invariant (see `protected_peers`).
    pub(crate) protected: ProtectedPeers,
    /// [`PathDrop::BypassToProtectedPeer`] at the last tick (to report increases).
    refused_reported: u64,
    pub counters: Counters,
    /// The next IPv4 identification for packets that have none (see `outbound`).
    pub(crate) ident: u16,
    started: Instant,
}

impl Dataplane {
    /// A data plane over an SPD/SAD (e.g. built by [`Sadb::from_setkey`]).
    pub fn new(sadb: Sadb<Sa>, now: Instant) -> Dataplane {
        Dataplane {
            sadb,
            held: Held::default(),
            hold_on_acquire: false,
            esp_in_udp: false,
            drops: DropCounters::default(),
            protected: ProtectedPeers::default(),
            refused_reported: 0,
            counters: Counters::default(),
            ident: 1,
            started: now,
        }
    }

    pub fn sadb(&self) -> &Sadb<Sa> {
        &self.sadb
    }

    pub fn sadb_mut(&mut self) -> &mut Sadb<Sa> {
        &mut self.sadb
    }

    /// Counts a drop decided outside the data plane (e.g. by the I/O side).
    pub fn count_drop(&mut self, r: impl Into<Reason>) {
        self.drops.count(r);
    }

    /// Counts `n` drops of one reason decided outside the data plane (a
    /// batched send that failed as a whole).
    pub fn count_drops(&mut self, r: PathDrop, n: u64) {
        self.drops.add(r, n);
    }

    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    pub fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Packets held for an SA right now.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Largest ESP/AH overhead of any SA (for the inner MTU).
    pub fn max_overhead(&self) -> usize {
        self.sadb.sad().iter().map(|(_, e)| e.state.overhead(1400) + 40).max().unwrap_or(0)
    }

    /// Destinations of the `out` policies that protect traffic (routes for tun mode).
    pub fn protected_prefixes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sadb
            .spd()
            .entries()
            .iter()
            .filter(|e| e.dir == Direction::Out)
            .filter(|e| !matches!(e.action, Action::Verdict(Verdict::Bypass | Verdict::Discard)))
            .map(|e| e.selector.dst.to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Takes the packets held for an SA (to run them through the outbound
    /// path again once IKE installed something); expired ones are counted
    /// as "no SA".
    pub fn take_held(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let (live, expired) = self.held.take(now);
        self.drops.add(PathDrop::NoSa, expired);
        live
    }

    /// Lifetimes and held-packet expiry; returns what to log.
    pub fn tick(&mut self, now: Instant) -> Vec<Notice> {
        let expired = self.held.expire(now);
        self.drops.add(PathDrop::NoSa, expired);
        let mut out: Vec<Notice> = self.sadb.expire(now).into_iter().map(Notice::Expired).collect();
        // At most one line a tick, not one per packet.
        let refused = self.drops.get(PathDrop::BypassToProtectedPeer);
        if refused > self.refused_reported {
            out.push(Notice::RefusedCleartext { new: refused - self.refused_reported, total: refused });
            self.refused_reported = refused;
        }
        // With IKE on, its thread collects the ACQUIREs.
        while !self.hold_on_acquire {
            let Some(acq) = self.sadb.poll_acquire() else { break };
            out.push(Notice::UnhandledAcquire(acq));
        }
        out
    }
}
