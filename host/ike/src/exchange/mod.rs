//! The exchanges, each with an initiator half (`start_*`, `handle_*_response`)
//! and a responder half (`respond_*`).
mod auth_payload;
pub(crate) mod auth_proof;
pub(crate) mod child;
pub(crate) mod ike_auth;
pub(crate) mod informational;
pub(crate) mod natd;
pub(crate) mod outbound;
pub(crate) mod sa_init;

use crate::message::{Notify, Payload};

/// The first error notify in a message, if any.
pub(crate) fn error_notify(ps: &[Payload]) -> Option<&Notify> {
    ps.iter().find_map(|p| match p {
        Payload::Notify(n) if crate::types::notify::is_error(n.ntype) => Some(n),
        _ => None,
    })
}

pub(crate) fn notify<'a>(ps: &'a [Payload], t: u16) -> Option<&'a Notify> {
    ps.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ntype == t => Some(n),
        _ => None,
    })
}

pub(crate) fn err(t: u16) -> Payload {
    Payload::Notify(Notify::new(t, Vec::new()))
}
