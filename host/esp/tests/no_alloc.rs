//! Proves that `encapsulate` and `decapsulate` allocate nothing once the SA is
//! set up, for every transform, mode, address family and provider: a counting
//! global allocator wraps the system allocator.
mod common;
use common::*;
use esprit_esp::{Bundle, DropReason, Mode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set on the measuring thread only: allocations by other threads of the
    /// test process (libtest's own) are not the fast path's, and counting
    /// them made this test fail now and then on a loaded machine.
    static MEASURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn armed() -> bool {
    ARMED.load(Ordering::Relaxed) && MEASURING.try_with(|m| m.get()).unwrap_or(false)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if armed() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if armed() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with the counter armed and returns the number of allocations
/// it made (on this thread).
fn count(f: impl FnOnce()) -> u64 {
    ALLOCS.store(0, Ordering::SeqCst);
    MEASURING.with(|m| m.set(true));
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    MEASURING.with(|m| m.set(false));
    ALLOCS.load(Ordering::SeqCst)
}

#[test]
fn fast_path_allocates_nothing() {
    // The counter itself works.
    assert_eq!(count(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
    let providers = providers();
    let mut cases = 0;
    for t in all_transforms() {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for v6 in [false, true] {
                for esn in [false, true] {
                    for p in &providers {
                        let cfg = config(t, mode, v6, esn);
                        let mut tx = sa(&cfg, *p);
                        let mut rx = sa(&cfg, *p);
                        let inners: Vec<Vec<u8>> = [0usize, 64, 1400]
                            .iter()
                            .map(|&n| if v6 { ipv6_udp(&payload(n, 1), true, false) } else { ipv4_udp(&payload(n, 1)) })
                            .collect();
                        let mut out = vec![0u8; 2048];
                        let mut back = vec![0u8; 2048];
                        let mut keep = vec![0u8; 2048];
                        let mut keep_len = 0;
                        let n = count(|| {
                            for inner in &inners {
                                for _ in 0..4 {
                                    let enc = tx.encapsulate(inner, &mut out).unwrap();
                                    keep[..enc.len()].copy_from_slice(enc);
                                    keep_len = enc.len();
                                    let dec = rx.decapsulate(enc, &mut back).unwrap();
                                    assert_eq!(dec.len(), inner.len());
                                }
                            }
                            // Drops allocate nothing either.
                            assert_eq!(rx.decapsulate(&keep[..keep_len], &mut back).err(), Some(DropReason::Replay));
                            keep[keep_len - 1] ^= 1;
                            let _ = rx.decapsulate(&keep[..keep_len], &mut back);
                        });
                        assert_eq!(n, 0, "{} {mode:?} v6={v6} esn={esn} on {}: {n} allocations", t.name(), p.name());
                        cases += 1;
                    }
                }
            }
        }
    }
    // A bundle (ESP then AH) too.
    let p = providers[0];
    let esp = config(esprit_esp::Transform::Aead(esprit_crypto::AeadAlg::Aes128Gcm16), Mode::Transport, false, false);
    let mut ah = config(esprit_esp::Transform::Ah(esprit_crypto::IntegAlg::HmacSha256_128), Mode::Transport, false, false);
    ah.spi.0 += 1;
    let mut tx = Bundle::new(vec![sa(&esp, p), sa(&ah, p)]);
    let mut rx = Bundle::new(vec![sa(&esp, p), sa(&ah, p)]);
    let inner = ipv4_udp(&payload(1000, 3));
    let (mut a, mut b, mut c, mut d) = (vec![0u8; 2048], vec![0u8; 2048], vec![0u8; 2048], vec![0u8; 2048]);
    let n = count(|| {
        for _ in 0..10 {
            let enc = tx.encapsulate(&inner, &mut a, &mut b).unwrap();
            rx.decapsulate(enc, &mut c, &mut d).unwrap();
        }
    });
    assert_eq!(n, 0, "bundle: {n} allocations");
    assert!(cases >= 15 * 2 * 2 * 2 * 2);
}
