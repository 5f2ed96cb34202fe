//! The ESP header (RFC 4303 §2).
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        IV, Payload, Padding, Pad Length, Next Header, ICV ... |
//! ```
//!
//! Everything after the sequence number is transform-specific and (apart from
//! the IV and ICV) encrypted, so this view covers the header and exposes the
//! rest as one opaque payload slice; the ESP engine splits it.
use crate::{be32, check, Error, Result, SeqNum, Spi};

/// Byte ranges of the ESP header.
pub mod field {
    use core::ops::{Range, RangeFrom};
    pub const SPI: Range<usize> = 0..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// Length of the ESP header (SPI + sequence number).
pub const HEADER_LEN: usize = 8;

/// Length of the ESP trailer fields inside the ciphertext (Pad Length + Next
/// Header, RFC 4303 §2.5, §2.6).
pub const TRAILER_LEN: usize = 2;

/// A checked view of an ESP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Checks that the buffer holds a full header and that the SPI is not 0
    /// (RFC 4303 §2.1: SPI 0 is reserved and must not be sent).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        if p.spi().0 == 0 {
            return Err(Error::BadValue);
        }
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        check(HEADER_LEN, self.buffer.as_ref().len())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn spi(&self) -> Spi {
        Spi(be32(&self.buffer.as_ref()[field::SPI]))
    }

    pub fn seq(&self) -> SeqNum {
        SeqNum(be32(&self.buffer.as_ref()[field::SEQ]))
    }

    /// IV, encrypted payload and trailer, and ICV.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_spi(&mut self, spi: Spi) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.0.to_be_bytes());
    }
    pub fn set_seq(&mut self, seq: SeqNum) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&seq.0.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The ESP header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub spi: Spi,
    pub seq: SeqNum,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr { spi: packet.spi(), seq: packet.seq() })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_spi(self.spi);
        packet.set_seq(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACKET: [u8; 12] = [0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x05, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn parse() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.spi(), Spi(0x1234));
        assert_eq!(p.seq(), SeqNum(5));
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(Repr::parse(&p).unwrap(), Repr { spi: Spi(0x1234), seq: SeqNum(5) });
    }

    #[test]
    fn emit() {
        let repr = Repr { spi: Spi(0x1234), seq: SeqNum(5) };
        let mut buf = [0u8; 12];
        buf[8..].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p);
        assert_eq!(repr.buffer_len(), 8);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&PACKET[..n]).unwrap_err(),
                Error::Truncated { need: 8, have: n }
            );
        }
        assert!(Packet::new_checked(&PACKET[..HEADER_LEN]).is_ok());
    }

    #[test]
    fn spi_zero_rejected() {
        let mut b = PACKET;
        b[..4].fill(0);
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadValue);
    }
}
