//! One TUN read with offloads (`IFF_VNET_HDR`): a virtio-net header, then a
//! packet or a TCP/UDP super-segment. The header is checked here before
//! anything indexes by it, then the read is cut into packets.
//!
//! The kernel writes the header, but its fields are offsets into the read,
//! and a bad one must be a counted error, never a panic: tun-rs's own
//! `GSO_NONE` + `NEEDS_CSUM` path indexes by `csum_start + csum_offset`
//! unchecked (a panic on an out-of-range value). So esprit reads the raw
//! bytes itself and hands tun-rs only headers that passed these checks; the
//! segmentation proper (`tun_rs::gso_split`, which validates on its own
//! too) is tun-rs's.
use std::io;

use esprit_wire::checksum::ones_complement_sum;
use tun_rs::{VirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN};

/// `VIRTIO_NET_HDR_GSO_NONE`: one plain packet.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is left to us.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_ECN`: a TCP super-segment with CWR set.
const GSO_ECN: u8 = 0x80;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed virtio-net header: {what}"))
}

/// Cuts one raw read (`raw`: header + data) into packets at offset 0 of
/// `bufs`, their lengths in `sizes`; returns how many. An `Err` is a
/// malformed header or super-segment (the read is dropped, nothing panics).
pub fn split<B: AsRef<[u8]> + AsMut<[u8]>>(raw: &mut [u8], bufs: &mut [B], sizes: &mut [usize]) -> io::Result<usize> {
    if raw.len() <= VIRTIO_NET_HDR_LEN {
        return Err(invalid(format!("read of {} bytes has no packet after the header", raw.len())));
    }
    let (head, input) = raw.split_at_mut(VIRTIO_NET_HDR_LEN);
    let mut hdr = VirtioNetHdr::decode(head)?;
    let len = input.len();
    if bufs.is_empty() || sizes.len() < bufs.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no output buffer"));
    }
    if hdr.gso_type == GSO_NONE {
        if hdr.flags & F_NEEDS_CSUM != 0 {
            finish_checksum(input, hdr.csum_start, hdr.csum_offset)?;
        }
        let out = bufs[0].as_mut();
        let room = out.len();
        let dst = out.get_mut(..len).ok_or_else(|| invalid(format!("packet of {len} bytes is larger than the buffer ({room})")))?;
        dst.copy_from_slice(input);
        sizes[0] = len;
        return Ok(1);
    }
    let is_v6 = match input[0] >> 4 {
        4 => false,
        6 => true,
        v => return Err(invalid(format!("GSO super-segment of IP version {v}"))),
    };
    match (hdr.gso_type & !GSO_ECN, is_v6) {
        (VIRTIO_NET_HDR_GSO_TCPV4, false) | (VIRTIO_NET_HDR_GSO_TCPV6, true) => {
            // The kernel's hdr_len may cover a whole packet on the forward
            // path: the TCP header's own length is what counts.
            let at = usize::from(hdr.csum_start) + 12;
            let data_offset = input.get(at).ok_or_else(|| invalid(format!("csum_start {} leaves no TCP header in {len} bytes", hdr.csum_start)))?;
            let tcp_len = u16::from(data_offset >> 4) * 4;
            if !(20..=60).contains(&tcp_len) {
                return Err(invalid(format!("TCP header length {tcp_len}")));
            }
            hdr.hdr_len = hdr.csum_start.checked_add(tcp_len).ok_or_else(|| invalid("TCP header past 64 KiB".into()))?;
        }
        (VIRTIO_NET_HDR_GSO_UDP_L4, _) => {
            hdr.hdr_len = hdr.csum_start.checked_add(8).ok_or_else(|| invalid("UDP header past 64 KiB".into()))?;
        }
        (t, _) => return Err(invalid(format!("gso_type {t} for an IPv{} packet", if is_v6 { 6 } else { 4 }))),
    }
    if usize::from(hdr.hdr_len) > len {
        return Err(invalid(format!("headers of {} bytes in a read of {len}", hdr.hdr_len)));
    }
    if hdr.gso_size == 0 {
        return Err(invalid("gso_size 0".into()));
    }
    checksum_field(hdr.csum_start, hdr.csum_offset, len)?;
    tun_rs::gso_split(input, hdr, bufs, sizes, 0, is_v6).map_err(|e| invalid(e.to_string()))
}

/// Where the transport checksum sits, if it lies inside `len` bytes.
fn checksum_field(csum_start: u16, csum_offset: u16, len: usize) -> io::Result<usize> {
    let at = usize::from(csum_start) + usize::from(csum_offset);
    if at + 2 > len {
        return Err(invalid(format!("checksum field at {csum_start}+{csum_offset} outside a packet of {len} bytes")));
    }
    Ok(at)
}

