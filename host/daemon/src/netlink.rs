//! Policy-routing rules and routes over rtnetlink (netlink-packet-route),
//! instead of `ip` subprocesses: each request is acknowledged, and a
//! failure carries the kernel's errno ("File exists", "No such process").
//! One blocking socket per [`Rtnl`]; requests are small and answered at once.
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleHeader, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// An rtnetlink socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

/// The "not fwmark MARK lookup TABLE priority PRIO" rule of an instance.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub v6: bool,
    pub table: u32,
    pub fwmark: u32,
    pub priority: u32,
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

fn rule_message(r: Rule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header = RuleHeader { family: family(r.v6), action: RuleAction::ToTable, flags: RuleFlags::Invert, ..RuleHeader::default() };
    m.attributes = vec![RuleAttribute::Table(r.table), RuleAttribute::FwMark(r.fwmark), RuleAttribute::Priority(r.priority)];
    m
}

/// A route of `prefix` into interface `oif` in `table` (from `src`).
fn route_message(prefix: (IpAddr, u8), oif: u32, table: u32, src: Option<IpAddr>) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: family(prefix.0.is_ipv6()),
        destination_prefix_length: prefix.1,
        table: RouteHeader::RT_TABLE_UNSPEC,
        protocol: RouteProtocol::Boot,
        scope: RouteScope::Link,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    m.attributes = vec![RouteAttribute::Table(table), RouteAttribute::Destination(RouteAddress::from(prefix.0)), RouteAttribute::Oif(oif)];
    if let Some(s) = src {
        m.attributes.push(RouteAttribute::PrefSource(RouteAddress::from(s)));
    }
    m
}

fn table_of(attrs: &[RouteAttribute], header: u8) -> u32 {
    attrs.iter().find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None }).unwrap_or(u32::from(header))
}

/// The index of network interface `dev` (from sysfs: no unsafe FFI).
pub fn ifindex(dev: &str) -> io::Result<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{dev}/ifindex"))?;
    text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("ifindex of {dev}: {text:?}")))
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Sends `msg` with `flags` and collects the answers until the ACK (or
    /// the end of a dump); a NACK is the kernel's errno.
    fn exchange(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut rx = Vec::with_capacity(65_536);
        loop {
            rx.clear();
            let n = self.sock.recv(&mut rx, 0)?;
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("rtnetlink answer: {e}")))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Error(e) => match e.code {
                            None => return Ok(out),
                            Some(_) => return Err(e.to_io()),
                        },
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::InnerMessage(i) => out.push(i),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    pub fn rule_add(&mut self, r: Rule) -> io::Result<()> {
        self.exchange(RouteNetlinkMessage::NewRule(rule_message(r)), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(drop)
    }

    pub fn rule_del(&mut self, r: Rule) -> io::Result<()> {
        self.exchange(RouteNetlinkMessage::DelRule(rule_message(r)), NLM_F_ACK).map(drop)
    }

    /// Deletes every rule of the family that looks up `table`; returns how many.
    pub fn rules_del_table(&mut self, v6: bool, table: u32) -> io::Result<usize> {
        let mut q = RuleMessage::default();
        q.header.family = family(v6);
        let all = self.exchange(RouteNetlinkMessage::GetRule(q), NLM_F_DUMP)?;
        let mut n = 0;
        for m in all {
            let RouteNetlinkMessage::NewRule(r) = m else { continue };
            let t = r.attributes.iter().find_map(|a| if let RuleAttribute::Table(t) = a { Some(*t) } else { None }).unwrap_or(u32::from(r.header.table));
            if t == table {
                self.exchange(RouteNetlinkMessage::DelRule(r), NLM_F_ACK)?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn route_replace(&mut self, prefix: (IpAddr, u8), oif: u32, table: u32, src: Option<IpAddr>) -> io::Result<()> {
        self.exchange(RouteNetlinkMessage::NewRoute(route_message(prefix, oif, table, src)), NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE).map(drop)
    }

    pub fn route_del(&mut self, prefix: (IpAddr, u8), oif: u32, table: u32) -> io::Result<()> {
        self.exchange(RouteNetlinkMessage::DelRoute(route_message(prefix, oif, table, None)), NLM_F_ACK).map(drop)
    }

    /// Deletes every route of the family in `table`; returns how many.
    pub fn routes_flush_table(&mut self, v6: bool, table: u32) -> io::Result<usize> {
        let mut q = RouteMessage::default();
        q.header.address_family = family(v6);
        let all = self.exchange(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)?;
        let mut n = 0;
        for m in all {
            let RouteNetlinkMessage::NewRoute(r) = m else { continue };
            if table_of(&r.attributes, r.header.table) == table {
                self.exchange(RouteNetlinkMessage::DelRoute(r), NLM_F_ACK)?;
                n += 1;
            }
        }
        Ok(n)
    }
}
