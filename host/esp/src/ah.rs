//! AH processing (RFC 4302 §3.3 outbound, §3.4 inbound) with HMAC-SHA2
//! (RFC 4868). The ICV covers the IP header with its mutable fields zeroed
//! (RFC 4302 §3.3.3.1), the AH header with a zero ICV, the payload and, with
//! ESN, the high 32 bits of the sequence number (§3.3.3.2.1). Mutable fields
//! are zeroed in a stack copy of the header: no allocation.
use crate::config::Mode;
use crate::drop::DropReason;
use crate::ip::inner_of_tunnel;
use crate::ip;
use crate::state::{seq_hi, Keys, SaState};
use esprit_crypto::Integrity;
use esprit_wire::ah::{self as wire, FIXED_LEN};
use esprit_wire::SeqNum;

/// Longest IP header (with the IPv6 extension headers before AH) handled.
pub const MAX_IP_HEADER: usize = 256;
/// Longest AH header: 12 bytes + a 32-byte ICV padded to 8 bytes.
const MAX_AH_LEN: usize = 48;

/// IPv4 options that are immutable in transit (RFC 4302 Appendix A.1):
/// Security, Extended Security, Commercial Security, Router Alert,
/// Sender Directed Multi-Destination Delivery. EOL and NOP are immutable too.
const IPV4_IMMUTABLE_OPTIONS: [u8; 5] = [130, 133, 134, 148, 149];

/// Zeroes the fields of an IP header (plus the IPv6 extension headers in
/// front of AH) that may change in transit (RFC 4302 §3.3.3.1, Appendix A).
pub fn zero_mutable(hdr: &mut [u8], ipv6: bool) -> Result<(), DropReason> {
    if ipv6 {
        // Traffic class, flow label (RFC 4302 A.2), hop limit.
        hdr[0] &= 0xf0;
        hdr[1] = 0;
        hdr[2] = 0;
        hdr[3] = 0;
        hdr[7] = 0;
        let mut next = hdr[6];
        let mut off = ip::IPV6_HEADER_LEN;
        while off < hdr.len() {
            if off + 2 > hdr.len() {
                return Err(DropReason::BadHeader);
            }
            let this = next;
            next = hdr[off];
            let len = (usize::from(hdr[off + 1]) + 1) * 8;
            if off + len > hdr.len() {
                return Err(DropReason::BadHeader);
            }
            // Hop-by-hop and destination options: zero the data of options
            // whose type has the change bit (0x20) set (RFC 8200 §4.2).
            // Routing headers are kept as they are (type 0 is deprecated).
            if this == 0 || this == 60 {
                let opts = &mut hdr[off + 2..off + len];
                let mut i = 0;
                while i < opts.len() {
                    let t = opts[i];
                    if t == 0 {
                        i += 1; // Pad1
                        continue;
                    }
                    if i + 2 > opts.len() {
                        return Err(DropReason::BadHeader);
                    }
                    let dlen = usize::from(opts[i + 1]);
                    if i + 2 + dlen > opts.len() {
                        return Err(DropReason::BadHeader);
                    }
                    if t & 0x20 != 0 {
                        opts[i + 2..i + 2 + dlen].fill(0);
                    }
                    i += 2 + dlen;
                }
            }
            off += len;
        }
    } else {
        // TOS, flags + fragment offset, TTL, header checksum (RFC 4302 A.1).
        hdr[1] = 0;
        hdr[6] = 0;
        hdr[7] = 0;
        hdr[8] = 0;
        hdr[10] = 0;
        hdr[11] = 0;
        let opts = &mut hdr[ip::IPV4_HEADER_LEN..];
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                0 => break, // End of option list
                1 => i += 1, // NOP
                t => {
                    if i + 2 > opts.len() {
                        return Err(DropReason::BadHeader);
                    }
                    let len = usize::from(opts[i + 1]);
                    if len < 2 || i + len > opts.len() {
                        return Err(DropReason::BadHeader);
                    }
                    if !IPV4_IMMUTABLE_OPTIONS.contains(&t) {
                        // Mutable options are zeroed entirely (RFC 4302 A.1).
                        opts[i..i + len].fill(0);
                    }
                    i += len;
                }
            }
        }
    }
    Ok(())
}

/// ICV over [zeroed IP header, AH .. payload, seq_hi?] into `icv`.
fn compute_icv(integ: &dyn Integrity, esn: bool, seq: u64, hdr: &[u8], rest: &[&[u8]], icv: &mut [u8]) {
    let hi = seq_hi(seq);
    match (rest, esn) {
        ([a], false) => integ.compute(&[hdr, a], icv),
        ([a], true) => integ.compute(&[hdr, a, &hi], icv),
        ([a, b], false) => integ.compute(&[hdr, a, b], icv),
        ([a, b], true) => integ.compute(&[hdr, a, b, &hi], icv),
        _ => unreachable!("compute_icv is called with one or two parts"),
    }
}

