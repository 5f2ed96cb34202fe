//! Known-answer tests, one generic function per primitive, run on every
//! provider.

use super::vectors;
use super::providers;
use crate::{AeadAlg, CipherAlg, CryptoError, IntegAlg, Provider};

fn aead_kat(p: &dyn Provider) {
    for v in vectors::aead() {
        let ctx = format!("{} / {}", p.name(), v.name);
        let a = p.aead(v.alg, &v.key).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(a.alg(), v.alg, "{ctx}");

        let mut buf = v.pt.clone();
        let mut tag = [0u8; 16];
        a.seal_in_place_detached(&v.nonce, &v.aad, &mut buf, &mut tag)
            .unwrap_or_else(|e| panic!("{ctx}: seal: {e}"));
        assert_eq!(buf, v.ct, "{ctx}: ciphertext");
        assert_eq!(&tag[..], &v.tag[..], "{ctx}: tag");

        a.open_in_place_detached(&v.nonce, &v.aad, &mut buf, &v.tag)
            .unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        assert_eq!(buf, v.pt, "{ctx}: plaintext");

        // Tampered tag, ciphertext, aad, nonce: all must fail.
        let mut bad_tag = v.tag.clone();
        bad_tag[15] ^= 0x01;
        let mut b = v.ct.clone();
        assert_eq!(a.open_in_place_detached(&v.nonce, &v.aad, &mut b, &bad_tag), Err(CryptoError::AuthFailed), "{ctx}");
        if !v.ct.is_empty() {
            let mut b = v.ct.clone();
            b[0] ^= 0x80;
            assert_eq!(a.open_in_place_detached(&v.nonce, &v.aad, &mut b, &v.tag), Err(CryptoError::AuthFailed), "{ctx}");
        }
        let mut aad = v.aad.clone();
        aad.push(0);
        let mut b = v.ct.clone();
        assert_eq!(a.open_in_place_detached(&v.nonce, &aad, &mut b, &v.tag), Err(CryptoError::AuthFailed), "{ctx}");
        let mut n = v.nonce;
        n[11] ^= 1;
        let mut b = v.ct.clone();
        assert_eq!(a.open_in_place_detached(&n, &v.aad, &mut b, &v.tag), Err(CryptoError::AuthFailed), "{ctx}");

        // Short, long and empty tags never authenticate.
        for t in [&v.tag[..15], &[][..], &[v.tag.clone(), vec![0]].concat()[..]] {
            let mut b = v.ct.clone();
            assert_eq!(a.open_in_place_detached(&v.nonce, &v.aad, &mut b, t), Err(CryptoError::AuthFailed), "{ctx}");
        }
        // A seal into a wrong-sized tag buffer is refused.
        let mut b = v.pt.clone();
        let mut short = [0u8; 12];
        assert_eq!(
            a.seal_in_place_detached(&v.nonce, &v.aad, &mut b, &mut short),
            Err(CryptoError::TagLength { expected: 16, got: 12 }),
            "{ctx}"
        );
    }
}

fn mac_kat(p: &dyn Provider) {
    for v in vectors::mac() {
        let ctx = format!("{} / {}", p.name(), v.name);
        let m = p.integrity(v.alg, &v.key).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(m.alg(), v.alg, "{ctx}");
        let full_len = v.mac.len();
        let icv_len = v.alg.icv_len();

        // Full output (PRF-HMAC) and the truncated ICV (RFC 4868 §2.3).
        let mut full = vec![0u8; full_len];
        m.compute(&[&v.data], &mut full);
        assert_eq!(full, v.mac, "{ctx}: full");
        let mut icv = vec![0u8; icv_len];
        m.compute(&[&v.data], &mut icv);
        assert_eq!(icv, v.mac[..icv_len], "{ctx}: truncated");

        // Split input gives the same MAC (ESP appends the ESN high bits).
        let (x, y) = v.data.split_at(v.data.len() / 3);
        let mut split = vec![0u8; icv_len];
        m.compute(&[x, &[], y], &mut split);
        assert_eq!(split, icv, "{ctx}: split");

        assert!(m.verify(&[&v.data], &icv), "{ctx}: verify truncated");
        assert!(m.verify(&[x, y], &icv), "{ctx}: verify split");
        assert!(m.verify(&[&v.data], &full), "{ctx}: verify full");
        let mut bad = icv.clone();
        bad[icv_len - 1] ^= 0x01;
        assert!(!m.verify(&[&v.data], &bad), "{ctx}: flipped bit");
        assert!(!m.verify(&[&v.data, b"x"], &icv), "{ctx}: extra data");
        assert!(!m.verify(&[&v.data], &[]), "{ctx}: empty ICV");
        assert!(!m.verify(&[&v.data], &icv[..icv_len - 1]), "{ctx}: short ICV");
        assert!(!m.verify(&[&v.data], &[full.clone(), vec![0]].concat()), "{ctx}: long ICV");
    }
}

