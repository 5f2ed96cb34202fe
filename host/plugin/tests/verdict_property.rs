//! Property: whatever a plugin returns, no flow is sent in the clear unless
//! the plugin said `bypass` (or a well-formed `protect` whose every request
//! is level `use`, which means "an SA if there is one, else clear" by
//! definition). Random WIT decisions (seeded, reproducible) go through the
//! same boundary as a plugin's answer (conversion, then validation, the
//! failure verdict on a refusal) into a real SPD/SAD with no SA installed
//! (the case where a bad verdict could fall back to clear).
use std::sync::{Arc, Mutex};
use std::time::Instant;

use esprit_plugin::convert::decision_from_wit;
use esprit_plugin::latest::wit;
use esprit_plugin::{check_decision, FailureVerdict};
use esprit_sadb::decider::{Decision, Direction, Flow, Level, PolicyDecider, Verdict};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy};
use esprit_sadb::{Outbound, Sadb, SadbControl};

/// splitmix64: small, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ip(r: &mut Rng) -> wit::IpAddress {
    match r.below(9) {
        0 => wit::IpAddress::Ipv4((0, 0, 0, 0)),
        1 => wit::IpAddress::Ipv4((224, 0, 0, r.below(256) as u8)),
        2 => wit::IpAddress::Ipv4((255, 255, 255, 255)),
        3 => wit::IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 0)),
        4 => wit::IpAddress::Ipv6((0xff02, 0, 0, 0, 0, 0, 0, 1)),
        5 | 6 => wit::IpAddress::Ipv4((192, 0, 2, r.below(3) as u8)),
        _ => wit::IpAddress::Ipv6((0x2001, 0xdb8, 0, 0, 0, 0, 0, r.below(3) as u16)),
    }
}

fn request(r: &mut Rng) -> wit::SaRequest {
    wit::SaRequest {
        proto: if r.below(2) == 0 { wit::IpsecProto::Esp } else { wit::IpsecProto::Ah },
        mode: if r.below(2) == 0 { wit::IpsecMode::Transport } else { wit::IpsecMode::Tunnel },
        tunnel: (r.below(2) == 0).then(|| wit::TunnelEndpoints { local: ip(r), remote: ip(r) }),
        level: match r.below(4) {
            0 => wit::Level::Default,
            1 => wit::Level::Use,
            2 => wit::Level::Require,
            _ => wit::Level::Unique(r.below(4) as u32),
        },
    }
}

fn verdict(r: &mut Rng) -> wit::Verdict {
    match r.below(6) {
        0 => wit::Verdict::Bypass,
        1 => wit::Verdict::Discard,
        2 => wit::Verdict::PrivateOrClear,
        3 => wit::Verdict::Private,
        _ => {
            let n = match r.below(10) {
                0 | 1 => 0,
                2 => 5 + r.below(20) as usize,
                3 if r.below(50) == 0 => 5000,
                _ => 1 + r.below(4) as usize,
            };
            wit::Verdict::Protect((0..n).map(|_| request(r)).collect())
        }
    }
}

/// What the plugin host hands the SPD for a plugin's answer (as
/// `PolicyPlugin::call` does): the checked decision, or the failure verdict.
fn boundary(d: wit::Decision) -> Decision {
    check_decision(decision_from_wit(d)).unwrap_or_else(|e| Decision {
        verdict: FailureVerdict::Discard.verdict(),
        cache_ttl: None,
        sa_key: None,
        explanation: e.to_string(),
    })
}

struct Fixed(Mutex<Decision>);

