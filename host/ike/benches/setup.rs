//! IKE SA setups per second: IKE_SA_INIT + IKE_AUTH (PSK, x25519,
//! aes128gcm16/prfsha256) with the first CHILD_SA, both endpoints in this
//! process, one core. The network is a queue; the auth backend is native
//! (the daemon's Wasm psk plugin adds its call cost, measured in
//! host/plugin's benches).
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esprit_crypto::prf::prf;
use esprit_ike::*;
use rand::SeedableRng;

struct Psk(Vec<u8>);

impl AuthBackend for Psk {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, i: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        let k = prf(i.prf, &self.0, b"Key Pad for IKEv2");
        Ok(prf(i.prf, &k, i.signed_octets))
    }
    fn verify(&mut self, b: &str, i: &AuthInput<'_>, _: u8, data: &[u8]) -> Result<bool, AuthError> {
        Ok(self.produce(b, i)? == data)
    }
}

fn peer(name: &str, remote: &str, me: &str, them: &str, group: &str) -> PeerConfig {
    let child = ChildConfig::tunnel(
        "net",
        vec![ProposalSpec::parse("aes128gcm16", ProtocolId::Esp).unwrap()],
        vec![TrafficSelector::parse("10.1.0.0/24").unwrap()],
        vec![TrafficSelector::parse("10.2.0.0/24").unwrap()],
    );
    let ike = vec![ProposalSpec::parse(&format!("aes128gcm16-prfsha256-{group}"), ProtocolId::Ike).unwrap()];
    let remote = Some(remote.parse::<SocketAddr>().unwrap().ip());
    PeerConfig::new(name, remote, Identity::parse(me).unwrap(), Some(Identity::parse(them).unwrap()), "psk", ike, vec![child])
}

/// One full setup; returns when both sides report the CHILD_SA.
fn setup(group: &str) {
    let (a, b): (SocketAddr, SocketAddr) = ("192.0.2.1:500".parse().unwrap(), "192.0.2.2:500".parse().unwrap());
    let pa = peer("ab", "192.0.2.2:500", "a.example", "b.example", group);
    let mut pb = peer("ba", "192.0.2.1:500", "b.example", "a.example", group);
    let ch = &mut pb.children[0];
    std::mem::swap(&mut ch.local_ts, &mut ch.remote_ts);
    let mut ea = Endpoint::new(EndpointConfig::default(), vec![pa], Box::new(Psk(b"bench-psk-0123456789".to_vec())), Box::new(rand::rngs::StdRng::from_entropy()));
    let mut eb = Endpoint::new(EndpointConfig::default(), vec![pb], Box::new(Psk(b"bench-psk-0123456789".to_vec())), Box::new(rand::rngs::StdRng::from_entropy()));
    let now = Instant::now();
    ea.initiate(now, "ab", a, None).unwrap();
    let mut up = 0;
    for _ in 0..8 {
        while let Some(t) = ea.poll_transmit() {
            eb.handle_datagram(now, b, a, &t.data);
        }
        while let Some(t) = eb.poll_transmit() {
            ea.handle_datagram(now, a, b, &t.data);
        }
        for e in std::iter::from_fn(|| ea.poll_event()).chain(std::iter::from_fn(|| eb.poll_event())) {
            if matches!(e, Event::ChildUp(_)) {
                up += 1;
            }
        }
        if up == 2 {
            return;
        }
    }
    panic!("setup did not complete");
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ike_setup");
    g.throughput(Throughput::Elements(1));
    for group in ["x25519", "ecp256", "modp2048"] {
        g.bench_function(format!("psk-aes128gcm16-prfsha256-{group}"), |b| b.iter(|| setup(group)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
