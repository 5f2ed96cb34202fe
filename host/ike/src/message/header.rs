//! The IKE header (RFC 7296 §3.1).
use crate::message::ParseError;
use crate::types::{flags, ExchangeType, IkeSpi};

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;

/// A decoded IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub next_payload: u8,
    pub major: u8,
    pub minor: u8,
    pub exchange: ExchangeType,
    pub flags: u8,
    pub message_id: u32,
    pub length: u32,
}

impl Header {
    /// The I(nitiator) flag: set by the original initiator of the IKE SA.
    pub fn is_initiator(&self) -> bool {
        self.flags & flags::INITIATOR != 0
    }
    /// The R(esponse) flag.
    pub fn is_response(&self) -> bool {
        self.flags & flags::RESPONSE != 0
    }

    /// Parses the header; checks only the framing (the caller checks the version).
    pub fn parse(b: &[u8]) -> Result<Header, ParseError> {
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated { what: "IKE header", need: HEADER_LEN, have: b.len() });
        }
        let mut spi_i = [0u8; 8];
        spi_i.copy_from_slice(&b[0..8]);
        let mut spi_r = [0u8; 8];
        spi_r.copy_from_slice(&b[8..16]);
        let length = u32::from_be_bytes([b[24], b[25], b[26], b[27]]);
        if (length as usize) < HEADER_LEN || length as usize > b.len() {
            return Err(ParseError::BadLength { what: "IKE header", length: length as usize, have: b.len() });
        }
        Ok(Header {
            spi_i: IkeSpi(spi_i),
            spi_r: IkeSpi(spi_r),
            next_payload: b[16],
            major: b[17] >> 4,
            minor: b[17] & 0x0f,
            exchange: ExchangeType::from_u8(b[18]),
            flags: b[19],
            message_id: u32::from_be_bytes([b[20], b[21], b[22], b[23]]),
            length,
        })
    }

    /// Writes the header; `length` is the whole message length.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.0);
        out.extend_from_slice(&self.spi_r.0);
        out.push(self.next_payload);
        out.push((self.major << 4) | (self.minor & 0x0f));
        out.push(self.exchange.to_u8());
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let h = Header {
            spi_i: IkeSpi([1; 8]),
            spi_r: IkeSpi::ZERO,
            next_payload: 33,
            major: 2,
            minor: 0,
            exchange: ExchangeType::IkeSaInit,
            flags: flags::INITIATOR,
            message_id: 0,
            length: 28,
        };
        let mut v = Vec::new();
        h.emit(&mut v);
        assert_eq!(Header::parse(&v).unwrap(), h);
        for n in 0..28 {
            assert!(Header::parse(&v[..n]).is_err());
        }
        let mut bad = v.clone();
        bad[27] = 29;
        assert!(matches!(Header::parse(&bad), Err(ParseError::BadLength { .. })));
    }
}
