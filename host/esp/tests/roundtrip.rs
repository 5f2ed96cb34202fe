//! Encapsulate → decapsulate for every transform, both modes, IPv4 and IPv6
//! inside and outside, with and without ESN, across both providers (packets
//! sealed by one backend are opened by the other).
mod common;
use common::*;
use esprit_esp::{Bundle, DropReason, Mode, Protocol, Transform};

fn inner_packets(v6: bool) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for len in [0usize, 1, 2, 3, 13, 64, 500, 1400] {
        if v6 {
            v.push(ipv6_udp(&payload(len, 7), false, false));
            v.push(ipv6_udp(&payload(len, 9), true, true));
        } else {
            v.push(ipv4_udp(&payload(len, 5)));
        }
    }
    v
}

#[test]
fn every_transform_mode_family_and_provider() {
    let providers = providers();
    let mut checked = 0;
    for t in all_transforms() {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for outer_v6 in [false, true] {
                for esn in [false, true] {
                    for (pi, p) in providers.iter().enumerate() {
                        let q = providers[(pi + 1) % providers.len()];
                        let cfg = config(t, mode, outer_v6, esn);
                        let mut tx = sa(&cfg, *p);
                        let mut rx = sa(&cfg, q);
                        // Transport mode keeps the packet's own header; tunnel carries both families.
                        let inners: Vec<Vec<u8>> = match mode {
                            Mode::Transport => inner_packets(outer_v6),
                            Mode::Tunnel => inner_packets(false).into_iter().chain(inner_packets(true)).collect(),
                        };
                        for inner in &inners {
                            let mut out = [0u8; 2048];
                            let mut back = [0u8; 2048];
                            let enc = tx.encapsulate(inner, &mut out).unwrap().to_vec();
                            check_outer(&enc, &cfg, mode, t, inner.len(), &tx);
                            let dec = rx.decapsulate(&enc, &mut back).unwrap();
                            assert_eq!(dec, &inner[..], "{} {mode:?} v6={outer_v6} esn={esn} {}", t.name(), p.name());
                            checked += 1;
                        }
                        assert_eq!(rx.stats().packets_in, inners.len() as u64);
                        assert_eq!(rx.stats().drops_in.total(), 0);
                        assert_eq!(tx.stats().packets_out, inners.len() as u64);
                    }
                }
            }
        }
    }
    assert!(checked > 1000);
}

fn check_outer(enc: &[u8], cfg: &esprit_esp::SaConfig, mode: Mode, t: Transform, inner_len: usize, tx: &esprit_esp::Sa) {
    let v6 = enc[0] >> 4 == 6;
    if v6 {
        assert_eq!(usize::from(u16::from_be_bytes([enc[4], enc[5]])) + 40, enc.len());
    } else {
        assert_eq!(usize::from(u16::from_be_bytes([enc[2], enc[3]])), enc.len());
        assert_eq!(checksum(&enc[..20]), 0, "IPv4 header checksum");
    }
    if mode == Mode::Tunnel {
        assert_eq!(v6, cfg.dst.is_ipv6());
        let proto = if v6 { enc[6] } else { enc[9] };
        assert_eq!(proto, proto_of(&t));
        let (s, d) = if v6 { (&enc[8..24], &enc[24..40]) } else { (&enc[12..16], &enc[16..20]) };
        let want = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        };
        assert_eq!(s, &want(cfg.src)[..]);
        assert_eq!(d, &want(cfg.dst)[..]);
        assert_eq!(if v6 { enc[7] } else { enc[8] }, 64, "outer TTL");
        assert_eq!(tx.overhead(inner_len), enc.len() - inner_len, "tunnel overhead is exact");
    } else {
        assert!(tx.overhead(inner_len) >= enc.len() - inner_len);
    }
}

#[test]
fn esp_padding_is_monotonic_and_aligned() {
    // NULL encryption shows the trailer in clear (RFC 2410).
    let t = Transform::NullHmac(esprit_crypto::IntegAlg::HmacSha256_128);
    let cfg = config(t, Mode::Tunnel, false, false);
    let mut tx = sa(&cfg, providers()[0]);
    for len in 0..8 {
        let inner = ipv4_udp(&payload(len, 1));
        let mut out = [0u8; 256];
        let enc = tx.encapsulate(&inner, &mut out).unwrap();
        let ct = &enc[20 + 8..enc.len() - 16];
        assert_eq!(ct.len() % 4, 0);
        let pad_len = ct[ct.len() - 2] as usize;
        assert_eq!(ct[ct.len() - 1], 4, "next header IPv4");
        assert_eq!(&ct[..inner.len()], &inner[..]);
        let pad: Vec<u8> = (1..=pad_len as u8).collect();
        assert_eq!(&ct[inner.len()..inner.len() + pad_len], &pad[..]);
    }
}

