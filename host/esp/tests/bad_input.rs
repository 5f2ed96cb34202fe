//! Every bad input gets a drop reason, a counter, and no panic.
mod common;
use common::*;
use esprit_crypto::{AeadAlg, IntegAlg, Provider};
use esprit_esp::{peek_spi, DropReason, Mode, Protocol, Sa, SaConfig, Transform};
use std::collections::HashMap;

fn encap_one(t: Transform, mode: Mode, v6: bool) -> (SaConfig, Vec<u8>, Vec<u8>) {
    let cfg = config(t, mode, v6, false);
    let mut tx = sa(&cfg, providers()[0]);
    let inner = if v6 { ipv6_udp(&payload(40, 1), true, false) } else { ipv4_udp(&payload(40, 1)) };
    let mut out = [0u8; 1024];
    let enc = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
    (cfg, inner, enc)
}

#[test]
fn truncated_at_every_length() {
    for t in all_transforms() {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for v6 in [false, true] {
                let (cfg, _, enc) = encap_one(t, mode, v6);
                let mut rx = sa(&cfg, providers()[1]);
                let mut out = [0u8; 1024];
                for n in 0..enc.len() {
                    let r = rx.decapsulate(&enc[..n], &mut out);
                    assert!(r.is_err(), "{} {mode:?} v6={v6} len {n}", t.name());
                    let _ = peek_spi(&enc[..n]);
                }
                // Truncated buffers say so.
                assert_eq!(rx.decapsulate(&enc[..enc.len() - 1], &mut out), Err(DropReason::Truncated));
                assert_eq!(rx.decapsulate(&enc[..10], &mut out), Err(DropReason::Truncated));
                // With the IP length fields fixed up, a short ESP/AH body is still refused.
                for cut in 1..enc.len() - if v6 { 40 } else { 20 } {
                    let mut p = enc[..enc.len() - cut].to_vec();
                    let l = p.len();
                    if v6 {
                        p[4..6].copy_from_slice(&((l - 40) as u16).to_be_bytes());
                    } else {
                        p[2..4].copy_from_slice(&(l as u16).to_be_bytes());
                    }
                    assert!(rx.decapsulate(&p, &mut out).is_err(), "{} cut {cut}", t.name());
                }
                assert_eq!(rx.stats().packets_in, 0);
                assert!(rx.decapsulate(&enc, &mut out).is_ok());
            }
        }
    }
}

#[test]
fn unknown_spi_via_peek_and_lookup() {
    let p = providers()[0];
    let mut table: HashMap<(Protocol, esprit_esp::Spi), Sa> = HashMap::new();
    let t = Transform::Aead(AeadAlg::Aes128Gcm16);
    let mut known = config(t, Mode::Tunnel, false, false);
    known.spi = esprit_esp::Spi(0x5000);
    table.insert((Protocol::Esp, esprit_esp::Spi(0x5000)), sa(&known, p));
    let (cfg, _, enc) = encap_one(t, Mode::Tunnel, false);
    let key = peek_spi(&enc).unwrap();
    assert_eq!(key, (Protocol::Esp, cfg.spi));
    assert!(table.get_mut(&key).is_none(), "SPI {:#x} is unknown", key.1);
    // Handing it to the wrong SA anyway is refused and counted.
    let sa5000 = table.get_mut(&(Protocol::Esp, esprit_esp::Spi(0x5000))).unwrap();
    let mut out = [0u8; 1024];
    assert_eq!(sa5000.decapsulate(&enc, &mut out), Err(DropReason::UnknownSpi));
    assert_eq!(sa5000.stats().drops_in.get(DropReason::UnknownSpi), 1);
    // An AH SA does not take ESP and vice versa.
    let (ah_cfg, _, ah_enc) = encap_one(Transform::Ah(IntegAlg::HmacSha256_128), Mode::Tunnel, false);
    let mut esp_sa = sa(&cfg, p);
    assert_eq!(esp_sa.decapsulate(&ah_enc, &mut out), Err(DropReason::UnknownSpi));
    let mut ah_sa = sa(&ah_cfg, p);
    assert_eq!(ah_sa.decapsulate(&enc, &mut out), Err(DropReason::UnknownSpi));
    // Not IPsec at all.
    let clear = ipv4_udp(b"hello");
    assert_eq!(peek_spi(&clear), Err(DropReason::NotIpsec));
    assert_eq!(esp_sa.decapsulate(&clear, &mut out), Err(DropReason::NotIpsec));
}