impl PolicyDecider for Fixed {
    fn name(&self) -> &str {
        "random"
    }
    fn version(&self) -> u64 {
        1
    }
    fn decide(&self, _: &Flow) -> Decision {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn any4() -> Selector {
    let p = IpPrefix::new([10, 0, 0, 0].into(), 8).expect("prefix");
    Selector { src: p, dst: p, proto: None, src_port: None, dst_port: None }
}

fn flow() -> Flow {
    Flow { src: [10, 0, 0, 1].into(), dst: [10, 0, 0, 2].into(), proto: 6, src_port: 40000, dst_port: 80, dir: Direction::Out, iface: None }
}

/// A Sadb whose in and out policies for 10/8 delegate to a decider that
/// answers `d`, with no SA installed.
fn sadb_deciding(d: Decision) -> Sadb<()> {
    let mut db: Sadb<()> = Sadb::new();
    db.spd_mut().set_decider(Arc::new(Fixed(Mutex::new(d))));
    for dir in [Direction::Out, Direction::In] {
        db.add_policy(NewPolicy { selector: any4(), dir, priority: 0, action: Action::Delegate("random".into()) }).expect("policy");
    }
    db
}

fn outbound_of(d: Decision, now: Instant) -> Outbound {
    sadb_deciding(d).outbound(&flow(), now)
}

fn may_be_clear(w: &wit::Verdict) -> bool {
    match w {
        wit::Verdict::Bypass => true,
        wit::Verdict::Protect(reqs) => !reqs.is_empty() && reqs.iter().all(|r| matches!(r.level, wit::Level::Use)),
        _ => false,
    }
}

#[test]
fn no_verdict_yields_cleartext_unless_it_says_so() {
    let seed = std::env::var("ESPRIT_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0013_u64);
    let mut r = Rng(seed);
    let now = Instant::now();
    let (mut clear, mut refused) = (0, 0);
    for case in 0..20_000 {
        let w = verdict(&mut r);
        let raw = wit::Decision { verdict: w.clone(), cache_ttl_ms: (r.below(2) == 0).then(|| r.next()), explanation: String::new(), sa_key: None };
        let decision = boundary(wit::Decision { sa_key: (r.below(2) == 0).then(|| r.next()), ..raw.clone() });
        // Defense in depth: the SPD/SAD alone, fed the unchecked verdict,
        // does not send an empty protect in the clear either.
        let unchecked = decision_from_wit(raw);
        if matches!(outbound_of(unchecked.clone(), now), Outbound::Bypass { .. }) {
            assert!(may_be_clear(&w), "case {case} (seed {seed:#x}): the SAD sent {:?} in the clear", unchecked.verdict);
        }
        if decision.verdict == Verdict::Discard && !matches!(w, wit::Verdict::Discard) {
            refused += 1;
        }
        let mut db = sadb_deciding(decision.clone());
        let f = flow();
        let out = db.outbound(&f, now);
        if matches!(out, Outbound::Bypass { .. }) {
            clear += 1;
            assert!(may_be_clear(&w), "case {case} (seed {seed:#x}): cleartext for {w:?} -> {:?}", decision.verdict);
        }
        // What the SPD holds is always well-formed.
        assert_eq!(check_decision(decision.clone()).map(|d| d.verdict), Ok(decision.verdict.clone()), "case {case}");
        if let Verdict::Protect(reqs) = &decision.verdict {
            if reqs.iter().any(|q| q.level != Level::Use) {
                let inbound = Flow { src: f.dst, dst: f.src, dir: Direction::In, ..f.clone() };
                assert!(db.check_inbound_clear(&inbound, now).is_err(), "case {case}: clear accepted inbound for {reqs:?}");
            }
        }
    }
    // The generator reaches both sides of the property.
    assert!(clear > 1000 && refused > 1000, "clear {clear}, refused {refused}");
}

#[test]
fn empty_protect_is_refused_at_the_boundary_and_discarded_by_the_sadb() {
    let raw = wit::Decision { verdict: wit::Verdict::Protect(Vec::new()), cache_ttl_ms: None, explanation: "x".into(), sa_key: None };
    let err = check_decision(decision_from_wit(raw)).expect_err("refused");
    assert!(err.to_string().contains("protect with no SA request"), "{err}");
    // Even if a decider bypassed the boundary, the SPD fails closed.
    let d = Decision { verdict: Verdict::Protect(Vec::new()), cache_ttl: None, sa_key: None, explanation: String::new() };
    assert!(matches!(outbound_of(d, Instant::now()), Outbound::Discard { .. }));
}
