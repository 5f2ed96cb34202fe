//! The daemon's side of the packet path ([`esprit_dataplane`]): building it
//! from the config's setkey statements, and its part of `esprit status`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use esprit_crypto::Provider;
pub use esprit_dataplane::Dataplane;
use esprit_dataplane::PathDrop;
use esprit_esp::Sa;
use esprit_sadb::sadb::Sadb;
use esprit_sadb::setkey::{SaSpec, Statement};
use serde_json::{json, Value};

use crate::keylog::{transform_name, KeyLog};

/// Builds the SPD/SAD from setkey statements (all or nothing).
pub fn from_setkey(
    statements: &[Statement],
    provider: &dyn Provider,
    default_replay: Option<u32>,
    keylog: Option<&KeyLog>,
    now: Instant,
) -> Result<Dataplane> {
    let sadb = Sadb::from_setkey(statements, now, |spec| make_sa(spec, provider, default_replay, keylog))?;
    Ok(Dataplane::new(sadb, now))
}

/// The engine state of one setkey `add` (recorded in the key log).
pub fn make_sa(spec: &SaSpec, provider: &dyn Provider, default_replay: Option<u32>, keylog: Option<&KeyLog>) -> Result<Sa> {
    let mut cfg = spec.to_sa_config()?;
    if let (None, Some(w)) = (spec.replay, default_replay) {
        cfg.replay_window = w;
    }
    if let Some(k) = keylog {
        k.record(&cfg)?;
    }
    Ok(Sa::new(cfg, provider)?)
}

/// The data plane's part of `esprit status` (JSON).
pub fn status(dp: &Dataplane, now: Instant) -> Value {
    let sas: Vec<Value> = dp
        .sadb()
        .sad()
        .iter()
        .map(|(_, e)| {
            let c = e.state.config();
            let st = e.state.stats();
            json!({
                "spi": format!("{:#010x}", c.spi),
                "proto": format!("{:?}", c.protocol).to_lowercase(),
                "mode": format!("{:?}", c.mode).to_lowercase(),
                "src": c.src.to_string(),
                "dst": c.dst.to_string(),
                "transform": transform_name(&c.transform),
                "esn": c.esn,
                "replay_window": c.replay_window,
                "reqid": e.info.reqid,
                "bytes": e.counters.bytes,
                "packets": e.counters.packets,
                "age_s": now.saturating_duration_since(e.counters.created).as_secs(),
                "engine": {
                    "packets_out": st.packets_out, "bytes_out": st.bytes_out,
                    "packets_in": st.packets_in, "bytes_in": st.bytes_in,
                    "drops_in": st.drops_in.iter().map(|(r, n)| format!("{}: {n}", r.as_str())).collect::<Vec<_>>(),
                    "drops_out": st.drops_out.iter().map(|(r, n)| format!("{}: {n}", r.as_str())).collect::<Vec<_>>(),
                },
                "expired": e.is_expired(),
            })
        })
        .collect();
    let policies: Vec<Value> = dp
        .sadb()
        .spd()
        .entries()
        .iter()
        .map(|p| json!({ "id": p.id.0, "policy": p.to_string(), "hits": p.hits, "priority": p.priority }))
        .collect();
    let mut drops: BTreeMap<String, u64> = BTreeMap::new();
    for (r, n) in dp.drops().iter() {
        *drops.entry(r.as_str().to_string()).or_default() += n;
    }
    let c = dp.counters;
    let refused = dp.drops().get(PathDrop::BypassToProtectedPeer);
    let warnings: Vec<String> = (refused > 0)
        .then(|| format!("{refused} packet(s) to peers with an established SA matched a bypass policy and were dropped (not sent in the clear): check the SPD (`esprit policy test`) and the routes into the TUN"))
        .into_iter()
        .collect();
    json!({
        "warnings": warnings,
        "uptime_s": dp.uptime(now).as_secs(),
        "sas": sas,
        "policies": policies,
        "drops": drops,
        "counters": {
            "out_protected": c.out_protected, "out_clear": c.out_clear, "in_decrypted": c.in_decrypted,
            "nat_keepalives": c.nat_keepalives, "ike_messages": c.ike_messages, "held_for_ike": c.held,
            "bypass_to_protected_peer": refused,
            "tun_super_segments": c.tun_super_segments, "tun_segments": c.tun_segments,
            "gso_sends": c.gso_sends, "gso_datagrams": c.gso_datagrams,
            "gro_buffers": c.gro_buffers, "gro_datagrams": c.gro_datagrams,
        },
        "spd": format!("{:?}", dp.sadb().spd().stats()),
        "inbound": format!("{:?}", dp.sadb().inbound_stats()),
        "outbound": format!("{:?}", dp.sadb().outbound_stats()),
        "acquires": format!("{:?}", dp.sadb().acquire_stats()),
    })
}
