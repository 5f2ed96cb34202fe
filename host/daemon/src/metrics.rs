//! `metrics_listen = "127.0.0.1:9477"`: a Prometheus endpoint. A small
//! thread serves `GET /metrics` over plain HTTP/1.1 (one bounded request
//! per connection, short deadlines) in the text exposition format 0.0.4,
//! built on request from the same typed snapshot as `esprit status`:
//! nothing is pushed per packet.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tracing::{debug, info};

use crate::status::model::{Counters, Status};

/// Longest request head read (the request line and headers).
const MAX_REQUEST: usize = 8 * 1024;
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where a scrape gets its snapshot.
pub type Snapshot = Arc<dyn Fn() -> Result<Status, String> + Send + Sync>;

/// Binds `addr` and serves scrapes on a thread of its own.
pub fn serve(addr: SocketAddr, snapshot: Snapshot) -> Result<()> {
    let l = TcpListener::bind(addr).with_context(|| format!("metrics_listen: binding {addr}"))?;
    info!(listen = %addr, "metrics endpoint ready (GET /metrics)");
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for conn in l.incoming() {
            match conn {
                Ok(c) => {
                    if let Err(e) = serve_one(c, &snapshot) {
                        debug!("metrics: {e}");
                    }
                }
                Err(e) => debug!("metrics accept: {e}"),
            }
        }
    })?;
    Ok(())
}

fn serve_one(mut c: TcpStream, snapshot: &Snapshot) -> std::io::Result<()> {
    c.set_read_timeout(Some(TIMEOUT))?;
    c.set_write_timeout(Some(TIMEOUT))?;
    // Read the head (until the blank line), at most MAX_REQUEST bytes.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    // One deadline for the whole head: a client trickling a byte at a time
    // cannot hold the (single) metrics thread longer than TIMEOUT.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "request head not complete in time"));
        }
        c.set_read_timeout(Some(left))?;
        let n = c.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut c, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut c, "405 Method Not Allowed", "text/plain", "only GET\n");
    }
    if target != "/metrics" && !target.starts_with("/metrics?") {
        return respond(&mut c, "404 Not Found", "text/plain", "see /metrics\n");
    }
    match snapshot() {
        Ok(st) => respond(&mut c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &render(&st)),
        Err(e) => respond(&mut c, "500 Internal Server Error", "text/plain", &format!("{e}\n")),
    }
}

fn respond(c: &mut TcpStream, status: &str, ctype: &str, body: &str) -> std::io::Result<()> {
    write!(c, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    c.flush()
}

/// One metric family: `# HELP`, `# TYPE` and its samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: u64) {
        self.sample_as(self.name, labels, &value.to_string());
    }

    /// A sample of this family under `name` (a summary's `_sum`/`_count`).
    fn sample_as(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn counters(&mut self, label: &str, c: &Counters, extra: &[(&str, &str)]) {
        for (k, n) in c {
            let mut l = extra.to_vec();
            l.push((label, k));
            self.sample(&l, *n);
        }
    }
}

