//! Which payloads each message may carry (RFC 7296 §1.2–§1.5, §3.14),
//! as one table checked before any exchange handler sees a message, in the
//! manner of strongSwan's `encoding/message.c`.
//!
//! Per exchange type and direction: the payload types allowed, how many of
//! each, and whether they must be inside the Encrypted payload (SK). An
//! error Notify (or a COOKIE in an IKE_SA_INIT response, §2.6) lifts the
//! minimum counts of a response: a refusal carries only notifies. Payload
//! types we do not know (non-critical, §2.5) are skipped, as the parser
//! does; maxima follow strongSwan's, so whatever it sends passes.
use crate::message::Payload;
use crate::types::{notify, payload_type as pt, ExchangeType};

/// Most Notify, Vendor ID, Delete, CERT and CERTREQ payloads per message.
const MAX_NOTIFY: u8 = 20;
const MAX_VENDOR: u8 = 20;
const MAX_DELETE: u8 = 20;
const MAX_CERT: u8 = 8;
const MAX_CERTREQ: u8 = 20;

/// How often one payload type may appear in a message, and where.
#[derive(Debug, Clone, Copy)]
pub struct PayloadRule {
    pub ptype: u8,
    pub min: u8,
    pub max: u8,
    /// Inside SK (`true`) or in the clear (`false`).
    pub encrypted: bool,
}

/// The payload rules of one exchange type and direction.
#[derive(Debug, Clone, Copy)]
pub struct MessageRule {
    pub exchange: ExchangeType,
    pub response: bool,
    /// An error Notify (or COOKIE, in IKE_SA_INIT) lifts the minimums.
    pub refusal_suffices: bool,
    pub payloads: &'static [PayloadRule],
}

const fn plain(ptype: u8, min: u8, max: u8) -> PayloadRule {
    PayloadRule { ptype, min, max, encrypted: false }
}

const fn sk(ptype: u8, min: u8, max: u8) -> PayloadRule {
    PayloadRule { ptype, min, max, encrypted: true }
}

/// The table (RFC 7296 §1.2 IKE_SA_INIT/IKE_AUTH, §1.3 CREATE_CHILD_SA,
/// §1.4 INFORMATIONAL; EAP is not listed, so it is skipped like unknown types).
/// CREATE_CHILD_SA requests and responses carry the same payloads (RFC 7296
/// §1.3); a refusal response carries only its NOTIFY.
const CREATE_CHILD_SA: &[PayloadRule] = &[
    sk(pt::SA, 1, 1),
    sk(pt::NONCE, 1, 1),
    sk(pt::KE, 0, 1),
    sk(pt::TSI, 0, 1),
    sk(pt::TSR, 0, 1),
    sk(pt::CP, 0, 1),
    sk(pt::NOTIFY, 0, MAX_NOTIFY),
    sk(pt::VENDOR, 0, MAX_VENDOR),
];

/// INFORMATIONAL requests and responses (RFC 7296 §1.4).
const INFORMATIONAL: &[PayloadRule] = &[sk(pt::NOTIFY, 0, MAX_NOTIFY), sk(pt::DELETE, 0, MAX_DELETE), sk(pt::CP, 0, 1), sk(pt::VENDOR, 0, MAX_VENDOR)];

