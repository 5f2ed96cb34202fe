//! Two IKE endpoints in one process over a simulated network with virtual
//! time and seeded loss, duplication and reordering.
#![allow(dead_code)]
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use esprit_crypto::prf::prf;
use esprit_ike::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// RFC 7296 §2.15 shared-key MIC, natively (the Wasm plugin does the same).
pub struct Psk(pub HashMap<String, Vec<u8>>);

impl AuthBackend for Psk {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, i: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        let key = self.0.get(i.conn).ok_or("no psk")?;
        let k = prf(i.prf, key, b"Key Pad for IKEv2");
        Ok(prf(i.prf, &k, i.signed_octets))
    }
    fn verify(&mut self, b: &str, i: &AuthInput<'_>, method: u8, data: &[u8]) -> Result<bool, AuthError> {
        if method != 2 {
            return Err(format!("method {method}").into());
        }
        Ok(self.produce(b, i)? == data)
    }
}

pub const A: &str = "192.0.2.1:500";
pub const B: &str = "192.0.2.2:500";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn peer(name: &str, remote: Option<&str>, local_id: &str, remote_id: &str, ike: &str, esp: &str, local_ts: &str, remote_ts: &str) -> PeerConfig {
    let list = |v: &str| v.split(',').map(|t| TrafficSelector::parse(t).unwrap()).collect();
    let props = |v: &str, p| v.split(',').map(|x| ProposalSpec::parse(x, p).unwrap()).collect();
    let child = ChildConfig::tunnel("net", props(esp, ProtocolId::Esp), list(local_ts), list(remote_ts));
    PeerConfig::new(
        name,
        remote.map(|r| addr(r).ip()),
        Identity::parse(local_id).unwrap(),
        Some(Identity::parse(remote_id).unwrap()),
        "psk",
        props(ike, ProtocolId::Ike),
        vec![child],
    )
}

pub fn default_pair() -> (PeerConfig, PeerConfig) {
    (
        peer("ab", Some(B), "a.example", "b.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.1.0.0/16", "10.2.0.0/16"),
        peer("ba", Some(A), "b.example", "a.example", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "10.2.0.0/24", "10.1.0.0/24"),
    )
}

/// Network impairments.
#[derive(Clone, Copy, Default)]
pub struct Impair {
    pub loss: f64,
    pub dup: f64,
    /// Max extra delay in ms (reordering).
    pub jitter_ms: u64,
    /// Drop everything to/from B (dead peer).
    pub b_dead: bool,
    /// Drop the first n packets.
    pub drop_first: usize,
}

pub struct Side {
    pub ep: Endpoint,
    pub addr: SocketAddr,
    pub events: Vec<String>,
    /// Installed CHILD_SAs by inbound SPI.
    pub children: HashMap<Spi, ChildSaUp>,
    pub ike_up: usize,
    pub ike_down: Vec<String>,
    pub setup_failed: Vec<String>,
    pub vips: Vec<std::net::Ipv4Addr>,
    /// The outbound SPI we send on, per CHILD_SA lineage (reqid).
    pub sending: HashMap<u32, Spi>,
    /// Outbound switches and why (`ChildOutbound`).
    pub switches: Vec<&'static str>,
}

pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub base: Instant,
    pub now: Instant,
    pub net: Vec<(Instant, bool, Transmit)>,
    pub rng: StdRng,
    pub imp: Impair,
    pub sent: usize,
    /// Times a side started sending on an SPI the other side had not
    /// installed as inbound yet (its packets would be dropped).
    pub early_switches: Vec<String>,
}

fn side(p: PeerConfig, psk: &[u8], addr: SocketAddr, cfg: EndpointConfig, seed: u64) -> Side {
    let mut m = HashMap::new();
    m.insert(p.name.clone(), psk.to_vec());
    Side {
        ep: Endpoint::new(cfg, vec![p], Box::new(Psk(m)), Box::new(StdRng::seed_from_u64(seed))),
        addr,
        events: vec![],
        children: HashMap::new(),
        ike_up: 0,
        ike_down: vec![],
        setup_failed: vec![],
        vips: vec![],
        sending: HashMap::new(),
        switches: vec![],
    }
}

