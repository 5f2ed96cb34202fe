//! Deterministic tests of the IKE state machine: two endpoints, virtual
//! time, seeded loss/duplication/reordering.
mod sim;

use std::time::Duration;

use esprit_ike::*;
use sim::*;

const PSK: &[u8] = b"a shared secret of some length";

fn established(seed: u64, imp: Impair) -> Pair {
    let (a, b) = default_pair();
    let mut p = Pair::new(a, b, PSK, PSK, seed, imp);
    p.initiate();
    p.run(Duration::from_secs(60));
    p
}

#[test]
fn establishes_with_narrowed_selectors() {
    let p = established(1, Impair::default());
    assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1));
    assert_eq!(p.a.children.len(), 1);
    p.assert_children_match();
    let c = p.a.children.values().next().unwrap();
    // A offered 10.1.0.0/16 === 10.2.0.0/16; B allows only the /24s.
    assert_eq!(c.local_ts[0].to_string(), "10.1.0.0/24");
    assert_eq!(c.remote_ts[0].to_string(), "10.2.0.0/24");
    assert_eq!(c.algs.name(), "aes128gcm16");
    assert_eq!(p.a.ep.stats().retransmits, 0);
    assert_eq!(p.a.ep.stats().fragments_sent, 0, "small messages are not fragmented");
}

#[test]
fn every_proposal_family_and_group() {
    for (ike, esp) in [
        ("aes128gcm16-prfsha256-x25519", "aes128gcm16"),
        ("aes256gcm16-prfsha384-ecp256", "chacha20poly1305"),
        ("chacha20poly1305-prfsha512-x25519", "aes256gcm16-esn"),
        ("aes256-sha256-modp2048", "aes256-sha256"),
        ("aes128-sha512-prfsha512-ecp256", "aes128-sha384-x25519"),
    ] {
        let mut a = peer("ab", Some(B), "a.example", "b.example", ike, esp, "10.1.0.0/24", "10.2.0.0/24");
        let mut b = peer("ba", Some(A), "b.example", "a.example", ike, esp, "10.2.0.0/24", "10.1.0.0/24");
        a.children[0].rekey = None;
        b.children[0].rekey = None;
        let mut p = Pair::new(a, b, PSK, PSK, 7, Impair::default());
        p.initiate();
        p.run(Duration::from_secs(10));
        assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1), "{ike}");
        p.assert_children_match();
        assert_eq!(p.a.children.values().next().unwrap().algs.esn, esp.contains("esn"));
    }
}

#[test]
fn survives_loss_duplication_and_reordering() {
    for seed in 0..40 {
        let p = established(seed, Impair { loss: 0.25, dup: 0.2, jitter_ms: 300, ..Impair::default() });
        assert_eq!(p.a.ike_up, 1, "seed {seed}: {:?}", p.a.setup_failed);
        assert_eq!(p.b.ike_up, 1, "seed {seed}");
        p.assert_children_match();
    }
}

#[test]
fn retransmits_with_backoff() {
    let p = established(3, Impair { drop_first: 3, ..Impair::default() });
    assert_eq!(p.a.ike_up, 1);
    assert!(p.a.ep.stats().retransmits >= 3, "{:?}", p.a.ep.stats());
    p.assert_children_match();
}

#[test]
fn child_rekey_replaces_the_pair() {
    let mut p = established(4, Impair::default());
    let old: Vec<Spi> = p.a.children.keys().copied().collect();
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.children.len(), 1);
    assert!(!p.a.children.contains_key(&old[0]));
    p.assert_children_match();
    assert!(p.a.events.iter().any(|e| e.contains("replaces: Some")));
}

#[test]
fn child_rekey_by_lifetime_with_pfs() {
    let mut a = peer("ab", Some(B), "a.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519", "10.1.0.0/24", "10.2.0.0/24");
    let b = peer("ba", Some(A), "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519", "10.2.0.0/24", "10.1.0.0/24");
    a.children[0].rekey = Some(Duration::from_secs(10));
    let mut p = Pair::new(a, b, PSK, PSK, 5, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(65));
    assert!(p.a.ep.stats().rekeys >= 5, "{:?}", p.a.ep.stats());
    assert_eq!(p.a.children.len(), 1);
    p.assert_children_match();
}

