//! Inbound demultiplexing: which SA does an outer packet belong to
//! (RFC 4301 §4.1: the SPI, with the protocol, selects the SA).
use crate::{ip, DropReason, Protocol, Spi};

/// Finds the ESP or AH header of a full outer IP packet and returns its
/// protocol and SPI. Fragments give [`DropReason::Fragment`], other protocols
/// [`DropReason::NotIpsec`].
pub fn peek_spi(packet: &[u8]) -> Result<(Protocol, Spi), DropReason> {
    let l = ip::locate_ipsec(packet)?;
    let ipsec = &packet[l.hdr_len..l.total_len];
    let (proto, off) = match l.proto {
        ip::PROTO_ESP => (Protocol::Esp, 0),
        _ => (Protocol::Ah, 4),
    };
    let Some(b) = ipsec.get(off..off + 4) else { return Err(DropReason::Truncated) };
    let Some(spi) = Spi::new(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { return Err(DropReason::UnknownSpi) };
    Ok((proto, spi))
}
