//! The nftables table that enforces `in ... ipsec require` policies on
//! cleartext that bypasses esprit in tun mode (RFC 4301 §5.2), as a typed
//! `nftables` document:
//!
//! ```text
//! table inet esprit_NAME {
//!  chain prerouting {
//!   type filter hook prerouting priority -150; policy accept;
//!   iifname "TUN" accept
//!   meta l4proto { esp, ah } accept
//!   udp dport { 500, 4500, PORTS } accept
//!   ip saddr SRC ip daddr DST [meta l4proto P [th sport S] [th dport D]] counter drop comment "LABEL"
//!  }
//! }
//! ```

use std::borrow::Cow;

use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule};
use nftables::stmt::{Counter, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::nft::inet_table;

/// One cleartext-enforcement rule: drop packets from `src` to `dst` (with an
/// optional upper-layer protocol and ports) that did not come out of esprit.
#[derive(Debug, Clone)]
pub struct EnforceRule {
    pub src: String,
    pub dst: String,
    pub proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Shown in status: which policy the rule stands for.
    pub label: String,
}

const CHAIN: &str = "prerouting";
const IPPROTO_ESP: u32 = 50;
const IPPROTO_AH: u32 = 51;

/// The document that replaces `table` in one transaction ("add; delete;
/// add": whatever a previous run left goes, and nothing is half-installed).
/// `dev` is the TUN device, `ports` the UDP ports esprit listens on
/// besides 500 and 4500 (IKE/ESP-in-UDP is never filtered).
pub fn enforcement_table(table: &str, dev: &str, rules: &[EnforceRule], ports: &[u16]) -> Nftables<'static> {
    let mut cmds = vec![
        NfCmd::Add(inet_table(table)),
        NfCmd::Delete(inet_table(table)),
        NfCmd::Add(inet_table(table)),
        NfCmd::Add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: own(table),
            name: CHAIN.into(),
            _type: Some(NfChainType::Filter),
            hook: Some(NfHook::Prerouting),
            prio: Some(-150),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        })),
    ];
    let mut udp: Vec<u16> = vec![500, 4500];
    udp.extend_from_slice(ports);
    udp.sort_unstable();
    udp.dedup();
    let accepts = [
        vec![eq(meta(MetaKey::Iifname), Expression::String(own(dev)))],
        vec![eq(meta(MetaKey::L4proto), set([IPPROTO_ESP, IPPROTO_AH]))],
        vec![eq(field("udp", "dport"), set(udp.into_iter().map(u32::from)))],
    ];
    for mut expr in accepts {
        expr.push(Statement::Accept(None));
        cmds.push(NfCmd::Add(rule(table, expr, None)));
    }
    for r in rules {
        cmds.push(NfCmd::Add(rule(table, drop_matching(r), Some(&r.label))));
    }
    Nftables { objects: cmds.into_iter().map(NfObject::CmdObject).collect::<Vec<_>>().into() }
}

fn drop_matching(r: &EnforceRule) -> Vec<Statement<'static>> {
    let fam = if r.src.contains(':') { "ip6" } else { "ip" };
    let mut expr = vec![eq(field(fam, "saddr"), prefix(&r.src)), eq(field(fam, "daddr"), prefix(&r.dst))];
    if let Some(p) = r.proto {
        expr.push(eq(meta(MetaKey::L4proto), Expression::Number(p.into())));
        // RFC 4301 §4.4.1.1: ports are selectors for TCP and UDP only.
        if matches!(p, 6 | 17) {
            if let Some(sp) = r.src_port {
                expr.push(eq(field("th", "sport"), Expression::Number(sp.into())));
            }
            if let Some(dp) = r.dst_port {
                expr.push(eq(field("th", "dport"), Expression::Number(dp.into())));
            }
        }
    }
    expr.push(Statement::Counter(Counter::Anonymous(None)));
    expr.push(Statement::Drop(None));
    expr
}

fn rule(table: &str, expr: Vec<Statement<'static>>, comment: Option<&str>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: own(table),
        chain: CHAIN.into(),
        expr: expr.into(),
        comment: comment.map(own),
        ..Rule::default()
    })
}

fn own(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField { protocol: protocol.into(), field: field.into() })))
}

fn set(items: impl IntoIterator<Item = u32>) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(items.into_iter().map(|n| SetItem::Element(Expression::Number(n))).collect()))
}

/// `10.0.0.0/24` as an nftables prefix, a bare address as itself.
fn prefix(p: &str) -> Expression<'static> {
    match p.split_once('/').and_then(|(a, l)| Some((a, l.parse::<u32>().ok()?))) {
        Some((addr, len)) => Expression::Named(NamedExpression::Prefix(Prefix { addr: Box::new(Expression::String(own(addr))), len })),
        None => Expression::String(own(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_matches_the_ruleset_it_replaces() {
        let rules = [EnforceRule {
            src: "10.2.0.0/16".into(),
            dst: "10.1.0.0/16".into(),
            proto: Some(6),
            src_port: None,
            dst_port: Some(22),
            label: "policy 3 \"ssh\"".into(),
        }];
        let doc = enforcement_table("esprit_a", "tun7", &rules, &[4501, 500]);
        let v = serde_json::to_value(&doc).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 8);
        assert_eq!(cmds[0], serde_json::json!({"add": {"table": {"family": "inet", "name": "esprit_a"}}}));
        assert_eq!(cmds[1], serde_json::json!({"delete": {"table": {"family": "inet", "name": "esprit_a"}}}));
        let chain = &cmds[3]["add"]["chain"];
        assert_eq!((chain["type"].as_str(), chain["hook"].as_str(), chain["prio"].as_i64()), (Some("filter"), Some("prerouting"), Some(-150)));
        assert_eq!(cmds[4]["add"]["rule"]["expr"][0]["match"]["right"], "tun7");
        assert_eq!(cmds[6]["add"]["rule"]["expr"][0]["match"]["right"], serde_json::json!({"set": [500, 4500, 4501]}));
        let drop = &cmds[7]["add"]["rule"];
        assert_eq!(drop["comment"], "policy 3 \"ssh\"");
        let expr = drop["expr"].as_array().unwrap();
        assert_eq!(expr[0]["match"]["left"], serde_json::json!({"payload": {"protocol": "ip", "field": "saddr"}}));
        assert_eq!(expr[0]["match"]["right"], serde_json::json!({"prefix": {"addr": "10.2.0.0", "len": 16}}));
        assert_eq!(expr[2]["match"]["right"], 6);
        assert_eq!(expr[3]["match"]["left"], serde_json::json!({"payload": {"protocol": "th", "field": "dport"}}));
        assert_eq!(expr.len(), 6, "saddr, daddr, l4proto, dport, counter, drop: {expr:?}");
    }

    #[test]
    fn ipv6_selectors_match_ip6() {
        let r = EnforceRule { src: "fd00::/64".into(), dst: "fd01::1".into(), proto: None, src_port: None, dst_port: None, label: "p".into() };
        let v = serde_json::to_value(drop_matching(&r)).unwrap();
        assert_eq!(v[0]["match"]["left"]["payload"]["protocol"], "ip6");
        assert_eq!(v[1]["match"]["right"], "fd01::1");
    }
}
