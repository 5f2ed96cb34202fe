//! The Authentication Header (RFC 4302 §2).
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header   |  Payload Len  |          RESERVED             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Security Parameters Index (SPI)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Sequence Number Field                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Integrity Check Value-ICV (variable)           |
//! ```
//!
//! Payload Len is the AH length in 32-bit words minus 2 (RFC 4302 §2.2). The
//! ICV field is padded so that the whole header is a multiple of 32 bits for
//! IPv4 and of 64 bits for IPv6 (RFC 4302 §2.6).
use crate::{be32, check, Error, Result, SeqNum, Spi};

/// Byte ranges of the AH header.
pub mod field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: Range<usize> = 2..4;
    pub const SPI: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const ICV_START: usize = 12;
}

/// Length of the fixed part of AH (everything but the ICV field).
pub const FIXED_LEN: usize = 12;

/// Length of the ICV field for an ICV of `icv_len` bytes, including the padding
/// that aligns the header to 4 bytes (IPv4) or 8 bytes (IPv6) (RFC 4302 §2.6).
pub const fn icv_field_len(icv_len: usize, ipv6: bool) -> usize {
    let align = if ipv6 { 8 } else { 4 };
    let total = (FIXED_LEN + icv_len).div_ceil(align) * align;
    total - FIXED_LEN
}

/// A checked view of an AH header followed by its payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Checks the fixed part, that the header length is a multiple of 4 bytes
    /// of at least 12, and that the buffer holds the whole header; SPI 0 is
    /// rejected (RFC 4302 §2.4).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        if p.spi().0 == 0 {
            return Err(Error::BadValue);
        }
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check(FIXED_LEN, len)?;
        // Payload Len 0 would make the header 8 bytes, shorter than its
        // fixed fields (RFC 4302 §2.2).
        if self.header_len() < FIXED_LEN {
            return Err(Error::BadLength);
        }
        check(self.header_len(), len)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The raw Payload Len field (32-bit words minus 2).
    pub fn payload_len(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_LEN]
    }

    /// Length of the whole AH header in bytes, `(payload_len + 2) * 4`.
    pub fn header_len(&self) -> usize {
        (usize::from(self.payload_len()) + 2) * 4
    }

    pub fn reserved(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::RESERVED];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn spi(&self) -> Spi {
        Spi(be32(&self.buffer.as_ref()[field::SPI]))
    }

    pub fn seq(&self) -> SeqNum {
        SeqNum(be32(&self.buffer.as_ref()[field::SEQ]))
    }

    /// The ICV field including any alignment padding.
    pub fn icv(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ICV_START..self.header_len()]
    }

    /// What AH protects after its header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }
    pub fn set_payload_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PAYLOAD_LEN] = v;
    }
    pub fn set_reserved(&mut self, v: u16) {
        self.buffer.as_mut()[field::RESERVED].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_spi(&mut self, spi: Spi) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.0.to_be_bytes());
    }
    pub fn set_seq(&mut self, seq: SeqNum) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&seq.0.to_be_bytes());
    }
    pub fn icv_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::ICV_START..end]
    }
}

/// The AH header fields. `icv_field_len` is the ICV length including padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub next_header: u8,
    pub spi: Spi,
    pub seq: SeqNum,
    pub icv_field_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            next_header: packet.next_header(),
            spi: packet.spi(),
            seq: packet.seq(),
            icv_field_len: packet.header_len() - FIXED_LEN,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        FIXED_LEN + self.icv_field_len
    }

    /// Writes the header with a zeroed ICV field (the ICV is computed over the
    /// packet with this field zero, RFC 4302 §3.3.3.1).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let len = self.buffer_len();
        if !len.is_multiple_of(4) || len / 4 < 3 || len / 4 - 2 > 255 {
            return Err(Error::BadLength);
        }
        check(len, packet.buffer.as_ref().len())?;
        packet.set_next_header(self.next_header);
        packet.set_payload_len((len / 4 - 2) as u8);
        packet.set_reserved(0);
        packet.set_spi(self.spi);
        packet.set_seq(self.seq);
        packet.icv_mut().fill(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // AH over TCP with a 16-byte ICV (HMAC-SHA-256-128): payload len 5 (7 words).
    static PACKET: [u8; 30] = [
        0x06, 0x05, 0x00, 0x00, // next header, payload len, reserved
        0x00, 0x00, 0x10, 0x01, // SPI
        0x00, 0x00, 0x00, 0x02, // seq
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // ICV
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, //
        0xde, 0xad, // payload
    ];

    #[test]
    fn parse() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.next_header(), 6);
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.spi(), Spi(0x1001));
        assert_eq!(p.seq(), SeqNum(2));
        assert_eq!(p.icv(), &PACKET[12..28]);
        assert_eq!(p.payload(), &[0xde, 0xad]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, Repr { next_header: 6, spi: Spi(0x1001), seq: SeqNum(2), icv_field_len: 16 });
    }

    #[test]
    fn emit_zeroes_icv() {
        let r = Repr { next_header: 6, spi: Spi(0x1001), seq: SeqNum(2), icv_field_len: 16 };
        let mut buf = [0xffu8; 30];
        buf[28..].copy_from_slice(&[0xde, 0xad]);
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        let mut expect = PACKET;
        expect[12..28].fill(0);
        assert_eq!(buf, expect);
    }

    #[test]
    fn icv_alignment() {
        // RFC 4302 §2.6: 32-bit alignment for IPv4, 64-bit for IPv6.
        assert_eq!(icv_field_len(16, false), 16);
        assert_eq!(icv_field_len(16, true), 20);
        assert_eq!(icv_field_len(24, false), 24);
        assert_eq!(icv_field_len(24, true), 28);
        assert_eq!(icv_field_len(32, false), 32);
        assert_eq!(icv_field_len(32, true), 36);
        assert_eq!(icv_field_len(12, true), 12);
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..28 {
            assert!(
                matches!(Packet::new_checked(&PACKET[..n]), Err(Error::Truncated { .. })),
                "len {n}"
            );
        }
        assert!(Packet::new_checked(&PACKET[..28]).is_ok());
    }

    #[test]
    fn bad_payload_len() {
        let mut b = PACKET;
        b[1] = 0; // 8-byte header: shorter than the fixed fields
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);
        b[1] = 200; // longer than the buffer
        assert!(matches!(Packet::new_checked(&b[..]), Err(Error::Truncated { .. })));
    }

    #[test]
    fn spi_zero_rejected() {
        let mut b = PACKET;
        b[4..8].fill(0);
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadValue);
    }

    #[test]
    fn emit_into_short_buffer() {
        let r = Repr { next_header: 6, spi: Spi(1), seq: SeqNum(1), icv_field_len: 16 };
        let mut buf = [0u8; 20];
        assert!(r.emit(&mut Packet::new_unchecked(&mut buf[..])).is_err());
        let r = Repr { icv_field_len: 3, ..r };
        let mut buf = [0u8; 40];
        assert_eq!(r.emit(&mut Packet::new_unchecked(&mut buf[..])), Err(Error::BadLength));
    }
}
