//! ESP/AH encapsulate and decapsulate for every transform and provider at
//! 64/512/1400/8192-byte inner packets (IPv4 tunnel mode), each beside the raw
//! primitive of the same backend in the same run:
//! - AEAD: `seal_in_place_detached` / `open_in_place_detached` (open restores
//!   the sealed bytes first, as the crypto crate's raw bench does; decapsulate
//!   makes the same one copy into the output buffer);
//! - CBC + HMAC: CBC encrypt + HMAC (encrypt side) / HMAC verify + CBC decrypt;
//! - NULL + HMAC and AH: HMAC compute / verify.
//!
//! Criterion reports each benchmark; then a table prints the throughput ratio
//! `encap / raw` and `decap / raw`, measured by interleaving both loops and
//! keeping the best of several rounds (robust against a shared machine).
//! Decapsulation walks a ring of 64 distinct packets (sequence numbers
//! 1..=64) and resets the replay window (without allocating) each lap, so the
//! anti-replay check runs for real.
//!
//! `cargo bench -p esprit-esp --bench esp [-- FILTER]`, e.g. `-- aes128gcm16/aws-lc/1400`.
use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use esprit_crypto::{provider_by_name, AeadAlg, CipherAlg, IntegAlg, Provider};
use esprit_esp::{Mode, Sa, SaConfig, Transform, DEFAULT_REPLAY_WINDOW};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const SIZES: [usize; 4] = [64, 512, 1400, 8192];
const RING: usize = 64;

fn transforms() -> Vec<Transform> {
    use CipherAlg::*;
    use IntegAlg::*;
    let mut v = vec![Transform::Aead(AeadAlg::Aes128Gcm16), Transform::Aead(AeadAlg::Aes256Gcm16), Transform::Aead(AeadAlg::ChaCha20Poly1305)];
    for c in [Aes128Cbc, Aes256Cbc] {
        for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
            v.push(Transform::CbcHmac(c, i));
        }
    }
    for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
        v.push(Transform::NullHmac(i));
    }
    for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
        v.push(Transform::Ah(i));
    }
    v
}

fn config(t: Transform) -> SaConfig {
    let (enc, auth) = t.key_lens();
    SaConfig {
        spi: esprit_esp::Spi(0x1234_5678),
        protocol: t.protocol(),
        mode: Mode::Tunnel,
        src: "198.51.100.1".parse().unwrap(),
        dst: "198.51.100.2".parse().unwrap(),
        transform: t,
        enc_key: Zeroizing::new(vec![0x42; enc]),
        auth_key: Zeroizing::new(vec![0x24; auth]),
        esn: false,
        replay_window: DEFAULT_REPLAY_WINDOW,
        tfc_padding: false,
    }
}