impl Pair {
    pub fn new(pa: PeerConfig, pb: PeerConfig, psk_a: &[u8], psk_b: &[u8], seed: u64, imp: Impair) -> Pair {
        Pair::with_cfg(pa, pb, psk_a, psk_b, seed, imp, EndpointConfig::default(), EndpointConfig::default())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn with_cfg(pa: PeerConfig, pb: PeerConfig, psk_a: &[u8], psk_b: &[u8], seed: u64, imp: Impair, ca: EndpointConfig, cb: EndpointConfig) -> Pair {
        let base = Instant::now();
        Pair {
            a: side(pa, psk_a, addr(A), ca, seed * 2 + 1),
            b: side(pb, psk_b, addr(B), cb, seed * 2 + 2),
            base,
            now: base,
            net: vec![],
            rng: StdRng::seed_from_u64(seed),
            imp,
            sent: 0,
            early_switches: vec![],
        }
    }

    fn collect(&mut self) {
        let mut switched = Vec::new();
        for (to_b, s) in [(true, &mut self.a), (false, &mut self.b)] {
            while let Some(t) = s.ep.poll_transmit() {
                self.sent += 1;
                if self.sent <= self.imp.drop_first || self.imp.b_dead || self.rng.gen_bool(self.imp.loss) {
                    continue;
                }
                let delay = Duration::from_millis(1 + if self.imp.jitter_ms > 0 { self.rng.gen_range(0..self.imp.jitter_ms) } else { 0 });
                if self.rng.gen_bool(self.imp.dup) {
                    self.net.push((self.now + delay + Duration::from_millis(3), to_b, t.clone()));
                }
                self.net.push((self.now + delay, to_b, t));
            }
            while let Some(e) = s.ep.poll_event() {
                s.events.push(format!("{e:?}"));
                match e {
                    Event::ChildUp(c) => {
                        if let Some(old) = c.replaces {
                            assert!(s.children.contains_key(&old), "rekey of an unknown child");
                        }
                        if !c.defer_outbound {
                            s.sending.insert(c.reqid, c.spi_out);
                            // A first CHILD_SA has no older SA to send on.
                            if c.replaces.is_some() {
                                switched.push((to_b, c.spi_out));
                            }
                        }
                        s.children.insert(c.spi_in, c);
                    }
                    Event::ChildOutbound { reqid, spi_out, why, .. } => {
                        s.sending.insert(reqid, spi_out);
                        s.switches.push(why);
                        switched.push((to_b, spi_out));
                    }
                    Event::ChildDown { spi_in, .. } => {
                        s.children.remove(&spi_in);
                    }
                    Event::IkeUp { .. } => s.ike_up += 1,
                    Event::IkeDown { reason, .. } => s.ike_down.push(reason),
                    Event::SetupFailed { reason, .. } => s.setup_failed.push(reason),
                    Event::VirtualIp { addr, .. } => s.vips.push(addr),
                }
            }
        }
        for (a_sends, spi) in switched {
            let other = if a_sends { &self.b } else { &self.a };
            if !other.children.contains_key(&spi) {
                self.early_switches.push(format!("{} sends on {spi:08x} before the peer installed it", if a_sends { "A" } else { "B" }));
            }
        }
    }

    /// Runs the simulation for `d` of virtual time.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.collect();
            let next_pkt = self.net.iter().map(|(t, _, _)| *t).min();
            let next_tmr = [self.a.ep.poll_timeout(), self.b.ep.poll_timeout()].into_iter().flatten().min();
            let next = [next_pkt, next_tmr].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                break;
            };
            self.now = next.max(self.now);
            // Deliver due packets.
            let mut due = Vec::new();
            self.net.retain(|(t, to_b, tx)| {
                if *t <= next {
                    due.push((*to_b, tx.clone()));
                    false
                } else {
                    true
                }
            });
            for (to_b, tx) in due {
                let (s, src) = if to_b { (&mut self.b, self.a.addr) } else { (&mut self.a, self.b.addr) };
                let _ = src;
                s.ep.handle_datagram(self.now, tx.remote, tx.local, &tx.data);
            }
            self.a.ep.handle_timeout(self.now);
            self.b.ep.handle_timeout(self.now);
        }
        self.collect();
    }

    pub fn initiate(&mut self) {
        let a = self.a.addr;
        self.a.ep.initiate(self.now, "ab", a, None).unwrap();
    }

    /// Every CHILD_SA on A has a mirror on B with the same keys.
    pub fn assert_children_match(&self) {
        assert_eq!(self.a.children.len(), self.b.children.len(), "A {:?}\nB {:?}", self.a.children.keys(), self.b.children.keys());
        for (spi, ca) in &self.a.children {
            let cb = self.b.children.get(&ca.spi_out).unwrap_or_else(|| panic!("B lacks the SA {:08x}", ca.spi_out));
            assert_eq!(cb.spi_out, *spi);
            assert_eq!(*ca.enc_out, *cb.enc_in);
            assert_eq!(*ca.enc_in, *cb.enc_out);
            assert_eq!(*ca.integ_out, *cb.integ_in);
            assert_eq!(ca.algs, cb.algs);
        }
    }
}
