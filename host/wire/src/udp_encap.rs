//! UDP encapsulation of ESP on port 4500 (RFC 3948 §2).
//!
//! A UDP/4500 payload is one of:
//! - a NAT-keepalive: exactly one byte 0xFF (RFC 3948 §2.3);
//! - an IKE message, after the 4-byte non-ESP marker of zeros (RFC 3948 §2.2);
//! - an ESP packet, whose first four bytes are its SPI, never zero (§2.1).
use crate::{check, esp, Error, Result};

/// UDP port for ESP-in-UDP and IKE after NAT detection (RFC 3948 §2).
pub const PORT: u16 = 4500;

/// The non-ESP marker that prefixes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0, 0, 0, 0];

/// The NAT-keepalive payload (RFC 3948 §2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// What a UDP/4500 payload carries; borrows the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A NAT-keepalive; to be dropped by the receiver.
    Keepalive,
    /// An IKE message, with the non-ESP marker removed.
    Ike(&'a [u8]),
    /// An ESP packet (starting at the SPI) with at least a full ESP header.
    Esp(&'a [u8]),
}

/// Classifies a UDP/4500 payload (RFC 3948 §2).
pub fn classify(payload: &[u8]) -> Result<Payload<'_>> {
    if payload == KEEPALIVE {
        return Ok(Payload::Keepalive);
    }
    check(NON_ESP_MARKER.len(), payload.len())?;
    if payload[..4] == NON_ESP_MARKER {
        if payload.len() == 4 {
            // A marker with nothing behind it is neither IKE nor ESP.
            return Err(Error::BadLength);
        }
        return Ok(Payload::Ike(&payload[4..]));
    }
    esp::Packet::new_checked(payload)?;
    Ok(Payload::Esp(payload))
}

/// Writes `NON_ESP_MARKER || ike` into `out`, returning the used part.
pub fn emit_ike<'a>(ike: &[u8], out: &'a mut [u8]) -> Result<&'a mut [u8]> {
    let len = NON_ESP_MARKER.len() + ike.len();
    check(len, out.len())?;
    out[..4].copy_from_slice(&NON_ESP_MARKER);
    out[4..len].copy_from_slice(ike);
    Ok(&mut out[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive() {
        assert_eq!(classify(&[0xff]).unwrap(), Payload::Keepalive);
    }

    #[test]
    fn ike() {
        let b = [0, 0, 0, 0, 0x11, 0x22];
        assert_eq!(classify(&b).unwrap(), Payload::Ike(&[0x11, 0x22]));
        let mut out = [0u8; 6];
        assert_eq!(emit_ike(&[0x11, 0x22], &mut out).unwrap(), &b[..]);
        assert!(emit_ike(&[0x11, 0x22], &mut [0u8; 5]).is_err());
    }

    #[test]
    fn esp() {
        let b = [0, 0, 1, 0, 0, 0, 0, 1, 0xaa];
        assert_eq!(classify(&b).unwrap(), Payload::Esp(&b));
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(classify(&[]), Err(Error::Truncated { .. })));
        assert!(matches!(classify(&[0xfe]), Err(Error::Truncated { .. })));
        assert!(matches!(classify(&[0xff, 0xff]), Err(Error::Truncated { .. })));
        assert!(matches!(classify(&[0, 0, 0]), Err(Error::Truncated { .. })));
        assert_eq!(classify(&[0, 0, 0, 0]), Err(Error::BadLength));
        // ESP with a truncated header.
        for n in 4..8 {
            let b = [0, 0, 1, 0, 0, 0, 0, 1];
            assert!(matches!(classify(&b[..n]), Err(Error::Truncated { .. })), "len {n}");
        }
    }
}
