//! `Sa::encapsulate_in_place` (tunnel-mode ESP without the payload copy):
//! the peer decapsulates what it produces, AEAD output is byte-identical to
//! `encapsulate` on an identical SA, and bad placements are refused.
mod common;

use common::*;
use esprit_esp::{DropReason, Mode, Protocol, Transform};

#[test]
fn in_place_matches_copying_encapsulation() {
    for p in providers() {
        for t in all_transforms() {
            if matches!(t, Transform::Ah(_)) {
                continue;
            }
            for (v6_outer, v6_inner) in [(false, false), (false, true), (true, false), (true, true)] {
                for esn in [false, true] {
                    let cfg = config(t, Mode::Tunnel, v6_outer, esn);
                    assert_eq!(cfg.protocol, Protocol::Esp);
                    let (mut a, mut b, mut rx) = (sa(&cfg, p), sa(&cfg, p), sa(&cfg, p));
                    for len in [0usize, 1, 15, 500, 1400] {
                        let inner = if v6_inner { ipv6_udp(&payload(len, 3), false, false) } else { ipv4_udp(&payload(len, 3)) };
                        let hr = a.tunnel_headroom().expect("tunnel ESP has headroom");
                        let mut buf = vec![0u8; hr + inner.len() + 64];
                        buf[hr..hr + inner.len()].copy_from_slice(&inner);
                        let in_place = a.encapsulate_in_place(&mut buf, inner.len()).unwrap().to_vec();
                        let mut out = vec![0u8; inner.len() + 128];
                        let copied = b.encapsulate(&inner, &mut out).unwrap().to_vec();
                        assert_eq!(in_place.len(), copied.len(), "{t:?}");
                        if matches!(t, Transform::Aead(_)) {
                            assert_eq!(in_place, copied, "{t:?} v6 {v6_outer}/{v6_inner} esn {esn} len {len}");
                        }
                        let mut back = vec![0u8; in_place.len()];
                        let got = rx.decapsulate(&in_place, &mut back).unwrap();
                        assert_eq!(got, &inner[..], "{t:?} {} len {len}", p.name());
                    }
                }
            }
        }
    }
}

#[test]
fn in_place_refuses_what_it_cannot_do() {
    let p = providers()[0];
    let cfg = config(all_transforms()[0], Mode::Transport, false, false);
    let mut t = sa(&cfg, p);
    assert_eq!(t.tunnel_headroom(), None);
    let mut buf = vec![0u8; 2048];
    assert_eq!(t.encapsulate_in_place(&mut buf, 100).unwrap_err(), DropReason::Unsupported);
    let cfg = config(all_transforms()[0], Mode::Tunnel, false, false);
    let mut t = sa(&cfg, p);
    let hr = t.tunnel_headroom().unwrap();
    let inner = ipv4_udp(&payload(100, 1));
    // No tailroom for the trailer and ICV.
    let mut tight = vec![0u8; hr + inner.len()];
    tight[hr..].copy_from_slice(&inner);
    assert_eq!(t.encapsulate_in_place(&mut tight, inner.len()).unwrap_err(), DropReason::BufferTooSmall);
    // Length past the buffer, and garbage where the inner header should be.
    assert_eq!(t.encapsulate_in_place(&mut buf[..hr + 10], 100).unwrap_err(), DropReason::BufferTooSmall);
    let mut junk = vec![0u8; hr + 200];
    assert!(t.encapsulate_in_place(&mut junk, 100).is_err());
}
