//! The per-packet operations of every provider do not touch the heap: seal,
//! open, CBC encrypt/decrypt, HMAC compute/verify. Counted with a wrapping
//! global allocator per thread: only the measuring thread's allocations
//! count (libtest's own thread may allocate at any time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use esprit_crypto::{provider_by_name, provider_names, AeadAlg, CipherAlg, IntegAlg};

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialised, no destructor:
    /// safe to touch from inside the allocator).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs_here() -> usize {
    ALLOCS.with(|c| c.get())
}

// SAFETY: delegates every call unchanged to the system allocator; the only
// addition is a relaxed counter increment. `unsafe` is required by the
// `GlobalAlloc` trait itself.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<F: FnMut()>(mut f: F) -> usize {
    f(); // warm up any lazy one-time initialisation (CPU feature detection)
    let before = allocs_here();
    for _ in 0..10 {
        f();
    }
    allocs_here() - before
}

#[test]
fn packet_operations_do_not_allocate() {
    // The counter itself works.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![0u8; 8]))), 10);

    let mut buf = vec![0u8; 1400];
    let mut tag = [0u8; 16];
    let nonce = [3u8; 12];
    let iv = [5u8; 16];
    let mut icv = [0u8; 32];
    for name in provider_names() {
        let p = provider_by_name(name).expect("listed");
        for alg in [AeadAlg::Aes128Gcm16, AeadAlg::Aes256Gcm16, AeadAlg::ChaCha20Poly1305] {
            let a = p.aead(alg, &vec![1; alg.key_len()]).expect("key");
            let n = allocations(|| {
                a.seal_in_place_detached(&nonce, b"aad", &mut buf, &mut tag).expect("seal");
                a.open_in_place_detached(&nonce, b"aad", &mut buf, &tag).expect("open");
                // A failing open must not allocate either.
                let bad = [0u8; 16];
                assert!(a.open_in_place_detached(&nonce, b"aad", &mut buf, &bad).is_err());
            });
            assert_eq!(n, 0, "{name} {alg:?}");
        }
        for alg in [CipherAlg::Aes128Cbc, CipherAlg::Aes256Cbc] {
            let c = p.cipher(alg, &vec![1; alg.key_len()]).expect("key");
            let n = allocations(|| {
                c.encrypt_cbc(&iv, &mut buf[..1392]).expect("enc");
                c.decrypt_cbc(&iv, &mut buf[..1392]).expect("dec");
            });
            assert_eq!(n, 0, "{name} {alg:?}");
        }
        for alg in [IntegAlg::HmacSha256_128, IntegAlg::HmacSha384_192, IntegAlg::HmacSha512_256] {
            let m = p.integrity(alg, &vec![1; alg.key_len()]).expect("key");
            let l = alg.icv_len();
            let n = allocations(|| {
                m.compute(&[&buf, &[0, 0, 0, 1]], &mut icv[..l]);
                assert!(m.verify(&[&buf, &[0, 0, 0, 1]], &icv[..l]));
            });
            assert_eq!(n, 0, "{name} {alg:?}");
        }
    }
}