fn cbc_kat(p: &dyn Provider) {
    for v in vectors::cbc() {
        let ctx = format!("{} / {}", p.name(), v.name);
        let c = p.cipher(v.alg, &v.key).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(c.alg(), v.alg, "{ctx}");
        let mut buf = v.pt.clone();
        c.encrypt_cbc(&v.iv, &mut buf).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(buf, v.ct, "{ctx}: ciphertext");
        c.decrypt_cbc(&v.iv, &mut buf).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(buf, v.pt, "{ctx}: plaintext");

        // Bad IV lengths and partial blocks are errors, never panics.
        let mut b = v.pt.clone();
        assert_eq!(c.encrypt_cbc(&v.iv[..15], &mut b), Err(CryptoError::NonceLength { expected: 16, got: 15 }), "{ctx}");
        assert_eq!(c.decrypt_cbc(&[], &mut b), Err(CryptoError::NonceLength { expected: 16, got: 0 }), "{ctx}");
        assert_eq!(c.decrypt_cbc(&[0; 17], &mut b), Err(CryptoError::NonceLength { expected: 16, got: 17 }), "{ctx}");
        let mut odd = vec![0u8; v.pt.len() + 1];
        assert_eq!(c.encrypt_cbc(&v.iv, &mut odd), Err(CryptoError::BlockLength(odd.len())), "{ctx}");
        let mut odd = vec![0u8; 15];
        assert_eq!(c.decrypt_cbc(&v.iv, &mut odd), Err(CryptoError::BlockLength(15)), "{ctx}");
        // Nothing to do is fine.
        assert_eq!(c.encrypt_cbc(&v.iv, &mut []), Ok(()), "{ctx}");
        assert_eq!(c.decrypt_cbc(&v.iv, &mut []), Ok(()), "{ctx}");
    }
}

fn bad_key_lengths(p: &dyn Provider) {
    for alg in [AeadAlg::Aes128Gcm16, AeadAlg::Aes256Gcm16, AeadAlg::ChaCha20Poly1305] {
        let n = alg.key_len();
        for got in [0, n - 1, n + 1, n + 4] {
            assert_eq!(
                p.aead(alg, &vec![0; got]).err(),
                Some(CryptoError::KeyLength { alg: alg.name(), expected: n, got }),
                "{} {alg:?}",
                p.name()
            );
        }
    }
    for alg in [IntegAlg::HmacSha256_128, IntegAlg::HmacSha384_192, IntegAlg::HmacSha512_256] {
        let n = alg.key_len();
        for got in [0, 20, n - 1, n + 1] {
            assert_eq!(
                p.integrity(alg, &vec![0; got]).err(),
                Some(CryptoError::KeyLength { alg: alg.name(), expected: n, got }),
                "{} {alg:?}",
                p.name()
            );
        }
    }
    for alg in [CipherAlg::Aes128Cbc, CipherAlg::Aes256Cbc] {
        let n = alg.key_len();
        for got in [0, 24, n - 1, n + 1] {
            assert_eq!(
                p.cipher(alg, &vec![0; got]).err(),
                Some(CryptoError::KeyLength { alg: alg.name(), expected: n, got }),
                "{} {alg:?}",
                p.name()
            );
        }
    }
}

#[test]
fn aead_known_answers_all_providers() {
    for p in providers() {
        aead_kat(p);
    }
}

#[test]
fn hmac_known_answers_all_providers() {
    for p in providers() {
        mac_kat(p);
    }
}

#[test]
fn cbc_known_answers_all_providers() {
    for p in providers() {
        cbc_kat(p);
    }
}

#[test]
fn bad_key_lengths_all_providers() {
    for p in providers() {
        bad_key_lengths(p);
    }
}

#[cfg(feature = "aws-lc")]
#[test]
fn both_providers_are_tested() {
    let names: Vec<_> = providers().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["aws-lc", "rustcrypto"]);
}
