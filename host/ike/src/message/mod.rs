//! IKEv2 message codec: header, payload chain, and the payload bodies.
//! Parsing never panics on input; every failure is a [`ParseError`] that
//! names what was wrong, so the endpoint can count it and answer per
//! RFC 7296 §2.21 (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD).
pub mod header;
pub mod id;
pub mod payload;
pub mod rules;
pub mod sa;
pub mod ts;

pub use header::{Header, HEADER_LEN};
pub use id::Identity;
pub use payload::{Cp, Notify, Payload};
pub use rules::RuleViolation;
pub use sa::{Proposal, Transform};
pub use ts::{TrafficSelector, TsParseError};

/// Why a message or payload did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{what} truncated: need {need} bytes, have {have}")]
    Truncated { what: &'static str, need: usize, have: usize },
    #[error("{what} length {length} does not fit the {have} bytes available")]
    BadLength { what: &'static str, length: usize, have: usize },
    #[error("unsupported critical payload type {0}")]
    UnsupportedCritical(u8),
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// A bounds-checked big-endian reader.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8], what: &'static str) -> Self {
        Reader { b, what }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.b.len()
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if self.b.len() < n {
            return Err(ParseError::Truncated { what: self.what, need: n, have: self.b.len() });
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, ParseError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = self.b;
        self.b = &[];
        r
    }
}
