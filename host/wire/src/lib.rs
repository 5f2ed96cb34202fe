//! Zero-copy checked views and `Repr`s for the IPsec wire formats, in the
//! smoltcp style (`Packet<T: AsRef<[u8]>>` + `new_checked`, `Repr` with
//! `parse` / `buffer_len` / `emit`, byte ranges in a `field` module).
//!
//! - [`esp`]: the ESP header (RFC 4303 §2).
//! - [`ah`]: the Authentication Header (RFC 4302 §2).
//! - [`udp_encap`]: classification of UDP/4500 payloads (RFC 3948 §2).
//!
//! IPv4/IPv6/UDP headers come from `smoltcp::wire`, re-exported as [`ip`].
#![deny(unsafe_code)]

pub mod ah;
pub mod esp;
pub mod udp_encap;

/// IP headers (RFC 791, RFC 8200) as implemented by smoltcp.
pub mod ip {
    pub use smoltcp::wire::{
        IpProtocol, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet, UdpPacket,
    };
}

/// The IPsec protocol of an SA (RFC 4301 §4.1): one vocabulary for the
/// engine (`esprit_esp::Protocol`), the SPD/SAD (`esprit_sadb::decider::IpsecProto`)
/// and the data plane. IKE's payload protocol ids (RFC 7296 §3.3.1) differ
/// and convert to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpsecProtocol {
    /// Encapsulating Security Payload, IP protocol 50 (RFC 4303).
    Esp,
    /// Authentication Header, IP protocol 51 (RFC 4302).
    Ah,
}

impl IpsecProtocol {
    /// The IP protocol number.
    pub const fn ip_protocol(self) -> u8 {
        match self {
            IpsecProtocol::Esp => 50,
            IpsecProtocol::Ah => 51,
        }
    }
}

/// Encapsulation mode (RFC 4301 §4.1), shared by the engine, the SPD/SAD and IKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Transport,
    Tunnel,
}

/// What was wrong with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header it must hold.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// A length field is inconsistent with the buffer or the protocol.
    #[error("bad length field")]
    BadLength,
    /// A field holds a value the protocol forbids (e.g. SPI 0 in ESP).
    #[error("bad field value")]
    BadValue,
}

pub type Result<T> = core::result::Result<T, Error>;

/// Security Parameters Index (RFC 4301 §4.1; RFC 4303 §2.1). SPI 0 is
/// reserved for local use and never appears on the wire; 1..=255 are reserved
/// by IANA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

/// The 32 bits of a sequence number carried on the wire (RFC 4303 §2.2).
/// With extended sequence numbers the high 32 bits are implied (RFC 4303 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqNum(pub u32);

#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
pub(crate) fn check(need: usize, have: usize) -> Result<()> {
    if have < need {
        Err(Error::Truncated { need, have })
    } else {
        Ok(())
    }
}
