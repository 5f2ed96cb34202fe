//! Counters of the IKE endpoint (shown by `esprit status`).

/// Why messages were dropped, and what happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub retransmits: u64,
    pub malformed: u64,
    pub unknown_spi: u64,
    pub bad_message_id: u64,
    pub decrypt_failed: u64,
    pub retransmitted_requests: u64,
    pub auth_failed: u64,
    pub no_proposal: u64,
    pub ts_unacceptable: u64,
    pub cookies_sent: u64,
    pub invalid_ke: u64,
    pub ike_established: u64,
    pub child_established: u64,
    pub rekeys: u64,
    pub dead_peers: u64,
    /// Encrypted fragments (RFC 7383) sent and received.
    pub fragments_sent: u64,
    pub fragments_received: u64,
    /// Half-open responder SAs dropped after `half_open_timeout`.
    pub half_open_expired: u64,
    /// Half-open SAs dropped to make room under `half_open_limit`.
    pub half_open_evicted: u64,
    /// IKE_SA_INIT requests dropped: their address had `half_open_per_ip`
    /// half-open SAs.
    pub half_open_refused: u64,
    /// CHILD_SA rekeys, either side initiating (also counted in `rekeys`).
    pub child_rekeys: u64,
    /// IKE SA rekeys, either side initiating (also counted in `rekeys`).
    pub ike_rekeys: u64,
    /// IKE SAs deleted at shutdown, and those whose peer did not answer.
    pub closed: u64,
    pub close_unanswered: u64,
}
