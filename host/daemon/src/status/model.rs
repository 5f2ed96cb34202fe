//! The status snapshot as typed values: what `esprit status --json`
//! prints, what `esprit status` renders and what `/metrics` exposes.
//! `docs/status.schema.json` describes it; [`SCHEMA_VERSION`] changes when a
//! field is removed or changes meaning (added fields do not change it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The status format's version (`schema_version` in every status).
pub const SCHEMA_VERSION: u32 = 1;

/// Named counters (`{"received": 2, ...}`), sorted by name.
pub type Counters = BTreeMap<String, u64>;

/// One instance's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub schema_version: u32,
    pub name: String,
    /// `tun` or `netstack`.
    pub mode: String,
    pub uptime_s: u64,
    pub warnings: Vec<String>,
    pub sas: Vec<SaStatus>,
    /// In evaluation order.
    pub policies: Vec<PolicyStatus>,
    /// Packet path counters (`out_protected`, `in_decrypted`, ...).
    pub counters: Counters,
    /// Packets dropped, by reason.
    pub drops: Counters,
    /// Packets held while IKE negotiates their SA.
    pub held_packets: u64,
    pub spd: Counters,
    pub inbound: Counters,
    pub outbound: Counters,
    pub acquires: Counters,
    /// What the control socket refused or served.
    #[serde(default)]
    pub control: Counters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike: Option<IkeStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginStatus>,
    /// The kernel filter's drops of cleartext from protected peers (tun mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleartext_enforcement: Option<Vec<EnforcementStatus>>,
    /// The smoltcp netstack's counters and gauges (netstack mode), as of
    /// the packet thread's last one-second tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netstack: Option<Counters>,
}

/// One SA of the SAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SaStatus {
    /// `0x` and 8 hex digits.
    pub spi: String,
    /// `esp` or `ah`.
    pub proto: String,
    /// `tunnel` or `transport`.
    pub mode: String,
    pub src: String,
    pub dst: String,
    pub transform: String,
    pub esn: bool,
    pub replay_window: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reqid: Option<u32>,
    /// Octets and packets counted against the SA's lifetime.
    pub bytes: u64,
    pub packets: u64,
    pub age_s: u64,
    pub expired: bool,
    pub engine: SaEngine,
}

/// The ESP/AH engine's counters of one SA.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SaEngine {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub drops_in: Counters,
    pub drops_out: Counters,
}

/// One SPD entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyStatus {
    pub id: u64,
    pub policy: String,
    pub hits: u64,
    pub priority: u32,
}

/// The IKE side.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IkeStatus {
    pub ike_sas: Vec<IkeSaStatus>,
    /// Responder IKE SAs that answered IKE_SA_INIT and wait for IKE_AUTH.
    pub half_open: u64,
    pub stats: Counters,
    pub clear_shunts: Vec<String>,
    /// When the IKE thread built this (it rebuilds on changes only):
    /// [`IkeStatus::aged`] brings the ages up to date.
    #[serde(skip)]
    pub built: Option<std::time::Instant>,
}

impl IkeStatus {
    /// This snapshot with ages and rekey times as of `now`.
    pub fn aged(&self, now: std::time::Instant) -> IkeStatus {
        let mut v = self.clone();
        let dt = self.built.map(|b| now.saturating_duration_since(b).as_secs()).unwrap_or(0);
        for sa in &mut v.ike_sas {
            sa.age_s += dt;
            sa.rekey_in_s = sa.rekey_in_s.map(|r| r.saturating_sub(dt));
        }
        v
    }
}

/// One IKE SA.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IkeSaStatus {
    pub conn: String,
    /// `Connecting`, `Established`, `Rekeyed`, `Deleting`, ...
    pub state: String,
    pub local: String,
    pub remote: String,
    pub spi_i: String,
    pub spi_r: String,
    pub initiator: bool,
    pub algs: String,
    pub peer_id: String,
    pub nat: bool,
    pub age_s: u64,
    /// Seconds until this IKE SA is rekeyed (none scheduled: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_s: Option<u64>,
    pub children: Vec<ChildStatus>,
}

/// One CHILD_SA of an IKE SA.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildStatus {
    pub name: String,
    /// 8 hex digits.
    pub spi_in: String,
    pub spi_out: String,
    pub algs: String,
}

/// A policy plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PluginStatus {
    pub name: String,
    /// 16 hex digits (hash of the loaded module).
    pub version: String,
    pub reloads: u64,
    pub rejected_reloads: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub quarantined: bool,
    /// `calls` and the fault counters (`trap`, `deadline`, `oom`, ...).
    pub faults: Counters,
}

/// One rule of the kernel filter esprit installed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnforcementStatus {
    pub rule: String,
    pub dropped: u64,
}
