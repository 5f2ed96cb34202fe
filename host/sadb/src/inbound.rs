//! Why an inbound packet was refused, and the counters of inbound
//! enforcement (RFC 4301 §5.2); the checks themselves are in [`crate::enforce`].

use crate::decider::Spi;
use crate::policy_id::PolicyId;

/// Why an inbound packet is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InboundDrop {
    /// Cleartext for a flow the inbound SPD requires to be protected.
    #[error("cleartext packet matches policy {policy}, which requires IPsec")]
    ClearOnProtectedFlow { policy: PolicyId },
    /// The inbound SPD discards this flow.
    #[error("the inbound policy discards this flow")]
    PolicyDiscard { policy: Option<PolicyId> },
    /// The decrypted packet is not covered by the SA(s) it came through.
    #[error("decrypted packet does not match the selectors of SA {spi:#010x}")]
    SelectorMismatch { spi: Spi, policy: Option<PolicyId> },
    /// The SA went away between decapsulation and the check.
    #[error("unknown SA")]
    UnknownSa,
}

impl InboundDrop {
    /// Short name for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            InboundDrop::ClearOnProtectedFlow { .. } => "clear_on_protected_flow",
            InboundDrop::PolicyDiscard { .. } => "policy_discard",
            InboundDrop::SelectorMismatch { .. } => "selector_mismatch",
            InboundDrop::UnknownSa => "unknown_sa",
        }
    }
}

/// Counters of inbound enforcement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundStats {
    pub clear_accepted: u64,
    pub protected_accepted: u64,
    pub clear_on_protected_flow: u64,
    pub policy_discard: u64,
    pub selector_mismatch: u64,
    pub unknown_sa: u64,
}

impl InboundStats {
    pub(crate) fn count(&mut self, d: &InboundDrop) {
        match d {
            InboundDrop::ClearOnProtectedFlow { .. } => self.clear_on_protected_flow += 1,
            InboundDrop::PolicyDiscard { .. } => self.policy_discard += 1,
            InboundDrop::SelectorMismatch { .. } => self.selector_mismatch += 1,
            InboundDrop::UnknownSa => self.unknown_sa += 1,
        }
    }
}