#[test]
fn aead_iv_is_the_sequence_number_and_cbc_iv_is_unpredictable() {
    let p = providers()[0];
    let cfg = config(Transform::Aead(esprit_crypto::AeadAlg::Aes128Gcm16), Mode::Transport, false, false);
    let mut tx = sa(&cfg, p);
    let inner = ipv4_udp(b"x");
    let mut out = [0u8; 256];
    let enc = tx.encapsulate(&inner, &mut out).unwrap();
    assert_eq!(&enc[20..28], &[0xc0, 0xde, 0, 1, 0, 0, 0, 1]);
    assert_eq!(&enc[28..36], &1u64.to_be_bytes());
    let cfg = config(Transform::CbcHmac(esprit_crypto::CipherAlg::Aes128Cbc, esprit_crypto::IntegAlg::HmacSha256_128), Mode::Transport, false, false);
    let mut a = sa(&cfg, p);
    let mut b = sa(&cfg, p);
    let mut o1 = [0u8; 256];
    let mut o2 = [0u8; 256];
    let iv1 = a.encapsulate(&inner, &mut o1).unwrap()[28..44].to_vec();
    let iv2 = a.encapsulate(&inner, &mut o2).unwrap()[28..44].to_vec();
    let iv3 = b.encapsulate(&inner, &mut o1).unwrap()[28..44].to_vec();
    assert_ne!(iv1, iv2, "a new IV per packet");
    assert_ne!(iv1, iv3, "IVs of two SAs with the same key differ (random per-SA prefix)");
}

#[test]
fn esn_across_the_32_bit_boundary() {
    for t in all_transforms() {
        let cfg = config(t, Mode::Tunnel, false, true);
        let mut tx = sa(&cfg, providers()[0]);
        let mut rx = sa(&cfg, providers()[1]);
        tx.set_seq_out(0xffff_fff0);
        rx.set_seq_in(0xffff_fff0);
        let mut last = Vec::new();
        for i in 0..40u8 {
            let inner = ipv4_udp(&[i; 10]);
            let mut out = [0u8; 256];
            let mut back = [0u8; 256];
            let enc = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
            assert_eq!(rx.decapsulate(&enc, &mut back).unwrap(), &inner[..], "{} #{i}", t.name());
            last = enc;
        }
        assert_eq!(tx.seq_out(), 0x1_0000_0018);
        assert_eq!(rx.seq_in(), 0x1_0000_0018);
        let mut back = [0u8; 256];
        assert_eq!(rx.decapsulate(&last, &mut back), Err(DropReason::Replay));
        // A receiver without ESN cannot verify packets whose ICV covers seq_hi.
        let mut plain = sa(&config(t, Mode::Tunnel, false, false), providers()[0]);
        assert_eq!(plain.decapsulate(&last, &mut back), Err(DropReason::IcvMismatch), "{}", t.name());
    }
}

#[test]
fn sequence_exhaustion_without_esn() {
    for t in all_transforms() {
        let cfg = config(t, Mode::Transport, false, false);
        let mut tx = sa(&cfg, providers()[0]);
        tx.set_seq_out(u64::from(u32::MAX) - 1);
        let inner = ipv4_udp(b"abc");
        let mut out = [0u8; 256];
        tx.encapsulate(&inner, &mut out).unwrap();
        assert_eq!(tx.encapsulate(&inner, &mut out), Err(DropReason::SeqExhausted));
        assert_eq!(tx.encapsulate(&inner, &mut out), Err(DropReason::SeqExhausted));
        assert_eq!(tx.stats().drops_out.get(DropReason::SeqExhausted), 2);
        let mut esn = sa(&config(t, Mode::Transport, false, true), providers()[0]);
        esn.set_seq_out(u64::from(u32::MAX));
        esn.encapsulate(&inner, &mut out).unwrap();
        esn.set_seq_out(u64::MAX);
        assert_eq!(esn.encapsulate(&inner, &mut out), Err(DropReason::SeqExhausted));
    }
}

