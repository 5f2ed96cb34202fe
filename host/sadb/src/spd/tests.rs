use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::decider::{IpsecMode, IpsecProto, Level, SaRequest};
use crate::selector::IpPrefix;

fn flow(src: &str, dst: &str, dir: Direction) -> Flow {
    Flow {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        proto: 6,
        src_port: 40000,
        dst_port: 443,
        dir,
        iface: None,
    }
}

fn sel(src: &str, dst: &str) -> Selector {
    let p = |s: &str| {
        let (a, l) = s.split_once('/').unwrap();
        IpPrefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    };
    Selector { src: p(src), dst: p(dst), proto: None, src_port: None, dst_port: None }
}

fn pol(src: &str, dst: &str, dir: Direction, priority: u32, v: Verdict) -> NewPolicy {
    NewPolicy { selector: sel(src, dst), dir, priority, action: Action::Verdict(v) }
}

fn esp() -> Verdict {
    Verdict::Protect(vec![SaRequest {
        proto: IpsecProto::Esp,
        mode: IpsecMode::Transport,
        tunnel: None,
        level: Level::Require,
    }])
}

#[test]
fn priority_then_specificity_then_age() {
    let mut spd = Spd::new();
    let now = Instant::now();
    let broad = spd.insert(pol("0.0.0.0/0", "0.0.0.0/0", Direction::Out, 100, Verdict::Discard));
    let narrow = spd.insert(pol("10.0.0.0/8", "192.0.2.0/24", Direction::Out, 100, esp()));
    let f = flow("10.1.1.1", "192.0.2.9", Direction::Out);
    // Same priority: the more specific wins even though it is younger.
    assert_eq!(spd.lookup(&f, now).entry_id, Some(narrow));
    // A lower priority value wins over specificity.
    let urgent = spd.insert(pol("0.0.0.0/0", "0.0.0.0/0", Direction::Out, 5, Verdict::Bypass));
    let l = spd.lookup(&f, now);
    assert_eq!(l.entry_id, Some(urgent));
    assert_eq!(l.verdict, Verdict::Bypass);
    // Equal priority and specificity: the older entry wins.
    let twin = spd.insert(pol("0.0.0.0/0", "0.0.0.0/0", Direction::Out, 5, Verdict::Discard));
    assert_eq!(spd.lookup(&f, now).entry_id, Some(urgent));
    let order: Vec<PolicyId> = spd.entries().iter().map(|e| e.id).collect();
    assert_eq!(order, vec![urgent, twin, narrow, broad]);
    let ex = spd.explain(&f);
    assert_eq!(ex.lookup.entry_id, Some(urgent));
    assert_eq!(ex.shadowed, vec![twin, narrow, broad]);
    assert!(ex.to_string().starts_with("policy #3: none — matches #3"), "{ex}");
}

#[test]
fn direction_and_default() {
    let mut spd = Spd::new();
    let now = Instant::now();
    spd.insert(pol("10.0.0.0/8", "0.0.0.0/0", Direction::Out, 1, esp()));
    let l = spd.lookup(&flow("10.0.0.1", "1.1.1.1", Direction::In), now);
    assert_eq!((l.entry_id, &l.verdict), (None, &Verdict::Bypass));
    spd.set_default(Verdict::Discard);
    let l = spd.lookup(&flow("10.0.0.1", "1.1.1.1", Direction::In), now);
    assert_eq!(l.verdict, Verdict::Discard);
    assert!(spd.explain(&flow("9.9.9.9", "1.1.1.1", Direction::Out)).to_string().starts_with("no policy: discard"));
}

#[test]
fn cache_hits_count_and_changes_invalidate() {
    let mut spd = Spd::new();
    let now = Instant::now();
    let id = spd.insert(pol("10.0.0.0/8", "0.0.0.0/0", Direction::Out, 10, esp()));
    let f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
    for _ in 0..5 {
        assert_eq!(spd.lookup(&f, now).entry_id, Some(id));
    }
    let s = spd.stats();
    assert_eq!((s.lookups, s.cache_misses, s.cache_hits), (5, 1, 4));
    assert_eq!(spd.get(id).unwrap().hits, 5);
    // A new, higher-priority entry must take effect at once.
    let g = spd.generation();
    let d = spd.insert(pol("10.0.0.0/8", "0.0.0.0/0", Direction::Out, 1, Verdict::Discard));
    assert_ne!(spd.generation(), g);
    assert_eq!(spd.lookup(&f, now).entry_id, Some(d));
    assert!(spd.remove(d).is_some());
    assert!(spd.remove(d).is_none());
    assert_eq!(spd.lookup(&f, now).entry_id, Some(id));
    spd.flush();
    assert_eq!(spd.lookup(&f, now).entry_id, None);
    assert!(spd.is_empty());
}

#[test]
fn cache_is_bounded() {
    let mut spd = Spd::with_cache_capacity(16);
    let now = Instant::now();
    spd.insert(pol("10.0.0.0/8", "0.0.0.0/0", Direction::Out, 10, esp()));
    for i in 0..100u8 {
        spd.lookup(&flow(&format!("10.0.0.{i}"), "1.1.1.1", Direction::Out), now);
    }
    assert_eq!(spd.cached_flows(), 16);
    assert_eq!(spd.stats().cache_evictions, 84);
}

struct TestDecider {
    version: AtomicU64,
    calls: AtomicU64,
    ttl: Option<Duration>,
}

