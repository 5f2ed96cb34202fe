//! One status from the packet workers' replicas (see [`crate::replicas`]):
//! each worker reports the data plane as its replica sees it, and every
//! counter there counts only what that worker did. Counters add up; an SA's
//! outbound figures come from the outbound worker and its inbound ones from
//! the inbound worker.

use super::model::{Counters, Status};

/// Adds `b`'s counters to `a`'s.
fn add(a: &mut Counters, b: &Counters) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

/// The status of an instance whose outbound worker reported `out` and
/// whose inbound worker reported `inb`.
pub fn merge(mut out: Status, inb: Status) -> Status {
    out.uptime_s = out.uptime_s.max(inb.uptime_s);
    for w in inb.warnings {
        if !out.warnings.contains(&w) {
            out.warnings.push(w);
        }
    }
    for sa in inb.sas {
        match out.sas.iter_mut().find(|o| o.spi == sa.spi && o.proto == sa.proto && o.dst == sa.dst) {
            Some(o) => {
                o.bytes += sa.bytes;
                o.packets += sa.packets;
                o.expired |= sa.expired;
                o.engine.packets_in = sa.engine.packets_in;
                o.engine.bytes_in = sa.engine.bytes_in;
                o.engine.drops_in = sa.engine.drops_in;
            }
            // Gone from the outbound replica (a lifetime it counted ran out).
            None => out.sas.push(sa),
        }
    }
    for p in inb.policies {
        match out.policies.iter_mut().find(|o| o.id == p.id) {
            Some(o) => o.hits += p.hits,
            None => out.policies.push(p),
        }
    }
    add(&mut out.counters, &inb.counters);
    add(&mut out.drops, &inb.drops);
    out.held_packets += inb.held_packets;
    add(&mut out.spd, &inb.spd);
    add(&mut out.inbound, &inb.inbound);
    add(&mut out.outbound, &inb.outbound);
    add(&mut out.acquires, &inb.acquires);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::{PolicyStatus, SaEngine, SaStatus};

    fn sa(spi: &str, packets_out: u64, packets_in: u64) -> SaStatus {
        SaStatus {
            spi: spi.into(),
            proto: "esp".into(),
            dst: "192.0.2.1".into(),
            packets: packets_out + packets_in,
            engine: SaEngine { packets_out, packets_in, ..SaEngine::default() },
            ..SaStatus::default()
        }
    }

    #[test]
    fn counters_add_up_and_each_direction_comes_from_its_worker() {
        let mut out = Status { sas: vec![sa("0x00000001", 5, 0)], ..Status::default() };
        out.drops.insert("no_sa".into(), 2);
        out.policies.push(PolicyStatus { id: 1, hits: 3, ..PolicyStatus::default() });
        out.held_packets = 4;
        let mut inb = Status { sas: vec![sa("0x00000001", 0, 7), sa("0x00000002", 0, 1)], ..Status::default() };
        inb.drops.insert("no_sa".into(), 1);
        inb.drops.insert("replay".into(), 9);
        inb.policies.push(PolicyStatus { id: 1, hits: 2, ..PolicyStatus::default() });
        let m = merge(out, inb);
        assert_eq!(m.sas.len(), 2);
        assert_eq!((m.sas[0].engine.packets_out, m.sas[0].engine.packets_in, m.sas[0].packets), (5, 7, 12));
        assert_eq!(m.drops.get("no_sa"), Some(&3));
        assert_eq!(m.drops.get("replay"), Some(&9));
        assert_eq!(m.policies[0].hits, 5);
        assert_eq!(m.held_packets, 4);
    }
}