pub static MESSAGE_RULES: &[MessageRule] = &[
    MessageRule {
        exchange: ExchangeType::IkeSaInit,
        response: false,
        refusal_suffices: false,
        payloads: &[plain(pt::SA, 1, 1), plain(pt::KE, 1, 1), plain(pt::NONCE, 1, 1), plain(pt::NOTIFY, 0, MAX_NOTIFY), plain(pt::VENDOR, 0, MAX_VENDOR)],
    },
    MessageRule {
        exchange: ExchangeType::IkeSaInit,
        response: true,
        refusal_suffices: true,
        payloads: &[
            plain(pt::SA, 1, 1),
            plain(pt::KE, 1, 1),
            plain(pt::NONCE, 1, 1),
            plain(pt::CERTREQ, 0, MAX_CERTREQ),
            plain(pt::NOTIFY, 0, MAX_NOTIFY),
            plain(pt::VENDOR, 0, MAX_VENDOR),
        ],
    },
    MessageRule {
        exchange: ExchangeType::IkeAuth,
        response: false,
        refusal_suffices: false,
        payloads: &[
            sk(pt::IDI, 1, 1),
            sk(pt::CERT, 0, MAX_CERT),
            sk(pt::CERTREQ, 0, MAX_CERTREQ),
            sk(pt::IDR, 0, 1),
            sk(pt::AUTH, 0, 1),
            sk(pt::CP, 0, 1),
            sk(pt::SA, 0, 1),
            sk(pt::TSI, 0, 1),
            sk(pt::TSR, 0, 1),
            sk(pt::NOTIFY, 0, MAX_NOTIFY),
            sk(pt::VENDOR, 0, MAX_VENDOR),
        ],
    },
    MessageRule {
        exchange: ExchangeType::IkeAuth,
        response: true,
        refusal_suffices: true,
        payloads: &[
            sk(pt::IDR, 1, 1),
            sk(pt::CERT, 0, MAX_CERT),
            sk(pt::AUTH, 0, 1),
            sk(pt::CP, 0, 1),
            sk(pt::SA, 0, 1),
            sk(pt::TSI, 0, 1),
            sk(pt::TSR, 0, 1),
            sk(pt::NOTIFY, 0, MAX_NOTIFY),
            sk(pt::VENDOR, 0, MAX_VENDOR),
        ],
    },
    MessageRule {
        exchange: ExchangeType::CreateChildSa,
        response: false,
        refusal_suffices: false,
        payloads: CREATE_CHILD_SA,
    },
    MessageRule {
        exchange: ExchangeType::CreateChildSa,
        response: true,
        refusal_suffices: true,
        payloads: CREATE_CHILD_SA,
    },
    MessageRule {
        exchange: ExchangeType::Informational,
        response: false,
        refusal_suffices: false,
        payloads: INFORMATIONAL,
    },
    MessageRule {
        exchange: ExchangeType::Informational,
        response: true,
        refusal_suffices: false,
        payloads: INFORMATIONAL,
    },
];

/// The RFC 7296 §3.2 name of a payload type.
pub fn payload_name(ptype: u8) -> &'static str {
    match ptype {
        pt::SA => "SA",
        pt::KE => "KE",
        pt::IDI => "IDi",
        pt::IDR => "IDr",
        pt::CERT => "CERT",
        pt::CERTREQ => "CERTREQ",
        pt::AUTH => "AUTH",
        pt::NONCE => "Nonce",
        pt::NOTIFY => "Notify",
        pt::DELETE => "Delete",
        pt::VENDOR => "Vendor ID",
        pt::TSI => "TSi",
        pt::TSR => "TSr",
        pt::SK => "SK",
        pt::CP => "CP",
        pt::EAP => "EAP",
        pt::SKF => "SKF",
        _ => "unknown",
    }
}

fn direction(response: bool) -> &'static str {
    if response {
        "response"
    } else {
        "request"
    }
}

/// A message that breaks the payload rules; `Display` is the log text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("{exchange:?} {} without its {} payload", direction(*response), payload_name(*ptype))]
    Missing { exchange: ExchangeType, response: bool, ptype: u8 },
    #[error("{exchange:?} {} with {count} {} payloads (at most {max})", direction(*response), payload_name(*ptype))]
    TooMany { exchange: ExchangeType, response: bool, ptype: u8, count: usize, max: u8 },
    #[error("{} payload not allowed in an {exchange:?} {}", payload_name(*ptype), direction(*response))]
    NotAllowed { exchange: ExchangeType, response: bool, ptype: u8 },
    /// RFC 7296 §3.14: after IKE_SA_INIT, payloads travel inside SK.
    #[error("{} payload outside the encrypted payload in an {exchange:?} {}", payload_name(*ptype), direction(*response))]
    NotEncrypted { exchange: ExchangeType, response: bool, ptype: u8 },
    /// IKE_SA_INIT has no keys yet: nothing in it is encrypted.
    #[error("{} payload encrypted in an {exchange:?} {}", payload_name(*ptype), direction(*response))]
    Encrypted { exchange: ExchangeType, response: bool, ptype: u8 },
}

/// The rules for an exchange and direction, if the table has them.
pub fn rule_for(exchange: ExchangeType, response: bool) -> Option<&'static MessageRule> {
    MESSAGE_RULES.iter().find(|r| r.exchange == exchange && r.response == response)
}

