//! Link-layer framing of captured packets: find the IP packet inside a frame
//! and put a processed IP packet back into the same kind of frame.

use super::file::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];

/// Where the IP packet starts inside a frame, or `None` for a frame that
/// carries no IP packet (ARP, LLDP, ...).
pub fn ip_offset(link: LinkType, frame: &[u8]) -> Option<usize> {
    let off = match link {
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => 0,
        LinkType::Null => 4,
        LinkType::LinuxSll => {
            let proto = be16(frame, 14)?;
            if proto != ETHERTYPE_IPV4 && proto != ETHERTYPE_IPV6 {
                return None;
            }
            16
        }
        LinkType::Ethernet => {
            let mut type_at = 12;
            while ETHERTYPE_VLAN.contains(&be16(frame, type_at)?) {
                type_at += 4;
            }
            let ty = be16(frame, type_at)?;
            if ty != ETHERTYPE_IPV4 && ty != ETHERTYPE_IPV6 {
                return None;
            }
            type_at + 2
        }
    };
    let version = frame.get(off)? >> 4;
    (version == 4 || version == 6).then_some(off)
}

/// Builds a frame from the original frame's link header (`prefix`) and a new
/// IP packet, fixing the link header's protocol field when the IP version
/// changed (tunnel mode may put IPv4 inside IPv6 and back).
pub fn reframe(link: LinkType, prefix: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + ip.len());
    out.extend_from_slice(prefix);
    let v6 = ip.first().map(|b| b >> 4) == Some(6);
    let ethertype = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    match link {
        LinkType::Ethernet | LinkType::LinuxSll if out.len() >= 2 => {
            let n = out.len();
            out[n - 2..].copy_from_slice(&ethertype.to_be_bytes());
        }
        LinkType::Null if out.len() == 4 => {
            // BSD AF values in the writer's byte order; keep the order seen.
            let af: u32 = if v6 { 24 } else { 2 };
            let le = out[0] != 0 || out[3] == 0;
            let bytes = if le { af.to_le_bytes() } else { af.to_be_bytes() };
            out.copy_from_slice(&bytes);
        }
        _ => {}
    }
    out.extend_from_slice(ip);
    out
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ty: u16) -> Vec<u8> {
        let mut f = vec![0xff; 12];
        f.extend_from_slice(&ty.to_be_bytes());
        f
    }

    #[test]
    fn ethernet_ipv4_and_vlan() {
        let mut f = eth(0x0800);
        f.extend_from_slice(&[0x45, 0, 0, 20]);
        assert_eq!(ip_offset(LinkType::Ethernet, &f), Some(14));
        let mut v = eth(0x8100);
        v.extend_from_slice(&[0, 5, 0x86, 0xdd, 0x60, 0, 0, 0]);
        assert_eq!(ip_offset(LinkType::Ethernet, &v), Some(18));
    }

    #[test]
    fn non_ip_and_truncated_frames() {
        assert_eq!(ip_offset(LinkType::Ethernet, &eth(0x0806)), None);
        assert_eq!(ip_offset(LinkType::Ethernet, &[0; 5]), None);
        assert_eq!(ip_offset(LinkType::Raw, &[]), None);
        assert_eq!(ip_offset(LinkType::Raw, &[0x10]), None);
    }

    #[test]
    fn reframe_fixes_ethertype() {
        let prefix = eth(0x0800);
        let f = reframe(LinkType::Ethernet, &prefix, &[0x60, 1, 2]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(&f[14..], &[0x60, 1, 2]);
        assert_eq!(reframe(LinkType::Raw, &[], &[0x45]), vec![0x45]);
    }
}