/// An IPv4/UDP packet of exactly `size` bytes.
fn inner(size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    p[..20].copy_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    p[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// The raw primitive(s) of a transform: (seal-side, open-side) closures.
struct Raw {
    seal: Box<dyn FnMut()>,
    open: Box<dyn FnMut()>,
}

fn raw(t: Transform, p: &'static dyn Provider, size: usize) -> Raw {
    match t {
        Transform::Aead(alg) => {
            let a: std::sync::Arc<dyn esprit_crypto::Aead> = p.aead(alg, &vec![0x42; alg.key_len()]).unwrap().into();
            let nonce = [7u8; 12];
            let aad = [1u8; 8];
            let mut buf = vec![0u8; size];
            let mut tag = [0u8; 16];
            let mut sealed = vec![0u8; size];
            let mut stag = [0u8; 16];
            a.seal_in_place_detached(&nonce, &aad, &mut sealed, &mut stag).unwrap();
            let mut work = sealed.clone();
            let a2 = a.clone();
            Raw {
                seal: Box::new(move || a.seal_in_place_detached(&nonce, &aad, black_box(&mut buf), &mut tag).unwrap()),
                open: Box::new(move || {
                    work.copy_from_slice(&sealed);
                    a2.open_in_place_detached(&nonce, &aad, black_box(&mut work), &stag).unwrap()
                }),
            }
        }
        Transform::CbcHmac(c, i) => {
            let cipher: std::sync::Arc<dyn esprit_crypto::Cipher> = p.cipher(c, &vec![0x42; c.key_len()]).unwrap().into();
            let integ: std::sync::Arc<dyn esprit_crypto::Integrity> = p.integrity(i, &vec![0x24; i.key_len()]).unwrap().into();
            let n = size.div_ceil(16) * 16;
            let mut buf = vec![0u8; n];
            let mut icv = [0u8; 32];
            let iv = [9u8; 16];
            let sealed = vec![0u8; n];
            let mut work = sealed.clone();
            let mut good = [0u8; 32];
            integ.compute(&[&sealed], &mut good[..i.icv_len()]);
            let (c2, i2) = (cipher.clone(), integ.clone());
            Raw {
                seal: Box::new(move || {
                    cipher.encrypt_cbc(&iv, black_box(&mut buf)).unwrap();
                    integ.compute(&[&buf], &mut icv[..i.icv_len()]);
                }),
                open: Box::new(move || {
                    assert!(i2.verify(&[&sealed], &good[..i.icv_len()]));
                    work.copy_from_slice(&sealed);
                    c2.decrypt_cbc(&iv, black_box(&mut work)).unwrap();
                }),
            }
        }
        Transform::NullHmac(i) | Transform::Ah(i) => {
            let integ: std::sync::Arc<dyn esprit_crypto::Integrity> = p.integrity(i, &vec![0x24; i.key_len()]).unwrap().into();
            let buf = vec![0u8; size];
            let mut icv = [0u8; 32];
            let mut good = [0u8; 32];
            integ.compute(&[&buf], &mut good[..i.icv_len()]);
            let i2 = integ.clone();
            let buf2 = buf.clone();
            Raw {
                seal: Box::new(move || integ.compute(&[black_box(&buf)], &mut icv[..i.icv_len()])),
                open: Box::new(move || assert!(i2.verify(&[black_box(&buf2)], &good[..i.icv_len()]))),
            }
        }
    }
}

/// Encapsulate / decapsulate closures over one SA pair.
type Bench = Box<dyn FnMut()>;

/// `encapsulate_in_place` on a buffer where the inner packet already sits
/// after the headroom (as a receive into the buffer would leave it). Each
/// call restores the 20-byte inner header the previous call encrypted.
fn engine_in_place(t: Transform, p: &'static dyn Provider, size: usize) -> Option<Bench> {
    let mut tx = Sa::new(config(t), p).unwrap();
    let hr = tx.tunnel_headroom()?;
    let pkt = inner(size);
    let mut buf = vec![0u8; hr + size + 256];
    buf[hr..hr + size].copy_from_slice(&pkt);
    let mut hdr = [0u8; 20];
    hdr.copy_from_slice(&pkt[..20]);
    Some(Box::new(move || {
        buf[hr..hr + 20].copy_from_slice(&hdr);
        black_box(tx.encapsulate_in_place(black_box(&mut buf), size).unwrap());
    }))
}

fn engine(t: Transform, p: &'static dyn Provider, size: usize) -> (Bench, Bench) {
    let cfg = config(t);
    let mut tx = Sa::new(cfg.clone(), p).unwrap();
    let mut rx = Sa::new(cfg, p).unwrap();
    let pkt = inner(size);
    let mut out = vec![0u8; size + 256];
    let ring: Vec<Vec<u8>> = (0..RING).map(|_| tx.encapsulate(&pkt, &mut out).unwrap().to_vec()).collect();
    let mut back = vec![0u8; size + 256];
    let mut i = 0;
    let encap = Box::new(move || {
        black_box(tx.encapsulate(black_box(&pkt), &mut out).unwrap());
    });
    let decap = Box::new(move || {
        if i == RING {
            i = 0;
            rx.set_seq_in(0);
        }
        black_box(rx.decapsulate(black_box(&ring[i]), &mut back).unwrap());
        i += 1;
    });
    (encap, decap)
}

/// Best-of-rounds nanoseconds per call of `a` and `b`, interleaved.
fn paired(a: &mut dyn FnMut(), b: &mut dyn FnMut(), size: usize) -> (f64, f64) {
    let iters = (2_000_000 / (size + 200)).clamp(50, 5000) as u32;
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..iters {
            a();
        }
        best_a = best_a.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
        let t = Instant::now();
        for _ in 0..iters {
            b();
        }
        best_b = best_b.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    (best_a, best_b)
}

fn providers() -> Vec<&'static dyn Provider> {
    ["aws-lc", "rustcrypto"].iter().filter_map(|n| provider_by_name(n).ok()).collect()
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let selected = |id: &str| filter.as_deref().is_none_or(|f| id.contains(f));
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    let mut rows = Vec::new();
    for t in transforms() {
        let mut g = c.benchmark_group(t.name());
        for p in providers() {
            for size in SIZES {
                // Selected when the filter matches our id or any criterion id of the four.
                let ids = ["raw-seal", "encap", "raw-open", "decap", "raw-cbc+hmac", "raw-hmac+cbc", "raw-hmac", "raw-hmac-verify"]
                    .map(|b| format!("{}/{b}/{}/{size}", t.name(), p.name()));
                if !selected(&format!("{}/{}/{size}", t.name(), p.name())) && !ids.iter().any(|id| selected(id)) {
                    continue;
                }
                g.throughput(Throughput::Bytes(size as u64));
                let mut r = raw(t, p, size);
                let (mut enc, mut dec) = engine(t, p, size);
                let (seal_name, open_name) = match t {
                    Transform::Aead(_) => ("raw-seal", "raw-open"),
                    Transform::CbcHmac(..) => ("raw-cbc+hmac", "raw-hmac+cbc"),
                    _ => ("raw-hmac", "raw-hmac-verify"),
                };
                g.bench_function(BenchmarkId::new(format!("{seal_name}/{}", p.name()), size), |b| b.iter(&mut r.seal));
                g.bench_function(BenchmarkId::new(format!("encap/{}", p.name()), size), |b| b.iter(&mut enc));
                g.bench_function(BenchmarkId::new(format!("{open_name}/{}", p.name()), size), |b| b.iter(&mut r.open));
                g.bench_function(BenchmarkId::new(format!("decap/{}", p.name()), size), |b| b.iter(&mut dec));
                let (t_seal, t_enc) = paired(&mut r.seal, &mut enc, size);
                let (t_open, t_dec) = paired(&mut r.open, &mut dec, size);
                let in_place = engine_in_place(t, p, size).map(|mut ip| {
                    g.bench_function(BenchmarkId::new(format!("encap-in-place/{}", p.name()), size), |b| b.iter(&mut ip));
                    paired(&mut r.seal, &mut ip, size)
                });
                rows.push((t.name(), p.name(), size, t_seal, t_enc, t_open, t_dec, in_place));
            }
        }
        g.finish();
    }
    c.final_summary();
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Throughput ratios (best of 15 interleaved rounds, ns per packet; ratio = raw time / engine time = engine throughput / raw throughput)");
    println!("(in-place: encapsulate_in_place, no payload copy, against raw seal measured beside it)");
    println!(
        "{:<16} {:<11} {:>5} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "transform", "provider", "size", "raw seal", "encap", "ratio", "raw open", "decap", "ratio", "raw seal", "in-place", "ratio"
    );
    for (t, p, size, s, e, o, d, ip) in rows {
        let ip = ip.map(|(s2, i)| format!("{s2:>9.0} {i:>9.0} {:>5.0}%", 100.0 * s2 / i)).unwrap_or_default();
        println!("{t:<16} {p:<11} {size:>5} | {s:>9.0} {e:>9.0} {:>5.0}% | {o:>9.0} {d:>9.0} {:>5.0}% | {ip}", 100.0 * s / e, 100.0 * o / d);
    }
}
