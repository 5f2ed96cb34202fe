//! The stable id of an SPD entry: a leaf every other part (SAD bindings,
//! ACQUIREs, outbound results) can name without depending on the SPD.

use std::fmt;

/// Stable id of an SPD entry (never reused within one `Spd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId(pub u32);

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
