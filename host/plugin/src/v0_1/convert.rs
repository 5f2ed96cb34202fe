//! 0.1.0 types ↔ the latest types ([`crate::latest`]). The host works in
//! the latest types only; a 0.1 plugin's flows, decisions and auth contexts
//! cross this file on their way in and out.
use super::auth as old_auth;
use super::{crypto as old_crypto, policy::esprit::plugin::host as old_host, wit as old};
use crate::latest::{auth as new_auth, crypto as new_crypto, policy::esprit::plugin::host as new_host, wit as new};

impl From<&new::IpAddress> for old::IpAddress {
    fn from(a: &new::IpAddress) -> Self {
        match *a {
            new::IpAddress::Ipv4(o) => old::IpAddress::Ipv4(o),
            new::IpAddress::Ipv6(s) => old::IpAddress::Ipv6(s),
        }
    }
}

impl From<old::IpAddress> for new::IpAddress {
    fn from(a: old::IpAddress) -> Self {
        match a {
            old::IpAddress::Ipv4(o) => new::IpAddress::Ipv4(o),
            old::IpAddress::Ipv6(s) => new::IpAddress::Ipv6(s),
        }
    }
}

impl From<&new::Flow> for old::Flow {
    fn from(f: &new::Flow) -> Self {
        old::Flow {
            src: (&f.src).into(),
            dst: (&f.dst).into(),
            proto: f.proto,
            src_port: f.src_port,
            dst_port: f.dst_port,
            direction: match f.direction {
                new::Direction::Inbound => old::Direction::Inbound,
                new::Direction::Outbound => old::Direction::Outbound,
                new::Direction::Forward => old::Direction::Forward,
            },
            iface: f.iface.clone(),
        }
    }
}

impl From<old::SaRequest> for new::SaRequest {
    fn from(r: old::SaRequest) -> Self {
        new::SaRequest {
            proto: match r.proto {
                old::IpsecProto::Esp => new::IpsecProto::Esp,
                old::IpsecProto::Ah => new::IpsecProto::Ah,
            },
            mode: match r.mode {
                old::IpsecMode::Transport => new::IpsecMode::Transport,
                old::IpsecMode::Tunnel => new::IpsecMode::Tunnel,
            },
            tunnel: r.tunnel.map(|t| new::TunnelEndpoints { local: t.local.into(), remote: t.remote.into() }),
            level: match r.level {
                old::Level::Default => new::Level::Default,
                old::Level::Use => new::Level::Use,
                old::Level::Require => new::Level::Require,
                old::Level::Unique(id) => new::Level::Unique(id),
            },
        }
    }
}

impl From<old::Verdict> for new::Verdict {
    fn from(v: old::Verdict) -> Self {
        match v {
            old::Verdict::Bypass => new::Verdict::Bypass,
            old::Verdict::Discard => new::Verdict::Discard,
            old::Verdict::Protect(reqs) => new::Verdict::Protect(reqs.into_iter().map(Into::into).collect()),
            old::Verdict::PrivateOrClear => new::Verdict::PrivateOrClear,
            old::Verdict::Private => new::Verdict::Private,
        }
    }
}

/// Whether a 0.1 verdict uses SAs, i.e. whether 0.1 asks `sa-key` after it.
pub fn uses_sa(v: &old::Verdict) -> bool {
    matches!(v, old::Verdict::Protect(_) | old::Verdict::PrivateOrClear | old::Verdict::Private)
}

/// A 0.1 decision and the answer of its separate `sa-key` call, as one
/// latest decision.
pub fn decision(d: old::Decision, sa_key: Option<u64>) -> new::Decision {
    new::Decision { verdict: d.verdict.into(), cache_ttl_ms: d.cache_ttl_ms, explanation: d.explanation, sa_key }
}

impl From<old_host::LogLevel> for new_host::LogLevel {
    fn from(l: old_host::LogLevel) -> Self {
        match l {
            old_host::LogLevel::Trace => new_host::LogLevel::Trace,
            old_host::LogLevel::Debug => new_host::LogLevel::Debug,
            old_host::LogLevel::Info => new_host::LogLevel::Info,
            old_host::LogLevel::Warn => new_host::LogLevel::Warn,
            old_host::LogLevel::Error => new_host::LogLevel::Error,
        }
    }
}

impl From<old_crypto::HashAlg> for new_crypto::HashAlg {
    fn from(a: old_crypto::HashAlg) -> Self {
        match a {
            old_crypto::HashAlg::Sha256 => new_crypto::HashAlg::Sha256,
            old_crypto::HashAlg::Sha384 => new_crypto::HashAlg::Sha384,
            old_crypto::HashAlg::Sha512 => new_crypto::HashAlg::Sha512,
        }
    }
}

