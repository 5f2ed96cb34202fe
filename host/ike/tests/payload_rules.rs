//! The payload-rule table at the endpoint (RFC 7296 §2.21): an IKE_SA_INIT
//! request that breaks it is answered INVALID_SYNTAX, counted as malformed,
//! and leaves no half-open SA.
mod sim;

use std::time::Instant;

use esprit_ike::message::payload::{emit_chain, parse_chain};
use esprit_ike::message::{Header, Payload, HEADER_LEN};
use esprit_ike::types::notify as n;
use esprit_ike::*;
use rand::SeedableRng;
use sim::*;

const PSK: &[u8] = b"a shared secret of some length";

fn endpoint(name: &str, remote: Option<&str>, local_id: &str, remote_id: &str, seed: u64) -> Endpoint {
    let c = peer(name, remote, local_id, remote_id, "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.1.0.0/24", "10.2.0.0/24");
    let mut m = std::collections::HashMap::new();
    m.insert(name.to_string(), PSK.to_vec());
    Endpoint::new(EndpointConfig::default(), vec![c], Box::new(Psk(m)), Box::new(rand::rngs::StdRng::seed_from_u64(seed)))
}

/// A's IKE_SA_INIT request, its payloads changed by `edit`, re-encoded.
fn edited_init_request(now: Instant, edit: impl Fn(&mut Vec<Payload>)) -> Vec<u8> {
    let mut a = endpoint("ab", Some(B), "a.example", "b.example", 7);
    a.initiate(now, "ab", addr(A), None).unwrap();
    let t = a.poll_transmit().expect("an IKE_SA_INIT request");
    let mut hdr = Header::parse(&t.data).unwrap();
    let mut ps = parse_chain(hdr.next_payload, &t.data[HEADER_LEN..]).unwrap();
    edit(&mut ps);
    let mut body = Vec::new();
    hdr.next_payload = emit_chain(&ps, &mut body);
    hdr.length = (HEADER_LEN + body.len()) as u32;
    let mut m = Vec::new();
    hdr.emit(&mut m);
    m.extend_from_slice(&body);
    m
}

fn answer_of(b: &mut Endpoint) -> Vec<Payload> {
    let t = b.poll_transmit().expect("an answer");
    let hdr = Header::parse(&t.data).unwrap();
    assert!(hdr.is_response());
    parse_chain(hdr.next_payload, &t.data[HEADER_LEN..]).unwrap()
}

/// A change to a request's payloads.
type Edit = fn(&mut Vec<Payload>);

#[test]
fn init_requests_that_break_the_rules_get_invalid_syntax() {
    let now = Instant::now();
    let edits: [(&str, Edit); 3] = [
        ("without KE", |ps| ps.retain(|p| !matches!(p, Payload::Ke { .. }))),
        ("with two SA payloads", |ps| {
            let sa = ps.iter().find(|p| matches!(p, Payload::Sa(_))).cloned().unwrap();
            ps.push(sa);
        }),
        ("with TSi", |ps| ps.push(Payload::TsI(vec![TrafficSelector::parse("10.1.0.0/24").unwrap()]))),
    ];
    for (what, edit) in edits {
        let mut b = endpoint("ba", None, "b.example", "a.example", 1);
        let m = edited_init_request(now, edit);
        b.handle_datagram(now, addr(B), addr(A), &m);
        let ps = answer_of(&mut b);
        assert!(matches!(ps.as_slice(), [Payload::Notify(x)] if x.ntype == n::INVALID_SYNTAX), "{what}: {ps:?}");
        assert_eq!(b.stats().malformed, 1, "{what}");
        assert!(b.summaries().is_empty(), "{what}: no half-open SA");
    }
    // Unchanged, the same request is answered with SA, KE and Nonce.
    let mut b = endpoint("ba", None, "b.example", "a.example", 1);
    b.handle_datagram(now, addr(B), addr(A), &edited_init_request(now, |_| {}));
    assert!(answer_of(&mut b).iter().any(|p| matches!(p, Payload::Ke { .. })));
    assert_eq!(b.stats().malformed, 0);
}
