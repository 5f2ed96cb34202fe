//! What makes one tun-mode instance's kernel plumbing its own: the
//! policy-routing table, the fwmark of its outer sockets and the priority of
//! its routing rule. Each is `[tun] table`, `[outer] fwmark` and
//! `[tun] priority` when set, else derived from the instance `name`, so
//! several instances with different names coexist on one host and a
//! restarted instance finds (and replaces) exactly what it installed before.
//!
//! The default instance (`name = "esprit"`) keeps the historical values
//! (table and fwmark 0x4553, priority 10000). Any other name hashes
//! (FNV-1a, 32 bits) into the reserved ranges 0x4553_0001..=0x4553_ffff
//! (table and fwmark) and 10001..=10999 (priority); two names that hash
//! alike are told apart by setting the keys.

use crate::config::Config;

/// The per-instance kernel identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ids {
    pub table: u32,
    pub fwmark: u32,
    pub priority: u32,
}

const DEFAULT_NAME: &str = "esprit";
const DEFAULT: Ids = Ids { table: 0x4553, fwmark: 0x4553, priority: 10000 };

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The identifiers derived from an instance name alone.
pub fn derived(name: &str) -> Ids {
    if name == DEFAULT_NAME {
        return DEFAULT;
    }
    let h = fnv1a(name);
    // 1..=0xffff: never 0x4553_0000, so never equal to another range.
    let slot = (h % 0xffff) + 1;
    Ids { table: 0x4553_0000 | slot, fwmark: 0x4553_0000 | slot, priority: 10001 + (h >> 16) % 999 }
}

impl Config {
    /// This instance's table, fwmark and rule priority (configured or derived).
    pub fn instance_ids(&self) -> Ids {
        let d = derived(&self.name);
        let tun = self.tun.as_ref();
        Ids {
            table: tun.and_then(|t| t.table).unwrap_or(d.table),
            fwmark: self.outer.fwmark.unwrap_or(d.fwmark),
            priority: tun.and_then(|t| t.priority).unwrap_or(d.priority),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn default_name_keeps_the_historical_values() {
        assert_eq!(derived("esprit"), Ids { table: 17747, fwmark: 0x4553, priority: 10000 });
    }

    #[test]
    fn names_get_distinct_ids_in_the_reserved_ranges() {
        let (a, b) = (derived("gw-a"), derived("gw-b"));
        assert_ne!(a.table, b.table);
        assert_ne!(a.fwmark, b.fwmark);
        for i in [a, b] {
            assert!((0x4553_0001..=0x4553_ffff).contains(&i.table), "{i:?}");
            assert!((10001..=10999).contains(&i.priority), "{i:?}");
        }
        assert_eq!(derived("gw-a"), a, "stable across runs");
    }

    #[test]
    fn configured_keys_win() {
        let c = Config::parse(
            Path::new("x.toml"),
            "name = \"x\"\nmode = \"tun\"\n[outer]\nfwmark = 7\n[tun]\ntable = 100\npriority = 200\n",
        )
        .unwrap();
        assert_eq!(c.instance_ids(), Ids { table: 100, fwmark: 7, priority: 200 });
        let c = Config::parse(Path::new("x.toml"), "name = \"x\"\nmode = \"tun\"\n").unwrap();
        assert_eq!(c.instance_ids(), derived("x"));
    }
}
