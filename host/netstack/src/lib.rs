//! esprit's *inner sides*: where plain inner IP packets come from and go to.
//!
//! * [`tun`] — a kernel TUN device (needs root or `CAP_NET_ADMIN`): whole IP
//!   packets in and out of a non-blocking fd, addresses, MTU and routes set up
//!   on creation and removed on drop.
//! * [`Netstack`] — a rootless userspace TCP/IP stack (smoltcp, medium IP) that
//!   owns the inner address and turns ordinary OS sockets into inner packets:
//!   port `forward`s, `expose`d local services and a SOCKS5 server (RFC 1928).
//!
//! Neither knows anything about IPsec: the data plane hands decrypted inner
//! packets in ([`Netstack::receive_inner`]) and takes packets to protect out
//! ([`Netstack::poll_outbound`]).
#![deny(unsafe_code)]

mod config;
mod device;
mod netstack;
mod ports;
pub mod socks5;
mod socks_udp;
mod tcp_bridge;
pub mod tun;
pub mod tun_batch;
mod udp_expose;
mod udp_forward;
pub mod vnet;

pub use config::{Expose, Forward, NetstackConfig, Proto};
pub use netstack::{Netstack, NetstackStats};
pub use tun::{Tun, TunConfig, TunError};
