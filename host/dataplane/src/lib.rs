//! The packet path of one esprit instance, as a library: the outbound path
//! (SPD → SAD → ESP/AH, packets held while IKE negotiates their SA) and the
//! inbound path (RFC 3948 demux → SAD by SPI → replay/ICV/decrypt → inbound
//! policy check), applied to whole IP packets in caller-owned buffers.
//!
//! No I/O and no clock: the daemon's workers read packets into a
//! [`PacketBuf`] (or a [`Batch`] of them), hand them in with the current
//! time, and send what comes back; results borrow the caller's buffer, in
//! the style of boringtun's `Tunn`. Nothing allocates per packet (see
//! `tests/alloc.rs`) and nothing is logged per packet: every drop is counted
//! by [`Reason`].
#![deny(unsafe_code)]

mod batch;
mod buf;
pub mod child;
mod dataplane;
mod flow;
mod held;
mod inbound;
mod outbound;
mod protected_peers;
mod reason;

pub use batch::Batch;
pub use buf::{PacketBuf, HEADROOM, MAX_PACKET};
pub use dataplane::{Counters, Dataplane, Notice};
pub use flow::flow_of;
pub use outbound::Out;
pub use reason::{DropCounters, PathDrop, Reason, BYPASS_TO_PROTECTED_PEER};
