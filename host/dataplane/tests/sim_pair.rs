//! A simulated pair: two gateways, each an IKE endpoint (sans-IO) and a data
//! plane, wired in memory with virtual time and a seeded network that
//! loses, duplicates and reorders both IKE datagrams and ESP packets. No
//! socket, no thread, no clock: the whole life of a tunnel runs in
//! milliseconds and the same seed gives the same run.
//!
//! ACQUIRE (A's first packet has no SA and is held) → IKE_SA_INIT/IKE_AUTH →
//! both CHILD_SAs installed → the held packet is sent and delivered →
//! traffic both ways → CHILD_SA rekey under traffic → delete → SADs empty,
//! and the next packet raises a new ACQUIRE.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use esprit_crypto::prf::prf;
use esprit_dataplane::child::{ConnPolicies, Installed, PolicySpec};
use esprit_dataplane::{Dataplane, Out, PacketBuf};
use esprit_ike::*;
use esprit_sadb::sadb::Sadb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PSK: &[u8] = b"simulated-pair-psk-0123456789";
/// Packets each side sends per virtual second once traffic runs.
const RATE_MS: u64 = 10;

/// RFC 7296 §2.15 shared-key MIC, natively (the Wasm psk plugin does the same).
struct Psk;

impl AuthBackend for Psk {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, i: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        let k = prf(i.prf, PSK, b"Key Pad for IKEv2");
        Ok(prf(i.prf, &k, i.signed_octets))
    }
    fn verify(&mut self, b: &str, i: &AuthInput<'_>, method: u8, data: &[u8]) -> Result<bool, AuthError> {
        Ok(method == 2 && self.produce(b, i)? == data)
    }
}

/// One gateway: protects `inner` behind outer address `addr`.
struct Gw {
    name: &'static str,
    ep: Endpoint,
    dp: Dataplane,
    addr: SocketAddr,
    policies: ConnPolicies,
    /// Installed CHILD_SAs by inbound SPI.
    children: BTreeMap<Spi, Installed>,
    /// Every inbound SPI this side ever installed, in order.
    history: Vec<Spi>,
    /// Tags of the inner packets delivered to this side's applications.
    delivered: Vec<u32>,
    initiations: u32,
    /// Standby outbound SAs that took over (rekeys this side answered).
    switched: u32,
}

enum Wire {
    Ike(Transmit),
    Esp(Vec<u8>),
}

struct Sim {
    a: Gw,
    b: Gw,
    now: Instant,
    /// (due, to B?, what); delivered in due order.
    net: Vec<(Instant, bool, Wire)>,
    rng: StdRng,
    loss: f64,
    dup: f64,
    jitter_ms: u64,
    next_tag: u32,
    /// Tags sent by A and by B.
    sent: [u32; 2],
}

fn ts(s: &str) -> TrafficSelector {
    TrafficSelector::parse(s).expect("traffic selector")
}

fn gw(name: &'static str, me: &str, peer: &str, local: &str, remote: &str, seed: u64, now: Instant) -> Gw {
    let esp = vec![ProposalSpec::parse("aes128gcm16", ProtocolId::Esp).expect("esp")];
    let child = ChildConfig::tunnel("net", esp, vec![ts(local)], vec![ts(remote)]);
    let peer_cfg = PeerConfig::new(
        "ab",
        Some(peer.parse::<IpAddr>().expect("peer")),
        Identity::parse(&format!("{name}.example")).expect("id"),
        None,
        "psk",
        vec![ProposalSpec::parse("aes128gcm16-prfsha256-x25519", ProtocolId::Ike).expect("ike")],
        vec![child],
    );
    let ep = Endpoint::new(EndpointConfig::default(), vec![peer_cfg], Box::new(Psk), Box::new(StdRng::seed_from_u64(seed)));
    let mut dp = Dataplane::new(Sadb::new(), now);
    dp.hold_on_acquire = true;
    let (me_ip, peer_ip): (IpAddr, IpAddr) = (me.parse().expect("me"), peer.parse().expect("peer"));
    let policies = dp
        .add_conn_policies(PolicySpec { local_ts: &ts(local), remote_ts: &ts(remote), proto: ProtocolId::Esp, mode: Mode::Tunnel, local: me_ip, remote: peer_ip, verdict: None, priority: 1000 })
        .expect("conn policies");
    Gw { name, ep, dp, addr: SocketAddr::new(me_ip, 500), policies, children: BTreeMap::new(), history: Vec::new(), delivered: Vec::new(), initiations: 0, switched: 0 }
}

