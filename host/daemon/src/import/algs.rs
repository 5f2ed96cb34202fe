//! racoon's IKEv1 algorithm names → esprit's IKEv2 proposals (strongSwan
//! syntax, as the `ike` / `esp` keys of a `[[conn]]` take them).
//!
//! Reasoning, per algorithm family:
//! * Encryption. `aes` and `rijndael` are the same cipher. esprit proposes
//!   AES-GCM with a 16-byte ICV first (RFC 8221 and RFC 8247: MUST, and one
//!   transform authenticates and encrypts), then AES-CBC with HMAC-SHA2 (also
//!   MUST) for peers without GCM. racoon's `aes` without a key length is
//!   AES-128, so that is what is proposed; `aes 256` gives AES-256; AES-192 is
//!   not in esprit's set and becomes AES-256. Every other racoon cipher
//!   (des, 3des, blowfish, twofish, cast128, idea, rc5, camellia, ...) is
//!   dropped: esprit does not implement them, and RFC 8221/8247 either forbid
//!   them (DES, Blowfish, 3IDEA: MUST NOT), discourage them (3DES: SHOULD NOT)
//!   or do not list them at all (Twofish has no IKEv2 transform ID).
//! * Phase 1 hash → PRF. `sha1` and `md5` become PRF_HMAC_SHA2_256 (RFC 8247:
//!   HMAC-MD5 MUST NOT, HMAC-SHA1 MUST-); SHA-2 hashes map one to one.
//! * Phase 2 authentication → integrity. `hmac_sha256/384/512` map to
//!   `sha256/384/512` (RFC 4868). `hmac_sha1` and `hmac_md5` are dropped:
//!   esprit implements the SHA-2 family only (and RFC 8221 puts HMAC-MD5 at
//!   MUST NOT).
//! * Diffie-Hellman. MODP groups below 2048 bits (1, 2, 5) are replaced by
//!   Curve25519 (RFC 8031) and 2048-bit MODP (RFC 8247: group 14 MUST, 31 SHOULD;
//!   groups 1/2 MUST NOT / SHOULD NOT, 5 SHOULD NOT).

use super::racoon::{Alg, At};
use super::warn::Warnings;

/// A racoon cipher in IKEv2 terms.
enum Cipher {
    /// AES with this key length in bits.
    Aes(u32),
    /// ESP NULL encryption (RFC 2410), integrity only.
    Null,
}

/// Maps one racoon cipher; `None` (with a warning) if esprit cannot use it.
fn cipher(alg: &Alg, file: &str, w: &mut Warnings) -> Option<Cipher> {
    let reason = match alg.name.as_str() {
        "aes" | "rijndael" => {
            return match alg.key_len {
                None | Some(128) => Some(Cipher::Aes(128)),
                Some(256) => Some(Cipher::Aes(256)),
                Some(192) => {
                    w.at(file, alg.line, format!("encryption_algorithm {} 192: AES-192 is not in esprit's set; proposed as AES-256", alg.name));
                    Some(Cipher::Aes(256))
                }
                Some(other) => {
                    w.at(file, alg.line, format!("encryption_algorithm {} {other}: AES has no {other}-bit key; proposed as AES-128", alg.name));
                    Some(Cipher::Aes(128))
                }
            };
        }
        "null_enc" => return Some(Cipher::Null),
        "des" | "des_iv64" | "des_iv32" => "single DES is MUST NOT in RFC 8221 and RFC 8247",
        "3des" => "3DES is SHOULD NOT in RFC 8221 (64-bit blocks) and not in esprit's set",
        "blowfish" => "Blowfish is MUST NOT in RFC 8221 (64-bit blocks) and not in esprit's set",
        "twofish" => "Twofish has no IKEv2 transform ID (RFC 8221 does not list it) and is not in esprit's set",
        "3idea" => "3IDEA is MUST NOT in RFC 8221",
        "cast128" | "cast" => "CAST-128 is not recommended by RFC 8221 (64-bit blocks) and not in esprit's set",
        "idea" | "rc5" | "rc4" => "not recommended by RFC 8221 and not in esprit's set",
        "camellia" => "Camellia is not in esprit's set",
        _ => "unknown to esprit",
    };
    w.at(file, alg.line, format!("encryption_algorithm {} dropped: {reason}", alg.name));
    None
}