#[test]
fn bad_icv_anywhere() {
    for t in all_transforms() {
        for v6 in [false, true] {
            let (cfg, _, enc) = encap_one(t, Mode::Transport, v6);
            let mut rx = sa(&cfg, providers()[1]);
            let mut out = [0u8; 1024];
            let h = if v6 { 48 } else { 20 };
            // Any bit after the SPI/seq of ESP (or any immutable bit under AH).
            let start = if t.protocol() == Protocol::Esp { h + 8 } else { h + 12 };
            for i in start..enc.len() {
                let mut bad = enc.clone();
                bad[i] ^= 0x80;
                assert_eq!(rx.decapsulate(&bad, &mut out), Err(DropReason::IcvMismatch), "{} v6={v6} byte {i}", t.name());
            }
            assert_eq!(rx.stats().auth_failures(), (enc.len() - start) as u64);
            // Nothing was learnt by the window: the real packet still passes.
            rx.decapsulate(&enc, &mut out).unwrap();
        }
    }
}

#[test]
fn replayed_and_too_old() {
    for t in all_transforms() {
        let cfg = config(t, Mode::Tunnel, false, false);
        let mut tx = sa(&cfg, providers()[0]);
        let mut rx = sa(&cfg, providers()[1]);
        let inner = ipv4_udp(b"replay me");
        let mut out = [0u8; 512];
        let mut back = [0u8; 512];
        let first = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
        let second = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
        tx.set_seq_out(10_000);
        let late = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
        rx.decapsulate(&second, &mut back).unwrap();
        rx.decapsulate(&first, &mut back).unwrap(); // out of order inside the window
        assert_eq!(rx.decapsulate(&first, &mut back), Err(DropReason::Replay));
        assert_eq!(rx.decapsulate(&second, &mut back), Err(DropReason::Replay));
        rx.decapsulate(&late, &mut back).unwrap();
        // 10001 - 4096 > 2: left of the window now.
        let mut rx2 = sa(&cfg, providers()[0]);
        rx2.decapsulate(&late, &mut back).unwrap();
        assert_eq!(rx2.decapsulate(&first, &mut back), Err(DropReason::TooOld));
        assert_eq!(rx.stats().replay_drops(), 2);
        assert_eq!(rx2.stats().drops_in.get(DropReason::TooOld), 1);
        // A forged packet with a fresh sequence number does not move the window.
        let mut forged = late.clone();
        let seq_at = if t.protocol() == Protocol::Esp { 24 } else { 28 };
        forged[seq_at..seq_at + 4].copy_from_slice(&20_000u32.to_be_bytes());
        assert_eq!(rx2.decapsulate(&forged, &mut back), Err(DropReason::IcvMismatch));
        assert_eq!(rx2.seq_in(), 10_001);
    }
}

