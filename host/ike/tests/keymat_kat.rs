//! Key derivation checked against known values: one IKE_SA_INIT between
//! esprit (initiator) and strongSwan 5.9.8 (responder), proposal
//! aes128gcm16-prfsha256-x25519. The inputs (nonces, g^ir, SPIs) and the
//! expected SKEYSEED and SK_* are strongSwan's own, from its level-4 IKE log
//! (`SKEYSEED =>`, `Sk_d secret =>`, ...); the nonces are cut from the AUTH
//! octets it logged.
use esprit_crypto::prf::PrfAlg;
use esprit_ike::keymat::{derive_ike, skeyseed};
use esprit_ike::proposal::{Encr, IkeAlgs};
use esprit_ike::types::IkeSpi;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn spi(s: &str) -> IkeSpi {
    let mut a = [0u8; 8];
    a.copy_from_slice(&h(s));
    IkeSpi(a)
}

#[test]
fn skeyseed_and_sk_match_strongswan() {
    let ni = h("5510e04d326bbb3373988d74099bd07d875d042db74fd2d9de63bb40eb80b7d9");
    let nr = h("67af4c6eb66f004f6b7f4726179bd91410920ea76fb21a1396daa0ca033304fe");
    let gir = h("7d6140380d1d5bd065ae8188365260f5e567aaa9a34fcaf1fc3e6ac04ffe836d");
    let seed = skeyseed(PrfAlg::HmacSha256, &ni, &nr, &gir);
    assert_eq!(hex::encode(&*seed), "de61df58565e6d7c78afb5b7347f270e292c880fc918a72185751f570a442c09");
    let algs = IkeAlgs { encr: Encr::AesGcm16 { bits: 128 }, prf: PrfAlg::HmacSha256, integ: None, dh: 31 };
    let k = derive_ike(&algs, &seed, &ni, &nr, spi("a174c815fba867f8"), spi("ce0b086cd00690c5"));
    assert_eq!(hex::encode(&*k.sk_d), "bd7b4bdb57a8fe3131988de5bd1ac8d304142cb9fbc84b32ae0881ee580958c0");
    assert!(k.sk_ai.is_empty() && k.sk_ar.is_empty(), "AEAD: no integrity keys");
    assert_eq!(hex::encode(&*k.sk_ei), "06225a7376e28b12844ae1cca5f6ceab4fbae364");
    assert_eq!(hex::encode(&*k.sk_er), "0826431cd284fa4e464b580b70911eed1f4dbd4d");
    assert_eq!(hex::encode(&*k.sk_pi), "7353a33fe4dc5dec949f8adba900fcb7ad86809a5befdb80eee2f8379543bd41");
    assert_eq!(hex::encode(&*k.sk_pr), "5dec8c9b725813a06acb978561b69b6faa29871f7468ecbcda8cd1415b9d3af0");
}

#[test]
fn child_keymat_matches_strongswan() {
    // The first CHILD_SA of the same exchange (ESP aes128gcm16, no PFS):
    // KEYMAT = prf+(SK_d, Ni | Nr), initiator's key first (RFC 7296 §2.17).
    let ni = h("5510e04d326bbb3373988d74099bd07d875d042db74fd2d9de63bb40eb80b7d9");
    let nr = h("67af4c6eb66f004f6b7f4726179bd91410920ea76fb21a1396daa0ca033304fe");
    let sk_d = h("bd7b4bdb57a8fe3131988de5bd1ac8d304142cb9fbc84b32ae0881ee580958c0");
    let algs = esprit_ike::ChildAlgs { protocol: esprit_ike::ProtocolId::Esp, encr: Some(Encr::AesGcm16 { bits: 128 }), integ: None, dh: None, esn: false };
    let k = esprit_ike::keymat::derive_child(PrfAlg::HmacSha256, &sk_d, None, &ni, &nr, &algs);
    assert_eq!(hex::encode(&*k.i2r_enc), "2b9da245658216 50d3fd7f8dd4d32860aa1fff87".replace(' ', ""));
    assert_eq!(hex::encode(&*k.r2i_enc), "f59f2054035bbf3ff6b040f3c5992a8b50dbda85");
}
