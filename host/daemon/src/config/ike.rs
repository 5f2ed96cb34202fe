//! The `[ike]` and `[[conn]]` sections of the config file as written; their
//! translation into the IKE core's configuration is in `crate::ike::conf`.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::duration;

/// `[ike]`: endpoint-wide settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeSection {
    /// UDP port for IKE_SA_INIT (default 500 in tun mode, off in netstack mode).
    #[serde(default)]
    pub port: Option<u16>,
    /// Our address for IKE (default: the address of outer.listen).
    #[serde(default)]
    pub local: Option<IpAddr>,
    #[serde(default)]
    pub cookie_threshold: Option<usize>,
    /// The first retransmission's wait (doubles on each try; default 1s).
    #[serde(default, deserialize_with = "duration::opt")]
    pub retransmit_timeout: Option<Duration>,
    #[serde(default)]
    pub retransmit_tries: Option<u32>,
    /// NAT-T keepalive interval (default 20s).
    #[serde(default, deserialize_with = "duration::opt")]
    pub keepalive: Option<Duration>,
    /// Half-open IKE SAs (IKE_SA_INIT answered, no IKE_AUTH yet) are
    /// dropped after this long (default 30s).
    #[serde(default, deserialize_with = "duration::opt")]
    pub half_open_timeout: Option<Duration>,
    /// Most half-open IKE SAs in all; the oldest makes room (default 2048, 0: no limit).
    #[serde(default)]
    pub half_open_limit: Option<usize>,
    /// Most half-open IKE SAs from one IP address (default 32, 0: no limit).
    #[serde(default)]
    pub half_open_per_ip: Option<usize>,
}

/// `[[conn]]`: one IKE peer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnSection {
    /// Unique among the conns; its position names the conn in errors.
    pub name: Spanned<String>,
    /// `FILE:LINE:COL` of `name` (filled by `Config::parse`).
    #[serde(skip)]
    pub at: String,
    /// Peer address or "any".
    pub remote: String,
    #[serde(default)]
    pub remote_port: Option<u16>,
    #[serde(default)]
    pub local_id: Option<String>,
    #[serde(default)]
    pub remote_id: Option<String>,
    /// Name of an auth plugin.
    pub auth: String,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA certificate whose key hash we send in CERTREQ.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub ike: Vec<String>,
    #[serde(default)]
    pub esp: Vec<String>,
    #[serde(default)]
    pub protocol: ConnProtocol,
    #[serde(default)]
    pub mode: ConnMode,
    #[serde(default)]
    pub local_ts: Vec<String>,
    #[serde(default)]
    pub remote_ts: Vec<String>,
    #[serde(default)]
    pub start: Start,
    #[serde(default, deserialize_with = "duration::opt")]
    pub rekey: Option<Duration>,
    #[serde(default, deserialize_with = "duration::opt")]
    pub ike_rekey: Option<Duration>,
    #[serde(default, deserialize_with = "duration::opt")]
    pub dpd: Option<Duration>,
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    pub pool: Option<String>,
    /// Opportunistic encryption: this conn is a group of peers.
    #[serde(default)]
    pub oe: Option<Oe>,
    #[serde(default, deserialize_with = "duration::opt")]
    pub oe_timeout: Option<Duration>,
}

/// `protocol`: what the CHILD_SAs protect packets with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnProtocol {
    #[default]
    Esp,
    Ah,
}

/// `mode`: the CHILD_SAs' IPsec mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnMode {
    #[default]
    Tunnel,
    Transport,
}

/// `start`: when a connection is brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// At daemon start.
    Start,
    /// On the first packet that needs it (ACQUIRE); `route` is strongSwan's word.
    #[serde(alias = "route")]
    Trap,
    /// Respond only; `add` is strongSwan's word.
    #[default]
    #[serde(alias = "add")]
    None,
}

impl Start {
    /// The spelling in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Start::Start => "start",
            Start::Trap => "trap",
            Start::None => "none",
        }
    }
}

/// `oe`: opportunistic encryption behaviour (RFC 7619 style groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Oe {
    /// Try IPsec; after `oe_timeout` without an answer, send in the clear.
    PrivateOrClear,
    /// IPsec or nothing.
    Private,
    /// Clear unless the peer initiates IPsec.
    ClearOrPrivate,
}