#[test]
fn ah_ignores_mutable_fields_and_covers_immutable_ones() {
    use esprit_crypto::IntegAlg::*;
    for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
        for (mode, v6) in [(Mode::Transport, false), (Mode::Tunnel, false), (Mode::Transport, true), (Mode::Tunnel, true)] {
            let cfg = config(Transform::Ah(i), mode, v6, false);
            let mut tx = sa(&cfg, providers()[0]);
            let mut rx = sa(&cfg, providers()[1]);
            let inner = if v6 { ipv6_udp(b"hello", true, false) } else { ipv4_udp(b"hello") };
            let mut out = [0u8; 512];
            let mut back = [0u8; 512];
            let enc = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
            // Routers change TTL / hop limit, TOS / traffic class, flow label.
            let mut routed = enc.clone();
            if v6 {
                routed[7] -= 1;
                routed[0] = (routed[0] & 0xf0) | 0x3;
                routed[3] ^= 0x55;
            } else {
                routed[8] -= 1;
                routed[1] = 0xb8;
                routed[10] ^= 0xff; // the checksum changes with them
            }
            // Immutable: the source address.
            let mut forged = enc.clone();
            forged[if v6 { 9 } else { 13 }] ^= 1;
            assert_eq!(rx.decapsulate(&forged, &mut back), Err(DropReason::IcvMismatch));
            let dec = rx.decapsulate(&routed, &mut back).unwrap();
            if mode == Mode::Tunnel {
                assert_eq!(dec, &inner[..]);
            }
            // AH header length: 32-bit aligned for IPv4, 64-bit for IPv6 (RFC 4302 §2.6).
            let h = if mode == Mode::Tunnel || !v6 { if v6 { 40 } else { 20 } } else { 48 };
            let ah_len = (usize::from(enc[h + 1]) + 2) * 4;
            assert_eq!(ah_len % if v6 { 8 } else { 4 }, 0);
            assert!(ah_len >= 12 + i.icv_len());
        }
    }
}

#[test]
fn bundle_esp_then_ah() {
    use esprit_crypto::{AeadAlg, IntegAlg};
    for v6 in [false, true] {
        let mut esp_cfg = config(Transform::Aead(AeadAlg::Aes128Gcm16), Mode::Transport, v6, false);
        esp_cfg.spi = esprit_esp::Spi(0x1001);
        let mut ah_cfg = config(Transform::Ah(IntegAlg::HmacSha256_128), Mode::Transport, v6, true);
        ah_cfg.spi = esprit_esp::Spi(0x2002);
        let p = providers()[0];
        let mut out_b = Bundle::new(vec![sa(&esp_cfg, p), sa(&ah_cfg, p)]);
        let mut in_b = Bundle::new(vec![sa(&esp_cfg, p), sa(&ah_cfg, p)]);
        for n in 0..20 {
            let inner = if v6 { ipv6_udp(&payload(n * 30, 3), n % 2 == 0, false) } else { ipv4_udp(&payload(n * 30, 3)) };
            let (mut out, mut scratch, mut back, mut scratch2) = ([0u8; 2048], [0u8; 2048], [0u8; 2048], [0u8; 2048]);
            let enc = out_b.encapsulate(&inner, &mut out, &mut scratch).unwrap().to_vec();
            // Outermost is AH, which carries ESP.
            assert_eq!(esprit_esp::peek_spi(&enc), Ok((Protocol::Ah, esprit_esp::Spi(0x2002))));
            assert!(enc.len() <= inner.len() + out_b.overhead(inner.len()));
            assert_eq!(in_b.decapsulate(&enc, &mut back, &mut scratch2).unwrap(), &inner[..]);
        }
        // Only ESP (AH missing): not what the policy requires.
        let mut esp_only = sa(&esp_cfg, p);
        esp_only.set_seq_out(100);
        let inner = if v6 { ipv6_udp(b"x", false, false) } else { ipv4_udp(b"x") };
        let mut out = [0u8; 512];
        let enc = esp_only.encapsulate(&inner, &mut out).unwrap().to_vec();
        let (mut back, mut scratch) = ([0u8; 512], [0u8; 512]);
        assert_eq!(in_b.decapsulate(&enc, &mut back, &mut scratch), Err(DropReason::PolicyMismatch));
        // AH in the wrong place (AH inside, ESP outside).
        let mut wrong = Bundle::new(vec![sa(&ah_cfg, p), sa(&esp_cfg, p)]);
        wrong.sas[1].set_seq_out(200);
        let enc = wrong.encapsulate(&inner, &mut out, &mut scratch).unwrap().to_vec();
        assert_eq!(in_b.decapsulate(&enc, &mut back, &mut scratch), Err(DropReason::PolicyMismatch));
        assert_eq!(in_b.drops.get(DropReason::PolicyMismatch), 2);
    }
}

#[test]
fn buffer_too_small_and_too_big() {
    for t in all_transforms() {
        let cfg = config(t, Mode::Tunnel, false, false);
        let mut tx = sa(&cfg, providers()[0]);
        let mut rx = sa(&cfg, providers()[0]);
        let inner = ipv4_udp(&payload(100, 0));
        let mut small = [0u8; 100];
        assert_eq!(tx.encapsulate(&inner, &mut small), Err(DropReason::BufferTooSmall));
        let mut out = [0u8; 512];
        let enc = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
        assert_eq!(rx.decapsulate(&enc, &mut small), Err(DropReason::BufferTooSmall));
        let big = ipv4_udp(&payload(65535 - 28, 0));
        let mut huge = vec![0u8; 70000];
        assert_eq!(tx.encapsulate(&big, &mut huge), Err(DropReason::TooBig));
    }
}
