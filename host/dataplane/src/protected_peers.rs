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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Instant;

    use esprit_sadb::decider::{Direction, IpsecProto, Verdict};
    use esprit_sadb::lifetime::Lifetimes;
    use esprit_sadb::sad::{OutboundKey, SaInfo};
    use esprit_sadb::spd::{Action, NewPolicy};
    use esprit_sadb::SadbControl;

    use super::*;

    const A: [u8; 4] = [192, 0, 2, 1];
    const B: [u8; 4] = [192, 0, 2, 2];
    const C: [u8; 4] = [192, 0, 2, 3];
    const OTHER: [u8; 4] = [10, 9, 9, 9];

    fn flow(src: [u8; 4], dst: [u8; 4], proto: u8, dst_port: u16) -> Flow {
        Flow { src: IpAddr::from(src), dst: IpAddr::from(dst), proto, src_port: 40000, dst_port, dir: Direction::Out, iface: None }
    }

    fn sa(spi: u32, sel: Option<Selector>, bind: Option<OutboundKey>) -> SaInfo {
        SaInfo { spi: esprit_sadb::Spi(spi), proto: IpsecProto::Esp, mode: None, src: IpAddr::from(B), dst: IpAddr::from(A), reqid: None, lifetimes: Lifetimes::default(), selector: sel, bind }
    }

    #[test]
    fn a_bound_outbound_sa_covers_its_destination_from_any_source() {
        let now = Instant::now();
        let mut db: Sadb<()> = Sadb::new();
        let sel = Selector { src: IpPrefix::host(IpAddr::from(B)), dst: IpPrefix::host(IpAddr::from(A)), proto: None, src_port: None, dst_port: None };
        let pol = db.add_policy(NewPolicy { selector: sel.clone(), dir: Direction::Out, priority: 10, action: Action::Verdict(Verdict::Bypass) }).expect("policy");
        let mut pp = ProtectedPeers::default();
        assert!(!pp.covers(&db, &flow(B, A, 1, 0)), "no SA yet");
        db.add_sa(sa(1, Some(sel), Some(OutboundKey { policy: pol, request: 0, sa_key: None })), (), now).expect("sa");
        assert!(pp.covers(&db, &flow(B, A, 1, 0)));
        assert!(pp.covers(&db, &flow(OTHER, A, 6, 80)), "another local source is covered too");
        assert!(!pp.covers(&db, &flow(B, C, 1, 0)), "other destinations are not");
        db.delete_sa(esprit_sadb::Spi(1), IpsecProto::Esp, IpAddr::from(A)).expect("delete");
        assert!(!pp.covers(&db, &flow(B, A, 1, 0)), "the SA is gone");
    }

    #[test]
    fn manually_keyed_sas_and_port_selectors_leave_other_traffic_alone() {
        let now = Instant::now();
        let mut db: Sadb<()> = Sadb::new();
        // A setkey SA (no binding): clear traffic beside it is the operator's policy.
        db.add_sa(sa(1, None, None), (), now).expect("sa");
        let mut pp = ProtectedPeers::default();
        assert!(!pp.covers(&db, &flow(B, A, 1, 0)));
        // An IKE SA for TCP port 443 only: covers that, not ICMP.
        let sel = Selector { src: IpPrefix::host(IpAddr::from(B)), dst: IpPrefix::host(IpAddr::from(A)), proto: Some(6), src_port: None, dst_port: Some(443) };
        let pol = db.add_policy(NewPolicy { selector: sel.clone(), dir: Direction::Out, priority: 10, action: Action::Verdict(Verdict::Bypass) }).expect("policy");
        db.add_sa(sa(2, None, Some(OutboundKey { policy: pol, request: 0, sa_key: None })), (), now).expect("sa");
        assert!(pp.covers(&db, &flow(B, A, 6, 443)), "the policy's selector stands in for a missing SA selector");
        assert!(!pp.covers(&db, &flow(B, A, 1, 0)));
    }
}
