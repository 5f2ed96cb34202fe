//! Fuzzes the responder: a fresh endpoint receives a valid IKE_SA_INIT
//! request mutated by the input, then arbitrary follow-up datagrams on the
//! created SA's SPIs (so the encrypted path is reached with real keys only
//! for valid messages, and every error path is exercised). It must never
//! panic, and its timers must keep working.
//!
//! (Was a target of `host/ike/fuzz`; now run by `scripts/fuzz`.)
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use esprit_ike::*;
use rand::SeedableRng;

struct Psk;
impl AuthBackend for Psk {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, _: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        Ok(vec![0; 32])
    }
    fn verify(&mut self, _: &str, _: &AuthInput<'_>, _: u8, d: &[u8]) -> Result<bool, AuthError> {
        Ok(d == [0; 32])
    }
}

fn peer(name: &str, remote: &str) -> PeerConfig {
    let ike = vec![
        ProposalSpec::parse("aes128gcm16-prfsha256-x25519", ProtocolId::Ike).expect("a constant"),
        ProposalSpec::parse("aes256-sha256-modp2048-ecp256", ProtocolId::Ike).expect("a constant"),
    ];
    let any = || vec![TrafficSelector::parse("0.0.0.0/0").expect("a constant")];
    let child = ChildConfig::tunnel("net", vec![ProposalSpec::parse("aes128gcm16", ProtocolId::Esp).expect("a constant")], any(), any());
    let mut p = PeerConfig::new(name, Some(remote.parse().expect("a constant")), Identity::fqdn(name), None, "psk", ike, vec![child]);
    p.request_vip = true;
    p.pool = Some(("10.3.0.0".parse().expect("a constant"), 30));
    p
}

pub fn run(data: &[u8]) {
    let a: SocketAddr = "192.0.2.1:500".parse().expect("a constant");
    let b: SocketAddr = "192.0.2.2:500".parse().expect("a constant");
    let now = Instant::now();
    // A real initiator produces a valid first message to mutate.
    let mut init = Endpoint::new(EndpointConfig::default(), vec![peer("i", "192.0.2.2")], Box::new(Psk), Box::new(rand::rngs::StdRng::seed_from_u64(1)));
    let mut resp = Endpoint::new(EndpointConfig { cookie_threshold: 2, ..EndpointConfig::default() }, vec![peer("r", "192.0.2.1")], Box::new(Psk), Box::new(rand::rngs::StdRng::seed_from_u64(2)));
    init.initiate(now, "i", a, None).expect("a constant");
    let mut first = init.poll_transmit().expect("a constant").data;
    let mut chunks = data.split(|b| *b == 0xA5);
    if let Some(m) = chunks.next() {
        for w in m.chunks(3) {
            if w.len() == 3 {
                let at = u16::from_be_bytes([w[0], w[1]]) as usize % first.len();
                first[at] ^= w[2];
            }
        }
    }
    resp.handle_datagram(now, b, a, &first);
    // Let the honest pair continue when the first message survived.
    while let Some(t) = resp.poll_transmit() {
        init.handle_datagram(now, a, b, &t.data);
    }
    while let Some(t) = init.poll_transmit() {
        resp.handle_datagram(now, b, a, &t.data);
    }
    // Then arbitrary datagrams, some with the real SPIs spliced in.
    let spis = resp.summaries().first().map(|s| (s.spi_i, s.spi_r));
    for c in chunks {
        let mut m = c.to_vec();
        if let (Some((i, r)), true) = (spis, m.len() >= 16) {
            m[..8].copy_from_slice(&i.0);
            m[8..16].copy_from_slice(&r.0);
        }
        resp.handle_datagram(now, b, a, &m);
    }
    resp.handle_timeout(now + Duration::from_secs(100));
    while resp.poll_transmit().is_some() {}
    while resp.poll_event().is_some() {}
}

/// The datagrams of an honest IKE_SA_INIT + IKE_AUTH exchange between the
/// two endpoints this target uses (seeds for the `ike_message` corpus, see
/// `tests/seeds.rs`).
pub fn honest_exchange() -> Vec<Vec<u8>> {
    let a: SocketAddr = "192.0.2.1:500".parse().expect("a constant");
    let b: SocketAddr = "192.0.2.2:500".parse().expect("a constant");
    let now = Instant::now();
    let mut init = Endpoint::new(EndpointConfig::default(), vec![peer("i", "192.0.2.2")], Box::new(Psk), Box::new(rand::rngs::StdRng::seed_from_u64(1)));
    let mut resp = Endpoint::new(EndpointConfig::default(), vec![peer("r", "192.0.2.1")], Box::new(Psk), Box::new(rand::rngs::StdRng::seed_from_u64(2)));
    let mut out = Vec::new();
    if init.initiate(now, "i", a, None).is_err() {
        return out;
    }
    for _ in 0..4 {
        while let Some(t) = init.poll_transmit() {
            resp.handle_datagram(now, b, a, &t.data);
            out.push(t.data);
        }
        while let Some(t) = resp.poll_transmit() {
            init.handle_datagram(now, a, b, &t.data);
            out.push(t.data);
        }
    }
    out
}
