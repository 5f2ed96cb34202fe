//! The packet path of one esprit instance: SPD/SAD decisions (esprit-sadb)
//! and the ESP/AH engine (esprit-esp) applied to whole IP packets. No I/O:
//! the event loop hands packets in and sends what comes out. Every drop is
//! counted by reason; nothing is logged per packet.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use anyhow::Result;
use esprit_crypto::Provider;
use esprit_esp::{DropCounters, DropReason, Sa};
use esprit_sadb::decider::{Direction, IpsecProto};
use esprit_sadb::sad::SaHandle;
use esprit_sadb::sadb::{Outbound, Sadb};
use esprit_sadb::setkey::Statement;
use serde_json::{json, Value};

use crate::flow::flow_of;
use crate::keylog::{transform_name, KeyLog};
use crate::protected_peers::ProtectedPeers;

/// Largest packet handled (IP maximum plus room for ESP/AH overhead).
const BUF: usize = 65_535 + 512;

/// Data-plane drop reasons that are not the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drop {
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
    /// The policy said bypass, but an established outbound SA covers the
    /// destination: refused rather than sent in the clear
    /// (see [`crate::protected_peers`]).
    BypassToProtectedPeer,
}

impl Drop {
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::NotIp => "inner packet is not IP",
            Drop::PolicyDiscard => "policy discard",
            Drop::NoSa => "no SA for policy (acquire)",
            Drop::SaExpired => "SA hard lifetime reached",
            Drop::UnknownSpi => "unknown SPI",
            Drop::InboundPolicy => "decrypted packet does not match its policy",
            Drop::GarbageUdp => "garbage on the UDP socket",
            Drop::AhInUdp => "AH cannot be sent in UDP",
            Drop::SendError => "outer send/receive error",
            Drop::BypassUnroutable => "bypass packet cannot be sent in the clear here",
            Drop::InnerQueueFull => "inner side full",
            Drop::TunGone => "TUN device disappeared",
            Drop::BypassToProtectedPeer => BYPASS_TO_PROTECTED_PEER,
        }
    }
}

/// The drop reason of [`Drop::BypassToProtectedPeer`] in `esprit status`.
pub const BYPASS_TO_PROTECTED_PEER: &str = "bypass_to_protected_peer (cleartext to a peer with an established SA refused)";

/// Counters of packets that went through.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub out_protected: u64,
    pub out_clear: u64,
    pub in_decrypted: u64,
    pub nat_keepalives: u64,
    pub ike_messages: u64,
    /// Outbound packets held while IKE negotiated their SA.
    pub held: u64,
}

