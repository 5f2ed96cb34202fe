//! The AUTH payload (RFC 7296 §2.15): the octets it signs, ours through the
//! auth backend, and the check of the peer's, whose success is the only way
//! to get an [`AuthVerified`] proof and so an established IKE SA.
use crate::auth::{AuthFailure, AuthInput};
use crate::exchange::auth_proof::AuthVerified;
use crate::ike_sa::state::Keyed;
use crate::ike_sa::{Ctx, IkeSa};
use crate::keymat::maced_id;
use crate::message::{Identity, Payload};

impl IkeSa {
    /// The octets our or the peer's AUTH covers (§2.15):
    /// the signer's IKE_SA_INIT message | the other's nonce | prf(SK_p, IDx').
    fn signed_octets(&self, keyed: &Keyed, signer_is_initiator: bool, id: &Identity) -> Vec<u8> {
        let (msg, nonce, skp) = if signer_is_initiator { (&self.init_request, &self.nr, &keyed.keys.sk_pi) } else { (&self.init_response, &self.ni, &keyed.keys.sk_pr) };
        let mut v = msg.clone();
        v.extend_from_slice(nonce);
        v.extend(maced_id(keyed.algs.prf, skp, &id.body()));
        v
    }

    /// Our AUTH payload.
    pub(crate) fn produce_auth(&self, ctx: &mut Ctx<'_>, local_id: &Identity, peer_id: &Identity) -> Result<Payload, AuthFailure> {
        let conn = &ctx.peers[self.peer];
        let keyed = self.key_state.keyed().ok_or(AuthFailure::NotKeyed)?;
        let octets = self.signed_octets(keyed, self.initiator, local_id);
        let sk_p = if self.initiator { &keyed.keys.sk_pi } else { &keyed.keys.sk_pr };
        let input = AuthInput { conn: &conn.name, prf: keyed.algs.prf, signer_is_initiator: self.initiator, local_id, peer_id, signed_octets: &octets, peer_certs: &[], sk_p };
        let method = ctx.auth.method(&conn.auth)?;
        let data = ctx.auth.produce(&conn.auth, &input)?;
        Ok(Payload::Auth { method, data })
    }

    /// Checks the peer's AUTH payload (and certificates) in `ps`.
    pub(crate) fn verify_auth(&self, ctx: &mut Ctx<'_>, peer_id: &Identity, local_id: &Identity, ps: &[Payload]) -> Result<AuthVerified, AuthFailure> {
        let conn = &ctx.peers[self.peer];
        let Some((method, data)) = ps.iter().find_map(|p| if let Payload::Auth { method, data } = p { Some((*method, data)) } else { None }) else {
            return Err(AuthFailure::NoAuthPayload);
        };
        let certs: Vec<Vec<u8>> = ps.iter().filter_map(|p| if let Payload::Cert { encoding: 4, data } = p { Some(data.clone()) } else { None }).collect();
        let keyed = self.key_state.keyed().ok_or(AuthFailure::NotKeyed)?;
        let octets = self.signed_octets(keyed, !self.initiator, peer_id);
        let sk_p = if self.initiator { &keyed.keys.sk_pr } else { &keyed.keys.sk_pi };
        let input = AuthInput { conn: &conn.name, prf: keyed.algs.prf, signer_is_initiator: !self.initiator, local_id, peer_id, signed_octets: &octets, peer_certs: &certs, sk_p };
        match ctx.auth.verify(&conn.auth, &input, method, data) {
            Ok(true) => Ok(AuthVerified::verified(peer_id.clone())),
            Ok(false) => Err(match method {
                2 => AuthFailure::SharedKeyMismatch { peer_id: peer_id.clone(), plugin: conn.auth.clone() },
                m => AuthFailure::DoesNotVerify { method: m, plugin: conn.auth.clone() },
            }),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike_sa::state::{KeyInputs, KeyState, Keyed};
    use crate::proposal::{Encr, IkeAlgs};
    use crate::types::IkeSpi;
    use esprit_crypto::prf::PrfAlg;

    fn proof(id: &str) -> AuthVerified {
        AuthVerified::verified(Identity::parse(id).expect("an FQDN"))
    }

    #[test]
    fn only_a_keyed_sa_becomes_established_and_with_the_verified_identity() {
        let mut s = KeyState::default();
        assert!(!s.establish(proof("a.example")), "no keys yet");
        assert!(s.keyed().is_none() && s.peer_id().is_none());

        let algs = IkeAlgs { encr: Encr::AesGcm16 { bits: 128 }, prf: PrfAlg::HmacSha256, integ: None, dh: 31 };
        let inputs = KeyInputs { provider: esprit_crypto::default_provider(), algs, ni: &[1; 32], nr: &[2; 32], spi_i: IkeSpi([1; 8]), spi_r: IkeSpi([2; 8]), initiator: true };
        let keyed = Keyed::derive(&[3; 32], inputs).expect("keys");
        let mut s = KeyState::Keyed(keyed);
        assert!(s.peer_id().is_none(), "keyed is not authenticated");
        assert!(s.establish(proof("b.example")));
        let b = Identity::parse("b.example").expect("an FQDN");
        assert_eq!(s.peer_id(), Some(&b));
        assert_eq!(s.algs(), Some(algs));
        // Once established, a second proof changes nothing.
        assert!(!s.establish(proof("c.example")));
        assert_eq!(s.peer_id(), Some(&b));
    }
}
