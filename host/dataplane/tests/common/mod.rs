//! Two data planes with mirrored SAs, built from setkey text as the daemon
//! builds them.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use esprit_dataplane::Dataplane;
use esprit_esp::Sa;
use esprit_sadb::sadb::Sadb;

pub const KEY_AB: &str = "0x00112233445566778899aabbccddeeff01020304";
pub const KEY_BA: &str = "0xffeeddccbbaa99887766554433221100a0b0c0d0";

/// A data plane from setkey statements (the daemon's `from_setkey`).
pub fn dataplane(text: &str, now: Instant) -> Dataplane {
    let statements = esprit_sadb::setkey::parse_str("test.conf", text).expect("setkey text");
    let provider = esprit_crypto::default_provider();
    let sadb = Sadb::from_setkey(&statements, now, |spec| -> Result<Sa, String> {
        let cfg = spec.to_sa_config().map_err(|e| e.to_string())?;
        Sa::new(cfg, provider).map_err(|e| e.to_string())
    })
    .expect("SAD/SPD");
    Dataplane::new(sadb, now)
}

/// Gateways 192.0.2.1 (A) and 192.0.2.2 (B) protecting 10.9.0.1 <-> 10.9.0.2
/// with tunnel-mode AES-GCM ESP.
pub fn tunnel_pair(now: Instant) -> (Dataplane, Dataplane) {
    let sas = format!(
        "add 192.0.2.1 192.0.2.2 esp 0x8001 -m tunnel -E aes-gcm-16 {KEY_AB};\nadd 192.0.2.2 192.0.2.1 esp 0x8002 -m tunnel -E aes-gcm-16 {KEY_BA};\n"
    );
    let a = format!(
        "{sas}spdadd 10.9.0.1/32 10.9.0.2/32 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n\
         spdadd 10.9.0.2/32 10.9.0.1/32 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;\n"
    );
    let b = format!(
        "{sas}spdadd 10.9.0.2/32 10.9.0.1/32 any -P out ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;\n\
         spdadd 10.9.0.1/32 10.9.0.2/32 any -P in ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n"
    );
    (dataplane(&a, now), dataplane(&b, now))
}

/// The seed's transport-mode ESP + AH bundle between 10.1.2.3 (A) and 192.168.0.1 (B).
pub fn transport_bundle_pair(now: Instant) -> (Dataplane, Dataplane) {
    let sas = "add 10.1.2.3 192.168.0.1 esp 0x10001 -m transport -E aes-gcm-16 0x00112233445566778899aabbccddeeff01020304;\n\
               add 10.1.2.3 192.168.0.1 ah 0x10002 -m transport -A hmac-sha256 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;\n\
               add 192.168.0.1 10.1.2.3 esp 0x10003 -m transport -E aes-gcm-16 0xffeeddccbbaa99887766554433221100a0b0c0d0;\n\
               add 192.168.0.1 10.1.2.3 ah 0x10004 -m transport -A hmac-sha256 0x1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100;\n";
    let a = format!(
        "{sas}spdadd 10.1.2.3 192.168.0.1 any -P out ipsec esp/transport//require ah/transport//require;\n\
         spdadd 192.168.0.1 10.1.2.3 any -P in ipsec esp/transport//require ah/transport//require;\n"
    );
    let b = format!(
        "{sas}spdadd 192.168.0.1 10.1.2.3 any -P out ipsec esp/transport//require ah/transport//require;\n\
         spdadd 10.1.2.3 192.168.0.1 any -P in ipsec esp/transport//require ah/transport//require;\n"
    );
    (dataplane(&a, now), dataplane(&b, now))
}

/// An IPv4 UDP packet `src:1000 -> dst:2000` with `payload_len` bytes.
pub fn udp4(src: [u8; 4], dst: [u8; 4], payload_len: usize, tag: u8) -> Vec<u8> {
    let total = 20 + 8 + payload_len;
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    esprit_esp::ip::fill_ipv4_checksum(&mut p);
    p.extend_from_slice(&1000u16.to_be_bytes());
    p.extend_from_slice(&2000u16.to_be_bytes());
    p.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend(std::iter::repeat_n(tag, payload_len));
    p
}

pub fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

pub fn natt(s: &str) -> SocketAddr {
    SocketAddr::new(addr(s), 4500)
}
