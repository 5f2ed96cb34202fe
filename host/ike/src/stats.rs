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
}
