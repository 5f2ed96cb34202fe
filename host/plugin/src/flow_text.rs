//! The flow syntax of `esprit policy test`:
//! `PROTO SRC[:PORT] -> DST[:PORT] [in|out|fwd] [iface NAME]`, e.g.
//! `tcp 198.51.100.7:40000 -> 203.0.113.5:443`; IPv6 with a port is written
//! `[2001:db8::1]:443`; `PROTO` is tcp, udp, icmp, icmp6, esp, ah or a number.
use std::net::IpAddr;

use esprit_sadb::decider::{Direction, Flow};

fn endpoint(s: &str) -> Result<(IpAddr, u16), String> {
    let bad = || format!("bad endpoint {s:?}");
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once(']').ok_or_else(bad)?;
        let ip = a.parse().map_err(|_| bad())?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if p.is_empty() => 0,
            None => return Err(bad()),
        };
        return Ok((ip, port));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, 0));
    }
    let (a, p) = s.rsplit_once(':').ok_or_else(bad)?;
    let ip: IpAddr = a.parse().map_err(|_| bad())?;
    if ip.is_ipv6() {
        return Err(format!("{s:?}: write IPv6 with a port as [addr]:port"));
    }
    Ok((ip, p.parse().map_err(|_| bad())?))
}

/// Parse a flow (direction defaults to `out`).
pub fn parse_flow(text: &str) -> Result<Flow, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [proto, src, arrow, dst, rest @ ..] = words.as_slice() else {
        return Err(format!("want `PROTO SRC[:PORT] -> DST[:PORT] [in|out|fwd] [iface NAME]`, got {text:?}"));
    };
    if *arrow != "->" {
        return Err(format!("expected `->`, got {arrow:?}"));
    }
    let proto = match *proto {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmp6" | "ipv6-icmp" => 58,
        "esp" => 50,
        "ah" => 51,
        n => n.parse().map_err(|_| format!("unknown protocol {n:?}"))?,
    };
    let (src, src_port) = endpoint(src)?;
    let (dst, dst_port) = endpoint(dst)?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("source and destination are of different address families".into());
    }
    let mut flow = Flow { src, dst, proto, src_port, dst_port, dir: Direction::Out, iface: None };
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match *w {
            "in" => flow.dir = Direction::In,
            "out" => flow.dir = Direction::Out,
            "fwd" => flow.dir = Direction::Fwd,
            "iface" => flow.iface = Some(it.next().ok_or("`iface` needs a name")?.to_string()),
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example_and_variants() {
        let f = parse_flow("tcp 198.51.100.7:40000 -> 203.0.113.5:443").expect("parse");
        assert_eq!((f.proto, f.src_port, f.dst_port, f.dir), (6, 40000, 443, Direction::Out));
        assert_eq!(f.dst, "203.0.113.5".parse::<IpAddr>().expect("ip"));
        let f = parse_flow("udp [2001:db8::1]:53 -> [2001:db8::2]:5353 in iface eth1").expect("parse");
        assert_eq!((f.dir, f.iface.as_deref(), f.dst_port), (Direction::In, Some("eth1"), 5353));
        let f = parse_flow("icmp 192.0.2.1 -> 192.0.2.2 fwd").expect("parse");
        assert_eq!((f.proto, f.src_port, f.dir), (1, 0, Direction::Fwd));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "tcp 1.2.3.4:1 => 1.2.3.5:2",
            "tcp 1.2.3.4:1 -> ::1",
            "bogus 1.2.3.4 -> 1.2.3.5",
            "tcp 1.2.3.4:99999 -> 1.2.3.5",
            "tcp 1.2.3.4: -> 1.2.3.5",
            "tcp 1.2.3.4 -> 1.2.3.5 sideways",
            "tcp 1.2.3.4 -> 1.2.3.5 iface",
            "tcp [::1 -> ::2",
        ] {
            assert!(parse_flow(bad).is_err(), "{bad}");
        }
    }
}
