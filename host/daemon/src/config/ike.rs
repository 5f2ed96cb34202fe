//! The `[ike]` and `[[conn]]` sections of the config file as written; their
//! translation into the IKE core's configuration is in `crate::ike::conf`.
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

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
    #[serde(default)]
    pub retransmit_timeout: Option<String>,
    #[serde(default)]
    pub retransmit_tries: Option<u32>,
    #[serde(default)]
    pub keepalive: Option<String>,
    /// Half-open IKE SAs (IKE_SA_INIT answered, no IKE_AUTH yet) are
    /// dropped after this long (default 30s).
    #[serde(default)]
    pub half_open_timeout: Option<String>,
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
    pub name: String,
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
    pub protocol: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub local_ts: Vec<String>,
    #[serde(default)]
    pub remote_ts: Vec<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub rekey: Option<String>,
    #[serde(default)]
    pub ike_rekey: Option<String>,
    #[serde(default)]
    pub dpd: Option<String>,
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub oe: Option<String>,
    #[serde(default)]
    pub oe_timeout: Option<String>,
}
