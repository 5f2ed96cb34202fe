//! The payload chain (RFC 7296 §3.2) and payload bodies.
use crate::message::sa::{emit_sa, parse_sa, Proposal};
use crate::message::ts::{emit_ts, parse_ts, TrafficSelector};
use crate::message::{Identity, ParseError, Reader};
use crate::types::payload_type as pt;

/// A Notify payload (RFC 7296 §3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// 0 for IKE SA notifies.
    pub protocol: u8,
    pub spi: Vec<u8>,
    pub ntype: u16,
    pub data: Vec<u8>,
}

impl Notify {
    pub fn new(ntype: u16, data: Vec<u8>) -> Notify {
        Notify { protocol: 0, spi: Vec::new(), ntype, data }
    }
}

/// A Configuration payload (RFC 7296 §3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cp {
    /// 1 = CFG_REQUEST, 2 = CFG_REPLY, 3 = CFG_SET, 4 = CFG_ACK.
    pub cfg_type: u8,
    pub attrs: Vec<(u16, Vec<u8>)>,
}

pub const CFG_REQUEST: u8 = 1;
pub const CFG_REPLY: u8 = 2;
pub const INTERNAL_IP4_ADDRESS: u16 = 1;
pub const INTERNAL_IP4_NETMASK: u16 = 2;
pub const INTERNAL_IP4_DNS: u16 = 3;
pub const INTERNAL_IP6_ADDRESS: u16 = 8;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(Vec<Proposal>),
    Ke { group: u16, data: Vec<u8> },
    IdI(Identity),
    IdR(Identity),
    Cert { encoding: u8, data: Vec<u8> },
    CertReq { encoding: u8, data: Vec<u8> },
    Auth { method: u8, data: Vec<u8> },
    Nonce(Vec<u8>),
    Notify(Notify),
    Delete { protocol: u8, spi_size: u8, spis: Vec<Vec<u8>> },
    Vendor(Vec<u8>),
    TsI(Vec<TrafficSelector>),
    TsR(Vec<TrafficSelector>),
    Cp(Cp),
    /// Encrypted and authenticated (its body is the IV, ciphertext and ICV);
    /// `inner` is the type of the first inner payload.
    Sk { inner: u8, body: Vec<u8> },
    /// Encrypted fragment (RFC 7383 §2.5).
    Skf { inner: u8, number: u16, total: u16, body: Vec<u8> },
    /// A non-critical payload we do not know (skipped, RFC 7296 §2.5).
    Unknown { ptype: u8, body: Vec<u8> },
}

