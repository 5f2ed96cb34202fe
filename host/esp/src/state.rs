//! The state of one Security Association, in one place: the keyed
//! transform, the sequence counter, the replay window and the counters.
//! The transforms (`esp`, `ah`) read and advance it; [`crate::Sa`] is the
//! public face that dispatches to them.
use crate::config::{Mode, Protocol, SaConfig, SaError, Transform, AEAD_SALT_LEN};
use crate::drop::DropReason;
use crate::ip;
use crate::replay::ReplayWindow;
use crate::stats::SaStats;
use esprit_crypto::{Aead, Cipher, Integrity, Provider};

/// The keyed crypto of an SA, built once by [`SaState::new`].
pub(crate) enum Keys {
    Aead { aead: Box<dyn Aead>, salt: [u8; AEAD_SALT_LEN] },
    CbcHmac { cipher: Box<dyn Cipher>, integ: Box<dyn Integrity>, iv_prefix: [u8; 8] },
    NullHmac { integ: Box<dyn Integrity> },
    Ah { integ: Box<dyn Integrity> },
}

pub(crate) struct SaState {
    pub(crate) cfg: SaConfig,
    pub(crate) keys: Keys,
    /// Bytes of IV on the wire.
    pub(crate) iv_len: usize,
    /// Bytes of ICV / tag.
    pub(crate) icv_len: usize,
    /// Alignment of the ESP ciphertext (RFC 4303 §2.4: cipher block and 4).
    pub(crate) block: usize,
    /// Last sequence number sent (RFC 4303 §3.3.3: the first packet has 1).
    pub(crate) seq_out: u64,
    pub(crate) replay: ReplayWindow,
    pub(crate) stats: SaStats,
    /// IPv4 Identification of tunnel-mode outer headers.
    pub(crate) ident: u16,
    /// Tunnel-mode outer header, prepared once.
    pub(crate) outer: ip::OuterTemplate,
}

impl std::fmt::Debug for SaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sa").field("cfg", &self.cfg).field("seq_out", &self.seq_out).field("stats", &self.stats).finish()
    }
}

impl SaState {
    /// Validates `cfg` and keys the transform with `provider`.
    pub(crate) fn new(cfg: SaConfig, provider: &dyn Provider) -> Result<SaState, SaError> {
        cfg.validate()?;
        let (keys, iv_len, icv_len, block) = match cfg.transform {
            Transform::Aead(alg) => {
                let (key, salt) = cfg.enc_key.split_at(alg.key_len());
                let mut s = [0u8; AEAD_SALT_LEN];
                s.copy_from_slice(salt);
                (Keys::Aead { aead: provider.aead(alg, key)?, salt: s }, 8, alg.tag_len(), 4)
            }
            Transform::CbcHmac(c, i) => {
                let mut iv_prefix = [0u8; 8];
                getrandom::getrandom(&mut iv_prefix).map_err(|_| SaError::Random)?;
                let keys = Keys::CbcHmac {
                    cipher: provider.cipher(c, &cfg.enc_key)?,
                    integ: provider.integrity(i, &cfg.auth_key)?,
                    iv_prefix,
                };
                (keys, c.iv_len(), i.icv_len(), c.block_len().max(4))
            }
            Transform::NullHmac(i) => (Keys::NullHmac { integ: provider.integrity(i, &cfg.auth_key)? }, 0, i.icv_len(), 4),
            Transform::Ah(i) => (Keys::Ah { integ: provider.integrity(i, &cfg.auth_key)? }, 0, i.icv_len(), 4),
        };
        let replay = ReplayWindow::new(cfg.replay_window);
        let outer = ip::OuterTemplate::new(cfg.src, cfg.dst, cfg.protocol.ip_protocol())
            .ok_or(SaError::AddressFamily { src: cfg.src, dst: cfg.dst })?;
        Ok(SaState { cfg, keys, iv_len, icv_len, block, seq_out: 0, replay, stats: SaStats::default(), ident: 0, outer })
    }

    /// The sequence number the next outbound packet gets; refuses to wrap
    /// without ESN (RFC 4303 §3.3.3) and at 2^64 with ESN. Not yet consumed.
    #[inline]
    pub(crate) fn next_seq(&self) -> Result<u64, DropReason> {
        let limit = if self.cfg.esn { u64::MAX } else { u64::from(u32::MAX) };
        if self.seq_out >= limit {
            return Err(DropReason::SeqExhausted);
        }
        Ok(self.seq_out + 1)
    }

    /// Bytes an SA adds to an inner packet of `inner_len` bytes: exact in
    /// tunnel mode, an upper bound (largest padding) in transport mode.
    pub(crate) fn overhead(&self, inner_len: usize) -> usize {
        let outer = match self.cfg.mode {
            Mode::Tunnel => ip::outer_len(self.cfg.dst),
            Mode::Transport => 0,
        };
        match self.cfg.protocol {
            Protocol::Ah => outer + esprit_wire::ah::FIXED_LEN + esprit_wire::ah::icv_field_len(self.icv_len, self.cfg.dst.is_ipv6()),
            Protocol::Esp => {
                let padded = match self.cfg.mode {
                    Mode::Tunnel => align(inner_len + 2, self.block) - inner_len,
                    Mode::Transport => self.block - 1 + 2,
                };
                outer + esprit_wire::esp::HEADER_LEN + self.iv_len + padded + self.icv_len
            }
        }
    }

    /// Books an outbound result: commits the sequence number and counters,
    /// or counts the drop. Returns the outer packet length.
    #[inline]
    pub(crate) fn account_out(&mut self, r: Result<(usize, u64), DropReason>) -> Result<usize, DropReason> {
        match r {
            Ok((n, seq)) => {
                self.seq_out = seq;
                self.ident = self.ident.wrapping_add(1);
                self.stats.packets_out += 1;
                self.stats.bytes_out += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.stats.drops_out.count(e);
                Err(e)
            }
        }
    }

    /// Bytes in front of the inner packet that [`crate::Sa::encapsulate_in_place`]
    /// needs (outer header + ESP header + IV); `None` unless this is a
    /// tunnel-mode ESP SA.
    pub(crate) fn tunnel_headroom(&self) -> Option<usize> {
        self.esp_headroom().map(|h| self.outer.len() + h)
    }

    pub(crate) fn esp_headroom(&self) -> Option<usize> {
        (self.cfg.protocol == Protocol::Esp && self.cfg.mode == Mode::Tunnel).then_some(esprit_wire::esp::HEADER_LEN + self.iv_len)
    }

    /// The 64-bit sequence number of an inbound packet and its replay check
    /// (RFC 4303 §3.4.3, Appendix A2.2), before the ICV.
    #[inline]
    pub(crate) fn inbound_seq(&self, seq_lo: u32) -> Result<u64, DropReason> {
        let seq = if self.cfg.esn { self.replay.infer_esn(seq_lo).ok_or(DropReason::TooOld)? } else { u64::from(seq_lo) };
        self.replay.check(seq)?;
        Ok(seq)
    }
}

/// Rounds `n` up to a multiple of `block`, a power of two.
#[inline]
pub(crate) fn align(n: usize, block: usize) -> usize {
    debug_assert!(block.is_power_of_two());
    (n + block - 1) & !(block - 1)
}

/// The high 32 bits of an ESN, as appended to the ICV input (RFC 4303 §2.2.1).
#[inline]
pub(crate) fn seq_hi(seq: u64) -> [u8; 4] {
    ((seq >> 32) as u32).to_be_bytes()
}
