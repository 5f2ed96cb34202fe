//! Fuzzes the IKEv2 message parser: the header, the payload chain and every
//! payload body (SA/proposals/transforms, KE, IDs, CERT, AUTH, Nonce, Notify,
//! Delete, TS, CP, SK/SKF). Whatever parses must re-encode and parse again
//! to the same payloads, except an SA payload whose proposals all name
//! unknown protocols: it parses to no proposals (RFC 7296 §3.3.1: they are
//! ignored, and the exchange answers NO_PROPOSAL_CHOSEN) and an SA payload
//! of no proposals has no encoding.
//!
//! (Was a target of `host/ike/fuzz`; now run by `scripts/fuzz`.)
use esprit_ike::message::payload::{emit_chain, parse_chain, Payload};
use esprit_ike::message::Header;

pub fn run(data: &[u8]) {
    let Ok(h) = Header::parse(data) else { return };
    let body = &data[esprit_ike::message::HEADER_LEN..h.length as usize];
    if let Ok(ps) = parse_chain(h.next_payload, body) {
        if ps.iter().any(|p| matches!(p, Payload::Sa(props) if props.is_empty())) {
            return;
        }
        let mut again = Vec::new();
        let first = emit_chain(&ps, &mut again);
        let re = parse_chain(first, &again).expect("re-encoded payloads parse");
        assert_eq!(re, ps);
    }
}
