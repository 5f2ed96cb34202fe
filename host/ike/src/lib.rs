//! esprit-ike: IKEv2 (RFC 7296) as a sans-IO state machine in the
//! quinn-proto style. The host feeds datagrams and time in
//! ([`Endpoint::handle_datagram`], [`Endpoint::handle_timeout`]) and takes
//! datagrams and events out ([`Endpoint::poll_transmit`],
//! [`Endpoint::poll_event`], [`Endpoint::poll_timeout`]). Authentication is
//! delegated to an [`AuthBackend`] (in esprit: Wasm auth plugins).
#![deny(unsafe_code)]

pub mod auth;
pub mod config;
pub mod dh;
pub mod dn;
pub mod endpoint;
pub mod event;
mod exchange;
pub mod ike_sa;
pub mod keymat;
pub mod message;
pub mod proposal;
pub mod sk;
pub mod stats;
pub mod types;

pub use auth::{AuthBackend, AuthError, AuthInput};
pub use config::{ChildConfig, EndpointConfig, Mode, PeerConfig};
pub use endpoint::{CommandError, Endpoint, SaSummary};
pub use event::{ChildSaUp, Event, Transmit};
pub use ike_sa::IkeState;
pub use message::{Identity, TrafficSelector, TsParseError};
pub use proposal::{ChildAlgs, Encr, IkeAlgs, ProposalError, ProposalSpec};
pub use stats::Stats;
pub use types::{ProtocolId, Spi};
