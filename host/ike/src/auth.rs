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

/// Produces and verifies AUTH payload data for named methods.
pub trait AuthBackend: Send {
    /// The IKEv2 Auth Method number a backend uses.
    fn method(&mut self, backend: &str) -> Result<u8, String>;
    /// Our AUTH data.
    fn produce(&mut self, backend: &str, input: &AuthInput<'_>) -> Result<Vec<u8>, String>;
    /// `Ok(true)` authenticated, `Ok(false)` wrong MAC/signature, `Err` a
    /// reason (unknown peer, untrusted certificate, ...).
    fn verify(&mut self, backend: &str, input: &AuthInput<'_>, method: u8, data: &[u8]) -> Result<bool, String>;
}
