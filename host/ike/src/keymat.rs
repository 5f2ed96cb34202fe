//! Key derivation (RFC 7296 §2.13, §2.14, §2.17, §2.18).
use esprit_crypto::prf::{prf_parts_into, prf_plus, PrfAlg};
use zeroize::Zeroizing;

use crate::proposal::{ChildAlgs, IkeAlgs};
use crate::types::IkeSpi;

/// The seven IKE SA secrets. Dropping it wipes them.
pub struct IkeKeys {
    pub sk_d: Zeroizing<Vec<u8>>,
    pub sk_ai: Zeroizing<Vec<u8>>,
    pub sk_ar: Zeroizing<Vec<u8>>,
    pub sk_ei: Zeroizing<Vec<u8>>,
    pub sk_er: Zeroizing<Vec<u8>>,
    pub sk_pi: Zeroizing<Vec<u8>>,
    pub sk_pr: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IkeKeys(<secret>)")
    }
}

fn prf_z(alg: PrfAlg, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(alg.output_len()));
    prf_parts_into(alg, key, parts, &mut out);
    out
}

/// SKEYSEED = prf(Ni | Nr, g^ir) (§2.14).
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(ni.to_vec());
    key.extend_from_slice(nr);
    prf_z(prf, &key, &[g_ir])
}

/// SKEYSEED of a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (§2.18).
pub fn skeyseed_rekey(prf_old: PrfAlg, sk_d_old: &[u8], g_ir: &[u8], ni: &[u8], nr: &[u8]) -> Zeroizing<Vec<u8>> {
    prf_z(prf_old, sk_d_old, &[g_ir, ni, nr])
}

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
pub fn derive_ike(algs: &IkeAlgs, skeyseed: &[u8], ni: &[u8], nr: &[u8], spi_i: IkeSpi, spi_r: IkeSpi) -> IkeKeys {
    let p = algs.prf.output_len();
    let a = algs.integ.map(|i| i.key_len()).unwrap_or(0);
    let e = algs.encr.key_material_len();
    let mut seed = Vec::with_capacity(ni.len() + nr.len() + 16);
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    seed.extend_from_slice(&spi_i.0);
    seed.extend_from_slice(&spi_r.0);
    let total = 3 * p + 2 * a + 2 * e;
    // total ≤ 3·64 + 2·64 + 2·36, well under 255 prf blocks.
    let km = prf_plus(algs.prf, skeyseed, &seed, total).unwrap_or_else(|_| Zeroizing::new(vec![0; total]));
    let mut off = 0;
    let mut take = |n: usize| {
        let v = Zeroizing::new(km[off..off + n].to_vec());
        off += n;
        v
    };
    IkeKeys { sk_d: take(p), sk_ai: take(a), sk_ar: take(a), sk_ei: take(e), sk_er: take(e), sk_pi: take(p), sk_pr: take(p) }
}

/// CHILD_SA keys for both directions (§2.17).
pub struct ChildKeys {
    /// Initiator → responder: encryption (incl. salt) and integrity keys.
    pub i2r_enc: Zeroizing<Vec<u8>>,
    pub i2r_integ: Zeroizing<Vec<u8>>,
    pub r2i_enc: Zeroizing<Vec<u8>>,
    pub r2i_integ: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChildKeys(<secret>)")
    }
}

/// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr).
pub fn derive_child(prf: PrfAlg, sk_d: &[u8], g_ir: Option<&[u8]>, ni: &[u8], nr: &[u8], algs: &ChildAlgs) -> ChildKeys {
    let e = algs.encr.map(|e| e.key_material_len()).unwrap_or(0);
    let a = algs.integ.map(|i| i.key_len()).unwrap_or(0);
    let mut seed = Zeroizing::new(Vec::new());
    if let Some(g) = g_ir {
        seed.extend_from_slice(g);
    }
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    let total = 2 * (e + a);
    let km = prf_plus(prf, sk_d, &seed, total).unwrap_or_else(|_| Zeroizing::new(vec![0; total]));
    let part = |s: usize, n: usize| Zeroizing::new(km[s..s + n].to_vec());
    ChildKeys { i2r_enc: part(0, e), i2r_integ: part(e, a), r2i_enc: part(e + a, e), r2i_integ: part(2 * e + a, a) }
}

/// prf(SK_p, RestOfIDPayload) — the MACedIDFor part of the signed octets (§2.15).
pub fn maced_id(prf: PrfAlg, sk_p: &[u8], id_body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prf.output_len());
    prf_parts_into(prf, sk_p, &[id_body], &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::Encr;

    #[test]
    fn lengths_follow_the_algorithms() {
        let algs = IkeAlgs { encr: Encr::AesCbc { bits: 256 }, prf: PrfAlg::HmacSha384, integ: Some(esprit_crypto::IntegAlg::HmacSha256_128), dh: 14 };
        let k = derive_ike(&algs, &[1; 48], &[2; 32], &[3; 32], IkeSpi([4; 8]), IkeSpi([5; 8]));
        assert_eq!((k.sk_d.len(), k.sk_ai.len(), k.sk_ei.len(), k.sk_pr.len()), (48, 32, 32, 48));
        let c = ChildAlgs { protocol: crate::types::ProtocolId::Esp, encr: Some(Encr::AesGcm16 { bits: 128 }), integ: None, dh: None, esn: false };
        let ck = derive_child(PrfAlg::HmacSha256, &k.sk_d, None, &[2; 32], &[3; 32], &c);
        assert_eq!(ck.i2r_enc.len(), 20);
        assert_ne!(*ck.i2r_enc, *ck.r2i_enc);
    }
}
