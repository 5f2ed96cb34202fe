//! SA bundles (RFC 4301 §4.5): several SAs applied to one packet, e.g. the
//! setkey policy `esp/transport//require ah/transport//require` (ESP first,
//! then AH around it).
use crate::{peek_spi, DropCounters, DropReason, Sa};

/// SAs in outbound order: `sas[0]` is applied first (innermost).
#[derive(Debug)]
pub struct Bundle {
    pub sas: Vec<Sa>,
    /// Bundle-level drops (the packet was not protected by exactly these SAs).
    pub drops: DropCounters,
}

impl Bundle {
    pub fn new(sas: Vec<Sa>) -> Bundle {
        Bundle { sas, drops: DropCounters::default() }
    }

    /// Bytes the whole bundle adds (upper bound, see [`Sa::overhead`]).
    pub fn overhead(&self, inner_len: usize) -> usize {
        self.sas.iter().fold(0, |acc, sa| acc + sa.overhead(inner_len + acc))
    }

    /// Applies every SA in order. `scratch` holds intermediate results and
    /// must be as large as `out`.
    pub fn encapsulate<'a>(&mut self, packet: &[u8], out: &'a mut [u8], scratch: &mut [u8]) -> Result<&'a mut [u8], DropReason> {
        let n = self.sas.len();
        if n == 0 {
            let dst = out.get_mut(..packet.len()).ok_or(DropReason::BufferTooSmall)?;
            dst.copy_from_slice(packet);
            return Ok(dst);
        }
        let mut len = 0;
        for (i, sa) in self.sas.iter_mut().enumerate() {
            // Alternate buffers so that the last SA writes into `out`.
            let to_out = (n - 1 - i).is_multiple_of(2);
            len = match (i == 0, to_out) {
                (true, true) => sa.encapsulate(packet, out)?.len(),
                (true, false) => sa.encapsulate(packet, scratch)?.len(),
                (false, true) => sa.encapsulate(&scratch[..len], out)?.len(),
                (false, false) => sa.encapsulate(&out[..len], scratch)?.len(),
            };
        }
        Ok(&mut out[..len])
    }

    /// Removes every SA's protection in reverse order, checking that each
    /// layer is the expected SA and that no further ESP/AH layer remains.
    pub fn decapsulate<'a>(&mut self, packet: &[u8], out: &'a mut [u8], scratch: &mut [u8]) -> Result<&'a mut [u8], DropReason> {
        let r = self.decap(packet, out, scratch);
        if let Err(e) = r {
            if e == DropReason::PolicyMismatch {
                self.drops.count(e);
            }
        }
        r.map(|n| &mut out[..n])
    }

    fn decap(&mut self, packet: &[u8], out: &mut [u8], scratch: &mut [u8]) -> Result<usize, DropReason> {
        let n = self.sas.len();
        let mut len = 0;
        for (i, sa) in self.sas.iter_mut().rev().enumerate() {
            let to_out = (n - 1 - i).is_multiple_of(2);
            let input: &[u8] = match (i == 0, to_out) {
                (true, _) => packet,
                (false, true) => &scratch[..len],
                (false, false) => &out[..len],
            };
            let (proto, spi) = peek_spi(input).map_err(|e| if e == DropReason::NotIpsec { DropReason::PolicyMismatch } else { e })?;
            if proto != sa.config().protocol || spi != sa.spi() {
                return Err(DropReason::PolicyMismatch);
            }
            len = match (i == 0, to_out) {
                (true, true) => sa.decapsulate(packet, out)?.len(),
                (true, false) => sa.decapsulate(packet, scratch)?.len(),
                (false, true) => sa.decapsulate(&scratch[..len], out)?.len(),
                (false, false) => sa.decapsulate(&out[..len], scratch)?.len(),
            };
        }
        if n == 0 {
            let dst = out.get_mut(..packet.len()).ok_or(DropReason::BufferTooSmall)?;
            dst.copy_from_slice(packet);
            len = packet.len();
        }
        // Exactly these SAs: an extra ESP/AH layer is a mismatch.
        if peek_spi(&out[..len]).is_ok() {
            return Err(DropReason::PolicyMismatch);
        }
        Ok(len)
    }
}
