//! ESP without its IP header, as ESP in UDP carries it (RFC 3948 §2.1):
//! `Sa::seal_esp_in_place` writes exactly the ESP part of what
//! `encapsulate_in_place` writes (same SA state, same sequence number), the
//! full-packet path opens it, `Sa::open_esp` opens what either path made,
//! and bad input (transport mode, truncation, a flipped bit, a replay) is
//! refused and counted.
mod common;

use common::*;
use esprit_esp::{DropReason, Mode, Transform};

/// The outer IP header length of a full packet (IPv4 IHL or fixed IPv6).
fn ip_header_len(p: &[u8]) -> usize {
    if p[0] >> 4 == 4 {
        usize::from(p[0] & 0x0f) * 4
    } else {
        40
    }
}

#[test]
fn esp_only_is_the_esp_part_of_the_full_packet_and_opens_both_ways() {
    for p in providers() {
        for t in all_transforms() {
            if matches!(t, Transform::Ah(_)) {
                continue;
            }
            for (v6_outer, v6_inner) in [(false, false), (false, true), (true, false), (true, true)] {
                for esn in [false, true] {
                    let cfg = config(t, Mode::Tunnel, v6_outer, esn);
                    let (mut full, mut only) = (sa(&cfg, p), sa(&cfg, p));
                    let (mut rx_full, mut rx_only) = (sa(&cfg, p), sa(&cfg, p));
                    for len in [0usize, 1, 15, 500, 1400] {
                        let inner = if v6_inner { ipv6_udp(&payload(len, 5), false, false) } else { ipv4_udp(&payload(len, 5)) };
                        let hr = full.tunnel_headroom().expect("tunnel ESP");
                        let mut buf = vec![0u8; hr + inner.len() + 64];
                        buf[hr..hr + inner.len()].copy_from_slice(&inner);
                        let packet = full.encapsulate_in_place(&mut buf, inner.len()).unwrap().to_vec();
                        let ehr = only.esp_headroom().expect("tunnel ESP");
                        assert_eq!(hr - ehr, ip_header_len(&packet), "the headrooms differ by the outer header");
                        let mut ebuf = vec![0u8; ehr + inner.len() + 64];
                        ebuf[ehr..ehr + inner.len()].copy_from_slice(&inner);
                        let esp = only.seal_esp_in_place(&mut ebuf, inner.len()).unwrap().to_vec();
                        if matches!(t, Transform::Aead(_)) {
                            assert_eq!(esp, packet[ip_header_len(&packet)..], "{t:?} v6 {v6_outer}/{v6_inner} esn {esn} len {len}");
                        } else {
                            assert_eq!(esp.len(), packet.len() - ip_header_len(&packet));
                        }
                        // The ESP-only packet opens without a header, and the
                        // full one's ESP part too.
                        let mut back = vec![0u8; esp.len()];
                        assert_eq!(rx_only.open_esp(&esp, &mut back).unwrap(), &inner[..], "{t:?} {} len {len}", p.name());
                        let mut back = vec![0u8; packet.len()];
                        assert_eq!(rx_full.open_esp(&packet[ip_header_len(&packet)..], &mut back).unwrap(), &inner[..]);
                    }
                    assert_eq!(rx_only.stats().packets_in, 5);
                }
            }
        }
    }
}

#[test]
fn esp_only_refuses_bad_input() {
    let p = providers()[0];
    let t = all_transforms()[0];
    // Transport mode needs the IP header it protects: not ESP-only.
    let mut tr = sa(&config(t, Mode::Transport, false, false), p);
    assert_eq!(tr.esp_headroom(), None);
    let mut buf = vec![0u8; 2048];
    assert_eq!(tr.seal_esp_in_place(&mut buf, 100).unwrap_err(), DropReason::Unsupported);
    assert_eq!(tr.open_esp(&buf[..100], &mut vec![0u8; 2048]).unwrap_err(), DropReason::Unsupported);

    let cfg = config(t, Mode::Tunnel, false, false);
    let (mut tx, mut rx) = (sa(&cfg, p), sa(&cfg, p));
    let inner = ipv4_udp(&payload(200, 9));
    let hr = tx.esp_headroom().unwrap();
    let seal = |tx: &mut esprit_esp::Sa| {
        let mut b = vec![0u8; hr + inner.len() + 64];
        b[hr..hr + inner.len()].copy_from_slice(&inner);
        tx.seal_esp_in_place(&mut b, inner.len()).unwrap().to_vec()
    };
    let esp = seal(&mut tx);
    let mut out = vec![0u8; 2048];
    for cut in [0, 3, 7, 8, 20, esp.len() - 1] {
        assert!(rx.open_esp(&esp[..cut], &mut out).is_err(), "truncated to {cut}");
    }
    let mut flipped = esp.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(rx.open_esp(&flipped, &mut out).unwrap_err(), DropReason::IcvMismatch);
    let mut other_spi = esp.clone();
    other_spi[3] ^= 0x55;
    assert_eq!(rx.open_esp(&other_spi, &mut out).unwrap_err(), DropReason::UnknownSpi);
    assert_eq!(rx.open_esp(&esp, &mut out).unwrap(), &inner[..]);
    assert_eq!(rx.open_esp(&esp, &mut out).unwrap_err(), DropReason::Replay);
    // Too little room for the plaintext.
    let next = seal(&mut tx);
    assert_eq!(rx.open_esp(&next, &mut out[..10]).unwrap_err(), DropReason::BufferTooSmall);
    assert!(rx.stats().drops_in.get(DropReason::IcvMismatch) >= 1);
}
