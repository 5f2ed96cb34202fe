//! What the operator configured, as the IKE core needs it.
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::message::{Identity, TrafficSelector};
use crate::proposal::ProposalSpec;

/// IPsec mode of a CHILD_SA (the shared vocabulary of `esprit_wire`).
pub use esprit_wire::Mode;

/// One CHILD_SA template.
#[derive(Debug, Clone)]
pub struct ChildConfig {
    pub name: String,
    pub proposals: Vec<ProposalSpec>,
    pub mode: Mode,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// CHILD_SA rekey interval.
    pub rekey: Option<Duration>,
}

impl ChildConfig {
    /// A tunnel-mode CHILD_SA template without a rekey interval.
    pub fn tunnel(name: &str, proposals: Vec<ProposalSpec>, local_ts: Vec<TrafficSelector>, remote_ts: Vec<TrafficSelector>) -> ChildConfig {
        ChildConfig { name: name.into(), proposals, mode: Mode::Tunnel, local_ts, remote_ts, rekey: None }
    }
}

/// One peer (a swanctl "connection").
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub name: String,
    /// `None`: respond to any address.
    pub remote: Option<IpAddr>,
    pub remote_port: u16,
    pub local_id: Identity,
    /// `None`: any identity the auth backend accepts.
    pub remote_id: Option<Identity>,
    /// Auth backend (plugin) name.
    pub auth: String,
    pub ike: Vec<ProposalSpec>,
    pub children: Vec<ChildConfig>,
    /// Our certificate (DER), sent in a CERT payload.
    pub cert: Option<Vec<u8>>,
    /// SHA-1 hashes of trusted CA public keys, sent in CERTREQ (RFC 7296 §3.7).
    pub certreq: Vec<Vec<u8>>,
    pub ike_rekey: Option<Duration>,
    pub dpd: Option<Duration>,
    /// Initiator: request a virtual IPv4 address (CP CFG_REQUEST).
    pub request_vip: bool,
    /// Responder: hand out virtual IPv4 addresses from this pool.
    pub pool: Option<(Ipv4Addr, u8)>,
}

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Half-open IKE SAs above which COOKIEs are demanded (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    pub retransmit_timeout: Duration,
    pub retransmit_tries: u32,
    /// NAT-T keepalive interval (RFC 3948 §2.3).
    pub keepalive: Duration,
    /// How long a half-open responder SA may live before it is dropped
    /// (strongSwan's `half_open_timeout`, also 30 s).
    pub half_open_timeout: Duration,
    /// Most half-open responder SAs in all (strongSwan's
    /// `init_limit_half_open`). When full, the oldest half-open SA makes room
    /// for a new one: a legitimate initiator completes within a round trip,
    /// so the oldest is most likely junk, and a flood cannot lock out
    /// newcomers. 0: no limit.
    pub half_open_limit: usize,
    /// Most half-open responder SAs from one peer IP address (strongSwan's
    /// `block_threshold`); more IKE_SA_INIT requests from it are dropped
    /// until one completes or expires. 0: no limit.
    pub half_open_per_ip: usize,
    /// Responder of a CHILD_SA rekey: the longest we keep sending on the
    /// old SA when neither the peer's DELETE of it nor a packet on the new
    /// inbound SA says the peer installed the new one.
    pub outbound_switch_fallback: Duration,
    /// The NAT-T port we use (our 4500).
    pub natt_port: u16,
    /// Largest IP packet for an IKE message before it is sent as encrypted
    /// fragments (RFC 7383; strongSwan's default is 1280 too).
    pub fragment_size: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            cookie_threshold: 64,
            retransmit_timeout: Duration::from_secs(1),
            retransmit_tries: 5,
            keepalive: Duration::from_secs(20),
            half_open_timeout: Duration::from_secs(30),
            half_open_limit: 2048,
            half_open_per_ip: 32,
            outbound_switch_fallback: Duration::from_secs(5),
            natt_port: 4500,
            fragment_size: 1280,
        }
    }
}

impl PeerConfig {
    /// A connection on port 500 with no certificate, timers, DPD or virtual
    /// IPs; set those fields afterwards when needed.
    pub fn new(name: &str, remote: Option<IpAddr>, local_id: Identity, remote_id: Option<Identity>, auth: &str, ike: Vec<ProposalSpec>, children: Vec<ChildConfig>) -> PeerConfig {
        PeerConfig {
            name: name.into(),
            remote,
            remote_port: 500,
            local_id,
            remote_id,
            auth: auth.into(),
            ike,
            children,
            cert: None,
            certreq: Vec::new(),
            ike_rekey: None,
            dpd: None,
            request_vip: false,
            pool: None,
        }
    }
}