/// An IPv4 UDP packet whose payload is the tag.
fn packet(src: [u8; 4], dst: [u8; 4], tag: u32) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    esprit_esp::ip::fill_ipv4_checksum(&mut p);
    p.extend_from_slice(&[0x13, 0x88, 0x13, 0x88, 0, 12, 0, 0]);
    p.extend_from_slice(&tag.to_be_bytes());
    p
}

fn tag_of(inner: &[u8]) -> Option<u32> {
    inner.get(28..32).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Sim {
    fn new(seed: u64, loss: f64, dup: f64, jitter_ms: u64) -> Sim {
        let now = Instant::now();
        Sim {
            a: gw("a", "192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", seed * 2 + 1, now),
            b: gw("b", "192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", seed * 2 + 2, now),
            now,
            net: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            loss,
            dup,
            jitter_ms,
            next_tag: 0,
            sent: [0, 0],
        }
    }

    fn side(&mut self, to_b: bool) -> &mut Gw {
        if to_b {
            &mut self.b
        } else {
            &mut self.a
        }
    }

    /// Puts something on the impaired network towards B (`to_b`) or A.
    fn transmit(&mut self, to_b: bool, w: Wire) {
        if self.rng.gen_bool(self.loss) {
            return;
        }
        let jitter = if self.jitter_ms > 0 { self.rng.gen_range(0..self.jitter_ms) } else { 0 };
        let due = self.now + Duration::from_millis(1 + jitter);
        if self.rng.gen_bool(self.dup) {
            let copy = match &w {
                Wire::Ike(t) => Wire::Ike(t.clone()),
                Wire::Esp(p) => Wire::Esp(p.clone()),
            };
            self.net.push((due + Duration::from_millis(2), to_b, copy));
        }
        self.net.push((due, to_b, w));
    }

    /// An application on A (`from_a`) or B sends one tagged packet.
    fn app_send(&mut self, from_a: bool) -> u32 {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.sent[usize::from(!from_a)] += 1;
        let p = if from_a { packet([10, 1, 0, 5], [10, 2, 0, 7], tag) } else { packet([10, 2, 0, 7], [10, 1, 0, 5], tag) };
        self.outbound(from_a, &p);
        tag
    }

    fn outbound(&mut self, from_a: bool, p: &[u8]) {
        let now = self.now;
        let mut pb = PacketBuf::new();
        assert!(pb.load(p));
        let out = match self.side(!from_a).dp.outbound(&mut pb, p.len(), now) {
            Some(Out::Protected(esp)) => Some(esp.to_vec()),
            Some(Out::Esp { .. }) => panic!("the simulated pair sends raw ESP (esp_in_udp is off)"),
            Some(Out::Clear(_)) => panic!("a protected flow went out in the clear"),
            None => None,
        };
        if let Some(esp) = out {
            self.transmit(from_a, Wire::Esp(esp));
        }
    }

    /// ACQUIREs, events and transmissions of both sides.
    fn pump(&mut self) {
        for to_b in [true, false] {
            // `to_b`: the side whose output goes to B is A.
            let now = self.now;
            let g = self.side(!to_b);
            let mut wire = Vec::new();
            let mut release = false;
            // Make-before-break (RFC 7296 §2.8): a packet on the new inbound
            // SA of a rekey we answered says the peer installed it.
            let seen: Vec<Spi> = g.children.iter().filter(|(_, i)| i.standby && g.dp.child_inbound_used(i)).map(|(s, _)| *s).collect();
            for spi in seen {
                g.ep.child_inbound_seen(now, spi);
            }
            while let Some(_acq) = g.dp.sadb_mut().poll_acquire() {
                g.initiations += 1;
                let local = g.addr;
                g.ep.initiate(now, "ab", local, None).expect("initiate");
            }
            while let Some(e) = g.ep.poll_event() {
                match e {
                    Event::ChildUp(c) => {
                        let i = g.dp.install_child(&c, g.policies.out, esprit_crypto::default_provider(), 1024, |_| Ok::<(), String>(()), now).expect("install");
                        if let Some(old) = c.replaces {
                            assert!(g.children.contains_key(&old), "{}: rekey of an unknown CHILD_SA {old:08x}", g.name);
                        }
                        g.children.insert(c.spi_in, i);
                        g.history.push(c.spi_in);
                        release = true;
                    }
                    Event::ChildOutbound { spi_in, .. } => {
                        let i = g.children.get_mut(&spi_in).expect("the CHILD_SA of ChildOutbound");
                        g.dp.take_outbound(i).expect("standby SA takes over");
                        g.switched += 1;
                    }
                    Event::ChildDown { spi_in, .. } => {
                        if let Some(i) = g.children.remove(&spi_in) {
                            g.dp.remove_child(&i);
                        }
                    }
                    _ => {}
                }
            }
            while let Some(t) = g.ep.poll_transmit() {
                wire.push(t);
            }
            for t in wire {
                self.transmit(to_b, Wire::Ike(t));
            }
            if release {
                let held = self.side(!to_b).dp.take_held(now);
                for p in held {
                    self.outbound(to_b, &p);
                }
            }
        }
    }

    /// Delivers what is due and runs timers up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.pump();
            let next_net = self.net.iter().map(|(t, _, _)| *t).min();
            let next_tmr = [self.a.ep.poll_timeout(), self.b.ep.poll_timeout()].into_iter().flatten().min();
            let Some(next) = [next_net, next_tmr].into_iter().flatten().min().filter(|t| *t <= until) else {
                self.now = until.max(self.now);
                self.pump();
                return;
            };
            self.now = next.max(self.now);
            let now = self.now;
            let mut due = Vec::new();
            let mut i = 0;
            while i < self.net.len() {
                if self.net[i].0 <= now {
                    due.push(self.net.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|(t, _, _)| *t);
            for (_, to_b, w) in due {
                let g = self.side(to_b);
                match w {
                    Wire::Ike(t) => g.ep.handle_datagram(now, t.remote, t.local, &t.data),
                    Wire::Esp(p) => {
                        let mut pb = PacketBuf::new();
                        assert!(pb.load(&p));
                        if let Some(tag) = g.dp.inbound(&mut pb, p.len(), now).and_then(tag_of) {
                            g.delivered.push(tag);
                        }
                    }
                }
            }
            self.a.ep.handle_timeout(now);
            self.b.ep.handle_timeout(now);
        }
    }

    /// Both sides send one packet every `RATE_MS` for `d`.
    fn traffic(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.app_send(true);
            self.app_send(false);
            let t = self.now + Duration::from_millis(RATE_MS);
            self.run_until(t);
        }
    }

    /// Drops at each side's data plane, by reason.
    fn drops(&self) -> [BTreeMap<&'static str, u64>; 2] {
        [&self.a, &self.b].map(|g| g.dp.drops().iter().map(|(r, n)| (r.as_str(), n)).collect())
    }
}

