//! Half-open IKE SAs under attack (RFC 7296 §2.6): they expire, their number
//! is capped per address and in all, COOKIEs are demanded above the
//! threshold, and a legitimate initiator gets through a flood. Virtual time.
mod sim;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use esprit_ike::*;
use rand::SeedableRng;
use sim::*;

const PSK: &[u8] = b"a shared secret of some length";
const IKE_SA_INIT: u8 = 34;

/// An initiator that sends IKE_SA_INIT from `src` (answering a COOKIE
/// demand, like a flood from real addresses can) and never continues.
fn half_open_from(b: &mut Endpoint, now: Instant, src: SocketAddr, seed: u64) {
    let x = peer("x", Some(B), "x.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.9.0.0/24", "10.2.0.0/24");
    let mut m = std::collections::HashMap::new();
    m.insert("x".to_string(), PSK.to_vec());
    let mut att = Endpoint::new(EndpointConfig::default(), vec![x], Box::new(Psk(m)), Box::new(rand::rngs::StdRng::seed_from_u64(seed)));
    att.initiate(now, "x", src, None).unwrap();
    for _ in 0..3 {
        let mut sent = false;
        while let Some(t) = att.poll_transmit() {
            if t.data.get(18) == Some(&IKE_SA_INIT) {
                b.handle_datagram(now, addr(B), src, &t.data);
                sent = true;
            }
        }
        if !sent {
            break;
        }
        while let Some(t) = b.poll_transmit() {
            if t.remote == src {
                att.handle_datagram(now, src, addr(B), &t.data);
            }
        }
    }
    while b.poll_transmit().is_some() {}
}

fn source(i: u32) -> SocketAddr {
    SocketAddr::new(std::net::Ipv4Addr::from(0xc633_6400 + i).into(), 500)
}

fn responder(cfg: EndpointConfig) -> Endpoint {
    let b = peer("ba", None, "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.2.0.0/24", "10.0.0.0/8");
    let mut m = std::collections::HashMap::new();
    m.insert("ba".to_string(), PSK.to_vec());
    Endpoint::new(cfg, vec![b], Box::new(Psk(m)), Box::new(rand::rngs::StdRng::seed_from_u64(1)))
}

#[test]
fn half_open_sas_expire_after_the_timeout() {
    let t0 = Instant::now();
    let mut b = responder(EndpointConfig::default());
    for i in 0..5 {
        half_open_from(&mut b, t0, source(i), i.into());
    }
    assert_eq!(b.half_open(), 5);
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(30)), "half-open SAs have a timer");
    b.handle_timeout(t0 + Duration::from_secs(29));
    assert_eq!(b.half_open(), 5);
    b.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!((b.half_open(), b.ike_sa_count()), (0, 0));
    assert_eq!(b.stats().half_open_expired, 5);
    assert_eq!(b.poll_timeout(), None);
    assert!(b.summaries().is_empty());
}

#[test]
fn the_timeout_is_configurable() {
    let t0 = Instant::now();
    let mut b = responder(EndpointConfig { half_open_timeout: Duration::from_secs(5), ..EndpointConfig::default() });
    half_open_from(&mut b, t0, source(1), 1);
    b.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(b.half_open(), 0);
}

#[test]
fn per_address_cap() {
    let t0 = Instant::now();
    let mut b = responder(EndpointConfig { half_open_per_ip: 3, ..EndpointConfig::default() });
    let ip = source(7).ip();
    for port in 0..6u16 {
        half_open_from(&mut b, t0, SocketAddr::new(ip, 1000 + port), port.into());
    }
    assert_eq!(b.half_open(), 3);
    assert_eq!(b.stats().half_open_refused, 3);
    // Another address is not affected.
    half_open_from(&mut b, t0, source(8), 99);
    assert_eq!(b.half_open(), 4);
    // Once they expire, the address may try again.
    b.handle_timeout(t0 + Duration::from_secs(31));
    half_open_from(&mut b, t0 + Duration::from_secs(31), SocketAddr::new(ip, 2000), 100);
    assert_eq!(b.half_open(), 1);
}

#[test]
fn global_cap_evicts_the_oldest() {
    let t0 = Instant::now();
    let mut b = responder(EndpointConfig { half_open_limit: 10, cookie_threshold: 4, ..EndpointConfig::default() });
    for i in 0..40 {
        half_open_from(&mut b, t0 + Duration::from_millis(i.into()), source(i), i.into());
        assert!(b.half_open() <= 10);
    }
    assert_eq!(b.half_open(), 10);
    assert_eq!(b.stats().half_open_evicted, 30);
    assert!(b.stats().cookies_sent >= 36, "COOKIEs above the threshold: {:?}", b.stats());
    assert_eq!(b.ike_sa_count(), 10);
    // The survivors are the newest; they expire on time.
    b.handle_timeout(t0 + Duration::from_millis(30_029));
    assert_eq!(b.half_open(), 10);
    b.handle_timeout(t0 + Duration::from_millis(30_039));
    assert_eq!(b.half_open(), 0);
}

#[test]
fn a_legitimate_setup_completes_during_a_flood() {
    let (a, _) = default_pair();
    let b = peer("ba", None, "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.2.0.0/24", "10.1.0.0/24");
    let cb = EndpointConfig { half_open_limit: 32, half_open_per_ip: 2, cookie_threshold: 8, ..EndpointConfig::default() };
    let mut p = Pair::with_cfg(a, b, PSK, PSK, 21, Impair::default(), EndpointConfig::default(), cb);
    // Fill every limit with a flood from 200 addresses that answers COOKIEs.
    let mut n = 0u32;
    for _ in 0..100 {
        let now = p.now;
        half_open_from(&mut p.b.ep, now, source(n % 200), n.into());
        n += 1;
    }
    assert_eq!(p.b.ep.half_open(), 32);
    // The flood goes on (two requests per millisecond) while A sets up.
    let start = p.now;
    p.initiate();
    while p.a.ike_up == 0 && p.now < start + Duration::from_secs(1) {
        for _ in 0..2 {
            let now = p.now;
            half_open_from(&mut p.b.ep, now, source(n % 200), n.into());
            n += 1;
        }
        p.run(Duration::from_millis(1));
        assert!(p.b.ep.half_open() <= 32);
    }
    assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1), "{:?}", p.a.setup_failed);
    assert!(p.now - start <= Duration::from_secs(1));
    p.assert_children_match();
    assert!(p.b.ep.stats().half_open_evicted > 0 && p.b.ep.stats().cookies_sent > 0, "{:?}", p.b.ep.stats());
    // The established SA does not count as half-open.
    assert_eq!(p.b.ep.half_open(), 32);
    assert_eq!(p.b.ep.ike_sa_count(), 33);
}