/// Checks a decoded message: `outside` are the payloads in the clear (an
/// SK/SKF payload among them is the container, not counted), `inside` those
/// decrypted from SK. Exchanges the table does not list pass unchecked (the
/// endpoint answers them as unexpected).
pub fn check(exchange: ExchangeType, response: bool, outside: &[Payload], inside: &[Payload]) -> Result<(), RuleViolation> {
    let Some(rule) = rule_for(exchange, response) else { return Ok(()) };
    let seen = outside.iter().map(|p| (p, false)).chain(inside.iter().map(|p| (p, true))).filter(|(p, _)| !matches!(p, Payload::Sk { .. } | Payload::Skf { .. } | Payload::Unknown { .. }));
    let mut counts = [0usize; 256];
    for (p, encrypted) in seen {
        let ptype = p.ptype();
        let Some(r) = rule.payloads.iter().find(|r| r.ptype == ptype) else {
            return Err(RuleViolation::NotAllowed { exchange, response, ptype });
        };
        if r.encrypted && !encrypted {
            return Err(RuleViolation::NotEncrypted { exchange, response, ptype });
        }
        if !r.encrypted && encrypted {
            return Err(RuleViolation::Encrypted { exchange, response, ptype });
        }
        counts[usize::from(ptype)] += 1;
    }
    let refusal = rule.refusal_suffices
        && outside.iter().chain(inside).any(|p| matches!(p, Payload::Notify(x) if notify::is_error(x.ntype) || (exchange == ExchangeType::IkeSaInit && x.ntype == notify::COOKIE)));
    for r in rule.payloads {
        let count = counts[usize::from(r.ptype)];
        if count > usize::from(r.max) {
            return Err(RuleViolation::TooMany { exchange, response, ptype: r.ptype, count, max: r.max });
        }
        if count < usize::from(r.min) && !refusal {
            return Err(RuleViolation::Missing { exchange, response, ptype: r.ptype });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::sa::{Proposal, Transform};
    use crate::message::{Cp, Identity, Notify, TrafficSelector};
    use crate::types::{notify as n, ProtocolId};

    fn sa() -> Payload {
        Payload::Sa(vec![Proposal { num: 1, protocol: ProtocolId::Ike, spi: Vec::new(), transforms: vec![Transform { ttype: 1, id: 20, key_len: Some(128) }] }])
    }
    fn ke() -> Payload {
        Payload::Ke { group: 31, data: vec![1; 32] }
    }
    fn nonce() -> Payload {
        Payload::Nonce(vec![2; 32])
    }
    fn notify(t: u16) -> Payload {
        Payload::Notify(Notify::new(t, Vec::new()))
    }
    fn id() -> Identity {
        Identity::parse("a.example").expect("an FQDN")
    }
    fn ts() -> Vec<TrafficSelector> {
        vec![TrafficSelector::from_prefix("10.0.0.0".parse().expect("an address"), 24)]
    }
    fn sk_container() -> Payload {
        Payload::Sk { inner: pt::IDI, body: vec![0; 32] }
    }

    #[test]
    fn well_formed_messages_of_every_exchange_pass() {
        use ExchangeType::*;
        // IKE_SA_INIT as strongSwan sends it: notifies and vendor IDs around the core.
        let init_req = [sa(), ke(), nonce(), notify(n::NAT_DETECTION_SOURCE_IP), notify(n::NAT_DETECTION_DESTINATION_IP), notify(n::IKEV2_FRAGMENTATION_SUPPORTED), Payload::Vendor(vec![1; 16]), Payload::Vendor(vec![2; 16])];
        assert_eq!(check(IkeSaInit, false, &init_req, &[]), Ok(()));
        let init_resp = [sa(), ke(), nonce(), notify(n::NAT_DETECTION_SOURCE_IP), Payload::CertReq { encoding: 4, data: vec![3; 20] }, Payload::Vendor(vec![1; 16])];
        assert_eq!(check(IkeSaInit, true, &init_resp, &[]), Ok(()));
        let auth_req = [
            Payload::IdI(id()),
            Payload::Cert { encoding: 4, data: vec![4; 64] },
            notify(n::INITIAL_CONTACT),
            Payload::CertReq { encoding: 4, data: vec![] },
            Payload::IdR(id()),
            Payload::Auth { method: 2, data: vec![5; 32] },
            Payload::Cp(Cp { cfg_type: 1, attrs: vec![] }),
            sa(),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
            notify(n::MOBIKE_SUPPORTED),
            Payload::Unknown { ptype: pt::EAP, body: vec![] },
        ];
        assert_eq!(check(IkeAuth, false, &[sk_container()], &auth_req), Ok(()));
        let auth_resp = [Payload::IdR(id()), Payload::Auth { method: 2, data: vec![5; 32] }, sa(), Payload::TsI(ts()), Payload::TsR(ts())];
        assert_eq!(check(IkeAuth, true, &[sk_container()], &auth_resp), Ok(()));
        let child = [notify(n::REKEY_SA), sa(), nonce(), ke(), Payload::TsI(ts()), Payload::TsR(ts())];
        assert_eq!(check(CreateChildSa, false, &[sk_container()], &child), Ok(()));
        assert_eq!(check(CreateChildSa, true, &[sk_container()], &child), Ok(()));
        let delete = [Payload::Delete { protocol: 3, spi_size: 4, spis: vec![vec![1, 2, 3, 4]] }];
        assert_eq!(check(Informational, false, &[sk_container()], &delete), Ok(()));
        assert_eq!(check(Informational, true, &[sk_container()], &[]), Ok(()));
    }

    #[test]
    fn refusals_need_only_their_notify() {
        use ExchangeType::*;
        for t in [n::NO_PROPOSAL_CHOSEN, n::INVALID_KE_PAYLOAD, n::COOKIE] {
            assert_eq!(check(IkeSaInit, true, &[notify(t)], &[]), Ok(()), "{}", n::name(t));
        }
        assert_eq!(check(IkeAuth, true, &[sk_container()], &[notify(n::AUTHENTICATION_FAILED)]), Ok(()));
        assert_eq!(check(CreateChildSa, true, &[sk_container()], &[notify(n::TS_UNACCEPTABLE)]), Ok(()));
        // A status notify is no refusal: the mandatory payloads are still missing.
        let e = check(IkeSaInit, true, &[notify(n::NAT_DETECTION_SOURCE_IP)], &[]);
        assert_eq!(e, Err(RuleViolation::Missing { exchange: IkeSaInit, response: true, ptype: pt::SA }));
        // Requests are never refusals.
        let e = check(IkeSaInit, false, &[notify(n::NO_PROPOSAL_CHOSEN)], &[]);
        assert!(matches!(e, Err(RuleViolation::Missing { .. })));
    }

    #[test]
    fn violations_are_named() {
        use ExchangeType::*;
        let e = check(IkeSaInit, false, &[sa(), nonce()], &[]);
        assert_eq!(e, Err(RuleViolation::Missing { exchange: IkeSaInit, response: false, ptype: pt::KE }));
        assert_eq!(e.unwrap_err().to_string(), "IkeSaInit request without its KE payload");
        let e = check(IkeSaInit, false, &[sa(), sa(), ke(), nonce()], &[]);
        assert_eq!(e, Err(RuleViolation::TooMany { exchange: IkeSaInit, response: false, ptype: pt::SA, count: 2, max: 1 }));
        let e = check(IkeSaInit, false, &[sa(), ke(), nonce(), Payload::TsI(ts())], &[]);
        assert_eq!(e, Err(RuleViolation::NotAllowed { exchange: IkeSaInit, response: false, ptype: pt::TSI }));
        // IDi in the clear in front of SK.
        let e = check(IkeAuth, false, &[Payload::IdI(id()), sk_container()], &[Payload::Auth { method: 2, data: vec![] }]);
        assert_eq!(e, Err(RuleViolation::NotEncrypted { exchange: IkeAuth, response: false, ptype: pt::IDI }));
        let e = check(IkeAuth, false, &[sk_container()], &[Payload::Auth { method: 2, data: vec![] }]);
        assert_eq!(e, Err(RuleViolation::Missing { exchange: IkeAuth, response: false, ptype: pt::IDI }));
        let e = check(Informational, false, &[sk_container()], &[sa()]);
        assert_eq!(e, Err(RuleViolation::NotAllowed { exchange: Informational, response: false, ptype: pt::SA }));
        let many: Vec<Payload> = (0..21).map(|_| notify(n::INITIAL_CONTACT)).collect();
        assert!(matches!(check(Informational, true, &[sk_container()], &many), Err(RuleViolation::TooMany { count: 21, .. })));
        // Exchanges outside the table are left to the endpoint.
        assert_eq!(check(Other(43), false, &[sa()], &[]), Ok(()));
    }
}