/// What a run ended with (for the determinism check).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    delivered: [usize; 2],
    drops: [BTreeMap<&'static str, u64>; 2],
    spis: [usize; 2],
}

fn life_of_a_tunnel(seed: u64) -> Outcome {
    let mut s = Sim::new(seed, 0.03, 0.03, 15);
    // 1. A's first packet: no SA, so it is held and an ACQUIRE is raised.
    s.app_send(true);
    assert_eq!((s.a.dp.counters.held, s.a.dp.held_len()), (1, 1), "the first packet is held");
    let t = s.now + Duration::from_secs(10);
    s.run_until(t);
    assert_eq!(s.a.initiations, 1, "one ACQUIRE, one initiation");
    assert_eq!((s.a.children.len(), s.b.children.len()), (1, 1), "one CHILD_SA on each side");
    assert_eq!(s.a.dp.sadb().sad().len(), 2);
    assert_eq!(s.b.dp.sadb().sad().len(), 2);
    // 2. The held packet was sent once the SA was there (the network may
    //    still lose it: the clean-network test checks its delivery).
    assert_eq!(s.a.dp.held_len(), 0);

    // 3. Traffic both ways, a CHILD_SA rekey in the middle, traffic after it.
    s.traffic(Duration::from_secs(1));
    s.a.ep.rekey_children(s.now, "ab").expect("rekey");
    s.traffic(Duration::from_secs(2));
    assert_eq!((s.a.children.len(), s.b.children.len()), (1, 1), "the old CHILD_SA is gone after the rekey: A {:?} B {:?}", s.a.children, s.b.children);
    assert!(s.a.history.len() >= 2 && s.b.history.len() >= 2, "a new CHILD_SA was installed on both sides");
    let (new_a, new_b) = (s.a.history[s.a.history.len() - 1], s.b.history[s.b.history.len() - 1]);
    assert!(s.a.children.contains_key(&new_a) && s.b.children.contains_key(&new_b));
    // Traffic after the rekey used the new SAs.
    let late_from = s.next_tag;
    s.traffic(Duration::from_millis(500));
    let late: Vec<u32> = s.b.delivered.iter().copied().filter(|t| *t >= late_from).collect();
    assert!(!late.is_empty(), "traffic flows after the rekey");
    for g in [&s.a, &s.b] {
        let h = *g.children.keys().next().expect("a CHILD_SA");
        let e = g.dp.sadb().sad().iter().find(|(_, e)| e.info.spi == h).map(|(_, e)| e.state.stats().packets_in).unwrap_or(0);
        assert!(e > 0, "{}: the new inbound SA {h:08x} carried packets", g.name);
    }

    // 4. Every packet delivered at most once (duplicates die in the replay
    //    window), most of them delivered, and nothing dropped for any reason
    //    but the network's duplicates and packets still in flight on an SA
    //    the rekey retired.
    for (g, sent) in [(&s.b, s.sent[0]), (&s.a, s.sent[1])] {
        let unique: BTreeSet<u32> = g.delivered.iter().copied().collect();
        assert_eq!(unique.len(), g.delivered.len(), "{}: a packet was delivered twice", g.name);
        assert!(unique.len() as f64 >= f64::from(sent) * 0.9, "{}: only {} of {sent} packets delivered", g.name, unique.len());
    }
    assert_eq!(s.b.switched, 1, "B, which answered the rekey, switched to the new outbound SA once A could receive on it");
    let drops = s.drops();
    // Make-before-break: B never sent on an SPI before A had installed it.
    assert_eq!(drops[0].get("unknown SPI"), None, "A got packets on an SPI it had not installed: {:?}", drops[0]);
    for (side, d) in ["A", "B"].iter().zip(&drops) {
        for (reason, n) in d {
            let ok = matches!(*reason, "replayed sequence number" | "unknown SPI" | "sequence number too old");
            assert!(ok, "{side}: {n} packet(s) dropped as {reason:?}: {d:?}");
        }
        assert!(d.get("unknown SPI").copied().unwrap_or(0) <= 5, "{side}: too many packets lost to the rekey: {d:?}");
    }

    // 5. Delete: both sides remove their SAs; the next packet raises a new ACQUIRE.
    s.a.ep.terminate(s.now, "ab").expect("terminate");
    let t = s.now + Duration::from_secs(10);
    s.run_until(t);
    assert!(s.a.children.is_empty() && s.b.children.is_empty(), "CHILD_SAs deleted");
    assert_eq!((s.a.dp.sadb().sad().len(), s.b.dp.sadb().sad().len()), (0, 0), "SADs empty");
    s.app_send(true);
    assert_eq!(s.a.dp.held_len(), 1, "the next packet is held for a new ACQUIRE");
    s.pump();
    assert_eq!(s.a.initiations, 2);

    Outcome { delivered: [s.a.delivered.len(), s.b.delivered.len()], drops, spis: [s.a.history.len(), s.b.history.len()] }
}

#[test]
fn acquire_ike_install_release_rekey_delete() {
    for seed in 1..=5 {
        let o = life_of_a_tunnel(seed);
        eprintln!("seed {seed}: {o:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    assert_eq!(life_of_a_tunnel(42), life_of_a_tunnel(42));
}

#[test]
fn the_held_first_packet_is_delivered_on_a_clean_network() {
    let mut s = Sim::new(7, 0.0, 0.0, 0);
    let first = s.app_send(true);
    let t = s.now + Duration::from_secs(5);
    s.run_until(t);
    assert_eq!(s.b.delivered, vec![first], "the packet held during IKE reached B exactly once");
}
