//! CHILD_SA rekeys the peer starts: counted, and make-before-break on our
//! side (RFC 7296 §2.8): we keep sending on the old SA until the peer
//! deletes it, its first packet arrives on the new SA, or the fallback
//! time passes. Virtual time.
mod sim;

use std::time::Duration;

use esprit_ike::*;
use sim::*;

const PSK: &[u8] = b"a shared secret of some length";

fn established(seed: u64, imp: Impair, cb: EndpointConfig) -> Pair {
    let (a, b) = default_pair();
    let mut p = Pair::with_cfg(a, b, PSK, PSK, seed, imp, EndpointConfig::default(), cb);
    p.initiate();
    p.run(Duration::from_secs(60));
    assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1), "seed {seed}");
    p
}

fn reqid(p: &Pair) -> u32 {
    p.b.children.values().next().expect("a CHILD_SA").reqid
}

#[test]
fn the_responder_switches_when_the_old_sa_is_deleted() {
    for seed in 0..20 {
        let imp = if seed == 0 { Impair::default() } else { Impair { loss: 0.2, dup: 0.2, jitter_ms: 200, ..Impair::default() } };
        let mut p = established(400 + seed, imp, EndpointConfig::default());
        let old_out = p.b.sending[&reqid(&p)];
        let now = p.now;
        p.a.ep.rekey_children(now, "ab").unwrap();
        p.run(Duration::from_secs(30));
        p.assert_children_match();
        assert!(p.early_switches.is_empty(), "seed {seed}: {:?}", p.early_switches);
        let new_out = p.b.sending[&reqid(&p)];
        assert_ne!(new_out, old_out, "seed {seed}");
        assert!(p.b.children.contains_key(&p.a.sending[&reqid(&p)]), "seed {seed}");
        assert_eq!(p.b.switches, vec!["the old SA is deleted"], "seed {seed}");
        // Counted on both sides.
        for s in [&p.a, &p.b] {
            assert_eq!((s.ep.stats().rekeys, s.ep.stats().child_rekeys), (1, 1), "seed {seed}: {:?}", s.ep.stats());
        }
    }
}

#[test]
fn the_responder_switches_on_the_first_packet_on_the_new_sa() {
    let mut p = established(420, Impair::default(), EndpointConfig::default());
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    // 1 ms: B answers; 2 ms: A installs and sends the DELETE (due at B at 3 ms).
    p.run(Duration::from_millis(2));
    let new_in = *p.b.children.keys().find(|k| p.b.children[k].defer_outbound).expect("B waits to send");
    let now = p.now;
    assert!(p.b.ep.child_inbound_seen(now, new_in));
    assert!(!p.b.ep.child_inbound_seen(now, new_in), "only once");
    p.run(Duration::from_secs(5));
    assert_eq!(p.b.switches, vec!["the peer's first packet arrived on it"]);
    assert!(p.early_switches.is_empty(), "{:?}", p.early_switches);
    p.assert_children_match();
}

#[test]
fn the_responder_switches_after_the_fallback_time() {
    let cb = EndpointConfig { outbound_switch_fallback: Duration::from_millis(500), ..EndpointConfig::default() };
    let mut p = established(421, Impair::default(), cb);
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.run(Duration::from_millis(2));
    // The DELETE of the old SA is lost; A retransmits it after 1 s.
    p.net.clear();
    p.run(Duration::from_millis(400));
    assert!(p.b.switches.is_empty());
    p.run(Duration::from_millis(200));
    assert_eq!(p.b.switches, vec!["no sign from the peer within the fallback time"]);
    p.run(Duration::from_secs(5));
    assert_eq!(p.b.switches.len(), 1);
    assert!(p.early_switches.is_empty(), "{:?}", p.early_switches);
    p.assert_children_match();
}

#[test]
fn ike_rekeys_count_on_both_sides_and_children_keep_waiting_across_them() {
    let mut p = established(422, Impair::default(), EndpointConfig::default());
    let now = p.now;
    p.a.ep.rekey_ike(now, "ab").unwrap();
    p.run(Duration::from_secs(5));
    for s in [&p.a, &p.b] {
        assert_eq!((s.ep.stats().rekeys, s.ep.stats().ike_rekeys), (1, 1), "{:?}", s.ep.stats());
    }
    // A CHILD_SA rekey through the new IKE SA, answered by B, then B's
    // IKE SA is rekeyed by B while its new CHILD_SA still waits.
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.run(Duration::from_millis(2));
    p.net.clear();
    let now = p.now;
    p.b.ep.rekey_ike(now, "ba").unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!(p.b.switches.len(), 1, "{:?}", p.b.switches);
    assert!(p.early_switches.is_empty(), "{:?}", p.early_switches);
    p.assert_children_match();
    assert_eq!(p.b.ep.summaries().len(), 1);
}
