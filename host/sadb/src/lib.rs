//! esprit-sadb: the Security Policy Database (selectors, flow cache), the
//! Security Association Database (SPI maps, lifetimes), ACQUIRE, and the
//! setkey.conf format (RFC 4301 §4.4).
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
pub mod sadb;

pub use acquire::Acquire;
pub use enforce::InboundDrop;
pub use sad::{LifetimeEvent, SaHandle, SaInfo, Sad};
pub use sadb::{Outbound, Sadb, SadbControl, SadbError};
pub use spd::{Action, Lookup, NewPolicy, PolicyId, Spd};
