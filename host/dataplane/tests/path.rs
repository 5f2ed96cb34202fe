//! The packet path against bad input: every drop is counted by its reason,
//! nothing reaches the inner side that should not, and the SAs keep working.

mod common;

use std::time::{Duration, Instant};

use common::*;
use esprit_dataplane::{Batch, Out, PacketBuf, PathDrop};
use esprit_esp::DropReason;

/// Encrypts `inner` at A; returns the ESP-in-UDP payload.
fn seal(a: &mut esprit_dataplane::Dataplane, inner: &[u8], now: Instant) -> Vec<u8> {
    let mut pb = PacketBuf::new();
    assert!(pb.load(inner));
    match a.outbound(&mut pb, inner.len(), now) {
        Some(Out::Protected(p)) => p[20..].to_vec(),
        Some(Out::Esp { esp, to }) => {
            assert_eq!(to, addr("192.0.2.2"), "to the SA's destination");
            esp.to_vec()
        }
        other => panic!("not protected: {other:?}"),
    }
}

fn open(b: &mut esprit_dataplane::Dataplane, esp: &[u8], now: Instant) -> Option<Vec<u8>> {
    let mut pb = PacketBuf::new();
    assert!(pb.load(esp));
    b.inbound_udp(&mut pb, esp.len(), natt("192.0.2.1"), addr("192.0.2.2"), now).map(<[u8]>::to_vec)
}

#[test]
fn replay_bad_icv_truncation_and_unknown_spi_are_counted() {
    // Sealed as a whole IP packet (its ESP part sent), and as ESP alone
    // (`esp_in_udp`, no IP header written): the same on the wire.
    for esp_in_udp in [false, true] {
        replay_bad_icv_truncation_and_unknown_spi(esp_in_udp);
    }
}

fn replay_bad_icv_truncation_and_unknown_spi(esp_in_udp: bool) {
    let t0 = Instant::now();
    let (mut a, mut b) = tunnel_pair(t0);
    a.esp_in_udp = esp_in_udp;
    let inner = udp4([10, 9, 0, 1], [10, 9, 0, 2], 200, 1);
    let esp = seal(&mut a, &inner, t0);
    assert_eq!(open(&mut b, &esp, t0).as_deref(), Some(&inner[..]));
    // The same packet again: a replay.
    assert_eq!(open(&mut b, &esp, t0), None);
    assert_eq!(b.drops().get(DropReason::Replay), 1);
    // A flipped bit in the ciphertext: bad ICV.
    let mut bad = seal(&mut a, &inner, t0);
    bad[30] ^= 1;
    assert_eq!(open(&mut b, &bad, t0), None);
    assert_eq!(b.drops().get(DropReason::IcvMismatch), 1);
    // Truncated to the ESP header and a bit.
    let good = seal(&mut a, &inner, t0);
    assert_eq!(open(&mut b, &good[..12], t0), None);
    // An SPI nobody installed.
    let mut other = good.clone();
    other[..4].copy_from_slice(&0x0bad_0badu32.to_be_bytes());
    assert_eq!(open(&mut b, &other, t0), None);
    assert_eq!(b.drops().get(PathDrop::UnknownSpi), 1);
    // Short garbage, a keepalive, an IKE message: not ESP.
    assert_eq!(open(&mut b, &[1, 2, 3], t0), None);
    assert_eq!(b.drops().get(PathDrop::GarbageUdp), 1);
    assert_eq!(open(&mut b, &[0xff], t0), None);
    assert_eq!(open(&mut b, &[0, 0, 0, 0, 1, 2, 3, 4, 5], t0), None);
    assert_eq!((b.counters.nat_keepalives, b.counters.ike_messages), (1, 1));
    // The SA still works after all that.
    assert_eq!(open(&mut b, &good, t0).as_deref(), Some(&inner[..]));
    assert_eq!(b.counters.in_decrypted, 2);
    assert!(b.drops().total() >= 5, "{:?}", b.drops().iter().collect::<Vec<_>>());
}

