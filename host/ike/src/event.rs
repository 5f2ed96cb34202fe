//! What the endpoint asks its host to do: send datagrams, install and
//! remove CHILD_SAs, and report IKE SA state.
use std::net::{Ipv4Addr, SocketAddr};

use zeroize::Zeroizing;

use crate::config::Mode;
use crate::message::{Identity, TrafficSelector};
use crate::proposal::ChildAlgs;
use crate::types::Spi;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address and port to send from (the port says which socket).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Prefix the 4-byte non-ESP marker (RFC 3948 §2.2): on NAT-T ports.
    pub non_esp_marker: bool,
    pub data: Vec<u8>,
}

/// Whether a message from `local` to `remote` carries the non-ESP marker
/// (RFC 3948 §2.2): only between NAT-T sockets, where IKE shares the port
/// with ESP-in-UDP. Ours is known (`local` on the NAT-T port); the peer's is
/// not port 500 (its IKE-only socket, e.g. an initiator without a port-500
/// socket starting from our NAT-T port to the peer's 500). A NAT may map a
/// peer's port 500 to any port, so a request that reached our port 500 is
/// answered from it without a marker, whatever the peer's port looks like.
pub fn uses_non_esp_marker(local: SocketAddr, remote: SocketAddr, natt_port: u16) -> bool {
    local.port() == natt_port && natt_port != 500 && remote.port() != 500
}

/// A negotiated CHILD_SA pair to install. Cloned by a host that installs
/// it in several places (the daemon's data plane replicas); the keys of
/// every copy are zeroized when it is dropped.
#[derive(Clone)]
pub struct ChildSaUp {
    pub conn: String,
    pub child: String,
    /// Stable per CHILD_SA lineage (kept across rekeys).
    pub reqid: u32,
    pub mode: Mode,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// ESP in UDP (NAT detected).
    pub encap: bool,
    pub spi_in: Spi,
    pub spi_out: Spi,
    pub algs: ChildAlgs,
    /// Inbound keys: encryption (AEAD: key | 4-byte salt) and integrity.
    pub enc_in: Zeroizing<Vec<u8>>,
    pub integ_in: Zeroizing<Vec<u8>>,
    pub enc_out: Zeroizing<Vec<u8>>,
    pub integ_out: Zeroizing<Vec<u8>>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// The inbound SPI of the SA this one replaces (rekey).
    pub replaces: Option<Spi>,
    /// We answered the rekey that created it: install both SAs but keep
    /// sending on the replaced SA until [`Event::ChildOutbound`] (the peer
    /// installs its inbound SA only when our answer arrives; RFC 7296 §2.8,
    /// make-before-break as strongSwan's `child_rekey.c`).
    pub defer_outbound: bool,
}

impl std::fmt::Debug for ChildSaUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSaUp")
            .field("conn", &self.conn)
            .field("child", &self.child)
            .field("spi_in", &format_args!("{:08x}", self.spi_in))
            .field("spi_out", &format_args!("{:08x}", self.spi_out))
            .field("algs", &self.algs.name())
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .field("replaces", &self.replaces)
            .field("defer_outbound", &self.defer_outbound)
            .finish_non_exhaustive()
    }
}

/// Something the host should act on or log.
#[derive(Debug)]
pub enum Event {
    /// An IKE SA is authenticated and usable.
    IkeUp { conn: String, local: SocketAddr, remote: SocketAddr, peer_id: Identity, algs: String, rekeyed: bool },
    /// An IKE SA is gone (deleted, failed, dead peer).
    IkeDown { conn: String, remote: SocketAddr, reason: String },
    /// Install this CHILD_SA.
    ChildUp(ChildSaUp),
    /// Send on this CHILD_SA's outbound SA from now on (it was installed
    /// with `defer_outbound`): the peer deleted the SA it replaces, its
    /// first packet arrived on the new inbound SA, or the fallback ran out.
    ChildOutbound { conn: String, child: String, reqid: u32, spi_in: Spi, spi_out: Spi, why: &'static str },
    /// Remove this CHILD_SA (both SPIs).
    ChildDown { conn: String, child: String, reqid: u32, spi_in: Spi, spi_out: Spi, local: SocketAddr, remote: SocketAddr },
    /// Establishing failed before any CHILD_SA existed (OE falls back on this).
    SetupFailed { conn: String, remote: SocketAddr, reason: String },
    /// The responder assigned us a virtual IP.
    VirtualIp { conn: String, addr: Ipv4Addr },
}

#[cfg(test)]
mod tests {
    use super::uses_non_esp_marker;
    use std::net::SocketAddr;

    #[test]
    fn the_marker_follows_our_port_not_the_peers() {
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let peer = |p: u16| SocketAddr::new("198.51.100.7".parse().unwrap(), p);
        // An answer from port 500 to a NATed initiator's translated port: none.
        assert!(!uses_non_esp_marker(a("192.0.2.2:500"), peer(31000), 4500));
        // Between NAT-T sockets, whatever port a NAT gave the peer: always.
        assert!(uses_non_esp_marker(a("192.0.2.2:4500"), peer(4500), 4500));
        assert!(uses_non_esp_marker(a("192.0.2.2:4500"), peer(31001), 4500));
        assert!(uses_non_esp_marker(a("192.0.2.2:4501"), peer(4501), 4501));
        // From our NAT-T port to the peer's IKE-only port 500 (no port-500
        // socket here, e.g. netstack mode): none.
        assert!(!uses_non_esp_marker(a("192.0.2.2:4500"), peer(500), 4500));
        // Raw ESP outer (no NAT-T port besides 500): never.
        assert!(!uses_non_esp_marker(a("192.0.2.2:500"), peer(500), 500));
        // A second IKE-only port: none.
        assert!(!uses_non_esp_marker(a("192.0.2.2:5000"), peer(4500), 4500));
    }
}
