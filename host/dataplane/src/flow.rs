//! The SPD selector fields of an IP packet (RFC 4301 §4.4.1.1): addresses,
//! next-layer protocol, ports (ICMP type/code in the port fields).

use std::net::IpAddr;

use esprit_sadb::decider::{Direction, Flow};
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet};

/// Extracts the flow of an IPv4 or IPv6 packet; `None` if it is not one.
/// IPv6 extension headers are skipped (hop-by-hop, routing, destination
/// options); a fragment (other than the first) has no ports.
pub fn flow_of(pkt: &[u8], dir: Direction) -> Option<Flow> {
    let (src, dst, proto, l4, first_frag) = match pkt.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(pkt).ok()?;
            let hl = usize::from(p.header_len());
            let total = usize::from(p.total_len()).min(pkt.len());
            (
                IpAddr::V4(p.src_addr()),
                IpAddr::V4(p.dst_addr()),
                u8::from(p.next_header()),
                pkt.get(hl..total)?,
                p.frag_offset() == 0,
            )
        }
        6 => {
            let p = Ipv6Packet::new_checked(pkt).ok()?;
            let mut nh = u8::from(p.next_header());
            let mut off = 40;
            let mut first = true;
            // Hop-by-hop (0), routing (43), destination options (60), fragment (44).
            while matches!(nh, 0 | 43 | 60 | 44) {
                let h = pkt.get(off..off + 8)?;
                if nh == 44 {
                    first = u16::from_be_bytes([h[2], h[3]]) >> 3 == 0;
                    nh = h[0];
                    off += 8;
                } else {
                    nh = h[0];
                    off += (usize::from(h[1]) + 1) * 8;
                }
            }
            (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()), nh, pkt.get(off..)?, first)
        }
        _ => return None,
    };
    let (src_port, dst_port) = match IpProtocol::from(proto) {
        IpProtocol::Tcp | IpProtocol::Udp if first_frag && l4.len() >= 4 => {
            (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]))
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 if first_frag && l4.len() >= 2 => (u16::from(l4[0]), u16::from(l4[1])),
        _ => (0, 0),
    };
    Some(Flow { src, dst, proto, src_port, dst_port, dir, iface: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_over_ipv4() {
        let mut p = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
        p.extend_from_slice(&[0; 16]);
        let f = flow_of(&p, Direction::Out).unwrap();
        assert_eq!((f.proto, f.src_port, f.dst_port), (6, 40000, 443));
        assert_eq!(f.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn icmpv6_after_hop_by_hop() {
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // HBH → ICMPv6
        p.extend_from_slice(&[128, 0, 0, 0, 0, 0, 0, 0]); // echo request
        let f = flow_of(&p, Direction::In).unwrap();
        assert_eq!((f.proto, f.src_port, f.dst_port), (58, 128, 0));
    }

    #[test]
    fn garbage_is_none() {
        assert!(flow_of(&[], Direction::Out).is_none());
        assert!(flow_of(&[0x45, 0, 0], Direction::Out).is_none());
        assert!(flow_of(&[0x10; 40], Direction::Out).is_none());
        // IPv6 with a truncated extension header chain.
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        p.extend_from_slice(&[0; 32]);
        assert!(flow_of(&p, Direction::Out).is_none());
    }
}
