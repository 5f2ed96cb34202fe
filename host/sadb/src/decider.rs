//! The contract between the SPD and an external policy decider (a Wasm policy
//! plugin, see `host/plugin`). The SPD consults a decider on a flow-cache miss
//! for the SPD entries that name it, and caches the [`Decision`] per flow.
//!
//! This module knows nothing about Wasm: `host/plugin` implements
//! [`PolicyDecider`] (arrows point down, DESIGN.md §2).

use std::net::IpAddr;
use std::time::Duration;

/// Direction of a flow relative to this host (RFC 4301 §4.4.1: in/out/fwd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    Fwd,
}

/// The 5-tuple (plus direction and ingress interface) a policy decides on.
/// Ports are 0 for protocols without ports; for ICMP/ICMPv6 `src_port` holds
/// the type and `dst_port` the code (RFC 4301 §4.4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmp6, ...).
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub dir: Direction,
    /// Name of the interface / side the packet came from, if known.
    pub iface: Option<String>,
}

/// The IPsec protocol and mode of one SA in a template: the shared
/// vocabulary of `esprit_wire`.
pub use esprit_wire::{IpsecProtocol as IpsecProto, Mode as IpsecMode, Spi};

/// Request level (setkey/PF_KEY): `default|use|require|unique`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Default,
    Use,
    Require,
    /// `unique[:id]`: the SA is bound to this policy only.
    Unique(u32),
}

/// One SA request of a protect action, e.g. `esp/tunnel/192.0.2.1-192.0.2.2/require`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaRequest {
    pub proto: IpsecProto,
    pub mode: IpsecMode,
    /// Tunnel endpoints as the outer header's (source, destination), as setkey
    /// writes them: (local, remote) for `out`/`fwd` policies, (remote, local)
    /// for `in` policies. `None` in transport mode.
    pub tunnel: Option<(IpAddr, IpAddr)>,
    pub level: Level,
}

/// What to do with a flow. `Protect` requests are applied in order (first is
/// innermost: `esp/transport//require ah/transport//require` means ESP then AH).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Pass in the clear (`none`).
    Bypass,
    /// Drop (`discard`).
    Discard,
    /// Protect with these SA requests (`ipsec`).
    Protect(Vec<SaRequest>),
    /// Opportunistic: try IPsec, fall back to clear if the peer does not answer.
    PrivateOrClear,
    /// Opportunistic, strict: try IPsec, drop if it cannot be had.
    Private,
}

/// A decider's answer for one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// How long the SPD may cache this decision for the flow (`None` = until
    /// the next reload).
    pub cache_ttl: Option<Duration>,
    /// Optional SA key: flows with the same key share one SA (this is where
    /// plugins choose SA granularity: per host, per port, per flow, ...).
    pub sa_key: Option<u64>,
    /// Human-readable reason, shown by `esprit policy test`.
    pub explanation: String,
}

/// Something that decides flows the static SPD delegates to it.
pub trait PolicyDecider: Send + Sync {
    /// Name shown in status and `policy test` (e.g. the plugin name).
    fn name(&self) -> &str;
    /// Changes whenever the decider's code or config changes; the flow cache
    /// keys on it so a reload invalidates cached decisions.
    fn version(&self) -> u64;
    /// Decide one flow. Must never panic; a failing decider returns its
    /// configured failure verdict (fail closed: `Discard`) with an explanation.
    fn decide(&self, flow: &Flow) -> Decision;
}
