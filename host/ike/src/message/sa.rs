//! Security Association payload: proposals and transforms (RFC 7296 §3.3).
use crate::message::{ParseError, Reader};
use crate::types::{transform_id, ProtocolId};

/// One transform (type, id, optional key length attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    pub ttype: u8,
    pub id: u16,
    pub key_len: Option<u16>,
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub num: u8,
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT, 8 bytes for an IKE rekey, 4 for ESP/AH.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The first transform of a type.
    pub fn get(&self, ttype: u8) -> Option<Transform> {
        self.transforms.iter().copied().find(|t| t.ttype == ttype)
    }
}

pub fn parse_sa(body: &[u8]) -> Result<Vec<Proposal>, ParseError> {
    let mut r = Reader::new(body, "SA payload");
    let mut out = Vec::new();
    loop {
        let last = r.u8()?;
        r.u8()?;
        let len = r.u16()? as usize;
        if len < 8 {
            return Err(ParseError::BadLength { what: "proposal", length: len, have: r.remaining() + 4 });
        }
        let mut p = Reader::new(r.take(len - 4)?, "proposal");
        let num = p.u8()?;
        let proto = p.u8()?;
        let spi_size = p.u8()? as usize;
        let ntrans = p.u8()?;
        let spi = p.take(spi_size)?.to_vec();
        let mut transforms = Vec::new();
        for i in 0..ntrans {
            let tlast = p.u8()?;
            p.u8()?;
            let tlen = p.u16()? as usize;
            if tlen < 8 {
                return Err(ParseError::BadLength { what: "transform", length: tlen, have: p.remaining() + 4 });
            }
            let mut t = Reader::new(p.take(tlen - 4)?, "transform");
            let ttype = t.u8()?;
            t.u8()?;
            let id = t.u16()?;
            let mut key_len = None;
            while t.remaining() > 0 {
                let at = t.u16()?;
                if at & 0x8000 != 0 {
                    let v = t.u16()?;
                    if at & 0x7fff == transform_id::ATTR_KEY_LENGTH {
                        key_len = Some(v);
                    }
                } else {
                    let l = t.u16()? as usize;
                    t.take(l)?;
                }
            }
            transforms.push(Transform { ttype, id, key_len });
            let expect_last = i + 1 == ntrans;
            if (tlast == 0) != expect_last {
                return Err(ParseError::Malformed("transform count does not match the last-substructure flags"));
            }
        }
        if p.remaining() != 0 {
            return Err(ParseError::Malformed("trailing bytes in a proposal"));
        }
        // Unknown protocols are skipped (RFC 7296 §3.3.1 lets us ignore them).
        if let Some(protocol) = ProtocolId::from_u8(proto) {
            out.push(Proposal { num, protocol, spi, transforms });
        }
        if last == 0 {
            break;
        }
        if last != 2 {
            return Err(ParseError::Malformed("proposal last-substructure must be 0 or 2"));
        }
    }
    if r.remaining() != 0 {
        return Err(ParseError::Malformed("trailing bytes after the last proposal"));
    }
    Ok(out)
}

pub fn emit_sa(props: &[Proposal], out: &mut Vec<u8>) {
    for (i, p) in props.iter().enumerate() {
        let start = out.len();
        out.push(if i + 1 == props.len() { 0 } else { 2 });
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        out.push(p.num);
        out.push(p.protocol.to_u8());
        out.push(p.spi.len() as u8);
        out.push(p.transforms.len() as u8);
        out.extend_from_slice(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            out.push(if j + 1 == p.transforms.len() { 0 } else { 3 });
            out.push(0);
            let len: u16 = if t.key_len.is_some() { 12 } else { 8 };
            out.extend_from_slice(&len.to_be_bytes());
            out.push(t.ttype);
            out.push(0);
            out.extend_from_slice(&t.id.to_be_bytes());
            if let Some(k) = t.key_len {
                out.extend_from_slice(&(0x8000 | transform_id::ATTR_KEY_LENGTH).to_be_bytes());
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        let len = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::transform_type;

    #[test]
    fn round_trip_and_garbage() {
        let p = vec![
            Proposal {
                num: 1,
                protocol: ProtocolId::Ike,
                spi: vec![],
                transforms: vec![
                    Transform { ttype: transform_type::ENCR, id: 20, key_len: Some(128) },
                    Transform { ttype: transform_type::PRF, id: 5, key_len: None },
                    Transform { ttype: transform_type::DH, id: 31, key_len: None },
                ],
            },
            Proposal { num: 2, protocol: ProtocolId::Esp, spi: vec![1, 2, 3, 4], transforms: vec![] },
        ];
        let mut v = Vec::new();
        emit_sa(&p, &mut v);
        assert_eq!(parse_sa(&v).unwrap(), p);
        for n in 0..v.len() {
            assert!(parse_sa(&v[..n]).is_err(), "truncated at {n}");
        }
    }
}
