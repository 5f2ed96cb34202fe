//! Published test vectors (data only).
//!
//! - AES-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
//!   test cases 1–4 (AES-128) and 13–16 (AES-256), as reproduced in
//!   draft-mcgrew-gcm-test-01 and NIST's GCM spec appendix.
//! - ChaCha20-Poly1305: RFC 8439 §2.8.2.
//! - HMAC-SHA-256/384/512: RFC 4868 §2.7.2 (AUTH256-1..4, AUTH384-1..4,
//!   AUTH512-1..4). AUTH512-4 uses the key as corrected by verified erratum
//!   1785 (the printed key is 80 bytes). AUTH384-4 uses the key as printed;
//!   erratum 5507 (held) proposes a different key, but the published output
//!   matches the printed one.
//! - AES-CBC: RFC 3602 §4 cases 1–4 (AES-128) and NIST SP 800-38A F.2.5
//!   (CBC-AES256.Encrypt).

use super::h;
use crate::{AeadAlg, CipherAlg, IntegAlg};

pub struct AeadVector {
    pub name: &'static str,
    pub alg: AeadAlg,
    pub key: Vec<u8>,
    pub nonce: [u8; 12],
    pub aad: Vec<u8>,
    pub pt: Vec<u8>,
    pub ct: Vec<u8>,
    pub tag: Vec<u8>,
}

pub struct MacVector {
    pub name: &'static str,
    pub alg: IntegAlg,
    pub key: Vec<u8>,
    pub data: Vec<u8>,
    /// Full PRF-HMAC output; the ICV is its first `alg.icv_len()` bytes.
    pub mac: Vec<u8>,
}

pub struct CbcVector {
    pub name: &'static str,
    pub alg: CipherAlg,
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
    pub pt: Vec<u8>,
    pub ct: Vec<u8>,
}

fn nonce(s: &str) -> [u8; 12] {
    let v = h(s);
    let mut n = [0u8; 12];
    n.copy_from_slice(&v);
    n
}

const GCM_K: &str = "feffe9928665731c6d6a8f9467308308";
const GCM_IV: &str = "cafebabefacedbaddecaf888";
const GCM_P64: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM3_C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
                      21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
const GCM15_C: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