#[test]
fn outbound_refuses_what_it_cannot_send() {
    let t0 = Instant::now();
    let (mut a, _) = tunnel_pair(t0);
    let mut pb = PacketBuf::new();
    // Not IP.
    assert!(pb.load(&[0x10; 40]));
    assert_eq!(a.outbound(&mut pb, 40, t0), None);
    assert_eq!(a.drops().get(PathDrop::NotIp), 1);
    // Larger than a buffer can protect.
    assert_eq!(a.outbound(&mut pb, esprit_dataplane::MAX_PACKET, t0), None);
    assert_eq!(a.drops().get(PathDrop::TooBig), 1);
    // No policy: bypass, the packet itself.
    let clear = udp4([10, 7, 0, 1], [10, 7, 0, 2], 10, 3);
    assert!(pb.load(&clear));
    assert_eq!(a.outbound(&mut pb, clear.len(), t0), Some(Out::Clear(&clear[..])));
}

#[test]
fn batches_go_through_in_order() {
    let t0 = Instant::now();
    let (mut a, mut b) = tunnel_pair(t0);
    let mut out = Batch::with_capacity(8);
    let packets: Vec<Vec<u8>> = (0..8).map(|i| udp4([10, 9, 0, 1], [10, 9, 0, 2], 100 + i, i as u8)).collect();
    for p in &packets {
        let slot = out.next_input().expect("room");
        slot[..p.len()].copy_from_slice(p);
        out.push(p.len(), None);
    }
    assert!(out.is_full() && out.next_input().is_none());
    let mut wire = Vec::new();
    a.outbound_batch(&mut out, t0, |_, o| match o {
        Out::Protected(p) => wire.push(p[20..].to_vec()),
        Out::Esp { esp, .. } => wire.push(esp.to_vec()),
        Out::Clear(_) => panic!("clear"),
    });
    assert!(out.is_empty());
    let mut inb = Batch::with_capacity(8);
    for w in &wire {
        let slot = inb.next_input().expect("room");
        slot[..w.len()].copy_from_slice(w);
        inb.push(w.len(), Some(natt("192.0.2.1")));
    }
    let mut got = Vec::new();
    b.inbound_udp_batch(&mut inb, addr("192.0.2.2"), t0 + Duration::from_millis(1), |_, p| got.push(p.to_vec()));
    assert_eq!(got, packets);
}

/// RFC 6040 at tunnel egress: a router's CE mark on the outer header
/// reaches an ECN-capable inner packet; a not-ECT inner one is dropped.
#[test]
fn congestion_marks_reach_the_inner_packet() {
    let t0 = Instant::now();
    let (mut a, mut b) = tunnel_pair(t0);
    for (inner_ecn, want) in [(0b10u8, Some(0b11u8)), (0b00, None)] {
        let mut inner = udp4([10, 9, 0, 1], [10, 9, 0, 2], 64, 5);
        inner[1] = inner_ecn;
        esprit_esp::ip::fill_ipv4_checksum(&mut inner[..20]);
        let mut pb = PacketBuf::new();
        assert!(pb.load(&inner));
        let Some(Out::Protected(p)) = a.outbound(&mut pb, inner.len(), t0) else { panic!("not protected") };
        let mut outer = p.to_vec();
        assert_eq!(outer[1] & 3, inner_ecn, "ingress copies ECN out (RFC 6040 §4.1)");
        outer[1] |= 0b11; // a router marks congestion
        esprit_esp::ip::fill_ipv4_checksum(&mut outer[..20]);
        let mut rx = PacketBuf::new();
        assert!(rx.load(&outer));
        let got = b.inbound(&mut rx, outer.len(), t0).map(|p| p[1] & 3);
        assert_eq!(got, want, "inner ECN {inner_ecn:02b} under outer CE");
    }
    assert_eq!(b.drops().get(DropReason::CeOnNotEct), 1);
}
