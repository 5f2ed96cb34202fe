//! Zero-copy checked views and `Repr`s for the IPsec wire formats, in the
//! smoltcp style (`Packet<T: AsRef<[u8]>>` + `new_checked`, `Repr` with
//! `parse` / `buffer_len` / `emit`, byte ranges in a `field` module).
//!
//! - [`esp`]: the ESP header (RFC 4303 §2).
//! - [`ah`]: the Authentication Header (RFC 4302 §2).
//! - [`udp_encap`]: classification of UDP/4500 payloads (RFC 3948 §2).
//! - [`checksum`]: the Internet checksum (RFC 1071).
//!
//! IPv4/IPv6/UDP headers come from `smoltcp::wire`, re-exported as [`ip`].
#![deny(unsafe_code)]

pub mod ah;
pub mod checksum;
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

    /// The name setkey(8), the status and the logs use: `esp` or `ah`.
    pub const fn name(self) -> &'static str {
        match self {
            IpsecProtocol::Esp => "esp",
            IpsecProtocol::Ah => "ah",
        }
    }
}

/// Encapsulation mode (RFC 4301 §4.1), shared by the engine, the SPD/SAD and IKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Transport,
    Tunnel,
}

impl Mode {
    /// The name setkey(8), the configuration and the status use:
    /// `transport` or `tunnel`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Transport => "transport",
            Mode::Tunnel => "tunnel",
        }
    }
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

/// Security Parameters Index of an ESP or AH SA (RFC 4301 §4.1; RFC 4303
/// §2.1; RFC 4302 §2.4), the one type for it across the engine, the SAD, IKE's
/// CHILD_SAs and the daemon. SPI 0 is reserved for local use and never appears
/// on the wire; 1..=255 are reserved by IANA. The 8-byte IKE SA SPIs
/// (RFC 7296 §3.1) are a different thing (`esprit_ike::IkeSpi`).
///
/// `Display` and `Debug` print `0x` and eight hex digits; `LowerHex` and
/// `UpperHex` format the number itself, so `{:08x}` and `{:#010x}` print what
/// they print for a `u32`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl Spi {
    /// The SPI `v`, or `None` for 0 (reserved for local use, RFC 4303 §2.1).
    pub const fn new(v: u32) -> Option<Spi> {
        if v == 0 {
            None
        } else {
            Some(Spi(v))
        }
    }

    /// The SPI as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The SPI in network byte order, as it is carried in ESP and AH headers
    /// and in IKE proposals and DELETE payloads (RFC 7296 §3.3.1, §3.11).
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The SPI from four bytes in network byte order.
    pub const fn from_be_bytes(b: [u8; 4]) -> Spi {
        Spi(u32::from_be_bytes(b))
    }
}

impl From<u32> for Spi {
    fn from(v: u32) -> Spi {
        Spi(v)
    }
}

impl From<Spi> for u32 {
    fn from(s: Spi) -> u32 {
        s.0
    }
}

impl core::fmt::Display for Spi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl core::fmt::Debug for Spi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::LowerHex for Spi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::LowerHex::fmt(&self.0, f)
    }
}

impl core::fmt::UpperHex for Spi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::UpperHex::fmt(&self.0, f)
    }
}

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

#[cfg(test)]
mod tests {
    use super::{IpsecProtocol, Mode, Spi};

    #[test]
    fn spi_formats_as_before() {
        let s = Spi(0x1234);
        assert_eq!(s.to_string(), "0x00001234");
        assert_eq!(format!("{s:?}"), "0x00001234");
        assert_eq!(format!("{s:08x}"), "00001234");
        assert_eq!(format!("{s:#010x}"), "0x00001234");
        assert_eq!(format!("{s:08X}"), "00001234");
        assert_eq!(Spi(0xdead_beef).to_string(), "0xdeadbeef");
    }

    #[test]
    fn protocol_and_mode_names() {
        assert_eq!((IpsecProtocol::Esp.name(), IpsecProtocol::Ah.name()), ("esp", "ah"));
        assert_eq!((Mode::Transport.name(), Mode::Tunnel.name()), ("transport", "tunnel"));
    }

    #[test]
    fn spi_conversions() {
        assert_eq!(Spi::new(0), None);
        assert_eq!(Spi::new(7), Some(Spi(7)));
        assert_eq!(Spi::from(0x0102_0304).to_be_bytes(), [1, 2, 3, 4]);
        assert_eq!(Spi::from_be_bytes([1, 2, 3, 4]).get(), 0x0102_0304);
        assert_eq!(u32::from(Spi(9)), 9);
    }
}