pub fn aead() -> Vec<AeadVector> {
    let p60 = h(GCM_P64)[..60].to_vec();
    let k256 = h(&format!("{GCM_K}{GCM_K}"));
    vec![
        AeadVector {
            name: "GCM test case 1",
            alg: AeadAlg::Aes128Gcm16,
            key: vec![0; 16],
            nonce: [0; 12],
            aad: vec![],
            pt: vec![],
            ct: vec![],
            tag: h("58e2fccefa7e3061367f1d57a4e7455a"),
        },
        AeadVector {
            name: "GCM test case 2",
            alg: AeadAlg::Aes128Gcm16,
            key: vec![0; 16],
            nonce: [0; 12],
            aad: vec![],
            pt: vec![0; 16],
            ct: h("0388dace60b6a392f328c2b971b2fe78"),
            tag: h("ab6e47d42cec13bdf53a67b21257bddf"),
        },
        AeadVector {
            name: "GCM test case 3",
            alg: AeadAlg::Aes128Gcm16,
            key: h(GCM_K),
            nonce: nonce(GCM_IV),
            aad: vec![],
            pt: h(GCM_P64),
            ct: h(GCM3_C),
            tag: h("4d5c2af327cd64a62cf35abd2ba6fab4"),
        },
        AeadVector {
            name: "GCM test case 4",
            alg: AeadAlg::Aes128Gcm16,
            key: h(GCM_K),
            nonce: nonce(GCM_IV),
            aad: h(GCM_A),
            pt: p60.clone(),
            ct: h(GCM3_C)[..60].to_vec(),
            tag: h("5bc94fbc3221a5db94fae95ae7121a47"),
        },
        AeadVector {
            name: "GCM test case 13",
            alg: AeadAlg::Aes256Gcm16,
            key: vec![0; 32],
            nonce: [0; 12],
            aad: vec![],
            pt: vec![],
            ct: vec![],
            tag: h("530f8afbc74536b9a963b4f1c4cb738b"),
        },
        AeadVector {
            name: "GCM test case 14",
            alg: AeadAlg::Aes256Gcm16,
            key: vec![0; 32],
            nonce: [0; 12],
            aad: vec![],
            pt: vec![0; 16],
            ct: h("cea7403d4d606b6e074ec5d3baf39d18"),
            tag: h("d0d1c8a799996bf0265b98b5d48ab919"),
        },
        AeadVector {
            name: "GCM test case 15",
            alg: AeadAlg::Aes256Gcm16,
            key: k256.clone(),
            nonce: nonce(GCM_IV),
            aad: vec![],
            pt: h(GCM_P64),
            ct: h(GCM15_C),
            tag: h("b094dac5d93471bdec1a502270e3cc6c"),
        },
        AeadVector {
            name: "GCM test case 16",
            alg: AeadAlg::Aes256Gcm16,
            key: k256,
            nonce: nonce(GCM_IV),
            aad: h(GCM_A),
            pt: p60,
            ct: h(GCM15_C)[..60].to_vec(),
            tag: h("76fc6ece0f4e1768cddf8853bb2d551b"),
        },
        AeadVector {
            name: "RFC 8439 2.8.2",
            alg: AeadAlg::ChaCha20Poly1305,
            key: h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
            nonce: nonce("070000004041424344454647"),
            aad: h("50515253c0c1c2c3c4c5c6c7"),
            pt: b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
                  for the future, sunscreen would be it."
                .to_vec(),
            ct: h("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
                   3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
                   92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
                   3ff4def08e4b7a9de576d26586cec64b6116"),
            tag: h("1ae10b594f09e26a7e902ecbd0600691"),
        },
    ]
}

fn counting(from: u8, to_inclusive: u8) -> Vec<u8> {
    (from..=to_inclusive).collect()
}

pub fn mac() -> Vec<MacVector> {
    use IntegAlg::*;
    let hi = b"Hi There".to_vec();
    let jefe_q = b"what do ya want for nothing?".to_vec();
    let dd = vec![0xdd; 50];
    let cd = vec![0xcd; 50];
    let v = |name, alg: IntegAlg, key: Vec<u8>, data: &Vec<u8>, mac: &str| MacVector {
        name,
        alg,
        key,
        data: data.clone(),
        mac: h(mac),
    };
    vec![
        v("AUTH256-1", HmacSha256_128, vec![0x0b; 32], &hi,
          "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"),
        v("AUTH256-2", HmacSha256_128, b"Jefe".repeat(8), &jefe_q,
          "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"),
        v("AUTH256-3", HmacSha256_128, vec![0xaa; 32], &dd,
          "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"),
        v("AUTH256-4", HmacSha256_128, counting(0x01, 0x20), &cd,
          "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"),
        v("AUTH384-1", HmacSha384_192, vec![0x0b; 48], &hi,
          "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc
           4c5df61d5b3297b4fb68dab9f1b582c2"),
        v("AUTH384-2", HmacSha384_192, b"Jefe".repeat(12), &jefe_q,
          "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5
           349524ca4e82400cbde0686d403371c9"),
        v("AUTH384-3", HmacSha384_192, vec![0xaa; 48], &dd,
          "809f439be00274321d4a538652164b53554a508184a0c3160353e3428597003d
           35914a18770f9443987054944b7c4b4a"),
        v("AUTH384-4", HmacSha384_192, [counting(0x01, 0x20), counting(0x0a, 0x19)].concat(), &cd,
          "5b540085c6e6358096532b2493609ed1cb298f774f87bb5c2ebf182c83cc7428
           707fb92eab2536a5812258228bc96687"),
        v("AUTH512-1", HmacSha512_256, vec![0x0b; 64], &hi,
          "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8
           ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"),
        v("AUTH512-2", HmacSha512_256, b"Jefe".repeat(16), &jefe_q,
          "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454
           6aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"),
        v("AUTH512-3", HmacSha512_256, vec![0xaa; 64], &dd,
          "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8
           623c7b55cebefccf02d5581acc1c9d5fb1ff68a1de45509fbe4da9a433922655"),
        v("AUTH512-4 (erratum 1785 key)", HmacSha512_256, counting(0x01, 0x40), &cd,
          "5e6688e5a3daec826ca32eaea224eff5e700628947470e13ad01302561bab108
           b8c48cbc6b807dcfbd850521a685babc7eae4a2a2e660dc0e86b931d65503fd2"),
    ]
}

pub fn cbc() -> Vec<CbcVector> {
    vec![
        CbcVector {
            name: "RFC 3602 case 1",
            alg: CipherAlg::Aes128Cbc,
            key: h("06a9214036b8a15b512e03d534120006"),
            iv: h("3dafba429d9eb430b422da802c9fac41"),
            pt: b"Single block msg".to_vec(),
            ct: h("e353779c1079aeb82708942dbe77181a"),
        },
        CbcVector {
            name: "RFC 3602 case 2",
            alg: CipherAlg::Aes128Cbc,
            key: h("c286696d887c9aa0611bbb3e2025a45a"),
            iv: h("562e17996d093d28ddb3ba695a2e6f58"),
            pt: counting(0x00, 0x1f),
            ct: h("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
        },
        CbcVector {
            name: "RFC 3602 case 3",
            alg: CipherAlg::Aes128Cbc,
            key: h("6c3ea0477630ce21a2ce334aa746c2cd"),
            iv: h("c782dc4c098c66cbd9cd27d825682c81"),
            pt: b"This is a 48-byte message (exactly 3 AES blocks)".to_vec(),
            ct: h("d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5
                   021c19216bad525c8579695d83ba2684"),
        },
        CbcVector {
            name: "RFC 3602 case 4",
            alg: CipherAlg::Aes128Cbc,
            key: h("56e47a38c5598974bc46903dba290349"),
            iv: h("8ce82eefbea0da3c44699ed7db51b7d9"),
            pt: counting(0xa0, 0xdf),
            ct: h("c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e
                   35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"),
        },
        CbcVector {
            name: "SP 800-38A F.2.5",
            alg: CipherAlg::Aes256Cbc,
            key: h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
            iv: counting(0x00, 0x0f),
            pt: h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51
                   30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"),
            ct: h("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d
                   39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
        },
    ]
}
