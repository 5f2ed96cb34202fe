//! What an installed CHILD_SA needs besides its two SAs, counted per
//! CHILD_SA so that it goes with the last one: the per-peer policies
//! (`conn@peer`) of `remote = "any"` and opportunistic conns, and the
//! routes that bring the local host's traffic for the SA's remote
//! selectors to esprit (tun mode). Rekeys install the new CHILD_SA before
//! the old one goes, so nothing is removed and re-added in between.
use std::collections::HashMap;

use esprit_ike::TrafficSelector;

/// References from installed CHILD_SAs.
#[derive(Debug, Default)]
pub struct PeerRefs {
    policies: HashMap<String, usize>,
    routes: HashMap<String, usize>,
}

/// What one installed CHILD_SA holds.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// The key of its per-peer policies in `IkeHost::policies`, if any.
    pub policy_key: Option<String>,
    /// The prefixes routed into the TUN for it.
    pub routes: Vec<String>,
}

impl PeerRefs {
    /// A CHILD_SA was installed; returns the routes to add (first reference).
    pub fn up(&mut self, h: &Held) -> Vec<String> {
        if let Some(k) = &h.policy_key {
            *self.policies.entry(k.clone()).or_default() += 1;
        }
        let mut add = Vec::new();
        for r in &h.routes {
            let n = self.routes.entry(r.clone()).or_default();
            *n += 1;
            if *n == 1 {
                add.push(r.clone());
            }
        }
        add
    }

    /// A CHILD_SA was removed; returns whether its per-peer policies lost
    /// their last reference, and the routes to remove (last reference).
    pub fn down(&mut self, h: &Held) -> (bool, Vec<String>) {
        let last_policy = h.policy_key.as_ref().is_some_and(|k| release(&mut self.policies, k));
        let routes = h.routes.iter().filter(|r| release(&mut self.routes, r)).cloned().collect();
        (last_policy, routes)
    }

    /// Whether installed CHILD_SAs still use these per-peer policies.
    pub fn policy_in_use(&self, key: &str) -> bool {
        self.policies.get(key).is_some_and(|n| *n > 0)
    }
}

/// Drops one reference; `true` when it was the last.
fn release(m: &mut HashMap<String, usize>, k: &str) -> bool {
    match m.get_mut(k) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            m.remove(k);
            true
        }
        None => false,
    }
}

/// The remote selectors of a CHILD_SA as prefixes to route ("a/len");
/// ranges that are not one prefix cannot be routed and are left out.
pub fn route_prefixes(remote_ts: &[TrafficSelector]) -> Vec<String> {
    let mut v: Vec<String> = remote_ts.iter().filter_map(|t| t.as_prefix().map(|(a, l)| format!("{a}/{l}"))).collect();
    v.sort();
    v.dedup();
    v
}

/// Whether the remote selectors of an opportunistic CHILD_SA name only the
/// peer itself. The peer is not authenticated (NULL auth): selectors wider
/// than its own address would route and protect our traffic for other hosts
/// of the group to it.
pub fn only_the_peer(remote_ts: &[TrafficSelector], peer: std::net::IpAddr) -> bool {
    let host = if peer.is_ipv4() { 32 } else { 128 };
    !remote_ts.is_empty() && remote_ts.iter().all(|t| t.as_prefix() == Some((peer, host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opportunistic_selectors_must_name_only_the_peer() {
        let peer: std::net::IpAddr = "192.0.2.1".parse().expect("addr");
        let ts = |a: &str, l: u8| TrafficSelector::from_prefix(a.parse().expect("addr"), l);
        assert!(only_the_peer(&[ts("192.0.2.1", 32)], peer));
        assert!(!only_the_peer(&[ts("192.0.2.0", 24)], peer), "the whole group");
        assert!(!only_the_peer(&[ts("192.0.2.9", 32)], peer), "another host");
        assert!(!only_the_peer(&[ts("192.0.2.1", 32), ts("192.0.2.9", 32)], peer));
        assert!(!only_the_peer(&[], peer));
    }

    fn held(key: Option<&str>, routes: &[&str]) -> Held {
        Held { policy_key: key.map(str::to_string), routes: routes.iter().map(|r| r.to_string()).collect() }
    }

    #[test]
    fn rekey_keeps_routes_and_policies_until_the_last_child_goes() {
        let mut r = PeerRefs::default();
        let old = held(Some("oe@192.0.2.1"), &["192.0.2.1/32"]);
        let new = old.clone();
        assert_eq!(r.up(&old), ["192.0.2.1/32"]);
        assert_eq!(r.up(&new), Vec::<String>::new(), "the rekeyed CHILD_SA adds nothing");
        assert_eq!(r.down(&old), (false, vec![]), "the old one going removes nothing");
        assert!(r.policy_in_use("oe@192.0.2.1"));
        assert_eq!(r.down(&new), (true, vec!["192.0.2.1/32".to_string()]));
        assert!(!r.policy_in_use("oe@192.0.2.1"));
        assert_eq!(r.down(&new), (false, vec![]), "a second removal is ignored");
    }

    #[test]
    fn shared_prefixes_are_counted_across_peers() {
        let mut r = PeerRefs::default();
        let a = held(None, &["10.0.0.0/24"]);
        let b = held(Some("rw@192.0.2.9"), &["10.0.0.0/24", "10.0.1.0/24"]);
        assert_eq!(r.up(&a), ["10.0.0.0/24"]);
        assert_eq!(r.up(&b), ["10.0.1.0/24"]);
        assert_eq!(r.down(&a), (false, vec![]));
        assert_eq!(r.down(&b), (true, vec!["10.0.0.0/24".to_string(), "10.0.1.0/24".to_string()]));
    }
}
