//! `[tun] workers`: how many packet threads a tun-mode daemon runs.
//!
//! - `1`: one thread reads the TUN device and the outer sockets and moves
//!   both directions (no hand-off between threads).
//! - `2`: an outbound worker (TUN → ESP → wire) and an inbound worker
//!   (wire → ESP → TUN), each with its own replica of the data plane.
//! - `"auto"` (the default): 2 when the machine has at least 2 cores, else 1.
//!
//! Measured on the 2-core test machine with `scripts/throughput` (two esprit
//! gateways, iperf3 at both ends and the kernel sharing two cores): a worker
//! per direction carried more TCP than one worker (encryption and decryption
//! overlap), one worker carried slightly more 64-byte datagrams (no hand-off
//! between threads); bulk throughput decides the default. See
//! docs/ARCHITECTURE.md "Packet workers: one or two".
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

const EXPECTED: &str = "1, 2 or \"auto\"";

/// The packet threads of a tun-mode daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunWorkers {
    #[default]
    Auto,
    One,
    PerDirection,
}

/// Cores from which `"auto"` runs a worker per direction.
pub const AUTO_PER_DIRECTION_FROM_CORES: usize = 2;

impl TunWorkers {
    /// Whether this machine runs one worker per direction.
    pub fn per_direction(self) -> bool {
        match self {
            TunWorkers::One => false,
            TunWorkers::PerDirection => true,
            TunWorkers::Auto => Self::auto_for(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        }
    }

    /// What `"auto"` chooses on a machine with `cores` cores.
    pub fn auto_for(cores: usize) -> bool {
        cores >= AUTO_PER_DIRECTION_FROM_CORES
    }
}

struct WorkersVisitor;

impl Visitor<'_> for WorkersVisitor {
    type Value = TunWorkers;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<TunWorkers, E> {
        match n {
            1 => Ok(TunWorkers::One),
            2 => Ok(TunWorkers::PerDirection),
            _ => Err(E::custom(format!("workers = {n}: expected {EXPECTED} (one thread for both directions, or one per direction)"))),
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<TunWorkers, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<TunWorkers, E> {
        match s {
            "auto" => Ok(TunWorkers::Auto),
            "1" => Ok(TunWorkers::One),
            "2" => Ok(TunWorkers::PerDirection),
            _ => Err(E::custom(format!("workers = {s:?}: expected {EXPECTED}"))),
        }
    }
}

impl<'de> Deserialize<'de> for TunWorkers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WorkersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        workers: TunWorkers,
    }

    fn parse(v: &str) -> Result<TunWorkers, String> {
        toml::from_str::<T>(&format!("workers = {v}")).map(|t| t.workers).map_err(|e| e.to_string())
    }

    #[test]
    fn one_two_auto() {
        assert_eq!(parse("1").unwrap(), TunWorkers::One);
        assert_eq!(parse("2").unwrap(), TunWorkers::PerDirection);
        assert_eq!(parse("\"auto\"").unwrap(), TunWorkers::Auto);
    }

    #[test]
    fn other_values_say_what_is_expected() {
        for bad in ["0", "3", "-1", "\"many\"", "1.5"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("expected 1, 2 or \"auto\""), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_follows_the_core_count() {
        assert!(!TunWorkers::auto_for(1));
        assert!(TunWorkers::auto_for(2));
        assert!(TunWorkers::auto_for(4));
        assert!(TunWorkers::auto_for(64));
    }
}
