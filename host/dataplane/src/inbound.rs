//! The inbound path: RFC 3948 demux → SAD by SPI → replay/ICV/decrypt →
//! inbound policy check (RFC 4301 §5.2).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use esprit_esp::DropReason;
use esprit_sadb::decider::Direction;
use esprit_sadb::sad::SaHandle;
use esprit_wire::udp_encap::{classify, Payload};

use crate::buf::{PacketBuf, HEADROOM, MAX_PACKET, REGION_B};
use crate::flow::flow_of;
use crate::reason::PathDrop;
use crate::Dataplane;

/// Nested layers removed at most (a bundle, or an SA inside a tunnel).
const MAX_LAYERS: usize = 4;

impl Dataplane {
    /// Processes a whole outer IP packet carrying ESP or AH (raw sockets),
    /// `len` bytes read into [`PacketBuf::input`]. Returns the inner packet.
    pub fn inbound<'b>(&mut self, pb: &'b mut PacketBuf, len: usize, now: Instant) -> Option<&'b [u8]> {
        if len > MAX_PACKET {
            self.drops.count(PathDrop::TooBig);
            return None;
        }
        let (at, len) = self.peel(pb, HEADROOM, len, now, [None; MAX_LAYERS], 0)?;
        Some(&pb.buf[at..at + len])
    }

    /// Handles one datagram from the NAT-T UDP socket (RFC 3948 §2), `len`
    /// bytes read into [`PacketBuf::input`]: a NAT keepalive, an IKE message
    /// (non-ESP marker; counted, handled elsewhere), or ESP. Tunnel-mode ESP
    /// is opened as it is (no IP header needed); for transport mode, whose
    /// inner packet is the outer one's header plus the payload, the header
    /// the kernel took is written back into the headroom (no payload copy).
    /// Returns the inner packet.
    pub fn inbound_udp<'b>(&mut self, pb: &'b mut PacketBuf, len: usize, from: SocketAddr, local: IpAddr, now: Instant) -> Option<&'b [u8]> {
        match classify(pb.packet(len)) {
            Ok(Payload::Esp(_)) if len <= u16::MAX as usize - 40 => {}
            Ok(Payload::Keepalive) => {
                self.counters.nat_keepalives += 1;
                return None;
            }
            Ok(Payload::Ike(_)) => {
                self.counters.ike_messages += 1;
                return None;
            }
            Ok(Payload::Esp(_)) | Err(_) => {
                self.drops.count(PathDrop::GarbageUdp);
                return None;
            }
        }
        if let Some(r) = self.open_udp_tunnel(pb, len, local, now) {
            return r.map(|(at, len)| &pb.buf[at..at + len]);
        }
        let start = match (from.ip(), local) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let h = &mut pb.buf[HEADROOM - 20..HEADROOM];
                h.copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                h[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                esprit_esp::ip::fill_ipv4_checksum(h);
                HEADROOM - 20
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let h = &mut pb.buf[HEADROOM - 40..HEADROOM];
                h[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 50, 64]);
                h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                h[8..24].copy_from_slice(&s.octets());
                h[24..40].copy_from_slice(&d.octets());
                HEADROOM - 40
            }
            _ => {
                self.drops.count(PathDrop::GarbageUdp);
                return None;
            }
        };
        let (at, len) = self.peel(pb, start, HEADROOM - start + len, now, [None; MAX_LAYERS], 0)?;
        Some(&pb.buf[at..at + len])
    }

    /// The first layer of an ESP-in-UDP datagram whose SA is tunnel-mode ESP,
    /// opened from the UDP payload alone; then the rest as [`Dataplane::peel`]
    /// does. `None` when the SA is not such an SA (or unknown): the caller
    /// takes the path with a header.
    fn open_udp_tunnel(&mut self, pb: &mut PacketBuf, len: usize, local: IpAddr, now: Instant) -> Option<Option<(usize, usize)>> {
        let esp = pb.packet(len);
        let spi = esprit_wire::Spi::from_be_bytes(esp.get(..4)?.try_into().ok()?);
        let h = self.sadb.sad().inbound(spi, esprit_sadb::decider::IpsecProto::Esp, local)?;
        self.sadb.sad().get(h)?.state.esp_headroom()?;
        let e = self.sadb.sad_mut().get_mut(h)?;
        let (src, dst_region) = pb.split(HEADROOM);
        let n = match e.state.open_esp(&src[HEADROOM..HEADROOM + len], dst_region) {
            Ok(p) => p.len(),
            Err(r) => {
                self.drops.count(r);
                return Some(None);
            }
        };
        if self.sadb.sad_mut().account(h, n as u64, now).is_err() {
            self.drops.count(PathDrop::SaExpired);
            return Some(None);
        }
        let mut used = [None; MAX_LAYERS];
        used[0] = Some(h);
        Some(self.peel(pb, REGION_B, n, now, used, 1))
    }

    /// Removes ESP/AH layers while the SAD knows their SPI (a bundle, or an
    /// SA nested in a tunnel for this host), then checks the inbound policy.
    /// The packet is at `pb.buf[at..at + len]`, `layers` of them already
    /// removed (`used`); returns where the inner one is.
    fn peel(&mut self, pb: &mut PacketBuf, mut at: usize, mut len: usize, now: Instant, mut used: [Option<SaHandle>; MAX_LAYERS], mut layers: usize) -> Option<(usize, usize)> {
        while layers < MAX_LAYERS {
            let cur = &pb.buf[at..at + len];
            let (proto, spi) = match esprit_esp::peek_spi(cur) {
                Ok(x) => x,
                Err(DropReason::NotIpsec) if layers > 0 => break,
                Err(r) => {
                    self.drops.count(r);
                    return None;
                }
            };
            let Some(dst) = flow_of(cur, Direction::In).map(|f| f.dst) else {
                self.drops.count(PathDrop::NotIp);
                return None;
            };
            let Some(h) = self.sadb.sad().inbound(spi, proto, dst) else {
                if layers > 0 {
                    break; // e.g. a host-to-host SA inside our tunnel: not ours
                }
                self.drops.count(PathDrop::UnknownSpi);
                return None;
            };
            let e = self.sadb.sad_mut().get_mut(h)?;
            let (src, dst_region) = pb.split(at);
            let from = if at < REGION_B { at } else { at - REGION_B };
            match e.state.decapsulate(&src[from..from + len], dst_region) {
                Ok(p) => len = p.len(),
                Err(r) => {
                    self.drops.count(r);
                    return None;
                }
            }
            at = if at < REGION_B { REGION_B } else { HEADROOM };
            if self.sadb.sad_mut().account(h, len as u64, now).is_err() {
                self.drops.count(PathDrop::SaExpired);
                return None;
            }
            used[layers] = Some(h);
            layers += 1;
        }
        let Some(flow) = flow_of(&pb.buf[at..at + len], Direction::In) else {
            self.drops.count(PathDrop::NotIp);
            return None;
        };
        // The SAs that were removed, without a per-packet allocation.
        let first = used[0]?;
        let mut handles = [first; MAX_LAYERS];
        for (slot, h) in handles.iter_mut().zip(used.iter()) {
            *slot = h.unwrap_or(first);
        }
        // `in` policies for this host, `fwd` ones for transit traffic.
        if self.sadb.check_inbound_decrypted_in_or_fwd(&handles[..layers], &flow, now).is_err() {
            self.drops.count(PathDrop::InboundPolicy);
            return None;
        }
        self.counters.in_decrypted += 1;
        Some((at, len))
    }
}
