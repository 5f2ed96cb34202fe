//! The policy part of a reload: setkey `spdadd` statements and `[[policy]]`
//! entries, applied to the data plane's replicas as one operation (no packet
//! sees a half-changed SPD), then the routes into the TUN and the nftables
//! enforcement table brought in line (tun mode).
//!
//! Order matters in an SPD (among equal priorities the first added wins), so
//! the entries are compared as one list in the order a restart would add
//! them (the setkey policies, then `[[policy]]`): the common beginning stays
//! (hit counters, flow cache entries), the rest of the old list is removed
//! and the rest of the new one added, in order.

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use esprit_sadb::sadb::SadbControl;
use esprit_sadb::spd::{NewPolicy, PolicyId, SpdEntry};
use serde::Serialize;
use tracing::info;

use crate::replicas::Replicas;
use crate::tun_setup::TunPlumbing;

/// What happened to the SPD.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyDiff {
    /// Entries left as they were.
    pub kept: usize,
    pub removed: usize,
    pub added: usize,
    /// Routes into the TUN added and removed for protected destinations.
    pub routes_added: Vec<String>,
    pub routes_removed: Vec<String>,
}

/// Tun mode's plumbing, for a reload.
pub struct Plumbing {
    pub tun: Arc<Mutex<TunPlumbing>>,
    /// `[tun] source` of the routes.
    pub source: Option<std::net::IpAddr>,
    /// The instance name (the nftables table's) and the UDP ports never filtered.
    pub name: String,
    pub ports: Vec<u16>,
}

fn same(e: &SpdEntry, p: &NewPolicy) -> bool {
    e.selector == p.selector && e.dir == p.dir && e.priority == p.priority && e.action == p.action
}

/// Replaces the entries `old` (as installed, in order) by `new`.
pub fn apply(rep: &mut Replicas, old: &[NewPolicy], new: &[NewPolicy], plumbing: Option<&Plumbing>) -> Result<PolicyDiff> {
    let kept = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let mut diff = PolicyDiff { kept, ..PolicyDiff::default() };
    if kept == old.len() && kept == new.len() {
        return Ok(diff);
    }
    // The ids of the old entries past the common beginning: the earliest
    // installed entry equal to each (IKE's entries have their own priority).
    let mut ids: Vec<PolicyId> = Vec::new();
    let mut entries: Vec<&SpdEntry> = rep.mirror().sadb().spd().entries().iter().collect();
    entries.sort_by_key(|e| e.id);
    for p in old.iter().skip(kept) {
        let e = entries.iter().find(|e| !ids.contains(&e.id) && same(e, p)).ok_or_else(|| anyhow!("the running SPD has no entry {} {:?} (changed at run time?)", p.selector, p.dir))?;
        ids.push(e.id);
    }
    let routes_before = rep.mirror().protected_prefixes();
    let added: Vec<NewPolicy> = new.iter().skip(kept).cloned().collect();
    diff.removed = ids.len();
    diff.added = added.len();
    rep.apply(move |d, _| -> Result<(), String> {
        let db = d.sadb_mut();
        for id in &ids {
            db.delete_policy(*id).map_err(|e| e.to_string())?;
        }
        for p in &added {
            db.add_policy(p.clone()).map_err(|e| format!("{}: {e}", p.selector))?;
        }
        Ok(())
    })
    .map_err(|e| anyhow!("applying the new policies: {e}"))?;
    let routes_after = rep.mirror().protected_prefixes();
    if let Some(pl) = plumbing {
        let rules = crate::tun_setup::enforcement_rules(rep.mirror());
        let mut t = pl.tun.lock().map_err(|_| anyhow!("TUN plumbing poisoned"))?;
        for p in routes_after.iter().filter(|p| !routes_before.contains(p)) {
            t.route(true, p, pl.source);
            diff.routes_added.push(p.clone());
        }
        // Only routes added at run time go (see `TunPlumbing::route`); a
        // destination no policy covers any more is decided by the SPD's
        // default in esprit.
        for p in routes_before.iter().filter(|p| !routes_after.contains(p)) {
            t.route(false, p, pl.source);
            diff.routes_removed.push(p.clone());
        }
        t.set_enforcement(&pl.name, &rules, &pl.ports)?;
    }
    info!(kept = diff.kept, removed = diff.removed, added = diff.added, "reload: policies applied");
    Ok(diff)
}