/// Builds an IPv4 ESP packet with a hand-made plaintext (payload, padding and
/// trailer of our choosing), sealed with the SA's AEAD so that only the trailer
/// is wrong.
fn craft_aead(cfg: &SaConfig, p: &dyn Provider, seq: u32, plaintext: &[u8]) -> Vec<u8> {
    let Transform::Aead(alg) = cfg.transform else { unreachable!() };
    let aead = p.aead(alg, &cfg.enc_key[..alg.key_len()]).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&cfg.enc_key[alg.key_len()..]);
    nonce[4..].copy_from_slice(&u64::from(seq).to_be_bytes());
    let mut esp = Vec::new();
    esp.extend_from_slice(&cfg.spi.to_be_bytes());
    esp.extend_from_slice(&seq.to_be_bytes());
    esp.extend_from_slice(&nonce[4..]);
    let mut ct = plaintext.to_vec();
    let mut tag = [0u8; 16];
    aead.seal_in_place_detached(&nonce, &esp[..8], &mut ct, &mut tag).unwrap();
    esp.extend_from_slice(&ct);
    esp.extend_from_slice(&tag);
    let total = 20 + esp.len();
    let mut pkt = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 50, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2];
    pkt[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&pkt);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
    pkt.extend_from_slice(&esp);
    pkt
}

fn trailer(inner: &[u8], pad: &[u8], pad_len: u8, nh: u8) -> Vec<u8> {
    let mut v = inner.to_vec();
    v.extend_from_slice(pad);
    v.push(pad_len);
    v.push(nh);
    v
}

#[test]
fn bad_padding_next_header_and_dummy() {
    for p in providers() {
        let cfg = config(Transform::Aead(AeadAlg::Aes128Gcm16), Mode::Tunnel, false, false);
        let inner = ipv4_udp(b"abcdefgh"); // 36 bytes
        let mut rx = sa(&cfg, p);
        let mut out = [0u8; 512];
        let mut seq = 0;
        let mut check = |pt: Vec<u8>, want: Result<usize, DropReason>| {
            seq += 1;
            let pkt = craft_aead(&cfg, p, seq, &pt);
            assert_eq!(rx.decapsulate(&pkt, &mut out).map(|d| d.len()), want, "plaintext {}", hex::encode(&pt));
        };
        check(trailer(&inner, &[1, 2], 2, 4), Ok(inner.len()));
        check(trailer(&inner, &[1, 3], 2, 4), Err(DropReason::BadPadding));
        check(trailer(&inner, &[0, 0], 2, 4), Err(DropReason::BadPadding));
        check(trailer(&inner, &[1, 2], 200, 4), Err(DropReason::BadPadding));
        check(trailer(&inner, &[1, 2], 39, 4), Err(DropReason::BadPadding));
        check(trailer(&inner, &[1, 2], 2, 6), Err(DropReason::BadNextHeader));
        check(trailer(&inner, &[1, 2], 2, 41), Err(DropReason::BadNextHeader));
        check(trailer(&inner, &[1, 2], 2, 59), Err(DropReason::Dummy));
        // The inner header claims more than was carried.
        let mut long = inner.clone();
        long[3] += 8;
        check(trailer(&long, &[1, 2], 2, 4), Err(DropReason::BadHeader));
        // Not a multiple of 4 bytes (RFC 4303 §2.4).
        check(trailer(&inner, &[1], 1, 4), Err(DropReason::BadHeader));
        // TFC padding after the inner packet (RFC 4303 §2.4) is stripped.
        let mut tfc = inner.clone();
        tfc.extend_from_slice(&[0u8; 12]);
        check(trailer(&tfc, &[1, 2], 2, 4), Ok(inner.len()));
        let s = rx.stats();
        assert_eq!(s.drops_in.get(DropReason::BadPadding), 4);
        assert_eq!(s.drops_in.get(DropReason::BadNextHeader), 2);
        assert_eq!(s.drops_in.get(DropReason::Dummy), 1);
        assert_eq!(s.packets_in, 2);
    }
}

#[test]
fn short_tag() {
    for t in all_transforms() {
        let (cfg, _, enc) = encap_one(t, Mode::Tunnel, false);
        let mut rx = sa(&cfg, providers()[0]);
        let mut out = [0u8; 1024];
        let hdr = if t.protocol() == Protocol::Esp { 8 } else { 12 };
        // Header plus fewer bytes than IV + ICV (ESP), or an AH whose ICV field is too short.
        let mut p = enc[..20 + hdr + 4].to_vec();
        let l = p.len() as u16;
        p[2..4].copy_from_slice(&l.to_be_bytes());
        if t.protocol() == Protocol::Ah {
            p[21] = 2; // 16-byte AH header: a 4-byte ICV field
        }
        assert_eq!(rx.decapsulate(&p, &mut out), Err(DropReason::ShortTag), "{}", t.name());
    }
}

