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
use esprit_crypto::Provider;
use esprit_dataplane::child::PolicySpec;
pub use esprit_dataplane::child::{ConnPolicies, Installed};
use esprit_ike::{ChildSaUp, Mode, ProtocolId, TrafficSelector};
use esprit_sadb::decider::Verdict;

use crate::dataplane::Dataplane;
use crate::keylog::KeyLog;

/// Priority of IKE-installed policies: ahead of setkey's default.
pub const IKE_PRIORITY: u32 = esprit_sadb::setkey::PRIORITY_DEFAULT - 1000;

/// Adds the `out` and `in` policies of a connection.
#[allow(clippy::too_many_arguments)]
pub fn add_policies(dp: &mut Dataplane, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>) -> Result<ConnPolicies> {
    add_policies_at(dp, local_ts, remote_ts, proto, mode, local, remote, verdict, IKE_PRIORITY)
}

/// [`add_policies`] with a priority (lower wins).
#[allow(clippy::too_many_arguments)]
pub fn add_policies_at(dp: &mut Dataplane, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>, priority: u32) -> Result<ConnPolicies> {
    dp.add_conn_policies(PolicySpec { local_ts, remote_ts, proto, mode, local, remote, verdict, priority }).map_err(|e| anyhow!("{e}"))
}

/// Removes the `out` and `in` policies of [`add_policies`] (missing ones are ignored).
pub fn remove_policies(dp: &mut Dataplane, p: ConnPolicies) {
    dp.remove_conn_policies(p);
}

/// Installs both SAs (the key log records them first).
pub fn install_child(dp: &mut Dataplane, c: &ChildSaUp, policies: ConnPolicies, provider: &dyn Provider, replay: u32, keylog: Option<&KeyLog>, now: Instant) -> Result<Installed> {
    let record = |cfg: &esprit_esp::SaConfig| keylog.map_or(Ok(()), |k| k.record(cfg));
    dp.install_child(c, policies.out, provider, replay, record, now).map_err(|e| anyhow!("{e}"))
}

/// Whether a packet arrived on the inbound SA (the peer installed the pair).
pub fn inbound_used(dp: &Dataplane, i: &Installed) -> bool {
    dp.child_inbound_used(i)
}

/// The standby outbound SA of a rekey we answered takes over the policy
/// (Event::ChildOutbound).
pub fn take_outbound(dp: &mut Dataplane, i: &mut Installed) -> Result<()> {
    dp.take_outbound(i).map_err(|e| anyhow!("{e}"))
}

/// Removes both SAs of a CHILD_SA (missing ones are ignored).
pub fn remove_child(dp: &mut Dataplane, i: &Installed) {
    dp.remove_child(i);
}
