//! Helpers shared by the integration tests: SA configs for every transform,
//! both providers, and IPv4/IPv6 test packets.
#![allow(dead_code)]
use esprit_crypto::{provider_by_name, AeadAlg, CipherAlg, IntegAlg, Provider};
use esprit_esp::{Mode, Protocol, Sa, SaConfig, Transform, DEFAULT_REPLAY_WINDOW};
use std::net::IpAddr;
use zeroize::Zeroizing;

pub fn providers() -> Vec<&'static dyn Provider> {
    vec![provider_by_name("aws-lc").unwrap(), provider_by_name("rustcrypto").unwrap()]
}

pub fn all_transforms() -> Vec<Transform> {
    use CipherAlg::*;
    use IntegAlg::*;
    let mut v = vec![
        Transform::Aead(AeadAlg::Aes128Gcm16),
        Transform::Aead(AeadAlg::Aes256Gcm16),
        Transform::Aead(AeadAlg::ChaCha20Poly1305),
    ];
    for c in [Aes128Cbc, Aes256Cbc] {
        for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
            v.push(Transform::CbcHmac(c, i));
        }
    }
    for i in [HmacSha256_128, HmacSha384_192, HmacSha512_256] {
        v.push(Transform::NullHmac(i));
        v.push(Transform::Ah(i));
    }
    v
}

pub fn key(len: usize, seed: u8) -> Zeroizing<Vec<u8>> {
    Zeroizing::new((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect())
}

pub fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        ("2001:db8:1::1".parse().unwrap(), "2001:db8:2::2".parse().unwrap())
    } else {
        ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap())
    }
}

pub fn config(t: Transform, mode: Mode, v6: bool, esn: bool) -> SaConfig {
    let (enc, auth) = t.key_lens();
    let (src, dst) = addrs(v6);
    SaConfig {
        spi: esprit_esp::Spi(0xc0de_0001),
        protocol: t.protocol(),
        mode,
        src,
        dst,
        transform: t,
        enc_key: key(enc, 1),
        auth_key: key(auth, 2),
        esn,
        replay_window: DEFAULT_REPLAY_WINDOW,
        tfc_padding: false,
    }
}

pub fn sa(cfg: &SaConfig, p: &dyn Provider) -> Sa {
    Sa::new(cfg.clone(), p).unwrap()
}

/// Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4/UDP 192.0.2.1 → 192.0.2.2 (or `src`/`dst`) carrying `payload`.
pub fn ipv4_udp_between(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0x45, 0x10, 0, 0, 0x12, 0x34, 0x40, 0, 61, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

pub fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    ipv4_udp_between([192, 0, 2, 1], [192, 0, 2, 2], payload)
}

/// IPv6/UDP, optionally with hop-by-hop and destination options headers.
pub fn ipv6_udp(payload: &[u8], hbh: bool, dst_opts: bool) -> Vec<u8> {
    let mut p = vec![0x6a, 0xb0, 0x12, 0x34, 0, 0, 17, 61];
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let mut slot = 6;
    if hbh {
        p[slot] = 0;
        slot = p.len();
        p.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
    }
    if dst_opts {
        p[slot] = 60;
        p.extend_from_slice(&[17, 0, 0x3e, 2, 0xaa, 0xbb, 0, 0]);
    }
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let plen = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p
}

pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8) ^ seed).collect()
}

pub fn proto_of(t: &Transform) -> u8 {
    match t.protocol() {
        Protocol::Esp => 50,
        Protocol::Ah => 51,
    }
}
