//! The IP header work ESP and AH need: locate the IPsec header in an outer
//! packet, find where to insert one in transport mode, build tunnel headers,
//! fix lengths and checksums. IPv4 (RFC 791) and IPv6 (RFC 8200).
use crate::DropReason;
use std::net::IpAddr;

pub const IPV4_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;
/// IP protocol numbers used here (IANA).
pub const PROTO_IPV4: u8 = 4;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_ESP: u8 = 50;
pub const PROTO_AH: u8 = 51;
pub const PROTO_NONE: u8 = 59;
const PROTO_HOPOPTS: u8 = 0;
const PROTO_ROUTING: u8 = 43;
const PROTO_FRAGMENT: u8 = 44;
const PROTO_DSTOPTS: u8 = 60;

/// Default outer TTL / hop limit in tunnel mode.
pub const OUTER_TTL: u8 = 64;

/// Where things are in an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLayout {
    pub ipv6: bool,
    /// Offset of the header that follows the IP header (and the extension
    /// headers kept in front of it).
    pub hdr_len: usize,
    /// The packet length given by the IP header (≤ buffer length).
    pub total_len: usize,
    /// The protocol found at `hdr_len`.
    pub proto: u8,
    /// Offset of the byte holding `proto` (IPv4 protocol field, IPv6 Next
    /// Header of the fixed header or of the last extension header kept).
    pub proto_offset: usize,
}

/// Parses the fixed IP header: version, lengths, fragments.
fn fixed(p: &[u8]) -> Result<IpLayout, DropReason> {
    let Some(&first) = p.first() else { return Err(DropReason::Truncated) };
    match first >> 4 {
        4 => {
            if p.len() < IPV4_HEADER_LEN {
                return Err(DropReason::Truncated);
            }
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if ihl < IPV4_HEADER_LEN || total < ihl {
                return Err(DropReason::BadHeader);
            }
            if p.len() < total || p.len() < ihl {
                return Err(DropReason::Truncated);
            }
            // MF set or a non-zero fragment offset (RFC 791 §3.1).
            if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
                return Err(DropReason::Fragment);
            }
            Ok(IpLayout { ipv6: false, hdr_len: ihl, total_len: total, proto: p[9], proto_offset: 9 })
        }
        6 => {
            if p.len() < IPV6_HEADER_LEN {
                return Err(DropReason::Truncated);
            }
            let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
            if plen == 0 {
                // Jumbograms (RFC 2675) are not supported.
                return Err(DropReason::Unsupported);
            }
            let total = IPV6_HEADER_LEN + plen;
            if p.len() < total {
                return Err(DropReason::Truncated);
            }
            Ok(IpLayout { ipv6: true, hdr_len: IPV6_HEADER_LEN, total_len: total, proto: p[6], proto_offset: 6 })
        }
        _ => Err(DropReason::BadHeader),
    }
}

/// Length of the IPv6 extension header at `off` (RFC 8200 §4).
fn ext_len(p: &[u8], off: usize, proto: u8, total: usize) -> Result<usize, DropReason> {
    if off + 8 > total {
        return Err(DropReason::Truncated);
    }
    let len = if proto == PROTO_FRAGMENT { 8 } else { (usize::from(p[off + 1]) + 1) * 8 };
    if off + len > total {
        return Err(DropReason::Truncated);
    }
    Ok(len)
}

/// Locates the ESP or AH header of an outer packet: IPv4, or IPv6 after its
/// hop-by-hop, routing and destination options headers. Fragments are refused
/// (RFC 4303 §3.4.1, RFC 4302 §3.4.1).
pub fn locate_ipsec(p: &[u8]) -> Result<IpLayout, DropReason> {
    let mut l = fixed(p)?;
    if l.ipv6 {
        loop {
            match l.proto {
                PROTO_HOPOPTS | PROTO_ROUTING | PROTO_DSTOPTS => {
                    let len = ext_len(p, l.hdr_len, l.proto, l.total_len)?;
                    l.proto_offset = l.hdr_len;
                    l.proto = p[l.hdr_len];
                    l.hdr_len += len;
                }
                PROTO_FRAGMENT => return Err(DropReason::Fragment),
                _ => break,
            }
        }
    }
    match l.proto {
        PROTO_ESP | PROTO_AH => Ok(l),
        _ => Err(DropReason::NotIpsec),
    }
}

