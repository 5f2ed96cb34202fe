//! Why a packet was dropped, and a counter per reason (DESIGN.md §2: every
//! drop counted by reason, nothing logged per packet).

macro_rules! drop_reasons {
    ($($(#[doc = $doc:expr])* $name:ident => $s:expr,)*) => {
        /// Why `encapsulate` or `decapsulate` refused a packet.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $($(#[doc = $doc])* $name,)* }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons (length of [`DropCounters`]).
            pub const COUNT: usize = DropReason::ALL.len();

            /// A short stable name for tables and metrics.
            pub const fn as_str(self) -> &'static str {
                match self { $(DropReason::$name => $s,)* }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than the headers it claims to carry.
    Truncated => "truncated",
    /// An IP/ESP/AH header field is inconsistent (version, lengths, alignment).
    BadHeader => "bad header",
    /// The SPI is not the one of this SA (or of any SA, at demux).
    UnknownSpi => "unknown SPI",
    /// Sequence number already seen inside the window (RFC 4303 §3.4.3).
    Replay => "replayed sequence number",
    /// Sequence number left of the window (RFC 4303 §3.4.3).
    TooOld => "sequence number too old",
    /// ICV / AEAD tag did not verify (RFC 4303 §3.4.4, RFC 4302 §3.4.4).
    IcvMismatch => "ICV mismatch",
    /// Pad Length or padding bytes wrong (RFC 4303 §2.4).
    BadPadding => "bad padding",
    /// Next Header not allowed for this SA's mode.
    BadNextHeader => "bad next header",
    /// Too short to hold the IV and the ICV.
    ShortTag => "short ICV/tag",
    /// An IP fragment (RFC 4303 §3.4.1: reassemble before processing).
    Fragment => "IP fragment",
    /// A TFC dummy packet, Next Header 59 (RFC 4303 §2.6); silently dropped.
    Dummy => "dummy packet (TFC)",
    /// The sequence counter would wrap without ESN (RFC 4303 §3.3.3): rekey.
    SeqExhausted => "sequence number exhausted",
    /// The output buffer cannot hold the result.
    BufferTooSmall => "buffer too small",
    /// A packet this engine does not process (not IP, address family mix ...).
    Unsupported => "unsupported",
    /// The packet was not protected by exactly the expected SAs.
    PolicyMismatch => "policy mismatch",
    /// Not an ESP or AH packet.
    NotIpsec => "not ESP/AH",
    /// The result would exceed the IP length fields (65535 bytes).
    TooBig => "packet too big",
    /// The crypto backend failed for a reason other than authentication.
    CryptoError => "crypto error",
    /// The outer header carries a congestion mark (CE) but the inner packet
    /// is not ECN-capable (RFC 6040 §4.2: drop).
    CeOnNotEct => "CE mark on a not-ECT inner packet",
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for DropReason {}

/// One counter per [`DropReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters(pub [u64; DropReason::COUNT]);

impl DropCounters {
    #[inline]
    pub fn count(&mut self, r: DropReason) {
        self.0[r as usize] += 1;
    }

    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Non-zero counters, in reason order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r))).filter(|&(_, n)| n != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_index_by_reason() {
        let mut c = DropCounters::default();
        c.count(DropReason::Replay);
        c.count(DropReason::Replay);
        c.count(DropReason::CryptoError);
        assert_eq!(c.get(DropReason::Replay), 2);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![(DropReason::Replay, 2), (DropReason::CryptoError, 1)]);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(!r.as_str().is_empty());
        }
    }
}
