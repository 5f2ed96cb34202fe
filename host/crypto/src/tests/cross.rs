//! Cross-checks between providers on random inputs (seeded, reproducible):
//! seal with one, open with the other, in both directions, for every
//! algorithm; and tampering must fail everywhere. With only one provider
//! compiled in, the provider is checked against itself.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::providers;
use crate::{AeadAlg, CipherAlg, CryptoError, IntegAlg, Provider};

const ROUNDS: usize = 150;

fn pairs() -> Vec<(&'static dyn Provider, &'static dyn Provider)> {
    let ps = providers();
    let mut out = Vec::new();
    for a in &ps {
        for b in &ps {
            if ps.len() == 1 || a.name() != b.name() {
                out.push((*a, *b));
            }
        }
    }
    out
}

fn bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

#[test]
fn aead_cross_seal_open() {
    let mut rng = StdRng::seed_from_u64(0x4553_5052_4954);
    for alg in [AeadAlg::Aes128Gcm16, AeadAlg::Aes256Gcm16, AeadAlg::ChaCha20Poly1305] {
        for (a, b) in pairs() {
            for round in 0..ROUNDS {
                let ctx = format!("{alg:?} {} -> {} round {round}", a.name(), b.name());
                let key = bytes(&mut rng, alg.key_len());
                let mut nonce = [0u8; 12];
                rng.fill_bytes(&mut nonce);
                let aad_len = rng.gen_range(0..=64);
                let aad = bytes(&mut rng, aad_len);
                let pt_len = rng.gen_range(0..=1500);
                let pt = bytes(&mut rng, pt_len);

                let sa = a.aead(alg, &key).expect("key");
                let ob = b.aead(alg, &key).expect("key");
                let mut ct = pt.clone();
                let mut tag = [0u8; 16];
                sa.seal_in_place_detached(&nonce, &aad, &mut ct, &mut tag).expect("seal");

                // Same output from the other backend.
                let mut ct_b = pt.clone();
                let mut tag_b = [0u8; 16];
                ob.seal_in_place_detached(&nonce, &aad, &mut ct_b, &mut tag_b).expect("seal");
                assert_eq!((&ct, &tag), (&ct_b, &tag_b), "{ctx}");

                let mut back = ct.clone();
                ob.open_in_place_detached(&nonce, &aad, &mut back, &tag).expect(&ctx);
                assert_eq!(back, pt, "{ctx}");

                // Tampering fails on both sides.
                for p in [&sa, &ob] {
                    let mut t = tag;
                    t[rng.gen_range(0..16)] ^= 1 << rng.gen_range(0..8);
                    let mut c = ct.clone();
                    assert_eq!(p.open_in_place_detached(&nonce, &aad, &mut c, &t), Err(CryptoError::AuthFailed), "{ctx}");
                    if !ct.is_empty() {
                        let mut c = ct.clone();
                        let i = rng.gen_range(0..c.len());
                        c[i] ^= 1 << rng.gen_range(0..8);
                        assert_eq!(p.open_in_place_detached(&nonce, &aad, &mut c, &tag), Err(CryptoError::AuthFailed), "{ctx}");
                    }
                    let mut bad_aad = aad.clone();
                    if bad_aad.is_empty() {
                        bad_aad.push(0);
                    } else {
                        let i = rng.gen_range(0..bad_aad.len());
                        bad_aad[i] ^= 1 << rng.gen_range(0..8);
                    }
                    let mut c = ct.clone();
                    assert_eq!(p.open_in_place_detached(&nonce, &bad_aad, &mut c, &tag), Err(CryptoError::AuthFailed), "{ctx}");
                }
            }
        }
    }
}

#[test]
fn hmac_cross_compute_verify() {
    let mut rng = StdRng::seed_from_u64(4868);
    for alg in [IntegAlg::HmacSha256_128, IntegAlg::HmacSha384_192, IntegAlg::HmacSha512_256] {
        for (a, b) in pairs() {
            for round in 0..ROUNDS {
                let ctx = format!("{alg:?} {} -> {} round {round}", a.name(), b.name());
                let key = bytes(&mut rng, alg.key_len());
                let len = rng.gen_range(0..=1500);
                let data = bytes(&mut rng, len);
                let cut = rng.gen_range(0..=len);
                let parts: [&[u8]; 2] = [&data[..cut], &data[cut..]];
                let ma = a.integrity(alg, &key).expect("key");
                let mb = b.integrity(alg, &key).expect("key");
                let mut icv = vec![0u8; alg.icv_len()];
                ma.compute(&parts, &mut icv);
                let mut icv_b = vec![0u8; alg.icv_len()];
                mb.compute(&[&data], &mut icv_b);
                assert_eq!(icv, icv_b, "{ctx}");
                assert!(mb.verify(&[&data], &icv), "{ctx}");
                let mut bad = icv.clone();
                let i = rng.gen_range(0..bad.len());
                bad[i] ^= 1 << rng.gen_range(0..8);
                assert!(!ma.verify(&parts, &bad), "{ctx}");
                assert!(!mb.verify(&parts, &bad), "{ctx}");
            }
        }
    }
}

#[test]
fn cbc_cross_encrypt_decrypt() {
    let mut rng = StdRng::seed_from_u64(3602);
    for alg in [CipherAlg::Aes128Cbc, CipherAlg::Aes256Cbc] {
        for (a, b) in pairs() {
            for round in 0..ROUNDS {
                let ctx = format!("{alg:?} {} -> {} round {round}", a.name(), b.name());
                let key = bytes(&mut rng, alg.key_len());
                let iv = bytes(&mut rng, 16);
                let blocks = rng.gen_range(0..=100);
                let pt = bytes(&mut rng, blocks * 16);
                let ca = a.cipher(alg, &key).expect("key");
                let cb = b.cipher(alg, &key).expect("key");
                let mut ct = pt.clone();
                ca.encrypt_cbc(&iv, &mut ct).expect(&ctx);
                let mut ct_b = pt.clone();
                cb.encrypt_cbc(&iv, &mut ct_b).expect(&ctx);
                assert_eq!(ct, ct_b, "{ctx}");
                cb.decrypt_cbc(&iv, &mut ct).expect(&ctx);
                assert_eq!(ct, pt, "{ctx}");
            }
        }
    }
}
