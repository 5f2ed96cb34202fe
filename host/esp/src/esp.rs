//! ESP processing (RFC 4303 §3.3 outbound, §3.4 inbound) for AEAD (RFC 4106,
//! RFC 7634), AES-CBC + HMAC (RFC 3602, RFC 4868) and NULL + HMAC (RFC 2410).
//!
//! Layout written by `encapsulate` (one copy of the payload, then in place):
//! `[IP header][SPI|seq][IV][payload|padding|pad len|next header][ICV]`.
use crate::config::{Mode, Spi};
use crate::drop::DropReason;
use crate::ip;
use crate::state::{align, seq_hi, Keys, SaState};
use esprit_crypto::CryptoError;
use esprit_wire::esp::{HEADER_LEN, TRAILER_LEN};

/// Additional authenticated data: SPI || seq, or SPI || seq_hi || seq_lo with
/// ESN (RFC 4106 §5, RFC 7634 §2.1). Returns the buffer and its used length.
#[inline]
fn aad(spi: Spi, seq: u64, esn: bool) -> ([u8; 12], usize) {
    let mut a = [0u8; 12];
    a[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        a[4..12].copy_from_slice(&seq.to_be_bytes());
        (a, 12)
    } else {
        a[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        (a, 8)
    }
}

#[inline]
fn nonce(salt: &[u8; 4], iv: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    n
}

fn crypto_err(e: CryptoError) -> DropReason {
    match e {
        CryptoError::AuthFailed => DropReason::IcvMismatch,
        _ => DropReason::CryptoError,
    }
}

/// Outbound ESP. Returns the outer packet length and the sequence number used.
pub(crate) fn encapsulate(sa: &mut SaState, packet: &[u8], out: &mut [u8]) -> Result<(usize, u64), DropReason> {
    let cfg = &sa.cfg;
    // What gets encrypted, what precedes the ESP header, and Next Header.
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
    // RFC 4303 §2.4: pad so that the ciphertext fills whole cipher blocks and
    // Pad Length / Next Header end on a 4-byte boundary.
    let padded = align(payload.len() + TRAILER_LEN, sa.block);
    let pad_len = padded - payload.len() - TRAILER_LEN;
    let iv_start = h + HEADER_LEN;
    let ct_start = iv_start + sa.iv_len;
    let icv_start = ct_start + padded;
    let total = icv_start + sa.icv_len;
    if total > out.len() {
        return Err(DropReason::BufferTooSmall);
    }
    let ipv6 = layout.map_or(cfg.dst.is_ipv6(), |l| l.ipv6);
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
            out[l.proto_offset] = ip::PROTO_ESP;
            ip::fix_lengths(out, l.ipv6, total)?;
        }
    }
    out[h..h + 4].copy_from_slice(&cfg.spi.to_be_bytes());
    out[h + 4..h + 8].copy_from_slice(&(seq as u32).to_be_bytes());
    let pt_end = ct_start + payload.len();
    out[ct_start..pt_end].copy_from_slice(payload);
    // Monotonic padding 1, 2, 3, ... (RFC 4303 §2.4).
    for (i, b) in out[pt_end..pt_end + pad_len].iter_mut().enumerate() {
        *b = (i + 1) as u8;
    }
    out[icv_start - 2] = pad_len as u8;
    out[icv_start - 1] = next_header;

    seal(sa, out, h, padded, total, seq)?;
    Ok((total, seq))
}

/// Encrypts and authenticates an ESP packet laid out in `out[..total]`:
/// `[IP header (h bytes)][SPI|seq][IV][plaintext|padding|trailer][ICV]`.
#[inline]
fn seal(sa: &SaState, out: &mut [u8], h: usize, padded: usize, total: usize, seq: u64) -> Result<(), DropReason> {
    let cfg = &sa.cfg;
    let iv_start = h + HEADER_LEN;
    let ct_start = iv_start + sa.iv_len;
    let icv_start = ct_start + padded;
    match &sa.keys {
        Keys::Aead { aead, salt } => {
            // RFC 4106 §3.1 / RFC 7634 §2: the 64-bit sequence number is the IV.
            let iv = seq.to_be_bytes();
            out[iv_start..ct_start].copy_from_slice(&iv);
            let (a, alen) = aad(cfg.spi, seq, cfg.esn);
            let (ct, tag) = out[ct_start..total].split_at_mut(padded);
            aead.seal_in_place_detached(&nonce(salt, &iv), &a[..alen], ct, tag).map_err(crypto_err)?;
        }
        Keys::CbcHmac { cipher, integ, iv_prefix } => {
            // RFC 3602 §3: an unpredictable IV per packet. IV = E_K(prefix || seq),
            // a block-cipher-encrypted nonce (NIST SP 800-38A Appendix C).
            let mut iv = [0u8; 16];
            iv[..8].copy_from_slice(iv_prefix);
            iv[8..].copy_from_slice(&seq.to_be_bytes());
            cipher.encrypt_cbc(&[0u8; 16], &mut iv).map_err(crypto_err)?;
            out[iv_start..ct_start].copy_from_slice(&iv[..sa.iv_len]);
            cipher.encrypt_cbc(&iv[..sa.iv_len], &mut out[ct_start..icv_start]).map_err(crypto_err)?;
            mac(&**integ, cfg.esn, seq, &mut out[h..total], icv_start - h);
        }
        Keys::NullHmac { integ } => mac(&**integ, cfg.esn, seq, &mut out[h..total], icv_start - h),
        Keys::Ah { .. } => return Err(DropReason::Unsupported),
    }
    Ok(())
}

