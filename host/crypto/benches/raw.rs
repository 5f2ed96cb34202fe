//! Raw primitive throughput of every provider: AEAD seal/open, AES-CBC
//! encrypt/decrypt and HMAC, at 64/512/1400/8192 bytes (CBC: rounded up to
//! whole blocks, 1400 → 1408). The ESP benches put
//! their numbers next to these.
//!
//! `cargo bench -p esprit-crypto --bench raw`

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use esprit_crypto::{provider_by_name, provider_names, AeadAlg, CipherAlg, IntegAlg, Provider};

const SIZES: [usize; 4] = [64, 512, 1400, 8192];

fn providers() -> Vec<&'static dyn Provider> {
    provider_names().iter().filter_map(|n| provider_by_name(n).ok()).collect()
}

fn aead(c: &mut Criterion) {
    for alg in [AeadAlg::Aes128Gcm16, AeadAlg::Aes256Gcm16, AeadAlg::ChaCha20Poly1305] {
        let mut g = c.benchmark_group(alg.name());
        for p in providers() {
            let Ok(a) = p.aead(alg, &vec![0x42; alg.key_len()]) else { continue };
            let nonce = [7u8; 12];
            let aad = [1u8; 8];
            for size in SIZES {
                g.throughput(Throughput::Bytes(size as u64));
                let mut buf = vec![0u8; size];
                let mut tag = [0u8; 16];
                g.bench_with_input(BenchmarkId::new(format!("seal/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| {
                        a.seal_in_place_detached(&nonce, &aad, black_box(&mut buf), &mut tag)
                            .expect("seal")
                    })
                });
                // Open decrypts in place, so every iteration first restores the
                // sealed bytes (copying 1400 B costs ~11 ns, DESIGN.md §2).
                let mut sealed = vec![0u8; size];
                let mut stag = [0u8; 16];
                a.seal_in_place_detached(&nonce, &aad, &mut sealed, &mut stag).expect("seal");
                let mut work = sealed.clone();
                g.bench_with_input(BenchmarkId::new(format!("open/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| {
                        work.copy_from_slice(&sealed);
                        a.open_in_place_detached(&nonce, &aad, black_box(&mut work), &stag)
                            .expect("open")
                    })
                });
            }
        }
        g.finish();
    }
}

fn cbc(c: &mut Criterion) {
    for alg in [CipherAlg::Aes128Cbc, CipherAlg::Aes256Cbc] {
        let mut g = c.benchmark_group(format!("{}cbc", alg.name()));
        for p in providers() {
            let Ok(ciph) = p.cipher(alg, &vec![0x42; alg.key_len()]) else { continue };
            let iv = [9u8; 16];
            for size in SIZES {
                // CBC works on whole blocks: a 1400 B ESP payload is padded to
                // 1408 B (RFC 4303 §2.4), so that is what is encrypted.
                let padded = size.div_ceil(16) * 16;
                g.throughput(Throughput::Bytes(padded as u64));
                let mut buf = vec![0u8; padded];
                g.bench_with_input(BenchmarkId::new(format!("encrypt/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| ciph.encrypt_cbc(&iv, black_box(&mut buf)).expect("encrypt"))
                });
                g.bench_with_input(BenchmarkId::new(format!("decrypt/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| ciph.decrypt_cbc(&iv, black_box(&mut buf)).expect("decrypt"))
                });
            }
        }
        g.finish();
    }
}

fn hmac(c: &mut Criterion) {
    for alg in [IntegAlg::HmacSha256_128, IntegAlg::HmacSha384_192, IntegAlg::HmacSha512_256] {
        let mut g = c.benchmark_group(format!("hmac-{}", alg.name()));
        for p in providers() {
            let Ok(m) = p.integrity(alg, &vec![0x42; alg.key_len()]) else { continue };
            for size in SIZES {
                g.throughput(Throughput::Bytes(size as u64));
                let buf = vec![0u8; size];
                let mut icv = vec![0u8; alg.icv_len()];
                g.bench_with_input(BenchmarkId::new(format!("compute/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| m.compute(&[black_box(&buf)], &mut icv))
                });
                m.compute(&[&buf], &mut icv);
                g.bench_with_input(BenchmarkId::new(format!("verify/{}", p.name()), size), &size, |b, _| {
                    b.iter(|| m.verify(&[black_box(&buf)], &icv))
                });
            }
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = raw;
    config = config();
    targets = aead, cbc, hmac
}
criterion_main!(raw);
