//! Memory per half-open IKE SA (issue 11: "measured and bounded"): the live
//! heap of a responder before and after 500 half-open SAs, with a counting
//! allocator. One test in this binary, so nothing else allocates meanwhile.
mod sim;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use esprit_ike::*;
use rand::SeedableRng;
use sim::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const PSK: &[u8] = b"a shared secret of some length";

#[test]
fn a_half_open_sa_costs_a_few_kilobytes() {
    let t0 = Instant::now();
    let b = peer("ba", None, "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.2.0.0/24", "10.0.0.0/8");
    let mut m = std::collections::HashMap::new();
    m.insert("ba".to_string(), PSK.to_vec());
    let cfg = EndpointConfig { cookie_threshold: usize::MAX, ..EndpointConfig::default() };
    let mut ep = Endpoint::new(cfg, vec![b], Box::new(Psk(m)), Box::new(rand::rngs::StdRng::seed_from_u64(1)));
    // Requests built beforehand, so only the responder's state is counted.
    let x = peer("x", Some(B), "x.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.9.0.0/24", "10.2.0.0/24");
    let reqs: Vec<(SocketAddr, Vec<u8>)> = (0..500u32)
        .map(|i| {
            let src = SocketAddr::new(std::net::Ipv4Addr::from(0xc633_6400 + i).into(), 500);
            let mut att = Endpoint::new(EndpointConfig::default(), vec![x.clone()], Box::new(Psk(Default::default())), Box::new(rand::rngs::StdRng::seed_from_u64(i.into())));
            att.initiate(t0, "x", src, None).unwrap();
            (src, att.poll_transmit().unwrap().data)
        })
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    for (src, d) in &reqs {
        ep.handle_datagram(t0, addr(B), *src, d);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
    let per_sa = (LIVE.load(Ordering::Relaxed) - before) / 500;
    assert_eq!(ep.half_open(), 500);
    eprintln!("heap per half-open IKE SA: {per_sa} bytes (x 2048 = half_open_limit: {} KiB)", per_sa * 2048 / 1024);
    assert!(per_sa < 8 * 1024, "{per_sa} bytes per half-open SA");
}