/// Finds where ESP/AH goes in transport mode: after the IPv4 header (with its
/// options), or after the IPv6 extension headers that must precede it —
/// hop-by-hop, routing, and destination options that precede a routing header
/// (RFC 8200 §4.1, RFC 4303 §3.1.1). Destination options after the last routing
/// header stay inside the protected payload. Fragments are refused.
pub fn transport_insertion(p: &[u8]) -> Result<IpLayout, DropReason> {
    let mut l = fixed(p)?;
    if l.ipv6 {
        let mut off = IPV6_HEADER_LEN;
        let mut proto = l.proto;
        loop {
            match proto {
                PROTO_HOPOPTS | PROTO_ROUTING | PROTO_DSTOPTS => {
                    let len = ext_len(p, off, proto, l.total_len)?;
                    let next = p[off];
                    if proto != PROTO_DSTOPTS {
                        // Everything up to here precedes ESP/AH.
                        l.hdr_len = off + len;
                        l.proto = next;
                        l.proto_offset = off;
                    }
                    proto = next;
                    off += len;
                }
                PROTO_FRAGMENT => return Err(DropReason::Fragment),
                _ => break,
            }
        }
    }
    Ok(l)
}

/// Checks an inner packet of tunnel mode: an IPv4 or IPv6 header whose length
/// fits. Returns (ipv6, length from the header). Inner fragments are fine.
pub fn inner_packet(p: &[u8]) -> Result<(bool, usize), DropReason> {
    let Some(&first) = p.first() else { return Err(DropReason::Truncated) };
    match first >> 4 {
        4 => {
            if p.len() < IPV4_HEADER_LEN {
                return Err(DropReason::Truncated);
            }
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if ihl < IPV4_HEADER_LEN || total < ihl {
                return Err(DropReason::BadHeader);
            }
            if p.len() < total {
                return Err(DropReason::Truncated);
            }
            Ok((false, total))
        }
        6 => {
            if p.len() < IPV6_HEADER_LEN {
                return Err(DropReason::Truncated);
            }
            let total = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([p[4], p[5]]));
            if p.len() < total {
                return Err(DropReason::Truncated);
            }
            Ok((true, total))
        }
        _ => Err(DropReason::BadHeader),
    }
}

/// Checks the inner packet of tunnel mode against Next Header and returns its
/// length from its own header (which drops any TFC padding, RFC 4303 §2.4).
pub(crate) fn inner_of_tunnel(next_header: u8, inner: &[u8]) -> Result<usize, DropReason> {
    let want_v6 = match next_header {
        PROTO_IPV4 => false,
        PROTO_IPV6 => true,
        _ => return Err(DropReason::BadNextHeader),
    };
    let (v6, len) = inner_packet(inner).map_err(|e| match e {
        DropReason::Truncated => DropReason::BadHeader,
        e => e,
    })?;
    if v6 != want_v6 {
        return Err(DropReason::BadNextHeader);
    }
    Ok(len)
}

/// The Internet checksum (RFC 1071) over `data`.
pub fn checksum(data: &[u8]) -> u16 {
    esprit_wire::checksum::internet_checksum(data)
}

/// Sets the length fields of the IP header at the start of `p` for a packet of
/// `total` bytes, and recomputes the IPv4 header checksum.
pub fn fix_lengths(p: &mut [u8], ipv6: bool, total: usize) -> Result<(), DropReason> {
    if ipv6 {
        let plen = u16::try_from(total - IPV6_HEADER_LEN).map_err(|_| DropReason::TooBig)?;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let t = u16::try_from(total).map_err(|_| DropReason::TooBig)?;
        p[2..4].copy_from_slice(&t.to_be_bytes());
        fill_ipv4_checksum(p);
    }
    Ok(())
}

