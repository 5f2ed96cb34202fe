//! What an IKE SA holds of keys and authentication, as types: a state is
//! consumed by value on each transition (the rustls `client/hs.rs` way), so
//! keys exist only once IKE_SA_INIT derived them (RFC 7296 §2.14) and a
//! peer identity only once its AUTH verified (§2.15).
//!
//! `Unkeyed` → [`Keyed`] (IKE_SA_INIT done) → [`Established`] (IKE_AUTH done;
//! needs an [`AuthVerified`] proof, which only the AUTH verification code
//! can construct). A rekeyed IKE SA (§2.18) starts `Established`, from the
//! one it replaces.
use esprit_crypto::Provider;
use zeroize::Zeroizing;

use crate::dh::{DhError, KeyExchange};
use crate::exchange::auth_proof::AuthVerified;
use crate::keymat::{derive_ike, skeyseed, skeyseed_rekey, IkeKeys};
use crate::message::Identity;
use crate::proposal::IkeAlgs;
use crate::sk::{SkCrypto, SkError};
use crate::types::IkeSpi;

/// The IKE SA could not be keyed (RFC 7296 §2.14).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyingError {
    /// The peer's KE data does not complete our key exchange.
    #[error("key exchange failed: {0}")]
    KeyExchange(#[from] DhError),
    /// The negotiated transforms could not be keyed.
    #[error("cannot key the IKE SA: {0}")]
    Sk(#[from] SkError),
}

/// The inputs of the IKE SA key derivation besides g^ir (RFC 7296 §2.14).
pub(crate) struct KeyInputs<'a> {
    pub provider: &'a dyn Provider,
    pub algs: IkeAlgs,
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    /// We are the original initiator of this IKE SA.
    pub initiator: bool,
}

/// Before IKE_SA_INIT completes: at most our pending key exchange
/// (initiator; the responder keys its SA before it keeps it).
#[derive(Default)]
pub(crate) struct Unkeyed {
    pub ke: Option<KeyExchange>,
}

impl Unkeyed {
    /// Initiator: completes our key exchange with the responder's KE data
    /// and derives the keys. `None` when no key exchange was pending.
    pub fn complete(self, peer_ke: &[u8], inputs: KeyInputs<'_>) -> Option<Result<Keyed, KeyingError>> {
        let ke = self.ke?;
        Some(ke.complete(peer_ke).map_err(KeyingError::from).and_then(|gir| Keyed::derive(&gir, inputs)))
    }
}

/// After IKE_SA_INIT: the negotiated transforms, the SK_* secrets and the
/// keyed SK payload transforms; the peer is not authenticated yet.
pub(crate) struct Keyed {
    pub algs: IkeAlgs,
    pub keys: IkeKeys,
    pub sk: SkCrypto,
}

impl Keyed {
    /// SKEYSEED = prf(Ni | Nr, g^ir) and the SK_* keys (§2.14).
    pub fn derive(gir: &[u8], inputs: KeyInputs<'_>) -> Result<Keyed, KeyingError> {
        let seed = skeyseed(inputs.algs.prf, inputs.ni, inputs.nr, gir);
        Keyed::from_seed(&seed, inputs)
    }

    fn from_seed(seed: &Zeroizing<Vec<u8>>, inputs: KeyInputs<'_>) -> Result<Keyed, KeyingError> {
        let keys = derive_ike(&inputs.algs, seed, inputs.ni, inputs.nr, inputs.spi_i, inputs.spi_r);
        let sk = SkCrypto::new(inputs.provider, &inputs.algs, &keys, inputs.initiator)?;
        Ok(Keyed { algs: inputs.algs, keys, sk })
    }

    /// IKE_AUTH verified the peer: the SA is established with the identity
    /// the proof covers.
    pub fn establish(self, proof: AuthVerified) -> Established {
        Established { keyed: self, peer_id: proof.into_peer_id() }
    }
}

/// After IKE_AUTH: keyed, and the peer's identity verified.
pub(crate) struct Established {
    pub keyed: Keyed,
    pub peer_id: Identity,
}

impl Established {
    /// The IKE SA that replaces this one (§2.18): SKEYSEED = prf(SK_d (old),
    /// g^ir (new) | Ni | Nr); the same authenticated peer.
    pub fn rekeyed(&self, gir: &[u8], inputs: KeyInputs<'_>) -> Result<Established, KeyingError> {
        let seed = skeyseed_rekey(self.keyed.algs.prf, &self.keyed.keys.sk_d, gir, inputs.ni, inputs.nr);
        Ok(Established { keyed: Keyed::from_seed(&seed, inputs)?, peer_id: self.peer_id.clone() })
    }
}

/// The key and authentication state an [`crate::ike_sa::IkeSa`] holds.
pub(crate) enum KeyState {
    Unkeyed(Unkeyed),
    Keyed(Keyed),
    Established(Established),
}

impl Default for KeyState {
    fn default() -> KeyState {
        KeyState::Unkeyed(Unkeyed::default())
    }
}

impl KeyState {
    /// The keys, once IKE_SA_INIT is done (keyed or established).
    pub fn keyed(&self) -> Option<&Keyed> {
        match self {
            KeyState::Unkeyed(_) => None,
            KeyState::Keyed(k) => Some(k),
            KeyState::Established(e) => Some(&e.keyed),
        }
    }

    pub fn established(&self) -> Option<&Established> {
        match self {
            KeyState::Established(e) => Some(e),
            _ => None,
        }
    }

    pub fn algs(&self) -> Option<IkeAlgs> {
        self.keyed().map(|k| k.algs)
    }

    pub fn sk(&self) -> Option<&SkCrypto> {
        self.keyed().map(|k| &k.sk)
    }

    /// The authenticated peer identity.
    pub fn peer_id(&self) -> Option<&Identity> {
        self.established().map(|e| &e.peer_id)
    }

    /// Initiator: our pending key exchange, for the IKE_SA_INIT request.
    pub fn pending_ke(&self) -> Option<&KeyExchange> {
        match self {
            KeyState::Unkeyed(u) => u.ke.as_ref(),
            _ => None,
        }
    }

    /// Initiator: a fresh key exchange (a first try, or a retry after
    /// COOKIE or INVALID_KE_PAYLOAD). Only before the SA is keyed.
    pub fn start_key_exchange(&mut self, ke: KeyExchange) {
        if let KeyState::Unkeyed(u) = self {
            u.ke = Some(ke);
        }
    }

    /// Takes the unkeyed state out for its transition; leaves a keyed or
    /// established state alone (`None`).
    pub fn take_unkeyed(&mut self) -> Option<Unkeyed> {
        match self {
            KeyState::Unkeyed(u) => Some(std::mem::take(u)),
            _ => None,
        }
    }

    /// Keyed → Established with the proof that the peer's AUTH verified.
    /// Returns `false` (and changes nothing) in any other state.
    pub fn establish(&mut self, proof: AuthVerified) -> bool {
        match std::mem::take(self) {
            KeyState::Keyed(k) => {
                *self = KeyState::Established(k.establish(proof));
                true
            }
            other => {
                *self = other;
                false
            }
        }
    }
}