/// A label value: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition of one snapshot.
pub fn render(st: &Status) -> String {
    let mut o = String::new();
    let o = &mut o;
    Family::new(o, "esprit_info", "gauge", "The instance (always 1).").sample(&[("name", &st.name), ("mode", &st.mode), ("schema_version", &st.schema_version.to_string())], 1);
    Family::new(o, "esprit_uptime_seconds", "gauge", "Seconds since the data plane started.").sample(&[], st.uptime_s);
    Family::new(o, "esprit_sas", "gauge", "SAs in the SAD.").sample(&[], st.sas.len() as u64);
    {
        let mut f = Family::new(o, "esprit_sa_bytes_total", "counter", "Octets through each SA, by direction.");
        for sa in &st.sas {
            f.sample(&[("spi", &sa.spi), ("direction", "out"), ("protocol", &sa.proto)], sa.engine.bytes_out);
            f.sample(&[("spi", &sa.spi), ("direction", "in"), ("protocol", &sa.proto)], sa.engine.bytes_in);
        }
    }
    {
        let mut f = Family::new(o, "esprit_sa_packets_total", "counter", "Packets through each SA, by direction.");
        for sa in &st.sas {
            f.sample(&[("spi", &sa.spi), ("direction", "out"), ("protocol", &sa.proto)], sa.engine.packets_out);
            f.sample(&[("spi", &sa.spi), ("direction", "in"), ("protocol", &sa.proto)], sa.engine.packets_in);
        }
    }
    {
        let mut f = Family::new(o, "esprit_sa_drops_total", "counter", "Packets an SA's engine dropped, by direction and reason.");
        for sa in &st.sas {
            f.counters("reason", &sa.engine.drops_in, &[("spi", &sa.spi), ("direction", "in")]);
            f.counters("reason", &sa.engine.drops_out, &[("spi", &sa.spi), ("direction", "out")]);
        }
    }
    {
        // The refused bypasses are drops (in esprit_drops_total), not a kind of packet sent.
        let kinds: Counters = st.counters.iter().filter(|(k, _)| k.as_str() != "bypass_to_protected_peer").map(|(k, n)| (k.clone(), *n)).collect();
        Family::new(o, "esprit_packets_total", "counter", "Packets through the packet path, by kind.").counters("kind", &kinds, &[]);
    }
    {
        // Every reason, at 0 until it happens: a series that appears only
        // at its first drop defeats rate() and alerts on it.
        let mut drops: Counters = esprit_esp::DropReason::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(esprit_dataplane::PathDrop::ALL.iter().map(|p| p.as_str()))
            .map(|k| (k.to_string(), 0))
            .collect();
        for (k, n) in &st.drops {
            drops.insert(k.clone(), *n);
        }
        Family::new(o, "esprit_drops_total", "counter", "Packets dropped by the packet path, by reason.").counters("reason", &drops, &[]);
    }
    Family::new(o, "esprit_held_packets", "gauge", "Packets held while IKE negotiates their SA.").sample(&[], st.held_packets);
    Family::new(o, "esprit_spd_events_total", "counter", "SPD lookups, flow cache hits and misses, decider calls.").counters("event", &st.spd, &[]);
    Family::new(o, "esprit_inbound_checks_total", "counter", "Inbound policy checks, by result.").counters("result", &st.inbound, &[]);
    Family::new(o, "esprit_outbound_decisions_total", "counter", "Outbound policy decisions, by result.").counters("result", &st.outbound, &[]);
    Family::new(o, "esprit_acquires_total", "counter", "ACQUIREs raised, suppressed and timed out.").counters("event", &st.acquires, &[]);
    Family::new(o, "esprit_control_requests_total", "counter", "Control socket connections, by outcome.").counters("result", &st.control, &[]);
    {
        let mut by_state = Counters::new();
        for sa in st.ike.iter().flat_map(|i| &i.ike_sas) {
            *by_state.entry(sa.state.clone()).or_default() += 1;
        }
        Family::new(o, "esprit_ike_sas", "gauge", "IKE SAs, by state.").counters("state", &by_state, &[]);
        let children = st.ike.iter().flat_map(|i| &i.ike_sas).map(|s| s.children.len() as u64).sum();
        Family::new(o, "esprit_child_sas", "gauge", "CHILD_SAs of the IKE SAs.").sample(&[], children);
        let empty = Counters::new();
        Family::new(o, "esprit_ike_events_total", "counter", "IKE messages and exchanges, by event.").counters("event", st.ike.as_ref().map(|i| &i.stats).unwrap_or(&empty), &[]);
    }
    {
        let mut f = Family::new(o, "esprit_plugin_calls_total", "counter", "Decisions asked of each policy plugin.");
        for p in &st.plugins {
            f.sample(&[("plugin", &p.name)], p.faults.get("calls").copied().unwrap_or(0));
        }
    }
    {
        let mut f = Family::new(o, "esprit_plugin_faults_total", "counter", "Policy plugin faults, by kind (answered with the failure verdict).");
        for p in &st.plugins {
            for kind in ["deadline", "oom", "trap", "instantiate", "invalid_verdict", "quarantined_calls"] {
                f.sample(&[("plugin", &p.name), ("kind", kind)], p.faults.get(kind).copied().unwrap_or(0));
            }
        }
    }
    {
        // A summary without quantiles: the mean call latency is sum / count.
        let mut f = Family::new(o, "esprit_plugin_call_duration_seconds", "summary", "Wall-clock time of policy plugin calls.");
        for p in &st.plugins {
            let micros = p.faults.get("call_micros").copied().unwrap_or(0);
            f.sample_as("esprit_plugin_call_duration_seconds_sum", &[("plugin", &p.name)], &format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000));
            f.sample_as("esprit_plugin_call_duration_seconds_count", &[("plugin", &p.name)], &p.faults.get("calls").copied().unwrap_or(0).to_string());
        }
    }
    {
        let mut f = Family::new(o, "esprit_plugin_quarantined", "gauge", "1 while a policy plugin is quarantined.");
        for p in &st.plugins {
            f.sample(&[("plugin", &p.name)], p.quarantined as u64);
        }
    }
    if let Some(ns) = &st.netstack {
        let g = |k: &str| ns.get(k).copied().unwrap_or(0);
        Family::new(o, "esprit_netstack_tcp_connections", "gauge", "Live bridged TCP connections of the netstack.").sample(&[], g("tcp_active"));
        Family::new(o, "esprit_netstack_tcp_closing", "gauge", "Netstack TCP sockets finishing their close.").sample(&[], g("tcp_closing"));
        Family::new(o, "esprit_netstack_udp_sessions", "gauge", "Netstack UDP sessions.").sample(&[], g("udp_sessions"));
        Family::new(o, "esprit_netstack_buffered_bytes", "gauge", "Octets held in netstack TCP buffers.").sample(&[], g("tcp_buffered"));
        let mut f = Family::new(o, "esprit_netstack_events_total", "counter", "Netstack events (connections opened, reset, refused at the limit, drops).");
        for k in ["tcp_opened", "tcp_reset", "tcp_limited", "socks_errors", "rx_dropped", "udp_dropped"] {
            f.sample(&[("event", k)], g(k));
        }
    }
    o.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaping() {
        let mut st = Status { name: "a\"b\\c\nd".into(), mode: "netstack".into(), ..Status::default() };
        st.drops.insert("replay".into(), 3);
        let text = render(&st);
        assert!(text.contains("esprit_info{name=\"a\\\"b\\\\c\\nd\",mode=\"netstack\",schema_version=\"0\"} 1"), "{text}");
        assert!(text.contains("\nesprit_drops_total{reason=\"replay\"} 3\n"), "{text}");
        // Reasons that never happened are there, at 0.
        assert!(text.contains("\nesprit_drops_total{reason=\"unknown SPI\"} 0\n"), "{text}");
    }

    #[test]
    fn plugin_latency_is_a_summary() {
        let mut p = crate::status::model::PluginStatus { name: "allow".into(), ..Default::default() };
        p.faults.insert("calls".into(), 4);
        p.faults.insert("call_micros".into(), 1_500_042);
        p.faults.insert("trap".into(), 1);
        let st = Status { plugins: vec![p], ..Status::default() };
        let text = render(&st);
        assert!(text.contains("# TYPE esprit_plugin_call_duration_seconds summary\nesprit_plugin_call_duration_seconds_sum{plugin=\"allow\"} 1.500042\nesprit_plugin_call_duration_seconds_count{plugin=\"allow\"} 4\n"), "{text}");
        assert!(text.contains("esprit_plugin_faults_total{plugin=\"allow\",kind=\"trap\"} 1\n"), "{text}");
        assert!(text.contains("esprit_plugin_calls_total{plugin=\"allow\"} 4\n"), "{text}");
    }
}