/// Outbound ESP in tunnel mode without copying the payload: the inner packet
/// already sits at `buf[headroom..headroom + len]` (headroom = outer header +
/// ESP header + IV, see [`crate::Sa::tunnel_headroom`]); the outer header and ESP
/// header are written in front of it, padding and ICV after it, and the
/// payload is encrypted where it lies.
pub(crate) fn encapsulate_in_place(sa: &mut SaState, buf: &mut [u8], len: usize) -> Result<(usize, u64), DropReason> {
    seal_tunnel_in_place(sa, buf, len, true)
}

/// [`encapsulate_in_place`] without the outer IP header: `buf[..n]` is the
/// ESP packet alone (SPI .. ICV), as ESP in UDP carries it (RFC 3948 §2.1;
/// the kernel writes the IP and UDP headers). The headroom is ESP header +
/// IV ([`crate::Sa::esp_headroom`]).
pub(crate) fn seal_esp_in_place(sa: &mut SaState, buf: &mut [u8], len: usize) -> Result<(usize, u64), DropReason> {
    seal_tunnel_in_place(sa, buf, len, false)
}

fn seal_tunnel_in_place(sa: &mut SaState, buf: &mut [u8], len: usize, with_outer: bool) -> Result<(usize, u64), DropReason> {
    if sa.cfg.mode != Mode::Tunnel {
        return Err(DropReason::Unsupported);
    }
    let h = if with_outer { sa.outer.len() } else { 0 };
    let ct_start = h + HEADER_LEN + sa.iv_len;
    let inner = buf.get(ct_start..ct_start + len).ok_or(DropReason::BufferTooSmall)?;
    let (v6, plen) = ip::inner_packet(inner)?;
    // What the outer header copies from the inner one (TOS/traffic class, DF).
    let mut ih = [0u8; 8];
    ih.copy_from_slice(&inner[..8]);
    let next_header = if v6 { ip::PROTO_IPV6 } else { ip::PROTO_IPV4 };
    let padded = align(plen + TRAILER_LEN, sa.block);
    let pad_len = padded - plen - TRAILER_LEN;
    let icv_start = ct_start + padded;
    let total = icv_start + sa.icv_len;
    if total > buf.len() {
        return Err(DropReason::BufferTooSmall);
    }
    // The IP packet that will carry it: ours, or the kernel's IP + UDP.
    let carried = if with_outer { total } else { total + ip::outer_len(sa.cfg.dst) + 8 };
    if carried - if sa.cfg.dst.is_ipv6() { ip::IPV6_HEADER_LEN } else { 0 } > usize::from(u16::MAX) {
        return Err(DropReason::TooBig);
    }
    let seq = sa.next_seq()?;
    if with_outer {
        sa.outer.emit(buf, &ih, total, sa.ident)?;
    }
    buf[h..h + 4].copy_from_slice(&sa.cfg.spi.to_be_bytes());
    buf[h + 4..h + 8].copy_from_slice(&(seq as u32).to_be_bytes());
    let pt_end = ct_start + plen;
    for (i, b) in buf[pt_end..pt_end + pad_len].iter_mut().enumerate() {
        *b = (i + 1) as u8;
    }
    buf[icv_start - 2] = pad_len as u8;
    buf[icv_start - 1] = next_header;
    seal(sa, buf, h, padded, total, seq)?;
    Ok((total, seq))
}

/// ICV over SPI .. ciphertext, plus seq_hi with ESN (RFC 4303 §2.2.1, §3.3.4).
fn mac(integ: &dyn esprit_crypto::Integrity, esn: bool, seq: u64, esp: &mut [u8], icv_start: usize) {
    let (authed, icv) = esp.split_at_mut(icv_start);
    let hi = seq_hi(seq);
    if esn {
        integ.compute(&[authed, &hi], icv);
    } else {
        integ.compute(&[authed], icv);
    }
}

