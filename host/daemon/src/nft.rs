//! nftables documents, typed by the `nftables` crate's JSON schema, run
//! through `nft -j` (the crate's own helpers let `nft` write its complaints
//! to our stderr; here they come back in the error).
//!
//! Only what tun mode needs: apply a document, delete a table, read the
//! packet counters of a table's rules.

use std::io::Write;
use std::process::{Command, Stdio};

use nftables::schema::{NfListObject, NfObject, Nftables, Table};
use nftables::stmt::{Counter, Statement};
use nftables::types::NfFamily;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running nft (install the nftables package): {0}")]
    Spawn(#[from] std::io::Error),
    #[error("{0}")]
    Rejected(String),
    #[error("nft -j output: {0}")]
    Json(#[from] serde_json::Error),
}

/// Sends a document to `nft -j -f -` as one transaction.
pub fn apply(doc: &Nftables) -> Result<(), NftError> {
    let json = serde_json::to_vec(doc)?;
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Dropped after writing: nft reads to end of input.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&json)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(NftError::Rejected(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// An `inet` table by name, as the object of a command.
pub fn inet_table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table { family: NfFamily::INet, name: name.to_string().into(), handle: None })
}

/// Deletes the `inet` table `name`; false if there was none (or nft
/// could not run).
pub fn delete_table(name: &str) -> bool {
    let doc = Nftables { objects: vec![NfObject::CmdObject(nftables::schema::NfCmd::Delete(inet_table(name)))].into() };
    apply(&doc).is_ok()
}

/// The `(comment, packets)` of every commented rule with a counter in the
/// `inet` table `name`.
pub fn rule_counters(name: &str) -> Result<Vec<(String, u64)>, NftError> {
    let out = Command::new("nft").args(["-j", "list", "table", "inet", name]).stderr(Stdio::piped()).output()?;
    if !out.status.success() {
        return Err(NftError::Rejected(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let doc: Nftables = serde_json::from_slice(&out.stdout)?;
    Ok(counters(&doc))
}

fn counters(doc: &Nftables) -> Vec<(String, u64)> {
    let rules = doc.objects.iter().filter_map(|o| match o {
        NfObject::ListObject(NfListObject::Rule(r)) => Some(r),
        _ => None,
    });
    rules
        .filter_map(|r| {
            let comment = r.comment.as_deref()?;
            let packets = r.expr.iter().find_map(|s| match s {
                Statement::Counter(Counter::Anonymous(Some(c))) => c.packets,
                _ => None,
            });
            Some((comment.to_string(), packets.unwrap_or(0) as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_of_commented_rules() {
        // `nft -j list table inet esprit_t` (nft 1.0.6) after applying
        // `nft_enforce`'s document, with 7 packets counted.
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "esprit_t", "handle": 3}}, {"chain": {"family": "inet", "table": "esprit_t", "name": "prerouting", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -150, "policy": "accept"}}, {"rule": {"family": "inet", "table": "esprit_t", "chain": "prerouting", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "esprit_t", "chain": "prerouting", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["esp", "ah"]}}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "esprit_t", "chain": "prerouting", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [500, 4500, 4501]}}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "esprit_t", "chain": "prerouting", "handle": 7, "comment": "policy 3 \"ssh\"", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.2.0.0", "len": 16}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.1.0.0", "len": 16}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"counter": {"packets": 7, "bytes": 588}}, {"drop": null}]}}]}"#;
        let doc: Nftables = serde_json::from_str(json).unwrap();
        assert_eq!(counters(&doc), vec![("policy 3 \"ssh\"".to_string(), 7)]);
    }
}