/// `NEEDS_CSUM` on a plain packet (CHECKSUM_PARTIAL): the field holds the
/// pseudo-header sum; the one's-complement sum from `csum_start` to the end
/// goes in its place.
fn finish_checksum(pkt: &mut [u8], csum_start: u16, csum_offset: u16) -> io::Result<()> {
    let at = checksum_field(csum_start, csum_offset, pkt.len())?;
    let initial = u16::from_be_bytes([pkt[at], pkt[at + 1]]);
    pkt[at] = 0;
    pkt[at + 1] = 0;
    let sum = ones_complement_sum(&pkt[usize::from(csum_start)..], u32::from(initial));
    pkt[at..at + 2].copy_from_slice(&(!sum).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8, gso_type: u8, hdr_len: u16, gso_size: u16, csum_start: u16, csum_offset: u16) -> Vec<u8> {
        let mut h = vec![flags, gso_type];
        for v in [hdr_len, gso_size, csum_start, csum_offset] {
            h.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(h.len(), VIRTIO_NET_HDR_LEN);
        h
    }

    /// An IPv4 + UDP packet (checksum field holding `csum`), `payload` bytes of data.
    fn udp4(payload: usize, csum: u16) -> Vec<u8> {
        let total = 28 + payload;
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb, ((8 + payload) >> 8) as u8, (8 + payload) as u8]);
        p.extend_from_slice(&csum.to_be_bytes());
        p.extend((0..payload).map(|i| i as u8));
        p
    }

    fn run(raw: &mut [u8]) -> io::Result<(usize, Vec<Vec<u8>>)> {
        let mut bufs = vec![vec![0u8; 2048]; 64];
        let mut sizes = vec![0usize; 64];
        let n = split(raw, &mut bufs, &mut sizes)?;
        Ok((n, bufs.iter().zip(&sizes).take(n).map(|(b, s)| b[..*s].to_vec()).collect()))
    }

    #[test]
    fn a_plain_packet_passes_unchanged() {
        let pkt = udp4(100, 0x1234);
        let mut raw = [header(0, GSO_NONE, 0, 0, 0, 0), pkt.clone()].concat();
        let (n, out) = run(&mut raw).unwrap();
        assert_eq!((n, out[0].clone()), (1, pkt));
    }

    #[test]
    fn needs_csum_fills_the_transport_checksum() {
        let mut pkt = udp4(33, 0);
        let mut raw = [header(F_NEEDS_CSUM, GSO_NONE, 0, 0, 20, 6), pkt.clone()].concat();
        let (_, out) = run(&mut raw).unwrap();
        // Summed again with its checksum in place, the segment folds to 0xffff.
        assert_eq!(ones_complement_sum(&out[0][20..], 0), 0xffff);
        pkt[26..28].copy_from_slice(&out[0][26..28]);
        assert_eq!(out[0], pkt);
    }

    /// Every malformed header the kernel could hand us is an error, not a
    /// panic (tun-rs's own path panics on the first two).
    #[test]
    fn malformed_headers_are_errors() {
        let pkt = udp4(40, 0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("csum field past the end", header(F_NEEDS_CSUM, GSO_NONE, 0, 0, 61, 6)),
            ("csum_start + offset overflow u16", header(F_NEEDS_CSUM, GSO_NONE, 0, 0, u16::MAX, u16::MAX)),
            ("gso_size 0", header(F_NEEDS_CSUM, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 0, 20, 6)),
            ("udp header past the end", header(F_NEEDS_CSUM, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 10, 65_530, 6)),
            ("tcp gso on a udp packet", header(F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 40, 10, 20, 16)),
            ("tcpv6 gso on an ipv4 packet", header(F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 60, 10, 40, 16)),
            ("unknown gso type", header(F_NEEDS_CSUM, 3, 28, 10, 20, 6)),
            ("udp csum_offset wrong", header(F_NEEDS_CSUM, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 10, 20, 16)),
            ("csum_start inside the ip header", header(F_NEEDS_CSUM, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 10, 4, 6)),
        ];
        for (what, h) in cases {
            let mut raw = [h, pkt.clone()].concat();
            assert!(run(&mut raw).is_err(), "{what}: accepted");
        }
        // Reads with no packet, or a packet larger than the buffer.
        assert!(run(&mut header(0, GSO_NONE, 0, 0, 0, 0)).is_err());
        assert!(run(&mut [0u8; 3]).is_err());
        let mut big = [header(0, GSO_NONE, 0, 0, 0, 0), udp4(3000, 0)].concat();
        assert!(run(&mut big).is_err());
        // A super-segment that is not IP.
        let mut junk = [header(0, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 10, 20, 6), vec![0u8; 100]].concat();
        assert!(run(&mut junk).is_err());
    }

    /// Random headers over random bytes: never a panic.
    #[test]
    fn random_headers_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = udp4(1200, 0);
        for i in 0..20_000 {
            let r = next();
            let h = header(r as u8 & 1, [0, 1, 3, 4, 5, 0x81, 0x85][(r >> 8) as usize % 7], (r >> 16) as u16, (r >> 32) as u16 % 1500, (r >> 48) as u16 % 128, (next() as u16) % 32);
            let mut body = base.clone();
            if i % 2 == 0 {
                let at = (next() as usize) % body.len();
                body[at] = next() as u8;
                body.truncate(1 + (next() as usize) % body.len());
            }
            let _ = run(&mut [h, body].concat());
        }
    }

    #[test]
    fn a_udp_super_segment_is_cut_into_datagrams() {
        // 3 × 100 bytes of UDP payload, gso_size 100.
        let pkt = udp4(300, 0);
        let mut raw = [header(F_NEEDS_CSUM, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 28, 100, 20, 6), pkt].concat();
        let (n, out) = run(&mut raw).unwrap();
        assert_eq!(n, 3);
        assert!(out.iter().all(|p| p.len() == 128), "{:?}", out.iter().map(Vec::len).collect::<Vec<_>>());
    }
}
