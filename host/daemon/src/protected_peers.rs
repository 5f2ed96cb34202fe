//! One invariant, checked in one place: a host that holds an established
//! outbound SA for a destination never sends that destination cleartext.
//!
//! The data plane asks [`ProtectedPeers::covers`] whenever the SPD says
//! bypass. "Established outbound SA" means one a key manager (IKE) bound to
//! a policy; what it covers are its negotiated selectors (or its policy's),
//! with any source address, so a packet from another local address, an SPD
//! ordering slip (a clear shunt ahead of a newer SA) or a missing per-peer
//! policy is refused instead of leaking. Manually keyed SAs (setkey) are
//! left out: there, clear traffic next to an SA is the operator's explicit
//! policy (e.g. `icmp -P out none`).
//!
//! The covered selectors are rebuilt only when the SAD or SPD changed.
use esprit_sadb::decider::Flow;
use esprit_sadb::sadb::Sadb;
use esprit_sadb::selector::{IpPrefix, Selector};

#[derive(Debug, Default)]
pub struct ProtectedPeers {
    /// (SAD generation, SPD generation) the list was built for.
    built_for: Option<(u64, u64)>,
    covered: Vec<Selector>,
}

impl ProtectedPeers {
    /// Whether an installed, key-manager-bound outbound SA covers the
    /// flow's destination (and its protocol and ports, if the SA names them).
    pub fn covers<S>(&mut self, sadb: &Sadb<S>, flow: &Flow) -> bool {
        let g = (sadb.sad().generation(), sadb.spd().generation());
        if self.built_for != Some(g) {
            self.rebuild(sadb);
            self.built_for = Some(g);
        }
        self.covered.iter().any(|s| s.matches(flow))
    }

    fn rebuild<S>(&mut self, sadb: &Sadb<S>) {
        self.covered.clear();
        for (_, e) in sadb.sad().iter() {
            let Some(bind) = e.info.bind else { continue };
            if e.is_expired() {
                continue;
            }
            let Some(mut s) = e.info.selector.clone().or_else(|| sadb.spd().get(bind.policy).map(|p| p.selector.clone())) else { continue };
            s.src = IpPrefix::any_of_family(s.dst.addr());
            if !self.covered.contains(&s) {
                self.covered.push(s);
            }
        }
    }
}
