//! esprit-sadb: the Security Policy Database (selectors, flow cache), the
//! Security Association Database (SPI maps, lifetimes), ACQUIRE, and the
//! setkey.conf format (RFC 4301 §4.4).
//!
//! * [`setkey`]: `parse_file` / `parse_str` → `Vec<Statement>`; `SaSpec::to_sa_config`.
//! * [`spd::Spd`]: ordered policies, `lookup(&Flow, now)` through a versioned
//!   flow cache, `explain(&Flow)`, delegation to a [`decider::PolicyDecider`].
//! * [`sad::Sad`]: SAs by SPI and by policy request, lifetimes, `expire(now)`.
//! * [`Sadb`]: both, plus ACQUIRE, `outbound(&Flow, now)`, inbound enforcement
//!   (`check_inbound_clear`, `check_inbound_decrypted`) and [`SadbControl`],
//!   the trait through which SAs and policies are installed.
//!
//! Nothing here reads a clock or does I/O (except `setkey::parse_file`).
#![deny(unsafe_code)]

pub mod decider;
pub mod lifetime;
pub mod selector;
pub mod setkey;
pub mod flow_cache;
pub mod spd;
pub mod sad;
pub mod acquire;
pub mod enforce;
pub mod inbound;
pub mod outbound;
pub mod policy_id;
pub mod sadb;

pub use acquire::Acquire;
pub use decider::Spi;
pub use enforce::InboundDrop;
pub use sad::{LifetimeEvent, SaHandle, SaInfo, Sad};
pub use sadb::{Outbound, Sadb, SadbControl, SadbError};
pub use spd::{Action, Lookup, NewPolicy, PolicyId, Spd};
