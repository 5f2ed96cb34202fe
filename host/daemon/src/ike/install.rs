//! Installs what IKE negotiated into the data plane, through
//! [`esprit_dataplane::child`]: a CHILD_SA pair becomes two SAD entries
//! (the outbound one bound to the connection's `out` policy, so a rekeyed
//! SA takes over at once; when we answered the rekey, only once the peer
//! can receive on it, see [`take_outbound`]) and, the first time, the
//! connection's `out`/`in` policies. This file only adapts the types and
//! errors to the daemon (anyhow, the key log).
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{anyhow, Result};
use esprit_dataplane::child::PolicySpec;
pub use esprit_dataplane::child::{ConnPolicies, Installed};
use esprit_ike::{ChildSaUp, Mode, ProtocolId, Spi, TrafficSelector};
use esprit_sadb::decider::Verdict;

use crate::replicas::Replicas;

/// Priority of IKE-installed policies: ahead of setkey's default.
pub const IKE_PRIORITY: u32 = esprit_sadb::setkey::PRIORITY_DEFAULT - 1000;

/// Adds the `out` and `in` policies of a connection.
#[allow(clippy::too_many_arguments)]
pub fn add_policies(dp: &mut Replicas, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>) -> Result<ConnPolicies> {
    add_policies_at(dp, local_ts, remote_ts, proto, mode, local, remote, verdict, IKE_PRIORITY)
}

/// [`add_policies`] with a priority (lower wins).
#[allow(clippy::too_many_arguments)]
pub fn add_policies_at(dp: &mut Replicas, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>, priority: u32) -> Result<ConnPolicies> {
    let (local_ts, remote_ts) = (*local_ts, *remote_ts);
    dp.apply(move |d, _| {
        d.add_conn_policies(PolicySpec { local_ts: &local_ts, remote_ts: &remote_ts, proto, mode, local, remote, verdict: verdict.clone(), priority })
    })
    .map_err(|e| anyhow!("{e}"))
}

/// Removes the `out` and `in` policies of [`add_policies`] (missing ones are ignored).
pub fn remove_policies(dp: &mut Replicas, p: ConnPolicies) {
    dp.apply(move |d, _| d.remove_conn_policies(p));
}

/// Installs both SAs (the key log records them first, once).
pub fn install_child(dp: &mut Replicas, c: &ChildSaUp, policies: ConnPolicies, replay: u32, now: Instant) -> Result<Installed> {
    let c = c.clone();
    dp.apply(move |d, ctx| {
        let record = |cfg: &esprit_esp::SaConfig| ctx.keylog.map_or(Ok(()), |k| k.record(cfg));
        d.install_child(&c, policies.out, ctx.provider, replay, record, now)
    })
    .map_err(|e| anyhow!("{e}"))
}

/// Which of `children` have had a packet on their inbound SA (the peer
/// installed the pair): asked of the inbound worker, whose replica counts
/// inbound packets.
pub fn inbound_used(dp: &Replicas, children: Vec<Installed>) -> Vec<Spi> {
    let used = |d: &esprit_dataplane::Dataplane, children: &[Installed]| children.iter().filter(|i| d.child_inbound_used(i)).map(|i| i.spi_in).collect::<Vec<Spi>>();
    match dp.inbound_worker() {
        Some(w) => w.query(move |d| used(d, &children)).unwrap_or_default(),
        None => used(dp.mirror(), &children),
    }
}

/// The standby outbound SA of a rekey we answered takes over the policy
/// (Event::ChildOutbound).
pub fn take_outbound(dp: &mut Replicas, i: &mut Installed) -> Result<()> {
    let before = *i;
    *i = dp
        .apply(move |d, _| {
            let mut j = before;
            d.take_outbound(&mut j).map(|()| j)
        })
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Removes both SAs of a CHILD_SA (missing ones are ignored).
pub fn remove_child(dp: &mut Replicas, i: &Installed) {
    let i = *i;
    dp.apply(move |d, _| d.remove_child(&i));
}