/// Recomputes the IPv4 header checksum.
pub fn fill_ipv4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A tunnel-mode outer header prepared once per SA (RFC 4301 §5.1.2): the
/// constant fields are laid out and their checksum contribution summed, so
/// that per packet only TOS, length, identification and DF are written and the
/// IPv4 checksum is finished arithmetically (no re-read of fresh stores).
#[derive(Debug, Clone)]
pub struct OuterTemplate {
    hdr: [u8; IPV6_HEADER_LEN],
    len: usize,
    /// One's-complement sum of the constant 16-bit words (IPv4).
    base_sum: u32,
}

impl OuterTemplate {
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8) -> Option<OuterTemplate> {
        let mut hdr = [0u8; IPV6_HEADER_LEN];
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                hdr[0] = 0x45;
                hdr[8] = OUTER_TTL;
                hdr[9] = proto;
                hdr[12..16].copy_from_slice(&s.octets());
                hdr[16..20].copy_from_slice(&d.octets());
                let base_sum = hdr[..20].chunks_exact(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
                Some(OuterTemplate { hdr, len: IPV4_HEADER_LEN, base_sum })
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                hdr[0] = 0x60;
                hdr[6] = proto;
                hdr[7] = OUTER_TTL;
                hdr[8..24].copy_from_slice(&s.octets());
                hdr[24..40].copy_from_slice(&d.octets());
                Some(OuterTemplate { hdr, len: IPV6_HEADER_LEN, base_sum: 0 })
            }
            _ => None,
        }
    }

    /// Length of the header this template writes (20 or 40).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the outer header for a packet of `total` bytes around `inner`:
    /// DSCP/ECN copied from the inner header, DF copied from an inner IPv4
    /// header, IPv6 flow label 0. `out` holds at least `self.len()` bytes.
    #[inline]
    pub fn emit(&self, out: &mut [u8], inner: &[u8], total: usize, ident: u16) -> Result<usize, DropReason> {
        let inner_v6 = inner[0] >> 4 == 6;
        let tos = if inner_v6 { (inner[0] << 4) | (inner[1] >> 4) } else { inner[1] };
        if self.len == IPV4_HEADER_LEN {
            let total = u16::try_from(total).map_err(|_| DropReason::TooBig)?;
            let df: u16 = if !inner_v6 && inner[6] & 0x40 != 0 { 0x4000 } else { 0 };
            let mut sum = self.base_sum + u32::from(tos) + u32::from(total) + u32::from(ident) + u32::from(df);
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            let mut h = [0u8; IPV4_HEADER_LEN];
            h.copy_from_slice(&self.hdr[..IPV4_HEADER_LEN]);
            h[1] = tos;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&ident.to_be_bytes());
            h[6..8].copy_from_slice(&df.to_be_bytes());
            h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            out[..IPV4_HEADER_LEN].copy_from_slice(&h);
        } else {
            let plen = u16::try_from(total - IPV6_HEADER_LEN).map_err(|_| DropReason::TooBig)?;
            let mut h = self.hdr;
            h[0] = 0x60 | (tos >> 4);
            h[1] = tos << 4;
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            out[..IPV6_HEADER_LEN].copy_from_slice(&h);
        }
        Ok(self.len)
    }
}

/// Writes a tunnel-mode outer header for `proto` (see [`OuterTemplate`]).
pub fn emit_outer(
    out: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    inner: &[u8],
    total: usize,
    ident: u16,
) -> Result<usize, DropReason> {
    OuterTemplate::new(src, dst, proto).ok_or(DropReason::Unsupported)?.emit(out, inner, total, ident)
}

