//! A Security Association: keyed transform, sequence counter, replay window
//! and counters. `encapsulate` / `decapsulate` work on full IP packets and
//! write into the caller's buffer (boringtun style); no allocation, no logging.
//! The state lives in [`crate::state`]; this is the public face, dispatching
//! to the ESP and AH transforms.
use crate::config::{Protocol, SaConfig, SaError, Spi};
use crate::drop::DropReason;
use crate::state::SaState;
use crate::stats::SaStats;
use crate::{ah, esp};
use esprit_crypto::Provider;

#[derive(Debug)]
pub struct Sa {
    st: SaState,
}

impl Sa {
    /// Validates `cfg` and keys the transform with `provider`.
    pub fn new(cfg: SaConfig, provider: &dyn Provider) -> Result<Sa, SaError> {
        Ok(Sa { st: SaState::new(cfg, provider)? })
    }

    pub fn spi(&self) -> Spi {
        self.st.cfg.spi
    }

    pub fn config(&self) -> &SaConfig {
        &self.st.cfg
    }

    pub fn stats(&self) -> &SaStats {
        &self.st.stats
    }

    /// Last sequence number sent (0 before the first packet).
    pub fn seq_out(&self) -> u64 {
        self.st.seq_out
    }

    /// Highest sequence number accepted inbound.
    pub fn seq_in(&self) -> u64 {
        self.st.replay.top()
    }

    /// Sets the highest inbound sequence number seen, as if that packet had
    /// been accepted (tests, and SA migration); the bitmap is cleared.
    pub fn set_seq_in(&mut self, seq: u64) {
        self.st.replay.reset(seq);
    }

    /// Sets the outbound counter (tests, and SA migration).
    pub fn set_seq_out(&mut self, seq: u64) {
        self.st.seq_out = seq;
    }

    /// Bytes an SA adds to an inner packet of `inner_len` bytes: exact in
    /// tunnel mode, an upper bound (largest padding) in transport mode.
    pub fn overhead(&self, inner_len: usize) -> usize {
        self.st.overhead(inner_len)
    }

    /// Protects one full IP packet; writes the full outer IP packet into `out`.
    pub fn encapsulate<'a>(&mut self, packet: &[u8], out: &'a mut [u8]) -> Result<&'a mut [u8], DropReason> {
        let r = match self.st.cfg.protocol {
            Protocol::Esp => esp::encapsulate(&mut self.st, packet, out),
            Protocol::Ah => ah::encapsulate(&mut self.st, packet, out),
        };
        let n = self.st.account_out(r)?;
        Ok(&mut out[..n])
    }

    /// Bytes in front of the inner packet that [`Sa::encapsulate_in_place`]
    /// needs (outer header + ESP header + IV); `None` unless this is a
    /// tunnel-mode ESP SA.
    pub fn tunnel_headroom(&self) -> Option<usize> {
        self.st.tunnel_headroom()
    }

    /// Like [`Sa::encapsulate`] for tunnel-mode ESP, but without copying the
    /// packet: the inner packet of `len` bytes must already be at
    /// `buf[self.tunnel_headroom()?..]`, and `buf` must have room for the
    /// trailer and ICV after it ([`Sa::overhead`]). The outer packet is
    /// written at `buf[..n]`; the inner packet is encrypted where it lies.
    pub fn encapsulate_in_place<'a>(&mut self, buf: &'a mut [u8], len: usize) -> Result<&'a mut [u8], DropReason> {
        let r = match self.st.cfg.protocol {
            Protocol::Esp => esp::encapsulate_in_place(&mut self.st, buf, len),
            Protocol::Ah => Err(DropReason::Unsupported),
        };
        let n = self.st.account_out(r)?;
        Ok(&mut buf[..n])
    }

    /// Bytes in front of the inner packet that [`Sa::seal_esp_in_place`]
    /// needs (ESP header + IV); `None` unless this is a tunnel-mode ESP SA.
    pub fn esp_headroom(&self) -> Option<usize> {
        self.st.esp_headroom()
    }

    /// Like [`Sa::encapsulate_in_place`], but writes no outer IP header:
    /// `buf[..n]` is the ESP packet alone (SPI .. ICV), the payload of an
    /// ESP-in-UDP datagram (RFC 3948 §2.1). The inner packet of `len` bytes
    /// must be at `buf[self.esp_headroom()?..]`.
    pub fn seal_esp_in_place<'a>(&mut self, buf: &'a mut [u8], len: usize) -> Result<&'a mut [u8], DropReason> {
        let r = match self.st.cfg.protocol {
            Protocol::Esp => esp::seal_esp_in_place(&mut self.st, buf, len),
            Protocol::Ah => Err(DropReason::Unsupported),
        };
        let n = self.st.account_out(r)?;
        Ok(&mut buf[..n])
    }

    /// Verifies and decrypts a tunnel-mode ESP packet given without its IP
    /// header (the payload of an ESP-in-UDP datagram, RFC 3948 §2.1); writes
    /// the inner IP packet into `out`.
    pub fn open_esp<'a>(&mut self, esp: &[u8], out: &'a mut [u8]) -> Result<&'a mut [u8], DropReason> {
        let r = match self.st.cfg.protocol {
            Protocol::Esp => esp::open_esp(&mut self.st, esp, out),
            Protocol::Ah => Err(DropReason::Unsupported),
        };
        let n = self.count_in(r)?;
        Ok(&mut out[..n])
    }

    /// Verifies and removes one layer of protection from a full outer IP
    /// packet (raw ESP/AH, IPv4 or IPv6); writes the inner IP packet into `out`.
    pub fn decapsulate<'a>(&mut self, packet: &[u8], out: &'a mut [u8]) -> Result<&'a mut [u8], DropReason> {
        let r = match self.st.cfg.protocol {
            Protocol::Esp => esp::decapsulate(&mut self.st, packet, out),
            Protocol::Ah => ah::decapsulate(&mut self.st, packet, out),
        };
        let n = self.count_in(r)?;
        Ok(&mut out[..n])
    }

    fn count_in(&mut self, r: Result<usize, DropReason>) -> Result<usize, DropReason> {
        match r {
            Ok(n) => {
                self.st.stats.packets_in += 1;
                self.st.stats.bytes_in += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.st.stats.drops_in.count(e);
                Err(e)
            }
        }
    }
}