fn integ(sa: &SaState) -> Result<&dyn Integrity, DropReason> {
    match &sa.keys {
        Keys::Ah { integ } => Ok(&**integ),
        _ => Err(DropReason::Unsupported),
    }
}

fn stack_header(src: &[u8], ipv6: bool) -> Result<([u8; MAX_IP_HEADER], usize), DropReason> {
    let h = src.len();
    if h > MAX_IP_HEADER {
        return Err(DropReason::Unsupported);
    }
    let mut buf = [0u8; MAX_IP_HEADER];
    buf[..h].copy_from_slice(src);
    zero_mutable(&mut buf[..h], ipv6)?;
    Ok((buf, h))
}

/// Outbound AH. Returns the outer packet length and the sequence number used.
pub(crate) fn encapsulate(sa: &mut SaState, packet: &[u8], out: &mut [u8]) -> Result<(usize, u64), DropReason> {
    let integ = integ(sa)?;
    let cfg = &sa.cfg;
    let (payload, h, next_header, layout) = match cfg.mode {
        Mode::Tunnel => {
            let (v6, len) = ip::inner_packet(packet)?;
            let nh = if v6 { ip::PROTO_IPV6 } else { ip::PROTO_IPV4 };
            (&packet[..len], sa.outer.len(), nh, None)
        }
        Mode::Transport => {
            let l = ip::transport_insertion(packet)?;
            (&packet[l.hdr_len..l.total_len], l.hdr_len, l.proto, Some(l))
        }
    };
    let ipv6 = layout.map_or(cfg.dst.is_ipv6(), |l| l.ipv6);
    let ah_len = FIXED_LEN + wire::icv_field_len(sa.icv_len, ipv6);
    let total = h + ah_len + payload.len();
    if total > out.len() {
        return Err(DropReason::BufferTooSmall);
    }
    if h > MAX_IP_HEADER {
        return Err(DropReason::Unsupported);
    }
    if total - if ipv6 { ip::IPV6_HEADER_LEN } else { 0 } > usize::from(u16::MAX) {
        return Err(DropReason::TooBig);
    }
    let seq = sa.next_seq()?;
    match layout {
        None => {
            sa.outer.emit(out, packet, total, sa.ident)?;
        }
        Some(l) => {
            out[..h].copy_from_slice(&packet[..h]);
            out[l.proto_offset] = ip::PROTO_AH;
            ip::fix_lengths(out, l.ipv6, total)?;
        }
    }
    let repr = wire::Repr { next_header, spi: cfg.spi, seq: SeqNum(seq as u32), icv_field_len: ah_len - FIXED_LEN };
    repr.emit(&mut wire::Packet::new_unchecked(&mut out[h..h + ah_len])).map_err(|_| DropReason::BadHeader)?;
    out[h + ah_len..total].copy_from_slice(payload);

    let (hdr, _) = stack_header(&out[..h], ipv6)?;
    let mut icv = [0u8; 32];
    compute_icv(integ, cfg.esn, seq, &hdr[..h], &[&out[h..total]], &mut icv[..sa.icv_len]);
    out[h + FIXED_LEN..h + FIXED_LEN + sa.icv_len].copy_from_slice(&icv[..sa.icv_len]);
    Ok((total, seq))
}