#[test]
fn fragments_are_counted_not_decrypted() {
    for t in all_transforms() {
        let (cfg, _, enc) = encap_one(t, Mode::Tunnel, false);
        let mut rx = sa(&cfg, providers()[0]);
        let mut out = [0u8; 1024];
        for (b6, b7) in [(0x20, 0), (0, 1), (0x3f, 0xff)] {
            let mut f = enc.clone();
            f[6] = b6;
            f[7] = b7;
            assert_eq!(rx.decapsulate(&f, &mut out), Err(DropReason::Fragment));
            assert_eq!(peek_spi(&f), Err(DropReason::Fragment));
        }
        assert_eq!(rx.stats().drops_in.get(DropReason::Fragment), 3);
        // IPv6: a fragment header in front of ESP/AH.
        let (cfg6, _, enc6) = encap_one(t, Mode::Tunnel, true);
        let mut rx6 = sa(&cfg6, providers()[0]);
        let mut f = enc6[..40].to_vec();
        f[6] = 44;
        f.extend_from_slice(&[enc6[6], 0, 0, 1, 0, 0, 0, 7]);
        f.extend_from_slice(&enc6[40..]);
        let plen = (f.len() - 40) as u16;
        f[4..6].copy_from_slice(&plen.to_be_bytes());
        assert_eq!(rx6.decapsulate(&f, &mut out), Err(DropReason::Fragment));
    }
}

#[test]
fn bad_outer_headers() {
    let (cfg, _, enc) = encap_one(Transform::Aead(AeadAlg::Aes128Gcm16), Mode::Tunnel, false);
    let mut rx = sa(&cfg, providers()[0]);
    let mut out = [0u8; 1024];
    let mut bad = enc.clone();
    bad[0] = 0x55; // version 5
    assert_eq!(rx.decapsulate(&bad, &mut out), Err(DropReason::BadHeader));
    let mut bad = enc.clone();
    bad[0] = 0x43; // IHL 12 bytes
    assert_eq!(rx.decapsulate(&bad, &mut out), Err(DropReason::BadHeader));
    let mut bad = enc.clone();
    bad[2] = 0;
    bad[3] = 10; // total length below the header length
    assert_eq!(rx.decapsulate(&bad, &mut out), Err(DropReason::BadHeader));
    assert_eq!(rx.decapsulate(&[], &mut out), Err(DropReason::Truncated));
    // Trailing bytes beyond the IP total length (Ethernet padding) are ignored.
    let mut padded = enc.clone();
    padded.extend_from_slice(&[0u8; 6]);
    assert!(rx.decapsulate(&padded, &mut out).is_ok());
    // SPI 0 never names an SA.
    let mut zero = enc.clone();
    zero[20..24].fill(0);
    assert_eq!(peek_spi(&zero), Err(DropReason::UnknownSpi));
}

#[test]
fn bad_inner_packets_outbound() {
    for t in all_transforms() {
        for mode in [Mode::Transport, Mode::Tunnel] {
            let cfg = config(t, mode, false, false);
            let mut tx = sa(&cfg, providers()[0]);
            let mut out = [0u8; 1024];
            let good = ipv4_udp(b"hi");
            for n in 0..good.len() {
                assert!(tx.encapsulate(&good[..n], &mut out).is_err(), "{} {mode:?} len {n}", t.name());
            }
            let mut v = good.clone();
            v[0] = 0x75;
            assert_eq!(tx.encapsulate(&v, &mut out), Err(DropReason::BadHeader));
            assert_eq!(tx.stats().packets_out, 0);
            assert_eq!(tx.seq_out(), 0, "refused packets consume no sequence number");
        }
    }
}
