//! Removing a previous run's plumbing of an instance (after a crash, or by
//! `esprit cleanup`): its policy-routing rules and routes and its nftables
//! table.
use crate::instance::Ids;
use crate::netlink::Rtnl;

/// Removes what a run of an instance with these ids installed: every rule
/// that looks up its table (whatever its fwmark or priority), the table's
/// routes and its nftables table. Missing pieces are fine: this is what
/// makes setup idempotent.
pub fn remove_stale(ids: Ids, nft_table: &str) -> usize {
    let mut removed = 0;
    match Rtnl::open() {
        Ok(mut nl) => {
            for v6 in [false, true] {
                // IPv6 may be off in this namespace: nothing to remove then.
                removed += nl.rules_del_table(v6, ids.table).unwrap_or(0);
                removed += nl.routes_flush_table(v6, ids.table).unwrap_or(0);
            }
        }
        Err(e) => tracing::warn!("rtnetlink: {e}; stale rules of table {} are not removed", ids.table),
    }
    if crate::nft::delete_table(nft_table) {
        removed += 1;
    }
    removed
}