/// Inbound AH. Returns the length of the inner packet written to `out`.
pub(crate) fn decapsulate(sa: &mut SaState, packet: &[u8], out: &mut [u8]) -> Result<usize, DropReason> {
    let integ = integ(sa)?;
    let l = ip::locate_ipsec(packet)?;
    if l.proto != ip::PROTO_AH {
        return Err(DropReason::UnknownSpi);
    }
    let h = l.hdr_len;
    let ah = wire::Packet::new_checked(&packet[h..l.total_len]).map_err(|e| match e {
        esprit_wire::Error::Truncated { .. } => DropReason::Truncated,
        esprit_wire::Error::BadValue => DropReason::UnknownSpi,
        esprit_wire::Error::BadLength => DropReason::BadHeader,
    })?;
    if ah.spi() != sa.cfg.spi {
        return Err(DropReason::UnknownSpi);
    }
    let ah_len = ah.header_len();
    if ah_len < FIXED_LEN + sa.icv_len {
        return Err(DropReason::ShortTag);
    }
    if ah_len != FIXED_LEN + wire::icv_field_len(sa.icv_len, l.ipv6) || ah_len > MAX_AH_LEN {
        return Err(DropReason::BadHeader);
    }
    // Anti-replay check before the ICV (RFC 4302 §3.4.3).
    let seq = sa.inbound_seq(ah.seq().0)?;

    let (hdr, _) = stack_header(&packet[..h], l.ipv6)?;
    // The AH header with the ICV zeroed; alignment padding is covered as sent
    // (RFC 4302 §3.3.3.2.1).
    let mut ah_zero = [0u8; MAX_AH_LEN];
    ah_zero[..ah_len].copy_from_slice(&packet[h..h + ah_len]);
    ah_zero[FIXED_LEN..FIXED_LEN + sa.icv_len].fill(0);
    let payload = ah.payload();
    let mut icv = [0u8; 32];
    compute_icv(integ, sa.cfg.esn, seq, &hdr[..h], &[&ah_zero[..ah_len], payload], &mut icv[..sa.icv_len]);
    // Constant-time compare (RFC 4302 §3.4.4).
    if !ct_eq(&icv[..sa.icv_len], &ah.icv()[..sa.icv_len]) {
        return Err(DropReason::IcvMismatch);
    }
    sa.replay.update(seq);

    let next_header = ah.next_header();
    if next_header == ip::PROTO_NONE {
        return Err(DropReason::Dummy);
    }
    match sa.cfg.mode {
        Mode::Tunnel => {
            let n = inner_of_tunnel(next_header, payload)?;
            if n > out.len() {
                return Err(DropReason::BufferTooSmall);
            }
            out[..n].copy_from_slice(&payload[..n]);
            crate::ecn::decapsulate(packet, &mut out[..n])?;
            Ok(n)
        }
        Mode::Transport => {
            let total = h + payload.len();
            if total > out.len() {
                return Err(DropReason::BufferTooSmall);
            }
            out[..h].copy_from_slice(&packet[..h]);
            out[l.proto_offset] = next_header;
            out[h..total].copy_from_slice(payload);
            ip::fix_lengths(out, l.ipv6, total)?;
            Ok(total)
        }
    }
}

/// Constant-time equality of two equal-length byte strings.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    a.len() == b.len() && std::hint::black_box(d) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mutable_fields_and_options() {
        // IHL 7: 20 bytes + Router Alert (immutable) + a Record Route (mutable) option... trimmed to 8 bytes.
        let mut h = [
            0x47, 0xb8, 0x00, 0x40, 0x12, 0x34, 0x40, 0x00, 64, 51, 0xab, 0xcd, 192, 0, 2, 1, 192, 0, 2, 2, //
            148, 4, 0, 0, // Router Alert: kept
            7, 4, 5, 9, // Record Route: zeroed
        ];
        zero_mutable(&mut h, false).unwrap();
        assert_eq!(&h[..12], &[0x47, 0, 0x00, 0x40, 0x12, 0x34, 0, 0, 0, 51, 0, 0]);
        assert_eq!(&h[20..], &[148, 4, 0, 0, 0, 0, 0, 0]);
        let mut bad = h;
        bad[20] = 7;
        bad[21] = 1; // option length < 2
        assert_eq!(zero_mutable(&mut bad, false), Err(DropReason::BadHeader));
        let mut bad = h;
        bad[24] = 7;
        bad[25] = 9; // beyond the header
        assert_eq!(zero_mutable(&mut bad, false), Err(DropReason::BadHeader));
    }

    #[test]
    fn ipv6_mutable_fields_and_options() {
        let mut h = [0u8; 48];
        h[..8].copy_from_slice(&[0x6a, 0xbc, 0xde, 0xf1, 0, 20, 0, 64]);
        h[40..48].copy_from_slice(&[51, 0, 5, 2, 0, 0, 0x3e, 0]);
        // 0x3e with a zero-length body then end; make it 2 bytes of data instead.
        h[40..48].copy_from_slice(&[51, 0, 0x3e, 2, 0xaa, 0xbb, 1, 0]);
        zero_mutable(&mut h, true).unwrap();
        assert_eq!(&h[..8], &[0x60, 0, 0, 0, 0, 20, 0, 0]);
        assert_eq!(&h[40..48], &[51, 0, 0x3e, 2, 0, 0, 1, 0]);
        let mut h2 = [0u8; 48];
        h2[0] = 0x60;
        h2[40..48].copy_from_slice(&[51, 0, 5, 2, 0xaa, 0xbb, 1, 0]);
        zero_mutable(&mut h2, true).unwrap();
        assert_eq!(&h2[40..48], &[51, 0, 5, 2, 0xaa, 0xbb, 1, 0], "router alert has no change bit");
        let mut bad = h2;
        bad[41] = 3; // longer than the header
        assert_eq!(zero_mutable(&mut bad, true), Err(DropReason::BadHeader));
        let mut bad = h2;
        bad[43] = 9; // option longer than its header
        assert_eq!(zero_mutable(&mut bad, true), Err(DropReason::BadHeader));
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
