//! The ESP/AH fast path of esprit.
//!
//! An [`Sa`] protects (`encapsulate`) and verifies (`decapsulate`) full IP
//! packets into the caller's buffer, in the style of boringtun's `Tunn`:
//! results borrow the caller's buffer, every refusal is a [`DropReason`]
//! counted in [`SaStats`], nothing allocates or logs per packet.
//!
//! - ESP (RFC 4303): AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634),
//!   AES-CBC + HMAC-SHA2 (RFC 3602, RFC 4868), NULL + HMAC-SHA2 (RFC 2410).
//! - AH (RFC 4302) with HMAC-SHA2.
//! - Transport and tunnel mode, IPv4 and IPv6 inside and outside, ESN,
//!   anti-replay window ([`replay`]), bundles ([`Bundle`]).
#![deny(unsafe_code)]

pub mod ah;
mod bundle;
mod config;
mod demux;
mod drop;
mod ecn;
mod esp;
pub mod ip;
pub mod replay;
mod sa;
mod state;
mod stats;

pub use bundle::Bundle;
pub use config::{Mode, Protocol, SaConfig, Spi, SaError, Transform, AEAD_SALT_LEN, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
pub use demux::peek_spi;
pub use drop::{DropCounters, DropReason};
pub use sa::Sa;
pub use stats::SaStats;

// SAs move between worker threads (one per core, DESIGN.md §3).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Sa>();
    send_sync::<Bundle>();
};
