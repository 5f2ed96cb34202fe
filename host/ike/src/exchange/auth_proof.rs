//! The proof that the peer's AUTH payload verified (RFC 7296 §2.15): the
//! only way to an established IKE SA ([`crate::ike_sa::state`]). Only the
//! exchange code can make one, and it does so only in
//! [`super::auth_payload`], after the check.
use crate::message::Identity;

/// Proof that the peer's AUTH payload verified for `peer_id`.
pub(crate) struct AuthVerified {
    peer_id: Identity,
}

impl AuthVerified {
    /// Made by the AUTH check (`IkeSa::verify_auth`) when it succeeded.
    pub(in crate::exchange) fn verified(peer_id: Identity) -> AuthVerified {
        AuthVerified { peer_id }
    }

    /// The identity the verified AUTH covers.
    pub fn into_peer_id(self) -> Identity {
        self.peer_id
    }
}