impl From<new_crypto::HashAlg> for old_crypto::HashAlg {
    fn from(a: new_crypto::HashAlg) -> Self {
        match a {
            new_crypto::HashAlg::Sha256 => old_crypto::HashAlg::Sha256,
            new_crypto::HashAlg::Sha384 => old_crypto::HashAlg::Sha384,
            new_crypto::HashAlg::Sha512 => old_crypto::HashAlg::Sha512,
        }
    }
}

impl From<old_crypto::SignatureScheme> for new_crypto::SignatureScheme {
    fn from(s: old_crypto::SignatureScheme) -> Self {
        use new_crypto::SignatureScheme as N;
        use old_crypto::SignatureScheme as O;
        match s {
            O::EcdsaP256Sha256 => N::EcdsaP256Sha256,
            O::EcdsaP384Sha384 => N::EcdsaP384Sha384,
            O::Ed25519 => N::Ed25519,
            O::RsaPssSha256 => N::RsaPssSha256,
            O::RsaPkcs1Sha256 => N::RsaPkcs1Sha256,
            O::RsaPkcs1Sha384 => N::RsaPkcs1Sha384,
            O::RsaPkcs1Sha512 => N::RsaPkcs1Sha512,
        }
    }
}

impl From<&new::Identity> for old::Identity {
    fn from(i: &new::Identity) -> Self {
        match i {
            new::Identity::IpAddr(a) => old::Identity::IpAddr(a.into()),
            new::Identity::Fqdn(s) => old::Identity::Fqdn(s.clone()),
            new::Identity::Rfc822(s) => old::Identity::Rfc822(s.clone()),
            new::Identity::DerAsn1Dn(b) => old::Identity::DerAsn1Dn(b.clone()),
            new::Identity::KeyId(b) => old::Identity::KeyId(b.clone()),
            new::Identity::Null => old::Identity::Null,
        }
    }
}

impl From<&new_auth::AuthContext> for old_auth::AuthContext {
    fn from(c: &new_auth::AuthContext) -> Self {
        old_auth::AuthContext {
            method: c.method,
            prf: c.prf.into(),
            role: match c.role {
                new_auth::IkeRole::Initiator => old_auth::IkeRole::Initiator,
                new_auth::IkeRole::Responder => old_auth::IkeRole::Responder,
            },
            local_id: (&c.local_id).into(),
            peer_id: (&c.peer_id).into(),
            signed_octets: c.signed_octets.clone(),
            peer_certs: c.peer_certs.clone(),
            sk_p: c.sk_p.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_crosses_unchanged() {
        let f = new::Flow {
            src: new::IpAddress::Ipv4((192, 0, 2, 1)),
            dst: new::IpAddress::Ipv6((0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            proto: 6,
            src_port: 1,
            dst_port: 443,
            direction: new::Direction::Forward,
            iface: Some("eth0".into()),
        };
        let o = old::Flow::from(&f);
        assert_eq!((o.proto, o.src_port, o.dst_port, o.direction, o.iface.as_deref()), (6, 1, 443, old::Direction::Forward, Some("eth0")));
        assert!(matches!(new::IpAddress::from(o.dst), new::IpAddress::Ipv6((0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))));
    }

    #[test]
    fn a_decision_takes_the_separate_sa_key() {
        let t = old::TunnelEndpoints { local: old::IpAddress::Ipv4((192, 0, 2, 1)), remote: old::IpAddress::Ipv4((192, 0, 2, 2)) };
        let v = old::Verdict::Protect(vec![old::SaRequest { proto: old::IpsecProto::Ah, mode: old::IpsecMode::Tunnel, tunnel: Some(t), level: old::Level::Unique(7) }]);
        assert!(uses_sa(&v) && !uses_sa(&old::Verdict::Bypass));
        let d = decision(old::Decision { verdict: v, cache_ttl_ms: Some(5), explanation: "x".into() }, Some(9));
        assert_eq!(d.sa_key, Some(9));
        assert_eq!(d.cache_ttl_ms, Some(5));
        let new::Verdict::Protect(reqs) = d.verdict else { panic!("not protect") };
        assert!(matches!(reqs[0].level, new::Level::Unique(7)));
        assert_eq!(reqs[0].proto, new::IpsecProto::Ah);
        assert!(matches!(reqs[0].tunnel.as_ref().map(|t| t.remote), Some(new::IpAddress::Ipv4((192, 0, 2, 2)))));
    }
}
