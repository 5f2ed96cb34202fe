//! Unit tests of key and certificate loading over real files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;

use super::*;
use crate::pki::key_type::KeyType;

/// A scratch folder removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("esprit-keyfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn write(&self, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = x509_b64(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for l in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(l).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s.into_bytes()
}

fn x509_b64(der: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in der.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { char::from(T[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

#[test]
fn generated_keys_load_with_their_scheme() {
    let d = Dir::new("schemes");
    for (kt, scheme) in [
        (KeyType::EcdsaP256, SignatureScheme::EcdsaP256Sha256),
        (KeyType::EcdsaP384, SignatureScheme::EcdsaP384Sha384),
        (KeyType::Ed25519, SignatureScheme::Ed25519),
        (KeyType::Rsa2048, SignatureScheme::RsaPkcs1Sha256),
    ] {
        let kp = kt.generate().unwrap();
        let p = d.write(&format!("{kt:?}.pem"), kp.serialize_pem().as_bytes(), 0o400);
        let k = load_private_key(&p).unwrap();
        assert_eq!(k.scheme(), scheme, "{kt:?}");
        assert_eq!(k.encoding(), KeyEncoding::Pkcs8Pem);
        assert_eq!(k.pkcs8_der(), kp.serialized_der());
        assert_eq!(k.mode(), 0o400);
        // DER too, and 0600 is fine.
        let p = d.write(&format!("{kt:?}.der"), kp.serialized_der(), 0o600);
        let k = load_private_key(&p).unwrap();
        assert_eq!((k.scheme(), k.encoding()), (scheme, KeyEncoding::Pkcs8Der));
        // The key store the IKE code uses takes what we return.
        let mut store = esprit_plugin::host_crypto::KeyStore::default();
        store.insert_pkcs8("h", k.scheme().into(), k.pkcs8_der()).unwrap();
        assert!(!format!("{k:?}").contains(&format!("{:?}", &k.pkcs8_der()[..8])));
    }
}

#[test]
fn group_or_world_bits_are_refused_with_the_chmod_command() {
    let d = Dir::new("mode");
    let kp = KeyType::EcdsaP256.generate().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o440, 0o401] {
        let p = d.write("k.pem", kp.serialize_pem().as_bytes(), mode);
        let e = load_private_key(&p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert!(e.contains(&format!("mode {mode:04o}")), "{e}");
        assert!(e.contains(&format!("chmod 400 {}", p.display())), "{e}");
    }
}

#[test]
fn openssl_legacy_pem_forms_are_converted_to_pkcs8() {
    let d = Dir::new("legacy");
    // SEC1 `EC PRIVATE KEY` (after an `EC PARAMETERS` block, as openssl ecparam writes).
    let ec =
        aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
    let sec1 = ec.private_key().as_der().unwrap();
    let mut file = pem("EC PARAMETERS", &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
    file.extend(pem("EC PRIVATE KEY", sec1.as_ref()));
    let p = d.write("ec.pem", &file, 0o400);
    let k = load_private_key(&p).unwrap();
    assert_eq!((k.scheme(), k.encoding()), (SignatureScheme::EcdsaP384Sha384, KeyEncoding::Sec1Pem));
    assert!(aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        k.pkcs8_der()
    )
    .is_ok());

    // PKCS#1 `RSA PRIVATE KEY`.
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = rsa_pkcs1_der(&rsa);
    let p = d.write("rsa.pem", &pem("RSA PRIVATE KEY", &der), 0o400);
    let k = load_private_key(&p).unwrap();
    assert_eq!((k.scheme(), k.encoding()), (SignatureScheme::RsaPkcs1Sha256, KeyEncoding::Pkcs1Pem));
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 document (the OCTET STRING
/// after the AlgorithmIdentifier).
fn rsa_pkcs1_der(rsa: &aws_lc_rs::rsa::KeyPair) -> Vec<u8> {
    let p8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(rsa).unwrap();
    let (_, obj) = x509_parser::der_parser::parse_der(p8.as_ref()).unwrap();
    let seq = obj.as_sequence().unwrap();
    seq[2].as_slice().unwrap().to_vec()
}

#[test]
fn encrypted_and_wrong_files_name_what_was_expected() {
    let d = Dir::new("wrong");
    let p = d.write("enc.pem", &pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]), 0o400);
    let e = load_private_key(&p).unwrap_err().to_string();
    assert!(e.contains("encrypted") && e.contains("openssl pkcs8 -topk8 -nocrypt"), "{e}");

    let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let p = d.write("legacy.pem", legacy, 0o400);
    assert!(load_private_key(&p).unwrap_err().to_string().contains("legacy OpenSSL PEM encryption"));

    let p = d.write("cert.pem", &pem("CERTIFICATE", &[0x30, 0x00]), 0o400);
    let e = load_private_key(&p).unwrap_err().to_string();
    assert!(e.contains("expected a PEM `PRIVATE KEY` block (PKCS#8), found PEM block(s) `CERTIFICATE`"), "{e}");

    let p = d.write("junk.der", b"not a key", 0o400);
    let e = load_private_key(&p).unwrap_err().to_string();
    assert!(e.contains("expected a PKCS#8 private key (PEM or DER), found 9 bytes that are not PKCS#8"), "{e}");

    let e = load_private_key(Path::new("/nonexistent/k.pem")).unwrap_err().to_string();
    assert!(e.starts_with("/nonexistent/k.pem: "), "{e}");
}

#[test]
fn unsupported_key_algorithms_are_named() {
    let d = Dir::new("p521");
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let p = d.write("p521.pem", kp.serialize_pem().as_bytes(), 0o400);
    let e = load_private_key(&p).unwrap_err().to_string();
    assert!(e.contains("unsupported key algorithm EC 1.2.840.10045.2.1 (P-521)"), "{e}");
}

#[test]
fn certificates_load_from_pem_and_der() {
    let d = Dir::new("certs");
    let kp = KeyType::EcdsaP256.generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap().self_signed(&kp).unwrap();
    let p = d.write("c.pem", cert.pem().as_bytes(), 0o644);
    assert_eq!(load_certificate(&p).unwrap(), cert.der().to_vec());
    let p = d.write("c.der", cert.der(), 0o644);
    assert_eq!(load_certificate(&p).unwrap(), cert.der().to_vec());
    let p = d.write("k.pem", kp.serialize_pem().as_bytes(), 0o400);
    let e = load_certificate(&p).unwrap_err().to_string();
    assert!(e.contains("expected a PEM `CERTIFICATE` block, found PEM block(s) `PRIVATE KEY`"), "{e}");
    let mut two = cert.der().to_vec();
    two.extend_from_slice(cert.der());
    let p = d.write("two.der", &two, 0o644);
    assert!(load_certificate(&p).unwrap_err().to_string().contains("bytes after it"));
}
