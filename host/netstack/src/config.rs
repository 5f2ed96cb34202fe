//! Configuration of a [`crate::Netstack`].

use std::net::{IpAddr, SocketAddr};

/// Transport protocol of a forward or an exposed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// `forward`: a local OS listener whose connections (TCP) or datagrams (UDP)
/// are carried to `remote`, an address reachable through the inner network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub proto: Proto,
    /// Local OS address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Inner destination, e.g. `198.51.100.7:80`.
    pub remote: SocketAddr,
}

/// `expose`: peers reach `inner-address:port` and each accepted connection is
/// joined to a fresh OS TCP connection to `local`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    pub proto: Proto,
    /// Inner port peers connect to.
    pub port: u16,
    /// Local OS service, e.g. `127.0.0.1:8000`.
    pub local: SocketAddr,
}

/// Everything a [`crate::Netstack`] needs. All buffers derived from it are
/// bounded; see the field docs.
#[derive(Debug, Clone)]
pub struct NetstackConfig {
    /// Inner addresses with prefix length (at most one IPv4 and one IPv6).
    pub addresses: Vec<(IpAddr, u8)>,
    /// Inner MTU: the largest inner packet emitted (ESP overhead is the
    /// caller's business: pass the path MTU minus the SA's overhead).
    pub mtu: usize,
    pub forwards: Vec<Forward>,
    pub exposes: Vec<Expose>,
    /// SOCKS5 listener (RFC 1928), e.g. `127.0.0.1:1080`.
    pub socks5: Option<SocketAddr>,
    /// Size of each of the two smoltcp buffers (rx and tx) of one TCP
    /// connection; this bounds the memory of a connection.
    pub tcp_buffer: usize,
    /// Maximum number of concurrent TCP connections (all kinds together);
    /// beyond it local connections are accepted and reset at once, and inner
    /// SYNs are refused with RST (both counted as `tcp_limited`).
    pub max_connections: usize,
    /// Listening smoltcp sockets kept ready per exposed port (the accept
    /// backlog for SYNs arriving in the same batch).
    pub listen_backlog: usize,
    /// Capacity, in packets, of the inbound queue (`receive_inner`) and of the
    /// outbound queue (`poll_outbound`). A full inbound queue drops packets
    /// (counted); a full outbound queue makes smoltcp hold its segments.
    pub packet_queue: usize,
    /// Maximum number of UDP sessions per UDP forward, and their idle timeout.
    pub udp_max_sessions: usize,
    pub udp_idle_timeout: std::time::Duration,
}

impl Default for NetstackConfig {
    fn default() -> Self {
        NetstackConfig {
            addresses: Vec::new(),
            mtu: 1400,
            forwards: Vec::new(),
            exposes: Vec::new(),
            socks5: None,
            tcp_buffer: 64 * 1024,
            max_connections: 1024,
            listen_backlog: 16,
            packet_queue: 512,
            udp_max_sessions: 256,
            udp_idle_timeout: std::time::Duration::from_secs(60),
        }
    }
}
