//! The cost of one more IKE SA setup (IKE_SA_INIT + IKE_AUTH with the
//! first CHILD_SA, PSK, x25519) when 10, 1,000 or 10,000 IKE SAs are
//! already established, esprit to esprit in this process. Each step of the
//! simulated network is one event-loop turn on both sides (datagrams, then
//! `poll_timeout`/`handle_timeout`), so per-SA scans would show up here.
//! The new SA is deleted again outside the measurement, so the table stays
//! at its size. Goal (issue 11): 10,000 within 1.5x of 10.
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use esprit_crypto::prf::prf;
use esprit_ike::*;
use rand::SeedableRng;

struct Psk;

impl AuthBackend for Psk {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, i: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        let k = prf(i.prf, b"bench-psk-0123456789", b"Key Pad for IKEv2");
        Ok(prf(i.prf, &k, i.signed_octets))
    }
    fn verify(&mut self, b: &str, i: &AuthInput<'_>, _: u8, data: &[u8]) -> Result<bool, AuthError> {
        Ok(self.produce(b, i)? == data)
    }
}

fn peer(name: &str, remote: Option<SocketAddr>, me: &str, them: &str, l: &str, r: &str) -> PeerConfig {
    let child = ChildConfig::tunnel(
        "net",
        vec![ProposalSpec::parse("aes128gcm16", ProtocolId::Esp).unwrap()],
        vec![TrafficSelector::parse(l).unwrap()],
        vec![TrafficSelector::parse(r).unwrap()],
    );
    let ike = vec![ProposalSpec::parse("aes128gcm16-prfsha256-x25519", ProtocolId::Ike).unwrap()];
    PeerConfig::new(name, remote.map(|a| a.ip()), Identity::parse(me).unwrap(), Some(Identity::parse(them).unwrap()), "psk", ike, vec![child])
}

const PROBE_A: &str = "192.0.2.1:500";
const PROBE_B: &str = "192.0.2.2:500";

struct Net {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
}

impl Net {
    fn new() -> Net {
        let pb: SocketAddr = PROBE_B.parse().unwrap();
        let a_conns = vec![peer("bulk", None, "a.example", "b.example", "10.1.0.0/24", "10.2.0.0/24"), peer("probe", Some(pb), "a.example", "b.example", "10.1.0.0/24", "10.2.0.0/24")];
        let b_conns = vec![peer("ba", None, "b.example", "a.example", "10.2.0.0/24", "10.1.0.0/24")];
        let rng = |s| Box::new(rand::rngs::StdRng::seed_from_u64(s));
        Net {
            a: Endpoint::new(EndpointConfig::default(), a_conns, Box::new(Psk), rng(1)),
            b: Endpoint::new(EndpointConfig::default(), b_conns, Box::new(Psk), rng(2)),
            now: Instant::now(),
        }
    }

    /// Event-loop turns until nothing is in flight; returns CHILD_SAs up.
    fn pump(&mut self) -> usize {
        let mut up = 0;
        for _ in 0..16 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                self.b.handle_datagram(self.now, t.remote, t.local, &t.data);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit() {
                self.a.handle_datagram(self.now, t.remote, t.local, &t.data);
                moved = true;
            }
            for ep in [&mut self.a, &mut self.b] {
                if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                    ep.handle_timeout(self.now);
                }
                while let Some(e) = ep.poll_event() {
                    up += usize::from(matches!(e, Event::ChildUp(_)));
                }
            }
            if !moved {
                break;
            }
        }
        up
    }

    /// Establishes `n` IKE SAs, each between its own pair of addresses.
    fn fill(&mut self, n: u32) {
        for i in 0..n {
            let la = SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 500);
            let ra = SocketAddr::new(Ipv4Addr::from(0x0a80_0000 + i).into(), 500);
            self.a.initiate_to(self.now, "bulk", la, ra, None, None).unwrap();
            if i % 64 == 63 {
                self.pump();
            }
        }
        self.pump();
        assert_eq!(self.a.ike_sa_count(), n as usize);
        assert_eq!(self.b.ike_sa_count(), n as usize);
    }

    /// One setup of the probe connection; returns its duration.
    fn probe(&mut self) -> Duration {
        let t = Instant::now();
        self.a.initiate(self.now, "probe", PROBE_A.parse().unwrap(), None).unwrap();
        assert_eq!(self.pump(), 2, "probe setup");
        let d = t.elapsed();
        self.a.terminate(self.now, "probe").unwrap();
        self.pump();
        d
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ike_setup_with_established");
    for n in [10u32, 1_000, 10_000] {
        let mut net = Net::new();
        net.fill(n);
        g.bench_function(format!("{n}"), |b| b.iter_custom(|iters| (0..iters).map(|_| net.probe()).sum()));
        assert_eq!(net.b.ike_sa_count(), n as usize, "the probe SAs are gone");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
