//! `[netstack] tcp_buffer`: the size of each of the two smoltcp buffers of
//! one bridged TCP connection, in bytes (`262144`) or with a binary unit
//! (`"256KiB"`, `"1MiB"`).
//!
//! The send buffer holds every octet not yet acknowledged by the peer, so it
//! bounds the data in flight: one connection carries at most `tcp_buffer /
//! RTT` (64 KiB over a 0.5 ms round trip through two gateways is 1 Gbit/s).
//! The receive buffer is the window offered to the peer (window scaling,
//! RFC 7323, is used above 64 KiB). A buffer is allocated when its
//! connection opens and filled only as data waits in it, so the bound on
//! memory is `2 × tcp_buffer × max_connections` (the default 64 KiB ×
//! 1024 connections: 128 MiB if every connection were full at once).
//!
//! The default stays 64 KiB: 1 MiB doubled `scripts/throughput`'s
//! netstack → tun line between esprit peers, but smoltcp has no SACK, and
//! with a 1 MiB window a lossy path (the strongSwan libipsec road-warrior
//! interop test) recovered slowly. Raise it for bulk transfers over a
//! clean path.
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// The default (see the module docs and docs/ARCHITECTURE.md, "netstack TCP
/// buffers and checksums").
pub const DEFAULT: usize = 64 << 10;
/// The smallest accepted size (a few segments).
pub const MIN: usize = 4 << 10;
/// The largest accepted size (smoltcp's window scale allows up to 1 GiB;
/// beyond a few MiB only memory grows).
pub const MAX: usize = 16 << 20;

/// The netstack's packet queues for a `tcp_buffer`: room for two full
/// receive windows of 1 KiB segments (smaller segments than the MTU allows
/// are common), never below `floor`. Without it, a peer filling a 1 MiB
/// window overflowed the 512-packet default in one burst ("inner side
/// full" drops, and smoltcp, which has no SACK, stalled on the losses).
pub fn packet_queue(tcp_buffer: usize, floor: usize) -> usize {
    (tcp_buffer / 512).max(floor)
}

const EXPECTED: &str = "a size in bytes from 4096 to 16777216, e.g. 262144, \"256KiB\" or \"1MiB\"";

/// Parses `"256KiB"`, `"1MiB"`, `"4096"` (no unit: bytes).
fn parse(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, mult) = if let Some(n) = s.strip_suffix("KiB") {
        (n, 1usize << 10)
    } else if let Some(n) = s.strip_suffix("MiB") {
        (n, 1 << 20)
    } else {
        (s, 1)
    };
    digits.trim().parse::<usize>().ok()?.checked_mul(mult)
}

fn in_range<E: de::Error>(n: usize) -> Result<usize, E> {
    if (MIN..=MAX).contains(&n) {
        Ok(n)
    } else {
        Err(E::custom(format!("tcp_buffer {n} is out of range: expected {EXPECTED}")))
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<usize, E> {
        in_range(usize::try_from(n).map_err(|_| E::custom(format!("tcp_buffer {n}: expected {EXPECTED}")))?)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<usize, E> {
        in_range(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<usize, E> {
        in_range(parse(s).ok_or_else(|| E::custom(format!("tcp_buffer {s:?}: expected {EXPECTED}")))?)
    }
}

/// `#[serde(deserialize_with)]` for `Option<usize>` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    d.deserialize_any(SizeVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct S {
        #[serde(default, deserialize_with = "super::deserialize")]
        tcp_buffer: Option<usize>,
    }

    fn parse(text: &str) -> Result<Option<usize>, String> {
        toml::from_str::<S>(text).map(|s| s.tcp_buffer).map_err(|e| e.to_string())
    }

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        assert_eq!(parse("tcp_buffer = 262144"), Ok(Some(262_144)));
        assert_eq!(parse("tcp_buffer = \"256KiB\""), Ok(Some(262_144)));
        assert_eq!(parse("tcp_buffer = \"1MiB\""), Ok(Some(1 << 20)));
        assert_eq!(parse("tcp_buffer = \"4096\""), Ok(Some(4096)));
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn bad_sizes_name_what_is_expected() {
        for bad in ["tcp_buffer = 100", "tcp_buffer = -1", "tcp_buffer = \"32MiB\"", "tcp_buffer = \"lots\"", "tcp_buffer = \"1GB\"", "tcp_buffer = 1.5", "tcp_buffer = \"99999999999999999999MiB\""] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("4096 to 16777216"), "{bad}: {e}");
        }
    }
}