/// Length of the tunnel-mode outer header for this address family.
pub fn outer_len(dst: IpAddr) -> usize {
    if dst.is_ipv6() {
        IPV6_HEADER_LEN
    } else {
        IPV4_HEADER_LEN
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal IPv4/UDP packet 192.0.2.1 → 192.0.2.2 with `payload`.
    pub fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        fix_lengths(&mut p, false, total).unwrap();
        p
    }

    /// An IPv6/UDP packet 2001:db8::1 → 2001:db8::2, optionally with a
    /// hop-by-hop header and a destination options header.
    pub fn ipv6_udp(payload: &[u8], hbh: bool, dst_opts: bool) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let mut next_slot = 6;
        if hbh {
            p[next_slot] = PROTO_HOPOPTS;
            next_slot = p.len();
            // Router alert (type 5, change bit 0) + PadN.
            p.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
        }
        if dst_opts {
            p[next_slot] = PROTO_DSTOPTS;
            // A mutable option (type 0x3e has the change bit 0x20) + Pad1s.
            p.extend_from_slice(&[17, 0, 0x3e, 2, 0xaa, 0xbb, 0, 0]);
        }
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        let total = p.len();
        fix_lengths(&mut p, true, total).unwrap();
        p
    }

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3 example bytes: sum 0xddf2, checksum 0x220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        let p = ipv4_udp(b"hi");
        assert_eq!(checksum(&p[..20]), 0);
    }

    #[test]
    fn transport_insertion_points() {
        let p = ipv4_udp(b"x");
        assert_eq!(transport_insertion(&p).unwrap(), IpLayout { ipv6: false, hdr_len: 20, total_len: 29, proto: 17, proto_offset: 9 });
        let p = ipv6_udp(b"x", false, false);
        assert_eq!(transport_insertion(&p).unwrap().hdr_len, 40);
        let p = ipv6_udp(b"x", true, true);
        let l = transport_insertion(&p).unwrap();
        // After hop-by-hop, before the destination options.
        assert_eq!((l.hdr_len, l.proto, l.proto_offset), (48, PROTO_DSTOPTS, 40));
    }

    #[test]
    fn bad_headers() {
        let p = ipv4_udp(b"abc");
        for n in 0..p.len() {
            assert!(transport_insertion(&p[..n]).is_err(), "len {n}");
        }
        let mut q = p.clone();
        q[0] = 0x44; // IHL 16 bytes
        assert_eq!(transport_insertion(&q), Err(DropReason::BadHeader));
        let mut q = p.clone();
        q[0] = 0x55;
        assert_eq!(transport_insertion(&q), Err(DropReason::BadHeader));
        let mut q = p.clone();
        q[6] = 0x20; // MF
        assert_eq!(transport_insertion(&q), Err(DropReason::Fragment));
        let mut q = p.clone();
        q[7] = 1; // offset
        assert_eq!(transport_insertion(&q), Err(DropReason::Fragment));
        assert_eq!(locate_ipsec(&p), Err(DropReason::NotIpsec));
        let p6 = ipv6_udp(b"abc", true, true);
        for n in 0..p6.len() {
            assert!(transport_insertion(&p6[..n]).is_err(), "len {n}");
        }
        let mut q = p6.clone();
        q[6] = PROTO_FRAGMENT;
        assert_eq!(transport_insertion(&q), Err(DropReason::Fragment));
        assert_eq!(locate_ipsec(&q), Err(DropReason::Fragment));
        let mut q = p6.clone();
        q[4] = 0;
        q[5] = 0;
        assert_eq!(transport_insertion(&q), Err(DropReason::Unsupported));
    }

    #[test]
    fn outer_header() {
        let inner = ipv4_udp(b"abc");
        let mut out = [0u8; 40];
        let n = emit_outer(&mut out, "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 50, &inner, 100, 7).unwrap();
        assert_eq!(n, 20);
        assert_eq!(checksum(&out[..20]), 0);
        assert_eq!(out[6], 0x40, "DF copied");
        assert_eq!(out[8], 64);
        assert_eq!(inner_packet(&out[..20]), Err(DropReason::Truncated));
        let n = emit_outer(&mut out, "2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 50, &inner, 100, 7).unwrap();
        assert_eq!(n, 40);
        assert_eq!(u16::from_be_bytes([out[4], out[5]]), 60);
        assert!(emit_outer(&mut out, "10.0.0.1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 50, &inner, 100, 7).is_err());
    }
}