/// Inbound ESP. Returns the length of the inner packet written to `out`.
pub(crate) fn decapsulate(sa: &mut SaState, packet: &[u8], out: &mut [u8]) -> Result<usize, DropReason> {
    let l = ip::locate_ipsec(packet)?;
    if l.proto != ip::PROTO_ESP {
        return Err(DropReason::UnknownSpi);
    }
    let esp = &packet[l.hdr_len..l.total_len];
    let o = match sa.cfg.mode {
        Mode::Tunnel => 0,
        Mode::Transport => l.hdr_len,
    };
    let from = o.min(out.len());
    let (payload_len, next_header) = open(sa, esp, &mut out[from..])?;
    match sa.cfg.mode {
        Mode::Tunnel => {
            let n = ip::inner_of_tunnel(next_header, &out[..payload_len])?;
            crate::ecn::decapsulate(packet, &mut out[..n])?;
            Ok(n)
        }
        Mode::Transport => {
            let h = l.hdr_len;
            out[..h].copy_from_slice(&packet[..h]);
            out[l.proto_offset] = next_header;
            ip::fix_lengths(out, l.ipv6, h + payload_len)?;
            Ok(h + payload_len)
        }
    }
}

/// Inbound tunnel-mode ESP from the ESP packet alone (SPI .. ICV), as ESP in
/// UDP carries it (RFC 3948 §2.1): no outer IP header is needed. The socket
/// does not report the outer ECN field, which counts as Not-ECT: the inner
/// header stays as it is (RFC 6040 §4.2). Returns the inner packet's length.
pub(crate) fn open_esp(sa: &mut SaState, esp: &[u8], out: &mut [u8]) -> Result<usize, DropReason> {
    if sa.cfg.mode != Mode::Tunnel {
        return Err(DropReason::Unsupported);
    }
    let (payload_len, next_header) = open(sa, esp, out)?;
    ip::inner_of_tunnel(next_header, &out[..payload_len])
}

/// Checks and decrypts one ESP packet (SPI .. ICV) into `out`: replay check,
/// ICV, window update, padding. Returns the payload length and Next Header.
fn open(sa: &mut SaState, esp: &[u8], out: &mut [u8]) -> Result<(usize, u8), DropReason> {
    if esp.len() < HEADER_LEN {
        return Err(DropReason::Truncated);
    }
    let spi = Spi::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]);
    if spi != sa.cfg.spi {
        return Err(DropReason::UnknownSpi);
    }
    let seq_lo = u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]]);
    let body = esp.len() - HEADER_LEN;
    if body < sa.iv_len + sa.icv_len {
        return Err(DropReason::ShortTag);
    }
    let ct_len = body - sa.iv_len - sa.icv_len;
    if ct_len < TRAILER_LEN {
        return Err(DropReason::Truncated);
    }
    if ct_len & (sa.block - 1) != 0 {
        return Err(DropReason::BadHeader);
    }
    // Anti-replay check before the ICV (RFC 4303 §3.4.3).
    let seq = sa.inbound_seq(seq_lo)?;
    if ct_len > out.len() {
        return Err(DropReason::BufferTooSmall);
    }
    let iv = &esp[HEADER_LEN..HEADER_LEN + sa.iv_len];
    let ct_end = HEADER_LEN + sa.iv_len + ct_len;
    let ct = &esp[HEADER_LEN + sa.iv_len..ct_end];
    let icv = &esp[ct_end..];
    let pt = &mut out[..ct_len];
    match &sa.keys {
        Keys::Aead { aead, salt } => {
            let (a, alen) = aad(spi, seq, sa.cfg.esn);
            pt.copy_from_slice(ct);
            aead.open_in_place_detached(&nonce(salt, iv), &a[..alen], pt, icv).map_err(crypto_err)?;
        }
        Keys::CbcHmac { cipher, integ, .. } => {
            verify(&**integ, sa.cfg.esn, seq, &esp[..ct_end], icv)?;
            pt.copy_from_slice(ct);
            cipher.decrypt_cbc(iv, pt).map_err(crypto_err)?;
        }
        Keys::NullHmac { integ } => {
            verify(&**integ, sa.cfg.esn, seq, &esp[..ct_end], icv)?;
            pt.copy_from_slice(ct);
        }
        Keys::Ah { .. } => return Err(DropReason::Unsupported),
    }
    // The packet is authentic: advance the window (RFC 4303 §3.4.3).
    sa.replay.update(seq);

    let pad_len = usize::from(pt[ct_len - 2]);
    let next_header = pt[ct_len - 1];
    if pad_len + TRAILER_LEN > ct_len {
        return Err(DropReason::BadPadding);
    }
    let payload_len = ct_len - TRAILER_LEN - pad_len;
    for (i, &b) in pt[payload_len..payload_len + pad_len].iter().enumerate() {
        if usize::from(b) != i + 1 {
            return Err(DropReason::BadPadding);
        }
    }
    if next_header == ip::PROTO_NONE {
        // A TFC dummy packet (RFC 4303 §2.6): dropped silently, counted.
        return Err(DropReason::Dummy);
    }
    Ok((payload_len, next_header))
}

fn verify(integ: &dyn esprit_crypto::Integrity, esn: bool, seq: u64, authed: &[u8], icv: &[u8]) -> Result<(), DropReason> {
    let hi = seq_hi(seq);
    let ok = if esn { integ.verify(&[authed, &hi], icv) } else { integ.verify(&[authed], icv) };
    if ok {
        Ok(())
    } else {
        Err(DropReason::IcvMismatch)
    }
}