impl PolicyDecider for TestDecider {
    fn name(&self) -> &str {
        "test"
    }
    fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    fn decide(&self, flow: &Flow) -> Decision {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let verdict = match flow.dst_port {
            443 => esp(),
            // A decider that breaks the contract: protect with nothing.
            666 => Verdict::Protect(Vec::new()),
            _ => Verdict::Bypass,
        };
        Decision {
            verdict,
            cache_ttl: self.ttl,
            sa_key: Some(u64::from(flow.dst_port)),
            explanation: format!("port {}", flow.dst_port),
        }
    }
}

fn delegating(ttl: Option<Duration>) -> (Spd, Arc<TestDecider>, PolicyId) {
    let mut spd = Spd::new();
    let d = Arc::new(TestDecider { version: AtomicU64::new(1), calls: AtomicU64::new(0), ttl });
    spd.set_decider(d.clone());
    let id = spd.insert(NewPolicy {
        selector: sel("0.0.0.0/0", "0.0.0.0/0"),
        dir: Direction::Out,
        priority: 10,
        action: Action::Delegate("test".into()),
    });
    (spd, d, id)
}

#[test]
fn delegate_is_cached_until_the_decider_version_changes() {
    let (mut spd, d, id) = delegating(None);
    let now = Instant::now();
    let f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
    let l = spd.lookup(&f, now);
    assert_eq!((l.entry_id, l.sa_key, l.decider.as_deref()), (Some(id), Some(443), Some("test")));
    assert_eq!(l.verdict, esp());
    assert!(l.explanation.ends_with("delegates to 'test': port 443"));
    spd.lookup(&f, now);
    assert_eq!(d.calls.load(Ordering::Relaxed), 1);
    d.version.store(2, Ordering::Relaxed);
    spd.lookup(&f, now);
    assert_eq!(d.calls.load(Ordering::Relaxed), 2);
    assert_eq!(spd.stats().decider_calls, 2);
}

#[test]
fn delegate_ttl_expires_and_zero_ttl_is_not_cached() {
    let (mut spd, d, _) = delegating(Some(Duration::from_secs(10)));
    let t0 = Instant::now();
    let f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
    spd.lookup(&f, t0);
    spd.lookup(&f, t0 + Duration::from_secs(9));
    assert_eq!(d.calls.load(Ordering::Relaxed), 1);
    spd.lookup(&f, t0 + Duration::from_secs(10));
    assert_eq!(d.calls.load(Ordering::Relaxed), 2);

    let (mut spd, d, _) = delegating(Some(Duration::ZERO));
    spd.lookup(&f, t0);
    spd.lookup(&f, t0);
    assert_eq!(d.calls.load(Ordering::Relaxed), 2);
}

#[test]
fn missing_decider_fails_closed_until_loaded() {
    let (mut spd, d, id) = delegating(None);
    let now = Instant::now();
    let f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
    assert!(spd.remove_decider("test"));
    let l = spd.lookup(&f, now);
    assert_eq!((l.entry_id, &l.verdict), (Some(id), &Verdict::Discard));
    assert!(l.explanation.contains("no such decider is loaded"));
    spd.set_decider(d);
    assert_eq!(spd.lookup(&f, now).verdict, esp());
}

#[test]
fn listing_renders_like_setkey() {
    let mut spd = Spd::new();
    spd.insert(pol("10.0.0.0/8", "192.0.2.0/24", Direction::Out, 7, esp()));
    assert_eq!(
        spd.entries()[0].to_string(),
        "#1 10.0.0.0/8[any] 192.0.2.0/24[any] any -P out prio 7 ipsec esp/transport//require (hits 0)"
    );
}

#[test]
fn empty_protect_from_a_decider_fails_closed() {
    let (mut spd, _, id) = delegating(None);
    let mut f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
    f.dst_port = 666;
    let l = spd.lookup(&f, Instant::now());
    assert_eq!((l.entry_id, &l.verdict, l.sa_key), (Some(id), &Verdict::Discard, None));
    assert!(l.explanation.contains("protect with no SA request: failing closed"), "{}", l.explanation);
}

#[test]
fn expired_decisions_are_purged_and_their_memory_released() {
    let (mut spd, d, _) = delegating(Some(Duration::from_secs(10)));
    let t0 = Instant::now();
    for port in 1..=100u16 {
        let mut f = flow("10.0.0.1", "1.1.1.1", Direction::Out);
        f.src_port = port;
        spd.lookup(&f, t0);
    }
    assert_eq!(spd.cached_flows(), 100);
    assert_eq!(spd.purge_expired(t0 + Duration::from_secs(5)), 0, "nothing expired yet");
    // Within PURGE_INTERVAL of the last sweep: skipped.
    assert_eq!(spd.purge_expired(t0 + Duration::from_secs(5) + PURGE_INTERVAL / 2), 0);
    assert_eq!(spd.purge_expired(t0 + Duration::from_secs(10)), 100);
    assert_eq!(spd.cached_flows(), 0);
    // A new decider version makes cached decisions useless: purged too.
    spd.lookup(&flow("10.0.0.1", "1.1.1.1", Direction::Out), t0 + Duration::from_secs(20));
    d.version.store(9, Ordering::Relaxed);
    assert_eq!(spd.purge_expired(t0 + Duration::from_secs(21)), 1);
}
