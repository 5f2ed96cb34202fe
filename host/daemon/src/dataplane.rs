//! The daemon's side of the packet path ([`esprit_dataplane`]): building it
//! from the config's setkey statements, and its part of `esprit status`.

use std::time::Instant;

use anyhow::Result;
use esprit_crypto::Provider;
pub use esprit_dataplane::Dataplane;
use esprit_dataplane::PathDrop;
use esprit_esp::Sa;
use esprit_sadb::sadb::Sadb;
use esprit_sadb::setkey::{SaSpec, Statement};

use crate::keylog::{transform_name, KeyLog};
use crate::status::counters;
use crate::status::model::{Counters, PolicyStatus, SaEngine, SaStatus, Status, SCHEMA_VERSION};

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
    // `Sadb::from_setkey` names the statement (`line:col: SA spi:`) itself.
    let mut cfg = spec.to_sa_config().map_err(|e| anyhow::anyhow!(e.what))?;
    if let (None, Some(w)) = (spec.replay, default_replay) {
        cfg.replay_window = w;
    }
    if let Some(k) = keylog {
        k.record(&cfg)?;
    }
    Ok(Sa::new(cfg, provider)?)
}

/// The data plane's part of `esprit status` (the rest is filled in by the
/// control socket's handler without the data plane's lock).
pub fn status(dp: &Dataplane, now: Instant) -> Status {
    let by_reason = |d: &esprit_esp::DropCounters| -> Counters { d.iter().map(|(r, n)| (r.as_str().to_string(), n)).collect() };
    let sas = dp
        .sadb()
        .sad()
        .iter()
        .map(|(_, e)| {
            let c = e.state.config();
            let st = e.state.stats();
            SaStatus {
                spi: format!("{:#010x}", c.spi),
                proto: c.protocol.name().into(),
                mode: c.mode.name().into(),
                src: c.src.to_string(),
                dst: c.dst.to_string(),
                transform: transform_name(&c.transform),
                esn: c.esn,
                replay_window: c.replay_window,
                reqid: e.info.reqid,
                bytes: e.counters.bytes,
                packets: e.counters.packets,
                age_s: now.saturating_duration_since(e.counters.created).as_secs(),
                engine: SaEngine {
                    packets_out: st.packets_out,
                    bytes_out: st.bytes_out,
                    packets_in: st.packets_in,
                    bytes_in: st.bytes_in,
                    drops_in: by_reason(&st.drops_in),
                    drops_out: by_reason(&st.drops_out),
                },
                expired: e.is_expired(),
            }
        })
        .collect();
    let policies = dp
        .sadb()
        .spd()
        .entries()
        .iter()
        .map(|p| PolicyStatus { id: p.id.0 as u64, policy: p.to_string(), hits: p.hits, priority: p.priority })
        .collect();
    let mut drops = Counters::new();
    for (r, n) in dp.drops().iter() {
        *drops.entry(r.as_str().to_string()).or_default() += n;
    }
    let refused = dp.drops().get(PathDrop::BypassToProtectedPeer);
    let warnings: Vec<String> = (refused > 0)
        .then(|| format!("{refused} packet(s) to peers with an established SA matched a bypass policy and were dropped (not sent in the clear): check the SPD (`esprit policy test`) and the routes into the TUN"))
        .into_iter()
        .collect();
    let mut counters = counters::packet_path(dp.counters);
    counters.insert("bypass_to_protected_peer".into(), refused);
    Status {
        schema_version: SCHEMA_VERSION,
        warnings,
        uptime_s: dp.uptime(now).as_secs(),
        sas,
        policies,
        drops,
        counters,
        held_packets: dp.held_len() as u64,
        spd: counters::spd(dp.sadb().spd().stats()),
        inbound: counters::inbound(dp.sadb().inbound_stats()),
        outbound: counters::outbound(dp.sadb().outbound_stats()),
        acquires: counters::acquires(dp.sadb().acquire_stats()),
        ..Status::default()
    }
}
