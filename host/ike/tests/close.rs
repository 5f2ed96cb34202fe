//! Shutdown (issue 11): an INFORMATIONAL DELETE for every IKE SA (RFC 7296
//! §1.4.1), a bounded wait for the answers, and no new IKE SAs meanwhile.
//! Virtual time.
mod sim;

use std::time::Duration;

use sim::*;

const PSK: &[u8] = b"a shared secret of some length";

fn established(seed: u64) -> Pair {
    let (a, b) = default_pair();
    let mut p = Pair::new(a, b, PSK, PSK, seed, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1));
    p
}

#[test]
fn close_all_deletes_at_the_peer_within_a_second() {
    for (seed, who) in [(500, 'a'), (501, 'b')] {
        let mut p = established(seed);
        let now = p.now;
        let (closing, other) = if who == 'a' { (&mut p.a, "b") } else { (&mut p.b, "a") };
        closing.ep.close_all(now, Duration::from_secs(2));
        assert!(!closing.ep.is_closed(), "waits for the answer");
        p.run(Duration::from_millis(50));
        let (c, o) = if who == 'a' { (&p.a, &p.b) } else { (&p.b, &p.a) };
        assert!(c.ep.is_closed(), "{who}: answered within a round trip");
        assert!(c.children.is_empty() && o.children.is_empty(), "{who}");
        assert!(o.ep.summaries().is_empty(), "{other} removed the IKE SA");
        assert_eq!(o.ike_down, vec!["deleted by the peer".to_string()]);
        assert_eq!((c.ep.stats().closed, c.ep.stats().close_unanswered), (1, 0));
        assert_eq!(c.ep.poll_timeout(), None, "nothing left to wait for");
    }
}

#[test]
fn close_all_gives_up_after_the_grace_time() {
    let mut p = established(502);
    p.imp.b_dead = true;
    let now = p.now;
    p.a.ep.close_all(now, Duration::from_secs(2));
    p.run(Duration::from_millis(1999));
    assert!(!p.a.ep.is_closed());
    p.run(Duration::from_millis(1));
    assert!(p.a.ep.is_closed());
    assert_eq!(p.a.ep.stats().close_unanswered, 1);
    assert!(p.a.children.is_empty());
}

#[test]
fn close_all_refuses_new_sas_and_drops_half_open_ones() {
    let (a, b) = default_pair();
    let mut p = Pair::new(a, b, PSK, PSK, 503, Impair::default());
    p.initiate();
    // A's IKE_SA_INIT is on the way; B closes before it arrives.
    let now = p.now;
    p.b.ep.close_all(now, Duration::from_secs(2));
    assert!(p.b.ep.is_closed(), "nothing to delete");
    p.run(Duration::from_secs(1));
    assert_eq!(p.b.ep.ike_sa_count(), 0);
    assert_eq!(p.b.ike_up, 0);
    let now = p.now;
    assert!(p.b.ep.initiate(now, "ba", addr(B), None).is_err());
}

#[test]
fn close_all_waits_for_a_request_in_flight() {
    let mut p = established(504);
    let now = p.now;
    p.a.ep.rekey_children(now, "ab").unwrap();
    p.a.ep.close_all(now, Duration::from_secs(2));
    p.run(Duration::from_millis(100));
    assert!(p.a.ep.is_closed());
    assert!(p.b.ep.summaries().is_empty() && p.b.children.is_empty() && p.a.children.is_empty());
}
