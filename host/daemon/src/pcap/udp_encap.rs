//! Converting between raw ESP (IP protocol 50) and ESP-in-UDP (RFC 3948) for
//! capture files. The daemon itself never does this: its UDP socket adds and
//! strips the UDP header.

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet};

/// The IANA port for IKE and ESP-in-UDP (RFC 3948 §2.2).
pub const NAT_T_PORT: u16 = 4500;

/// If `ip` is an IPv4/IPv6 packet carrying UDP whose payload is an ESP packet
/// (RFC 3948 §2.2: first four bytes not all zero, not a 1-byte keepalive),
/// returns the same packet rewritten as raw ESP (protocol 50).
pub fn udp_to_raw_esp(ip: &[u8]) -> Option<Vec<u8>> {
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Udp || p.more_frags() || p.frag_offset() != 0 {
                return None;
            }
            let hl = usize::from(p.header_len());
            let esp = esp_in_udp(p.payload())?;
            let mut out = Vec::with_capacity(hl + esp.len());
            out.extend_from_slice(&ip[..hl]);
            out.extend_from_slice(esp);
            let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
            q.set_next_header(IpProtocol::IpSecEsp);
            q.set_total_len(u16::try_from(hl + esp.len()).ok()?);
            q.fill_checksum();
            Some(out)
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            if p.next_header() != IpProtocol::Udp {
                return None;
            }
            let esp = esp_in_udp(p.payload())?;
            let mut out = Vec::with_capacity(40 + esp.len());
            out.extend_from_slice(&ip[..40]);
            out.extend_from_slice(esp);
            let mut q = Ipv6Packet::new_unchecked(&mut out[..]);
            q.set_next_header(IpProtocol::IpSecEsp);
            q.set_payload_len(u16::try_from(esp.len()).ok()?);
            Some(out)
        }
        _ => None,
    }
}

fn esp_in_udp(udp: &[u8]) -> Option<&[u8]> {
    if udp.len() < 8 + 8 {
        return None;
    }
    let (sport, dport) = (u16::from_be_bytes([udp[0], udp[1]]), u16::from_be_bytes([udp[2], udp[3]]));
    if sport != NAT_T_PORT && dport != NAT_T_PORT {
        return None;
    }
    let payload = &udp[8..];
    matches!(esprit_wire::udp_encap::classify(payload), Ok(esprit_wire::udp_encap::Payload::Esp(_))).then_some(payload)
}

/// Rewrites a raw ESP packet (IPv4 or IPv6, protocol 50 right after the fixed
/// header) as ESP-in-UDP from `sport` to `dport` with a zero UDP checksum
/// (allowed for ESP-in-UDP over IPv4, RFC 3948 §2.1; computed for IPv6).
pub fn raw_esp_to_udp(ip: &[u8], sport: u16, dport: u16) -> Option<Vec<u8>> {
    let (hl, v6) = match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            (p.next_header() == IpProtocol::IpSecEsp).then_some((usize::from(p.header_len()), false))?
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            (p.next_header() == IpProtocol::IpSecEsp).then_some((40, true))?
        }
        _ => return None,
    };
    let esp = &ip[hl..];
    let udp_len = u16::try_from(8 + esp.len()).ok()?;
    let mut out = Vec::with_capacity(hl + 8 + esp.len());
    out.extend_from_slice(&ip[..hl]);
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(esp);
    if v6 {
        let mut q = Ipv6Packet::new_unchecked(&mut out[..]);
        q.set_next_header(IpProtocol::Udp);
        q.set_payload_len(udp_len);
        let (src, dst) = (q.src_addr(), q.dst_addr());
        let mut u = smoltcp::wire::UdpPacket::new_unchecked(&mut out[40..]);
        u.fill_checksum(&src.into(), &dst.into());
    } else {
        let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
        q.set_next_header(IpProtocol::Udp);
        q.set_total_len(u16::try_from(hl).ok()? + udp_len);
        q.fill_checksum();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_esp_v4() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
        p.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
        let len = p.len() as u16;
        let mut q = Ipv4Packet::new_unchecked(&mut p[..]);
        q.set_total_len(len);
        q.fill_checksum();
        p
    }

    #[test]
    fn round_trip_v4() {
        let raw = raw_esp_v4();
        let udp = raw_esp_to_udp(&raw, 4500, 4500).unwrap();
        assert_eq!(udp.len(), raw.len() + 8);
        let q = Ipv4Packet::new_checked(&udp[..]).unwrap();
        assert!(q.verify_checksum());
        assert_eq!(q.next_header(), IpProtocol::Udp);
        assert_eq!(udp_to_raw_esp(&udp).unwrap(), raw);
    }

    #[test]
    fn ike_and_keepalive_are_not_esp() {
        let raw = raw_esp_v4();
        let mut udp = raw_esp_to_udp(&raw, 4500, 4500).unwrap();
        udp[28..32].copy_from_slice(&[0, 0, 0, 0]); // non-ESP marker: IKE
        assert!(udp_to_raw_esp(&udp).is_none());
        assert!(udp_to_raw_esp(&udp[..29]).is_none());
        assert!(udp_to_raw_esp(&[0x45]).is_none());
    }
}
