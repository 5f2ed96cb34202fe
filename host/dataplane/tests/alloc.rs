//! No heap allocation per packet: a counting global allocator around the
//! warm outbound and inbound paths (tunnel mode through UDP, and the seed's
//! transport-mode ESP+AH bundle over raw IP).
//!
//! The count is per thread, so the harness's other threads do not disturb it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::*;
use esprit_dataplane::{Out, PacketBuf};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only
// counts calls made on a thread that switched counting on. (`unsafe` is
// what implementing `GlobalAlloc` requires; test code only.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(|n| n.get())
}

#[test]
fn warm_paths_do_not_allocate() {
    let t0 = Instant::now();
    // Tunnel mode, ESP in UDP as the daemon runs it: A seals the ESP packet
    // alone (no IP header), B opens the UDP payload.
    let (mut a, mut b) = tunnel_pair(t0);
    a.esp_in_udp = true;
    let inner = udp4([10, 9, 0, 1], [10, 9, 0, 2], 1400, 7);
    let (mut out_buf, mut in_buf) = (PacketBuf::new(), PacketBuf::new());
    let mut round = |a: &mut esprit_dataplane::Dataplane, b: &mut esprit_dataplane::Dataplane, now: Instant| {
        assert!(out_buf.load(&inner));
        let Some(Out::Esp { esp, .. }) = a.outbound(&mut out_buf, inner.len(), now) else { panic!("not ESP in UDP") };
        assert!(in_buf.load(esp));
        let got = b.inbound_udp(&mut in_buf, esp.len(), natt("192.0.2.1"), addr("192.0.2.2"), now).map(<[u8]>::len);
        assert_eq!(got, Some(inner.len()));
    };
    // Warm up: the first packet fills the flow caches.
    for i in 0..10 {
        round(&mut a, &mut b, t0 + Duration::from_millis(i));
    }
    let n = allocations(|| {
        for i in 0..1000 {
            round(&mut a, &mut b, t0 + Duration::from_millis(10 + i));
        }
    });
    assert_eq!(n, 0, "{n} allocations in 1000 tunnel-mode round trips");
    assert_eq!(b.counters.in_decrypted, 1010);

    // Transport-mode ESP then AH over raw IP (bundles alternate regions).
    let (mut a, mut b) = transport_bundle_pair(t0);
    let inner = udp4([10, 1, 2, 3], [192, 168, 0, 1], 1000, 9);
    let (mut out_buf, mut in_buf) = (PacketBuf::new(), PacketBuf::new());
    let mut round = |a: &mut esprit_dataplane::Dataplane, b: &mut esprit_dataplane::Dataplane, now: Instant| {
        assert!(out_buf.load(&inner));
        let Some(Out::Protected(p)) = a.outbound(&mut out_buf, inner.len(), now) else { panic!("not protected") };
        assert_eq!(p[9], 51, "AH outermost");
        assert!(in_buf.load(p));
        let len = p.len();
        assert_eq!(b.inbound(&mut in_buf, len, now).map(<[u8]>::len), Some(inner.len()));
    };
    for i in 0..10 {
        round(&mut a, &mut b, t0 + Duration::from_millis(i));
    }
    let n = allocations(|| {
        for i in 0..1000 {
            round(&mut a, &mut b, t0 + Duration::from_millis(10 + i));
        }
    });
    assert_eq!(n, 0, "{n} allocations in 1000 ESP+AH transport round trips");
    assert_eq!(b.counters.in_decrypted, 1010);
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| {
        let v = vec![1u8; 10];
        std::hint::black_box(&v);
    });
    assert_eq!(n, 1);
}