#[test]
fn ike_rekey_keeps_children() {
    let mut p = established(6, Impair::default());
    let before: Vec<Spi> = p.a.children.keys().copied().collect();
    let old_spi = p.a.ep.summaries()[0].spi_i;
    let now = p.now;
    p.a.ep.rekey_ike(now, "ab").unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.ep.summaries().len(), 1, "{:?}", p.a.ep.summaries());
    assert_eq!(p.b.ep.summaries().len(), 1);
    assert_eq!(p.a.children.keys().copied().collect::<Vec<_>>(), before);
    assert!(p.a.ike_down.is_empty() && p.b.ike_down.is_empty());
    // The new IKE SA works: rekey the child through it.
    let now = p.now;
    p.b.ep.rekey_children(now, "ba").unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.children.len(), 1);
    p.assert_children_match();
    // The surviving IKE SA is the new one, on both sides.
    let (sa, sb) = (&p.a.ep.summaries()[0], &p.b.ep.summaries()[0]);
    assert_ne!(sa.spi_i, old_spi);
    assert_eq!((sa.spi_i, sa.spi_r), (sb.spi_i, sb.spi_r));
}

#[test]
fn simultaneous_child_rekeys_leave_one_pair() {
    for seed in 0..10 {
        let mut p = established(100 + seed, Impair::default());
        let now = p.now;
        p.a.ep.rekey_children(now, "ab").unwrap();
        p.b.ep.rekey_children(now, "ba").unwrap();
        p.run(Duration::from_secs(20));
        assert_eq!(p.a.children.len(), 1, "seed {seed}: {:#?}", p.a.events);
        p.assert_children_match();
    }
}

#[test]
fn delete_during_rekey() {
    let mut p = established(8, Impair { jitter_ms: 50, ..Impair::default() });
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.b.ep.terminate(now, "ba").unwrap();
    p.run(Duration::from_secs(30));
    assert!(p.a.children.is_empty(), "{:#?}", p.a.events);
    assert!(p.b.children.is_empty());
    assert!(p.a.ep.summaries().is_empty());
    assert!(p.b.ep.summaries().is_empty());
}

#[test]
fn terminate_removes_both_sides() {
    let mut p = established(9, Impair::default());
    let now = p.now;
    p.a.ep.terminate(now, "ab").unwrap();
    p.run(Duration::from_secs(5));
    assert!(p.a.children.is_empty() && p.b.children.is_empty());
    assert_eq!(p.b.ike_down, vec!["deleted by the peer".to_string()]);
}

#[test]
fn dead_peer_detection() {
    let (mut a, b) = default_pair();
    a.dpd = Some(Duration::from_secs(5));
    let mut p = Pair::new(a, b, PSK, PSK, 10, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(3));
    assert_eq!(p.a.ike_up, 1);
    p.imp.b_dead = true;
    p.run(Duration::from_secs(120));
    assert!(p.a.children.is_empty());
    assert_eq!(p.a.ike_down.len(), 1);
    assert!(p.a.ike_down[0].contains("not responding"), "{:?}", p.a.ike_down);
    assert_eq!(p.a.ep.stats().dead_peers, 1);
}

