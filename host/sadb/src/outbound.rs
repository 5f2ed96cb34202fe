//! What the outbound lookup decides for a packet: a leaf the SPD's flow
//! cache can store without depending on the SPD/SAD pair ([`crate::sadb`]).

use std::fmt;

use crate::policy_id::PolicyId;
use crate::sad::SaHandle;

/// Most SAs applied to one packet (`esp/.. ah/..` bundles, nesting).
pub const MAX_BUNDLE: usize = 4;

/// The SAs to apply to an outbound packet, in order (first = innermost).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bundle {
    sas: [SaHandle; MAX_BUNDLE],
    len: u8,
}

impl Bundle {
    pub(crate) fn new(first: SaHandle) -> Self {
        Bundle { sas: [first; MAX_BUNDLE], len: 0 }
    }

    pub(crate) fn push(&mut self, h: SaHandle) {
        self.sas[self.len as usize] = h;
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[SaHandle] {
        &self.sas[..self.len as usize]
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// What to do with an outbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Send in the clear.
    Bypass { policy: Option<PolicyId> },
    /// Drop (policy `discard`, or a policy the data plane cannot apply).
    Discard { policy: Option<PolicyId> },
    /// Apply these SAs in order.
    Protect { policy: PolicyId, sas: Bundle },
    /// A required SA is missing: drop (or hold) the packet; an ACQUIRE was
    /// raised (`raised`) or is already pending.
    Acquiring { policy: PolicyId, raised: bool },
}
