//! The IKEv2 pseudorandom functions PRF_HMAC_SHA2_256/384/512 (RFC 4868 §2.1.2:
//! full-length output, keys of any length) and prf+ (RFC 7296 §2.13).
//!
//! These are free functions on RustCrypto's `hmac`; they need no provider
//! because IKE runs at handshake rate, not packet rate.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// The IKEv2 PRF transforms (RFC 7296 §3.3.2, transform type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA2_256 (transform ID 5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (transform ID 6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (transform ID 7).
    HmacSha512,
}

impl PrfAlg {
    /// Output length in bytes; also the preferred key length (RFC 4868 §2.1.2).
    pub const fn output_len(self) -> usize {
        match self {
            PrfAlg::HmacSha256 => 32,
            PrfAlg::HmacSha384 => 48,
            PrfAlg::HmacSha512 => 64,
        }
    }

    /// Most bytes prf+ can produce: 255 iterations (RFC 7296 §2.13).
    pub const fn prf_plus_max(self) -> usize {
        255 * self.output_len()
    }

    pub const fn name(self) -> &'static str {
        match self {
            PrfAlg::HmacSha256 => "prfsha256",
            PrfAlg::HmacSha384 => "prfsha384",
            PrfAlg::HmacSha512 => "prfsha512",
        }
    }
}

fn mac_parts<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut Vec<u8>) {
    // HMAC takes keys of any length (RFC 2104 §2), so this cannot fail.
    let mut m = match <M as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for p in parts {
        m.update(p);
    }
    let mut t = m.finalize().into_bytes();
    out.extend_from_slice(&t);
    t.as_mut_slice().zeroize();
}

/// `prf(key, parts[0] | parts[1] | ...)`, appended to `out`.
pub fn prf_parts_into(alg: PrfAlg, key: &[u8], parts: &[&[u8]], out: &mut Vec<u8>) {
    match alg {
        PrfAlg::HmacSha256 => mac_parts::<Hmac<Sha256>>(key, parts, out),
        PrfAlg::HmacSha384 => mac_parts::<Hmac<Sha384>>(key, parts, out),
        PrfAlg::HmacSha512 => mac_parts::<Hmac<Sha512>>(key, parts, out),
    }
}

/// `prf(key, data)`: the full, untruncated HMAC (RFC 4868 §2.1.2).
pub fn prf(alg: PrfAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(alg.output_len());
    prf_parts_into(alg, key, &[data], &mut out);
    out
}

/// `prf+(key, seed)` truncated to `len` bytes (RFC 7296 §2.13):
///
/// ```text
/// prf+ (K,S) = T1 | T2 | T3 | T4 | ...
/// T1 = prf (K, S | 0x01)
/// Tn = prf (K, T(n-1) | S | n)
/// ```
///
/// The counter is one octet, so at most 255 blocks exist; asking for more is
/// [`CryptoError::PrfPlusLength`]. The result is zeroized on drop.
pub fn prf_plus(
    alg: PrfAlg,
    key: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let h = alg.output_len();
    if len > alg.prf_plus_max() {
        return Err(CryptoError::PrfPlusLength { max: alg.prf_plus_max(), got: len });
    }
    let blocks = len.div_ceil(h);
    let mut out = Zeroizing::new(Vec::with_capacity(blocks * h));
    for n in 1..=blocks {
        // n ≤ 255 by the check above.
        let counter = [n as u8];
        let start = out.len();
        if n == 1 {
            prf_parts_into(alg, key, &[seed, &counter], &mut out);
        } else {
            let prev = Zeroizing::new(out[start - h..start].to_vec());
            prf_parts_into(alg, key, &[&prev, seed, &counter], &mut out);
        }
    }
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    /// RFC 4868 §2.7.1 PRF test vectors are the RFC 4231 HMAC cases; case 1
    /// (20-byte key 0x0b.., "Hi There") and case 2 (key "Jefe").
    #[test]
    fn prf_rfc4231_cases() {
        let k = [0x0b; 20];
        assert_eq!(
            prf(PrfAlg::HmacSha256, &k, b"Hi There"),
            h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            prf(PrfAlg::HmacSha384, &k, b"Hi There"),
            h("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6")
        );
        assert_eq!(
            prf(PrfAlg::HmacSha512, b"Jefe", b"what do ya want for nothing?"),
            h("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
        );
        // RFC 4231 case 6: a key longer than the block size is hashed first.
        assert_eq!(
            prf(PrfAlg::HmacSha256, &[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First"),
            h("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }

    #[test]
    fn prf_parts_equals_concatenation() {
        let mut a = Vec::new();
        prf_parts_into(PrfAlg::HmacSha384, b"key", &[b"ab", b"", b"cd"], &mut a);
        assert_eq!(a, prf(PrfAlg::HmacSha384, b"key", b"abcd"));
    }

    /// prf+ against its definition, composed by hand from `prf`.
    #[test]
    fn prf_plus_matches_hand_composition() {
        for alg in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
            let key = b"SKEYSEED-ish key";
            let seed = b"Ni | Nr | SPIi | SPIr";
            let t1 = prf(alg, key, &[&seed[..], &[1]].concat());
            let t2 = prf(alg, key, &[&t1[..], &seed[..], &[2]].concat());
            let t3 = prf(alg, key, &[&t2[..], &seed[..], &[3]].concat());
            let want = [t1, t2, t3].concat();
            let h = alg.output_len();
            for len in [0, 1, h - 1, h, h + 1, 2 * h, 3 * h - 5, 3 * h] {
                let got = prf_plus(alg, key, seed, len).expect("within limit");
                assert_eq!(&got[..], &want[..len], "{alg:?} len {len}");
            }
        }
    }

    /// Independent value: computed with Python's `hmac` module,
    /// `T1|T2` for key = 0x0b*32, seed = "Hi There", PRF_HMAC_SHA2_256.
    #[test]
    fn prf_plus_known_value() {
        let got = prf_plus(PrfAlg::HmacSha256, &[0x0b; 32], b"Hi There", 64).expect("ok");
        assert_eq!(&got[..], &h(PRF_PLUS_KNOWN)[..]);
    }

    const PRF_PLUS_KNOWN: &str = "a37d816f609378f8b8a0b176d27d40360201df75d18c1e17e046a2fe9e729030\
                                  bffd9303401c015b245eeb57e3a651a6e5187f8288d47c3842b91a76ef2dfddd";

    #[test]
    fn prf_plus_limit() {
        let alg = PrfAlg::HmacSha256;
        assert!(prf_plus(alg, b"k", b"s", 255 * 32).is_ok());
        assert_eq!(
            prf_plus(alg, b"k", b"s", 255 * 32 + 1).map(|v| v.len()),
            Err(CryptoError::PrfPlusLength { max: 8160, got: 8161 })
        );
    }

    #[test]
    fn prf_accepts_empty_key_and_data() {
        assert_eq!(prf(PrfAlg::HmacSha512, &[], &[]).len(), 64);
    }
}