#[test]
fn wrong_psk_fails_on_both_sides() {
    let (a, b) = default_pair();
    let mut p = Pair::new(a, b, PSK, b"another secret entirely", 11, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!((p.a.ike_up, p.b.ike_up), (0, 0));
    assert!(p.a.setup_failed[0].contains("AUTHENTICATION_FAILED"), "{:?}", p.a.setup_failed);
    assert!(p.b.setup_failed[0].contains("different pre-shared keys"), "{:?}", p.b.setup_failed);
    assert_eq!(p.b.ep.stats().auth_failed, 1);
}

#[test]
fn no_common_proposal() {
    let a = peer("ab", Some(B), "a.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.1.0.0/24", "10.2.0.0/24");
    let b = peer("ba", Some(A), "b.example", "a.example", "aes256-sha512-modp2048", "aes128gcm16", "10.2.0.0/24", "10.1.0.0/24");
    let mut p = Pair::new(a, b, PSK, PSK, 12, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert!(p.a.setup_failed[0].contains("NO_PROPOSAL_CHOSEN"), "{:?}", p.a.setup_failed);
    assert_eq!(p.b.ep.stats().no_proposal, 1);
    assert!(p.b.ep.summaries().is_empty(), "the responder keeps no state");
}

#[test]
fn invalid_ke_payload_retry() {
    let a = peer("ab", Some(B), "a.example", "b.example", "aes128gcm16-prfsha256-x25519-modp2048", "aes128gcm16", "10.1.0.0/24", "10.2.0.0/24");
    let b = peer("ba", Some(A), "b.example", "a.example", "aes128gcm16-prfsha256-modp2048", "aes128gcm16", "10.2.0.0/24", "10.1.0.0/24");
    let mut p = Pair::new(a, b, PSK, PSK, 13, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.ike_up, 1);
    assert_eq!(p.b.ep.stats().invalid_ke, 1);
    assert!(p.a.ep.summaries()[0].algs.ends_with("modp2048"));
}

#[test]
fn cookies_under_load() {
    let (a, b) = default_pair();
    let cb = EndpointConfig { cookie_threshold: 0, ..EndpointConfig::default() };
    let mut p = Pair::with_cfg(a, b, PSK, PSK, 14, Impair::default(), EndpointConfig::default(), cb);
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.ike_up, 1);
    assert_eq!(p.b.ep.stats().cookies_sent, 1);
    p.assert_children_match();
}

#[test]
fn unacceptable_traffic_selectors() {
    let a = peer("ab", Some(B), "a.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.1.0.0/24", "10.9.0.0/24");
    let b = peer("ba", Some(A), "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.2.0.0/24", "10.1.0.0/24");
    let mut p = Pair::new(a, b, PSK, PSK, 15, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.ike_up, 1, "the IKE SA survives a refused CHILD_SA");
    assert!(p.a.children.is_empty());
    assert_eq!(p.b.ep.stats().ts_unacceptable, 1);
}

#[test]
fn virtual_ip_from_a_pool() {
    let (mut a, mut b) = default_pair();
    a.request_vip = true;
    b.pool = Some(("10.3.0.0".parse().unwrap(), 24));
    b.children[0].remote_ts = vec![TrafficSelector::parse("10.3.0.0/24").unwrap()];
    let mut p = Pair::new(a, b, PSK, PSK, 16, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.vips, vec!["10.3.0.1".parse::<std::net::Ipv4Addr>().unwrap()]);
    let c = p.a.children.values().next().expect("child");
    assert_eq!(c.local_ts[0].to_string(), "10.3.0.1/32");
    p.assert_children_match();
}

#[test]
fn malformed_and_replayed_messages_are_counted() {
    let mut p = established(17, Impair::default());
    let now = p.now;
    let a = p.a.addr;
    let b = p.b.addr;
    // Garbage, truncation, a bad length.
    p.b.ep.handle_datagram(now, b, a, &[1, 2, 3]);
    let mut fake = vec![0u8; 28];
    fake[17] = 0x20;
    fake[18] = 37;
    fake[27] = 200;
    p.b.ep.handle_datagram(now, b, a, &fake);
    assert_eq!(p.b.ep.stats().malformed, 2);
    // Unknown SPI.
    fake[0] = 9;
    fake[27] = 28;
    p.b.ep.handle_datagram(now, b, a, &fake);
    assert_eq!(p.b.ep.stats().unknown_spi, 1);
    // An unknown critical payload in IKE_SA_INIT is answered.
    let mut m = vec![7u8; 8];
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&[200, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0x80, 0, 4]);
    p.b.ep.handle_datagram(now, b, a, &m);
    let t = p.b.ep.poll_transmit().expect("a notify goes back");
    assert_eq!(&t.data[t.data.len() - 2..], &1u16.to_be_bytes(), "UNSUPPORTED_CRITICAL_PAYLOAD");
    // Everything still works afterwards.
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.run(Duration::from_secs(5));
    p.assert_children_match();
}

