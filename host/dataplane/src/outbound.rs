//! The outbound path: SPD → SAD → ESP/AH (RFC 4301 §5.1).

use std::time::Instant;

use esprit_sadb::decider::Direction;
use esprit_sadb::sadb::Outbound;

use crate::buf::{PacketBuf, HEADROOM, MAX_PACKET};
use crate::flow::flow_of;
use crate::reason::PathDrop;
use crate::Dataplane;

/// An outbound result, a slice of the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Out<'b> {
    /// Protected, a whole IP packet; send to the peer (raw, or its ESP part
    /// in UDP).
    Protected(&'b [u8]),
    /// Protected, the ESP packet alone (SPI .. ICV, no IP header): the
    /// payload of an ESP-in-UDP datagram to `to` (RFC 3948 §2.1). Tunnel-mode
    /// ESP when [`Dataplane::esp_in_udp`] is set.
    Esp { esp: &'b [u8], to: std::net::IpAddr },
    /// Bypass policy: send in the clear.
    Clear(&'b [u8]),
}

/// Room an ESP trailer and ICV may need after the packet.
const TAILROOM: usize = 256;

impl Dataplane {
    /// Applies the outbound policy to the inner packet of `len` bytes in
    /// `pb` (read into [`PacketBuf::input`]). `None` when it was dropped
    /// (counted) or held for an ACQUIRE.
    pub fn outbound<'b>(&mut self, pb: &'b mut PacketBuf, len: usize, now: Instant) -> Option<Out<'b>> {
        if len > MAX_PACKET - TAILROOM {
            self.drops.count(PathDrop::TooBig);
            return None;
        }
        let Some(flow) = flow_of(pb.packet(len), Direction::Out) else {
            self.drops.count(PathDrop::NotIp);
            return None;
        };
        let sas = match self.sadb.outbound(&flow, now) {
            Outbound::Bypass { .. } => {
                // Fail closed: protecting it with an SA whose selectors do
                // not cover it would only move the drop to the peer's
                // inbound check; sending it would leak.
                if self.protected.covers(&self.sadb, &flow) {
                    self.drops.count(PathDrop::BypassToProtectedPeer);
                    return None;
                }
                self.counters.out_clear += 1;
                return Some(Out::Clear(pb.packet(len)));
            }
            Outbound::Discard { .. } => {
                self.drops.count(PathDrop::PolicyDiscard);
                return None;
            }
            Outbound::Acquiring { .. } => {
                if self.hold_on_acquire && self.held.push(pb.packet(len), now) {
                    self.counters.held += 1;
                } else {
                    self.drops.count(PathDrop::NoSa);
                }
                return None;
            }
            Outbound::Protect { sas, .. } => sas,
        };
        // The common case, one tunnel-mode ESP SA: its headers go into the
        // headroom and the packet is encrypted where it lies (no copy). In
        // UDP, no outer IP header is written at all (the kernel's is used).
        if let [h] = sas.as_slice() {
            if self.esp_in_udp {
                if let Some(hr) = self.sadb.sad().get(*h).and_then(|e| e.state.esp_headroom()).filter(|hr| *hr <= HEADROOM) {
                    if self.sadb.sad_mut().account(*h, len as u64, now).is_err() {
                        self.drops.count(PathDrop::SaExpired);
                        return None;
                    }
                    let e = self.sadb.sad_mut().get_mut(*h)?;
                    let to = e.state.config().dst;
                    return match e.state.seal_esp_in_place(&mut pb.buf[HEADROOM - hr..], len) {
                        Ok(esp) => {
                            self.counters.out_protected += 1;
                            Some(Out::Esp { esp, to })
                        }
                        Err(r) => {
                            self.drops.count(r);
                            None
                        }
                    };
                }
            }
            let hr = self.sadb.sad().get(*h).and_then(|e| e.state.tunnel_headroom());
            if let Some(hr) = hr.filter(|hr| *hr <= HEADROOM) {
                if self.sadb.sad_mut().account(*h, len as u64, now).is_err() {
                    self.drops.count(PathDrop::SaExpired);
                    return None;
                }
                let e = self.sadb.sad_mut().get_mut(*h)?;
                return match e.state.encapsulate_in_place(&mut pb.buf[HEADROOM - hr..], len) {
                    Ok(p) => {
                        self.counters.out_protected += 1;
                        Some(Out::Protected(p))
                    }
                    Err(r) => {
                        self.drops.count(r);
                        None
                    }
                };
            }
        }
        // Bundles and transport mode: each SA writes into the other region.
        set_ident(&mut self.ident, &mut pb.buf[HEADROOM..HEADROOM + len]);
        let (mut at, mut len) = (HEADROOM, len);
        for &h in sas.as_slice() {
            if self.sadb.sad_mut().account(h, len as u64, now).is_err() {
                self.drops.count(PathDrop::SaExpired);
                return None;
            }
            let e = self.sadb.sad_mut().get_mut(h)?;
            let (src, dst) = pb.split(at);
            let from = if at < crate::buf::REGION_B { at } else { at - crate::buf::REGION_B };
            match e.state.encapsulate(&src[from..from + len], dst) {
                Ok(p) => len = p.len(),
                Err(r) => {
                    self.drops.count(r);
                    return None;
                }
            }
            at = if at < crate::buf::REGION_B { crate::buf::REGION_B } else { HEADROOM };
        }
        self.counters.out_protected += 1;
        Some(Out::Protected(&pb.buf[at..at + len]))
    }
}

/// AH's ICV covers the IPv4 identification, and a raw socket with
/// IP_HDRINCL fills in a zero one: give every protected packet its own.
fn set_ident(ident: &mut u16, p: &mut [u8]) {
    if p.len() >= 20 && p[0] >> 4 == 4 && p[4] == 0 && p[5] == 0 {
        p[4..6].copy_from_slice(&ident.to_be_bytes());
        *ident = ident.wrapping_add(1).max(1);
        esprit_esp::ip::fill_ipv4_checksum(p);
    }
}
