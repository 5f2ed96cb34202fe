//! The boundary to authentication methods: the core computes the signed
//! octets (RFC 7296 §2.15) and a backend (in esprit: a Wasm auth plugin)
//! produces or verifies the AUTH payload data.
use esprit_crypto::prf::PrfAlg;

use crate::message::Identity;

/// Inputs of one AUTH computation.
#[derive(Debug)]
pub struct AuthInput<'a> {
    pub conn: &'a str,
    pub prf: PrfAlg,
    /// The signer is the original initiator.
    pub signer_is_initiator: bool,
    pub local_id: &'a Identity,
    pub peer_id: &'a Identity,
    pub signed_octets: &'a [u8],
    /// DER, end entity first.
    pub peer_certs: &'a [Vec<u8>],
    /// The signer's SK_p (SK_pi or SK_pr): NULL authentication (RFC 7619
    /// §2.1) uses it as the shared key. Backends must not hand it to other
    /// methods.
    pub sk_p: &'a [u8],
}

/// Why a backend could not produce or check AUTH data (as opposed to a
/// signature or MAC that does not verify, which is `Ok(false)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No backend has this name.
    #[error("no auth plugin named {0:?} is loaded")]
    UnknownBackend(String),
    /// The backend's own reason (unknown peer, untrusted certificate, a
    /// plugin trap, ...).
    #[error("{0}")]
    Backend(String),
}

impl From<String> for AuthError {
    fn from(reason: String) -> AuthError {
        AuthError::Backend(reason)
    }
}

impl From<&str> for AuthError {
    fn from(reason: &str) -> AuthError {
        AuthError::Backend(reason.to_string())
    }
}

/// Why our AUTH payload could not be produced, or the peer's was refused
/// (RFC 7296 §2.15); `Display` is the reason logged and put in events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("IKE SA not keyed")]
    NotKeyed,
    #[error("the peer sent no AUTH payload")]
    NoAuthPayload,
    /// Auth Method 2, Shared Key Message Integrity Code (RFC 7296 §3.8).
    #[error("the peer's AUTH (pre-shared key MIC) does not match: the two sides have different pre-shared keys for {peer_id} (plugin {plugin})")]
    SharedKeyMismatch { peer_id: Identity, plugin: String },
    #[error("the peer's AUTH (method {method}) does not verify with plugin {plugin}")]
    DoesNotVerify { method: u8, plugin: String },
    #[error(transparent)]
    Backend(#[from] AuthError),
}

/// Produces and verifies AUTH payload data for named methods.
pub trait AuthBackend: Send {
    /// The IKEv2 Auth Method number a backend uses.
    fn method(&mut self, backend: &str) -> Result<u8, AuthError>;
    /// Our AUTH data.
    fn produce(&mut self, backend: &str, input: &AuthInput<'_>) -> Result<Vec<u8>, AuthError>;
    /// `Ok(true)` authenticated, `Ok(false)` wrong MAC/signature, `Err` a
    /// reason (unknown peer, untrusted certificate, ...).
    fn verify(&mut self, backend: &str, input: &AuthInput<'_>, method: u8, data: &[u8]) -> Result<bool, AuthError>;
}
