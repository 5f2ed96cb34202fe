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