/// Diffie-Hellman group names for a racoon `dh_group` / `pfs_group` value.
pub fn dh_groups(g: &At<String>, what: &str, file: &str, w: &mut Warnings) -> Vec<&'static str> {
    let strong = |name: &'static str| vec![name];
    let replaced = vec!["x25519", "modp2048"];
    let weak = |desc: &str, w: &mut Warnings| {
        w.at(file, g.line, format!("{what} {} is {desc}; proposed as x25519 and modp2048 instead", g.value));
    };
    match g.value.to_ascii_lowercase().as_str() {
        "1" | "modp768" => {
            weak("768-bit MODP, MUST NOT in RFC 8247", w);
            replaced
        }
        "2" | "modp1024" => {
            weak("1024-bit MODP, deprecated by RFC 8247", w);
            replaced
        }
        "5" | "modp1536" => {
            weak("1536-bit MODP, SHOULD NOT in RFC 8247", w);
            replaced
        }
        "14" | "modp2048" => strong("modp2048"),
        "15" | "modp3072" => strong("modp3072"),
        "16" | "modp4096" => strong("modp4096"),
        "17" | "modp6144" => strong("modp6144"),
        "18" | "modp8192" => strong("modp8192"),
        "19" | "ecp256" => strong("ecp256"),
        "20" | "ecp384" => strong("ecp384"),
        "21" | "ecp521" => strong("ecp521"),
        "31" | "curve25519" | "x25519" => strong("x25519"),
        other => {
            w.at(file, g.line, format!("{what} {other} is unknown to esprit; proposed as x25519 and modp2048 instead"));
            replaced
        }
    }
}

/// A phase 1 hash algorithm as an IKEv2 PRF/integrity name (`sha256`, ...).
fn hash(alg: &Alg, file: &str, w: &mut Warnings) -> &'static str {
    match alg.name.as_str() {
        "sha256" => "sha256",
        "sha384" => "sha384",
        "sha512" => "sha512",
        "sha1" => {
            w.at(file, alg.line, "hash_algorithm sha1 → prfsha256: HMAC-SHA1 is MUST- in RFC 8247 and not in esprit's set");
            "sha256"
        }
        "md5" => {
            w.at(file, alg.line, "hash_algorithm md5 → prfsha256: HMAC-MD5 is MUST NOT in RFC 8247");
            "sha256"
        }
        other => {
            w.at(file, alg.line, format!("hash_algorithm {other} is unknown to esprit; using sha256"));
            "sha256"
        }
    }
}

/// A phase 2 `authentication_algorithm` as an IKEv2 integrity name, if kept.
fn integrity(alg: &Alg, file: &str, w: &mut Warnings) -> Option<&'static str> {
    let reason = match alg.name.as_str() {
        "hmac_sha256" | "hmac_sha2_256" => return Some("sha256"),
        "hmac_sha384" | "hmac_sha2_384" => return Some("sha384"),
        "hmac_sha512" | "hmac_sha2_512" => return Some("sha512"),
        "non_auth" => return None, // racoon's "no integrity" for ESP with AEAD/none
        "hmac_sha1" => "esprit implements HMAC-SHA2 only (RFC 4868); AES-GCM and HMAC-SHA-256 are proposed instead",
        "hmac_md5" => "HMAC-MD5 is MUST NOT in RFC 8221",
        _ => "unknown to esprit",
    };
    w.at(file, alg.line, format!("authentication_algorithm {} dropped: {reason}", alg.name));
    None
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// One racoon `proposal { }` → IKE proposals, e.g.
/// `aes128gcm16-prfsha256-x25519-modp2048`, `aes128-sha256-x25519-modp2048`.
pub struct Phase1<'a> {
    pub encryption: &'a [Alg],
    pub hash: &'a [Alg],
    pub dh_group: Option<&'a At<String>>,
}