/// An outbound result: a whole IP packet to send.
pub enum Out<'a> {
    /// Protected; send to the peer (raw, or its ESP part in UDP).
    Protected(&'a [u8]),
    /// Bypass policy: send in the clear.
    Clear(&'a [u8]),
}

/// Packets held while IKE negotiates their SA (bounded: packets and bytes).
const QUEUE_PACKETS: usize = 512;
const QUEUE_BYTES: usize = 4 << 20;
/// How long a held packet may wait for its SA.
const QUEUE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Dataplane {
    sadb: Sadb<Sa>,
    /// Outbound packets waiting for an SA (ACQUIRE in progress), oldest first.
    held: std::collections::VecDeque<(Instant, Vec<u8>)>,
    held_bytes: usize,
    /// Hold packets that wait for an SA instead of dropping them (IKE is on).
    pub hold_on_acquire: bool,
    engine_drops: DropCounters,
    drops: BTreeMap<Drop, u64>,
    /// The cleartext invariant (see [`crate::protected_peers`]).
    protected: ProtectedPeers,
    /// [`Drop::BypassToProtectedPeer`] count at the last tick (to log increases).
    refused_logged: u64,
    pub counters: Counters,
    a: Vec<u8>,
    b: Vec<u8>,
    ident: u16,
    started: Instant,
}

impl Dataplane {
    /// Builds the SPD/SAD from setkey statements (all or nothing).
    pub fn from_setkey(
        statements: &[Statement],
        provider: &dyn Provider,
        default_replay: Option<u32>,
        keylog: Option<&KeyLog>,
        now: Instant,
    ) -> Result<Dataplane> {
        let sadb = Sadb::from_setkey(statements, now, |spec| -> Result<Sa> {
            let mut cfg = spec.to_sa_config()?;
            if let (None, Some(w)) = (spec.replay, default_replay) {
                cfg.replay_window = w;
            }
            if let Some(k) = keylog {
                k.record(&cfg)?;
            }
            Ok(Sa::new(cfg, provider)?)
        })?;
        Ok(Dataplane {
            sadb,
            held: std::collections::VecDeque::new(),
            held_bytes: 0,
            hold_on_acquire: false,
            engine_drops: DropCounters::default(),
            drops: BTreeMap::new(),
            protected: ProtectedPeers::default(),
            refused_logged: 0,
            counters: Counters::default(),
            a: vec![0; BUF],
            b: vec![0; BUF],
            ident: 1,
            started: now,
        })
    }

    pub fn sadb(&self) -> &Sadb<Sa> {
        &self.sadb
    }

    pub fn sadb_mut(&mut self) -> &mut Sadb<Sa> {
        &mut self.sadb
    }

    fn drop(&mut self, d: Drop) {
        *self.drops.entry(d).or_default() += 1;
    }

    /// Largest ESP/AH overhead of any SA (for the inner MTU).
    pub fn max_overhead(&self) -> usize {
        self.sadb.sad().iter().map(|(_, e)| e.state.overhead(1400) + 40).max().unwrap_or(0)
    }

    /// Destinations of the `out` policies that protect traffic (routes for tun mode).
    pub fn protected_prefixes(&self) -> Vec<String> {
        use esprit_sadb::decider::Verdict;
        use esprit_sadb::spd::Action;
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

    /// Applies the outbound policy to an inner packet.
    pub fn outbound<'s>(&'s mut self, pkt: &'s [u8], now: Instant) -> Option<Out<'s>> {
        let Some(flow) = flow_of(pkt, Direction::Out) else {
            self.drop(Drop::NotIp);
            return None;
        };
        let sas = match self.sadb.outbound(&flow, now) {
            Outbound::Bypass { .. } => {
                // Fail closed: protecting it with an SA whose selectors do
                // not cover it would only move the drop to the peer's
                // inbound check; sending it would leak.
                if self.protected.covers(&self.sadb, &flow) {
                    self.drop(Drop::BypassToProtectedPeer);
                    return None;
                }
                self.counters.out_clear += 1;
                return Some(Out::Clear(pkt));
            }
            Outbound::Discard { .. } => {
                self.drop(Drop::PolicyDiscard);
                return None;
            }
            Outbound::Acquiring { .. } => {
                if self.hold_on_acquire && self.held.len() < QUEUE_PACKETS && self.held_bytes + pkt.len() <= QUEUE_BYTES {
                    self.held_bytes += pkt.len();
                    self.held.push_back((now, pkt.to_vec()));
                    self.counters.held += 1;
                } else {
                    self.drop(Drop::NoSa);
                }
                return None;
            }
            Outbound::Protect { sas, .. } => sas,
        };
        // The common case, one tunnel-mode ESP SA: place the packet after the
        // SA's headroom and encrypt it where it lies (one copy, not two).
        if let [h] = sas.as_slice() {
            let hr = self.sadb.sad().get(*h).and_then(|e| e.state.tunnel_headroom());
            if let Some(hr) = hr.filter(|hr| hr + pkt.len() + 256 <= self.a.len()) {
                if self.sadb.sad_mut().account(*h, pkt.len() as u64, now).is_err() {
                    self.drop(Drop::SaExpired);
                    return None;
                }
                self.a[hr..hr + pkt.len()].copy_from_slice(pkt);
                let e = self.sadb.sad_mut().get_mut(*h)?;
                return match e.state.encapsulate_in_place(&mut self.a, pkt.len()) {
                    Ok(p) => {
                        let len = p.len();
                        self.counters.out_protected += 1;
                        Some(Out::Protected(&self.a[..len]))
                    }
                    Err(r) => {
                        self.engine_drops.count(r);
                        None
                    }
                };
            }
        }
        let mut a = std::mem::take(&mut self.a);
        let mut b = std::mem::take(&mut self.b);
        let n = pkt.len().min(a.len());
        a[..n].copy_from_slice(&pkt[..n]);
        self.set_ident(&mut a[..n]);
        let mut len = n;
        let mut result = Ok(());
        for &h in sas.as_slice() {
            if self.sadb.sad_mut().account(h, len as u64, now).is_err() {
                result = Err(None);
                break;
            }
            let Some(e) = self.sadb.sad_mut().get_mut(h) else {
                result = Err(None);
                break;
            };
            match e.state.encapsulate(&a[..len], &mut b) {
                Ok(p) => len = p.len(),
                Err(r) => {
                    result = Err(Some(r));
                    break;
                }
            }
            std::mem::swap(&mut a, &mut b);
        }
        self.a = a;
        self.b = b;
        match result {
            Ok(()) => {
                self.counters.out_protected += 1;
                Some(Out::Protected(&self.a[..len]))
            }
            Err(Some(r)) => {
                self.engine_drops.count(r);
                None
            }
            Err(None) => {
                self.drop(Drop::SaExpired);
                None
            }
        }
    }

    /// AH's ICV covers the IPv4 identification, and a raw socket with
    /// IP_HDRINCL fills in a zero one: give every protected packet its own.
    fn set_ident(&mut self, p: &mut [u8]) {
        if p.len() >= 20 && p[0] >> 4 == 4 && p[4] == 0 && p[5] == 0 {
            p[4..6].copy_from_slice(&self.ident.to_be_bytes());
            self.ident = self.ident.wrapping_add(1).max(1);
            esprit_esp::ip::fill_ipv4_checksum(p);
        }
    }

    /// Processes a whole outer IP packet carrying ESP or AH. Returns the
    /// inner packet to deliver.
    pub fn inbound(&mut self, outer: &[u8], now: Instant) -> Option<&[u8]> {
        let mut a = std::mem::take(&mut self.a);
        let mut b = std::mem::take(&mut self.b);
        let n = outer.len().min(a.len());
        a[..n].copy_from_slice(&outer[..n]);
        let r = self.peel(&mut a, &mut b, n, now);
        self.a = a;
        self.b = b;
        let len = r?;
        Some(&self.a[..len])
    }

    /// Removes ESP/AH layers while the SAD knows their SPI (a bundle, or an
    /// SA nested in a tunnel for this host), then checks the inbound policy.
    fn peel(&mut self, a: &mut Vec<u8>, b: &mut Vec<u8>, mut len: usize, now: Instant) -> Option<usize> {
        let mut used: [Option<SaHandle>; 4] = [None; 4];
        let mut layers = 0;
        while layers < used.len() {
            let (proto, spi) = match esprit_esp::peek_spi(&a[..len]) {
                Ok(x) => x,
                Err(DropReason::NotIpsec) if layers > 0 => break,
                Err(r) => {
                    self.engine_drops.count(r);
                    return None;
                }
            };
            let dst = flow_of(&a[..len], Direction::In)?.dst;
            let proto = match proto {
                esprit_esp::Protocol::Esp => IpsecProto::Esp,
                esprit_esp::Protocol::Ah => IpsecProto::Ah,
            };
            let Some(h) = self.sadb.sad().inbound(spi, proto, dst) else {
                if layers > 0 {
                    break; // e.g. a host-to-host SA inside our tunnel: not ours
                }
                self.drop(Drop::UnknownSpi);
                return None;
            };
            let e = self.sadb.sad_mut().get_mut(h)?;
            match e.state.decapsulate(&a[..len], b) {
                Ok(p) => len = p.len(),
                Err(r) => {
                    self.engine_drops.count(r);
                    return None;
                }
            }
            std::mem::swap(a, b);
            if self.sadb.sad_mut().account(h, len as u64, now).is_err() {
                self.drop(Drop::SaExpired);
                return None;
            }
            used[layers] = Some(h);
            layers += 1;
        }
        let Some(flow) = flow_of(&a[..len], Direction::In) else {
            self.drop(Drop::NotIp);
            return None;
        };
        // The SAs that were removed, without a per-packet allocation.
        let first = used[0]?;
        let mut handles = [first; 4];
        for (slot, h) in handles.iter_mut().zip(used.iter()) {
            *slot = h.unwrap_or(first);
        }
        // `in` policies for this host, `fwd` ones for transit traffic.
        if self.sadb.check_inbound_decrypted_in_or_fwd(&handles[..layers], &flow, now).is_err() {
            self.drop(Drop::InboundPolicy);
            return None;
        }
        self.counters.in_decrypted += 1;
        Some(len)
    }

    /// Handles one datagram from the UDP socket (RFC 3948 §2): a NAT
    /// keepalive, an IKE message (non-ESP marker), or ESP.
    pub fn inbound_udp(&mut self, payload: &[u8], from: SocketAddr, local: IpAddr, now: Instant) -> Option<&[u8]> {
        if payload == [0xff] {
            self.counters.nat_keepalives += 1;
            return None;
        }
        if payload.len() < 8 {
            self.drop(Drop::GarbageUdp);
            return None;
        }
        if payload[..4] == [0, 0, 0, 0] {
            self.counters.ike_messages += 1;
            return None;
        }
        // Rebuild the outer IP header the engine expects (the kernel took it).
        let mut a = std::mem::take(&mut self.a);
        let hl = match (from.ip(), local) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = 20 + payload.len();
                if total > a.len() || total > 65_535 {
                    self.a = a;
                    self.drop(Drop::GarbageUdp);
                    return None;
                }
                a[..20].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                a[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                a[12..16].copy_from_slice(&s.octets());
                a[16..20].copy_from_slice(&d.octets());
                esprit_esp::ip::fill_ipv4_checksum(&mut a[..20]);
                20
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if 40 + payload.len() > a.len() || payload.len() > 65_535 {
                    self.a = a;
                    self.drop(Drop::GarbageUdp);
                    return None;
                }
                a[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 50, 64]);
                a[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
                a[8..24].copy_from_slice(&s.octets());
                a[24..40].copy_from_slice(&d.octets());
                40
            }
            _ => {
                self.a = a;
                self.drop(Drop::GarbageUdp);
                return None;
            }
        };
        a[hl..hl + payload.len()].copy_from_slice(payload);
        let mut b = std::mem::take(&mut self.b);
        let r = self.peel(&mut a, &mut b, hl + payload.len(), now);
        self.a = a;
        self.b = b;
        let len = r?;
        Some(&self.a[..len])
    }

    /// Takes the packets held for an SA (to run them through `outbound`
    /// again once IKE installed something); expired ones are dropped.
    pub fn take_held(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.held.len());
        while let Some((t, p)) = self.held.pop_front() {
            if now.saturating_duration_since(t) > QUEUE_TTL {
                self.drop(Drop::NoSa);
            } else {
                out.push(p);
            }
        }
        self.held_bytes = 0;
        out
    }

    /// Drops held packets whose SA never came (counted as "no SA").
    fn expire_held(&mut self, now: Instant) {
        while let Some((t, p)) = self.held.front() {
            if now.saturating_duration_since(*t) <= QUEUE_TTL {
                break;
            }
            self.held_bytes -= p.len();
            self.held.pop_front();
            self.drop(Drop::NoSa);
        }
    }

    /// Drops counted outside this struct (e.g. by the event loop).
    pub fn count_drop(&mut self, d: Drop) {
        self.drop(d);
    }

    /// Lifetime expiry; returns human-readable events to log (and warns
    /// once a second when cleartext to a protected peer was refused).
    pub fn tick(&mut self, now: Instant) -> Vec<String> {
        self.expire_held(now);
        // At most one line a second, not one per packet.
        let refused = self.drops.get(&Drop::BypassToProtectedPeer).copied().unwrap_or(0);
        if refused > self.refused_logged {
            tracing::warn!(
                "{} packet(s) to a peer with an established SA matched a bypass policy and were dropped, not sent in the clear (total {refused}; `esprit status`: {BYPASS_TO_PROTECTED_PEER})",
                refused - self.refused_logged
            );
            self.refused_logged = refused;
        }
        let mut out: Vec<String> = self
            .sadb
            .expire(now)
            .into_iter()
            .map(|e| format!("SA {:#010x} {} -> {}: {:?} lifetime reached ({:?})", e.spi, e.src, e.dst, e.expiry, e.limit))
            .collect();
        while let Some(acq) = self.sadb.poll_acquire() {
            out.push(format!(
                "ACQUIRE: policy {} needs an SA for {} -> {} (proto {}); no key manager is configured, packets are dropped",
                acq.policy_id, acq.flow.src, acq.flow.dst, acq.flow.proto
            ));
        }
        out
    }

    /// The status shown by `esprit status` (JSON).
    pub fn status(&self, now: Instant) -> Value {
        let sas: Vec<Value> = self
            .sadb
            .sad()
            .iter()
            .map(|(_, e)| {
                let c = e.state.config();
                let st = e.state.stats();
                json!({
                    "spi": format!("{:#010x}", c.spi),
                    "proto": format!("{:?}", c.protocol).to_lowercase(),
                    "mode": format!("{:?}", c.mode).to_lowercase(),
                    "src": c.src.to_string(),
                    "dst": c.dst.to_string(),
                    "transform": transform_name(&c.transform),
                    "esn": c.esn,
                    "replay_window": c.replay_window,
                    "reqid": e.info.reqid,
                    "bytes": e.counters.bytes,
                    "packets": e.counters.packets,
                    "age_s": now.saturating_duration_since(e.counters.created).as_secs(),
                    "engine": {
                        "packets_out": st.packets_out, "bytes_out": st.bytes_out,
                        "packets_in": st.packets_in, "bytes_in": st.bytes_in,
                        "drops_in": st.drops_in.iter().map(|(r, n)| format!("{}: {n}", r.as_str())).collect::<Vec<_>>(),
                        "drops_out": st.drops_out.iter().map(|(r, n)| format!("{}: {n}", r.as_str())).collect::<Vec<_>>(),
                    },
                    "expired": e.is_expired(),
                })
            })
            .collect();
        let policies: Vec<Value> = self
            .sadb
            .spd()
            .entries()
            .iter()
            .map(|p| json!({ "id": p.id.0, "policy": p.to_string(), "hits": p.hits, "priority": p.priority }))
            .collect();
        let mut drops: BTreeMap<String, u64> = BTreeMap::new();
        for (r, n) in self.engine_drops.iter() {
            *drops.entry(r.as_str().to_string()).or_default() += n;
        }
        for (d, n) in &self.drops {
            *drops.entry(d.as_str().to_string()).or_default() += n;
        }
        let c = self.counters;
        let refused = self.drops.get(&Drop::BypassToProtectedPeer).copied().unwrap_or(0);
        let warnings: Vec<String> = (refused > 0)
            .then(|| format!("{refused} packet(s) to peers with an established SA matched a bypass policy and were dropped (not sent in the clear): check the SPD (`esprit policy test`) and the routes into the TUN"))
            .into_iter()
            .collect();
        json!({
            "warnings": warnings,
            "uptime_s": now.saturating_duration_since(self.started).as_secs(),
            "sas": sas,
            "policies": policies,
            "drops": drops,
            "counters": {
                "out_protected": c.out_protected, "out_clear": c.out_clear, "in_decrypted": c.in_decrypted,
                "nat_keepalives": c.nat_keepalives, "ike_messages": c.ike_messages, "held_for_ike": c.held,
                "bypass_to_protected_peer": refused,
            },
            "spd": format!("{:?}", self.sadb.spd().stats()),
            "inbound": format!("{:?}", self.sadb.inbound_stats()),
            "outbound": format!("{:?}", self.sadb.outbound_stats()),
            "acquires": format!("{:?}", self.sadb.acquire_stats()),
        })
    }
}
