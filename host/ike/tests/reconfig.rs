//! Reconfiguring a running endpoint (the daemon's reload), sans-IO with
//! virtual time: a retired connection is selected by no new IKE SA while
//! the established one stays; `set_peer` brings it back; `set_auth`
//! changes the secret for new authentications only.
mod sim;

use std::collections::HashMap;
use std::time::Duration;

use sim::*;

const PSK: &[u8] = b"a shared secret of some length";

fn psk(conn: &str, secret: &[u8]) -> Box<Psk> {
    let mut m = HashMap::new();
    m.insert(conn.to_string(), secret.to_vec());
    Box::new(Psk(m))
}

#[test]
fn retire_set_peer_and_set_auth() {
    let (a, b) = default_pair();
    let mut p = Pair::new(a, b.clone(), PSK, PSK, 3, Impair::default());
    p.initiate();
    p.run(Duration::from_secs(10));
    assert_eq!((p.a.ike_up, p.b.ike_up), (1, 1));

    // Retired on B: the established IKE SA is not touched...
    p.b.ep.retire_peer("ba");
    p.run(Duration::from_secs(5));
    assert!(p.b.ep.has_ike_sa("ba") && p.b.ike_down.is_empty());
    // ...but once it is gone, no new one selects the connection.
    let now = p.now;
    p.a.ep.terminate(now, "ab").unwrap();
    p.run(Duration::from_secs(10));
    assert_eq!((p.a.ike_down.len(), p.b.ike_down.len()), (1, 1), "{:?} {:?}", p.a.ike_down, p.b.ike_down);
    p.initiate();
    p.run(Duration::from_secs(30));
    assert_eq!(p.b.ike_up, 1, "a retired connection accepts no new IKE SA");
    assert!(!p.a.setup_failed.is_empty(), "A's attempt fails");

    // Back, with another secret on B: authentication fails.
    p.b.ep.set_peer(b);
    p.b.ep.set_auth(psk("ba", b"another secret entirely"));
    let failed = p.a.setup_failed.len();
    p.initiate();
    p.run(Duration::from_secs(30));
    assert_eq!(p.b.ike_up, 1);
    assert!(p.a.setup_failed.len() > failed, "the old secret no longer authenticates");

    // The matching secret: up again.
    p.b.ep.set_auth(psk("ba", PSK));
    p.initiate();
    p.run(Duration::from_secs(30));
    assert_eq!((p.a.ike_up, p.b.ike_up), (2, 2));
    p.assert_children_match();
}