impl Payload {
    pub fn ptype(&self) -> u8 {
        match self {
            Payload::Sa(_) => pt::SA,
            Payload::Ke { .. } => pt::KE,
            Payload::IdI(_) => pt::IDI,
            Payload::IdR(_) => pt::IDR,
            Payload::Cert { .. } => pt::CERT,
            Payload::CertReq { .. } => pt::CERTREQ,
            Payload::Auth { .. } => pt::AUTH,
            Payload::Nonce(_) => pt::NONCE,
            Payload::Notify(_) => pt::NOTIFY,
            Payload::Delete { .. } => pt::DELETE,
            Payload::Vendor(_) => pt::VENDOR,
            Payload::TsI(_) => pt::TSI,
            Payload::TsR(_) => pt::TSR,
            Payload::Cp(_) => pt::CP,
            Payload::Sk { .. } => pt::SK,
            Payload::Skf { .. } => pt::SKF,
            Payload::Unknown { ptype, .. } => *ptype,
        }
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Sa(p) => emit_sa(p, out),
            Payload::Ke { group, data } => {
                out.extend_from_slice(&group.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(data);
            }
            Payload::IdI(id) | Payload::IdR(id) => out.extend_from_slice(&id.body()),
            Payload::Cert { encoding, data } | Payload::CertReq { encoding, data } => {
                out.push(*encoding);
                out.extend_from_slice(data);
            }
            Payload::Auth { method, data } => {
                out.extend_from_slice(&[*method, 0, 0, 0]);
                out.extend_from_slice(data);
            }
            Payload::Nonce(n) | Payload::Vendor(n) => out.extend_from_slice(n),
            Payload::Notify(n) => {
                out.push(n.protocol);
                out.push(n.spi.len() as u8);
                out.extend_from_slice(&n.ntype.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Payload::Delete { protocol, spi_size, spis } => {
                out.push(*protocol);
                out.push(*spi_size);
                out.extend_from_slice(&(spis.len() as u16).to_be_bytes());
                for s in spis {
                    out.extend_from_slice(s);
                }
            }
            Payload::TsI(t) | Payload::TsR(t) => emit_ts(t, out),
            Payload::Cp(cp) => {
                out.extend_from_slice(&[cp.cfg_type, 0, 0, 0]);
                for (t, v) in &cp.attrs {
                    out.extend_from_slice(&(t & 0x7fff).to_be_bytes());
                    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
            Payload::Sk { body, .. } | Payload::Unknown { body, .. } => out.extend_from_slice(body),
            Payload::Skf { number, total, body, .. } => {
                out.extend_from_slice(&number.to_be_bytes());
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(body);
            }
        }
    }

    fn parse_body(ptype: u8, next: u8, body: &[u8]) -> Result<Payload, ParseError> {
        let mut r = Reader::new(body, "payload");
        Ok(match ptype {
            pt::SA => Payload::Sa(parse_sa(body)?),
            pt::KE => {
                let group = r.u16()?;
                r.take(2)?;
                Payload::Ke { group, data: r.rest().to_vec() }
            }
            pt::IDI | pt::IDR => {
                let id = Identity::from_body(body).ok_or(ParseError::Truncated { what: "ID payload", need: 4, have: body.len() })?;
                if ptype == pt::IDI {
                    Payload::IdI(id)
                } else {
                    Payload::IdR(id)
                }
            }
            pt::CERT | pt::CERTREQ => {
                let encoding = r.u8()?;
                let data = r.rest().to_vec();
                if ptype == pt::CERT {
                    Payload::Cert { encoding, data }
                } else {
                    Payload::CertReq { encoding, data }
                }
            }
            pt::AUTH => {
                let method = r.u8()?;
                r.take(3)?;
                Payload::Auth { method, data: r.rest().to_vec() }
            }
            pt::NONCE => {
                if !(16..=256).contains(&body.len()) {
                    return Err(ParseError::Malformed("nonce must be 16 to 256 bytes (RFC 7296 §3.9)"));
                }
                Payload::Nonce(body.to_vec())
            }
            pt::NOTIFY => {
                let protocol = r.u8()?;
                let spi_size = r.u8()? as usize;
                let ntype = r.u16()?;
                let spi = r.take(spi_size)?.to_vec();
                Payload::Notify(Notify { protocol, spi, ntype, data: r.rest().to_vec() })
            }
            pt::DELETE => {
                let protocol = r.u8()?;
                let spi_size = r.u8()?;
                let n = r.u16()? as usize;
                let mut spis = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    spis.push(r.take(spi_size as usize)?.to_vec());
                }
                if r.remaining() != 0 {
                    return Err(ParseError::Malformed("delete payload: SPI count does not match its length"));
                }
                Payload::Delete { protocol, spi_size, spis }
            }
            pt::VENDOR => Payload::Vendor(body.to_vec()),
            pt::TSI => Payload::TsI(parse_ts(body)?),
            pt::TSR => Payload::TsR(parse_ts(body)?),
            pt::CP => {
                let cfg_type = r.u8()?;
                r.take(3)?;
                let mut attrs = Vec::new();
                while r.remaining() > 0 {
                    let t = r.u16()? & 0x7fff;
                    let l = r.u16()? as usize;
                    attrs.push((t, r.take(l)?.to_vec()));
                }
                Payload::Cp(Cp { cfg_type, attrs })
            }
            pt::SK => Payload::Sk { inner: next, body: body.to_vec() },
            pt::SKF => {
                let number = r.u16()?;
                let total = r.u16()?;
                if number == 0 || total == 0 || number > total {
                    return Err(ParseError::Malformed("encrypted fragment numbers out of range (RFC 7383 §2.5)"));
                }
                Payload::Skf { inner: next, number, total, body: r.rest().to_vec() }
            }
            other => Payload::Unknown { ptype: other, body: body.to_vec() },
        })
    }
}

/// Parses a payload chain starting with type `first`. An SK/SKF payload
/// ends the chain (its `next` field names the first inner payload).
pub fn parse_chain(first: u8, mut b: &[u8]) -> Result<Vec<Payload>, ParseError> {
    let mut out = Vec::new();
    let mut ptype = first;
    while ptype != pt::NONE {
        if b.len() < 4 {
            return Err(ParseError::Truncated { what: "payload header", need: 4, have: b.len() });
        }
        let next = b[0];
        let critical = b[1] & 0x80 != 0;
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if len < 4 || len > b.len() {
            return Err(ParseError::BadLength { what: "payload", length: len, have: b.len() });
        }
        let body = &b[4..len];
        let p = Payload::parse_body(ptype, next, body)?;
        if let Payload::Unknown { ptype, .. } = p {
            if critical {
                return Err(ParseError::UnsupportedCritical(ptype));
            }
        }
        let ends = matches!(p, Payload::Sk { .. } | Payload::Skf { .. });
        out.push(p);
        b = &b[len..];
        if ends {
            if !b.is_empty() {
                return Err(ParseError::Malformed("bytes after the encrypted payload"));
            }
            return Ok(out);
        }
        ptype = next;
    }
    if !b.is_empty() {
        return Err(ParseError::Malformed("bytes after the last payload"));
    }
    Ok(out)
}

/// Emits a payload chain; returns the first payload type. `last_next` is the
/// next-payload value of the last payload (0 except before an SK payload).
pub fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>) -> u8 {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk { inner, .. } | Payload::Skf { inner, .. } => *inner,
            _ => payloads.get(i + 1).map(|n| n.ptype()).unwrap_or(pt::NONE),
        };
        let start = out.len();
        out.extend_from_slice(&[next, 0, 0, 0]);
        p.emit_body(out);
        let len = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    payloads.first().map(|p| p.ptype()).unwrap_or(pt::NONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::id::id_type;

    #[test]
    fn chain_round_trip_and_errors() {
        let ps = vec![
            Payload::Nonce(vec![7; 32]),
            Payload::Notify(Notify::new(16388, vec![1; 20])),
            Payload::IdI(Identity { id_type: id_type::FQDN, data: b"a".to_vec() }),
            Payload::Auth { method: 2, data: vec![3; 32] },
            Payload::Delete { protocol: 3, spi_size: 4, spis: vec![vec![1, 2, 3, 4]] },
            Payload::Cp(Cp { cfg_type: CFG_REQUEST, attrs: vec![(INTERNAL_IP4_ADDRESS, vec![])] }),
        ];
        let mut v = Vec::new();
        let first = emit_chain(&ps, &mut v);
        assert_eq!(parse_chain(first, &v).unwrap(), ps);
        for n in 0..v.len() {
            assert!(parse_chain(first, &v[..n]).is_err(), "truncated at {n}");
        }
        // Unknown critical payload.
        let crit = [0u8, 0x80, 0, 4];
        assert_eq!(parse_chain(200, &crit), Err(ParseError::UnsupportedCritical(200)));
        // Unknown non-critical is kept aside.
        assert!(matches!(parse_chain(200, &[0, 0, 0, 4]).unwrap()[0], Payload::Unknown { ptype: 200, .. }));
        // Short nonce.
        assert!(parse_chain(pt::NONCE, &[0, 0, 0, 8, 1, 2, 3, 4]).is_err());
    }
}