/// IKE proposals for the `ike` key, in racoon's order, AEAD first within each.
pub fn ike_proposals(props: &[Phase1<'_>], file: &str, w: &mut Warnings) -> Vec<String> {
    let mut out = Vec::new();
    for p in props {
        let groups = match p.dh_group {
            Some(g) => dh_groups(g, "dh_group", file, w),
            None => vec!["x25519", "modp2048"],
        };
        let dh = groups.join("-");
        let hashes: Vec<&str> = if p.hash.is_empty() { vec!["sha256"] } else { p.hash.iter().map(|h| hash(h, file, w)).collect() };
        for c in p.encryption.iter().filter_map(|a| cipher(a, file, w)) {
            let Cipher::Aes(bits) = c else { continue }; // NULL is not allowed for IKE SAs
            for h in &hashes {
                push_unique(&mut out, format!("aes{bits}gcm16-prf{h}-{dh}"));
            }
            for h in &hashes {
                push_unique(&mut out, format!("aes{bits}-{h}-{dh}"));
            }
        }
    }
    out
}

/// CHILD_SA proposals for the `esp` key from a sainfo's lists.
/// `ah` = the conn negotiates AH: then only integrity algorithms are listed.
pub fn child_proposals(encryption: &[Alg], authentication: &[Alg], pfs: Option<&At<String>>, ah: bool, file: &str, w: &mut Warnings) -> Vec<String> {
    let mut integ: Vec<&str> = Vec::new();
    for a in authentication {
        if let Some(i) = integrity(a, file, w) {
            if !integ.contains(&i) {
                integ.push(i);
            }
        }
    }
    let suffix = match pfs {
        Some(g) => format!("-{}", dh_groups(g, "pfs_group", file, w).join("-")),
        None => String::new(),
    };
    let mut out = Vec::new();
    if ah {
        if integ.is_empty() {
            integ.push("sha256");
        }
        for i in &integ {
            push_unique(&mut out, format!("{i}{suffix}"));
        }
        return out;
    }
    let mut cbc = Vec::new();
    for c in encryption.iter().filter_map(|a| cipher(a, file, w)) {
        match c {
            Cipher::Aes(bits) => {
                push_unique(&mut out, format!("aes{bits}gcm16{suffix}"));
                for i in &integ {
                    push_unique(&mut cbc, format!("aes{bits}-{i}{suffix}"));
                }
            }
            Cipher::Null => {
                for i in &integ {
                    push_unique(&mut cbc, format!("null-{i}{suffix}"));
                }
            }
        }
    }
    for c in cbc {
        push_unique(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alg(name: &str) -> Alg {
        Alg { name: name.into(), key_len: None, line: 1 }
    }

    #[test]
    fn seed_sainfo_maps_to_gcm_then_cbc_sha2() {
        let mut w = Warnings::default();
        let enc = ["blowfish", "twofish", "rijndael", "aes"].map(alg);
        let auth = ["hmac_sha1", "hmac_sha256", "hmac_sha384", "hmac_sha512"].map(alg);
        let esp = child_proposals(&enc, &auth, None, false, "r", &mut w);
        assert_eq!(esp, ["aes128gcm16", "aes128-sha256", "aes128-sha384", "aes128-sha512"]);
        let msgs: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        for want in ["blowfish dropped", "twofish dropped", "hmac_sha1 dropped"] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:?}");
        }
    }

    #[test]
    fn seed_proposal_maps_to_aead_and_cbc_with_strong_groups() {
        let mut w = Warnings::default();
        let g = At { value: "2".to_string(), line: 7 };
        let p = Phase1 { encryption: &[alg("aes")], hash: &[alg("sha1")], dh_group: Some(&g) };
        let ike = ike_proposals(&[p], "r", &mut w);
        assert_eq!(ike, ["aes128gcm16-prfsha256-x25519-modp2048", "aes128-sha256-x25519-modp2048"]);
        assert!(w.iter().any(|w| w.to_string().contains("r:7: dh_group 2 is 1024-bit MODP, deprecated by RFC 8247")));
    }

    #[test]
    fn key_lengths_pfs_and_ah() {
        let mut w = Warnings::default();
        let enc = [Alg { name: "aes".into(), key_len: Some(256), line: 1 }];
        let g = At { value: "modp2048".to_string(), line: 2 };
        assert_eq!(child_proposals(&enc, &[alg("hmac_sha256")], Some(&g), false, "r", &mut w), ["aes256gcm16-modp2048", "aes256-sha256-modp2048"]);
        assert_eq!(child_proposals(&enc, &[alg("hmac_sha384")], None, true, "r", &mut w), ["sha384"]);
        assert_eq!(w.len(), 0);
    }
}