#[test]
fn retransmitted_request_gets_the_same_response_and_replays_are_dropped() {
    // Duplicate every packet: the responder must answer duplicates from its
    // cache, never process a request twice.
    let p = established(18, Impair { dup: 1.0, ..Impair::default() });
    assert_eq!(p.b.ike_up, 1);
    assert!(p.b.ep.stats().retransmitted_requests >= 2, "{:?}", p.b.ep.stats());
    assert!(p.a.ep.stats().bad_message_id >= 1, "duplicate responses are dropped: {:?}", p.a.ep.stats());
    assert_eq!(p.b.children.len(), 1);
}

#[test]
fn initial_contact_replaces_a_restarted_peers_sas() {
    let mut p = established(19, Impair::default());
    // A restarts: a fresh endpoint with the same configuration.
    let (a, _) = default_pair();
    let mut m = std::collections::HashMap::new();
    m.insert("ab".to_string(), PSK.to_vec());
    p.a.ep = Endpoint::new(EndpointConfig::default(), vec![a], Box::new(Psk(m)), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(99)));
    p.a.children.clear();
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!(p.b.ep.summaries().len(), 1, "B keeps only the new IKE SA: {:?}", p.b.ep.summaries());
    assert_eq!(p.b.children.len(), 1);
    p.assert_children_match();
    assert!(p.b.ike_down.iter().any(|r| r.contains("INITIAL_CONTACT")), "{:?}", p.b.ike_down);
}

#[test]
fn simultaneous_ike_rekeys_leave_one_ike_sa() {
    for seed in 0..10 {
        let mut p = established(200 + seed, Impair::default());
        let now = p.now;
        p.a.ep.rekey_ike(now, "ab").unwrap();
        p.b.ep.rekey_ike(now, "ba").unwrap();
        p.run(Duration::from_secs(30));
        assert_eq!(p.a.ep.summaries().len(), 1, "seed {seed}: {:?}", p.a.ep.summaries());
        assert_eq!(p.b.ep.summaries().len(), 1, "seed {seed}");
        assert!(p.a.ep.stats().rekeys >= 1 || p.b.ep.stats().rekeys >= 1);
        assert!(p.a.ike_down.is_empty() && p.b.ike_down.is_empty(), "{:?} {:?}", p.a.ike_down, p.b.ike_down);
        let now = p.now;
        p.a.ep.rekey_children(now, "ab").unwrap();
        p.run(Duration::from_secs(10));
        assert_eq!(p.a.children.len(), 1);
        p.assert_children_match();
    }
}

#[test]
fn ike_fragmentation_carries_large_messages() {
    for seed in 0..10 {
        let (mut a, mut b) = default_pair();
        // A 3 kB "certificate" makes IKE_AUTH far larger than the fragment size.
        a.cert = Some(vec![0x30; 3000]);
        b.cert = Some(vec![0x31; 3000]);
        let cfg = EndpointConfig { fragment_size: 576, ..EndpointConfig::default() };
        let mut p = Pair::with_cfg(a, b, PSK, PSK, 300 + seed, Impair { loss: 0.1, dup: 0.1, jitter_ms: 100, ..Impair::default() }, cfg.clone(), cfg);
        p.initiate();
        p.run(Duration::from_secs(60));
        assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1), "seed {seed}: {:?}", p.a.setup_failed);
        p.assert_children_match();
        assert!(p.a.ep.stats().fragments_sent >= 5 && p.b.ep.stats().fragments_received >= 5, "IKE_AUTH went out in fragments: {:?}", p.a.ep.stats());
        assert!(p.b.ep.stats().fragments_sent >= 5 && p.a.ep.stats().fragments_received >= 5, "and came back in fragments: {:?}", p.b.ep.stats());
        // Rekey through fragments too.
        let now = p.now;
        p.a.ep.rekey_children(now, "ab").unwrap();
        p.run(Duration::from_secs(20));
        p.assert_children_match();
    }
}
