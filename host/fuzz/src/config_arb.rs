//! The daemon config, structure-aware: `arbitrary` builds a config with
//! every section (`[outer]`, `[netstack]`, `[ipsec]`, `[ike]`, `[[conn]]`,
//! `[[plugin]]`, `[[policy]]`) from values that are mostly plausible (drawn
//! from the forms the docs and examples use) and sometimes arbitrary text;
//! it is rendered as TOML and goes through the same body as the `config`
//! target. This reaches the `[[conn]]` translation (proposals, traffic
//! selectors, identities, durations, pools) far more often than raw bytes.
use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};

/// A value: one of the field's usual forms (three times in four), or any
/// text.
#[derive(Debug, Arbitrary)]
enum Val {
    Known(u8),
    Known2(u8),
    Known3(u8),
    Raw(String),
}

impl Val {
    fn pick(&self, vocab: &[&str]) -> String {
        match self {
            Val::Known(i) | Val::Known2(i) | Val::Known3(i) => vocab[usize::from(*i) % vocab.len()].to_string(),
            Val::Raw(s) => s.clone(),
        }
    }
}

const ADDRS: &[&str] = &["192.0.2.1", "192.0.2.2", "10.1.0.1/24", "2001:db8::1", "fd00::2/64", "0.0.0.0", "::", "any", "%any", "10.0.0.0/33"];
const IPS: &[&str] = &["192.0.2.1", "192.0.2.2", "2001:db8::1", "10.0.0.1", "0.0.0.0", "::"];
const SOCKETS: &[&str] = &["127.0.0.1:1080", "0.0.0.0:4500", "[::1]:500", "192.0.2.1:0", "10.0.0.1:80"];
const IKE: &[&str] = &["aes128gcm16-prfsha256-x25519", "aes256-sha256-modp2048-ecp256", "aes256gcm16-prfsha384-ecp384", "chacha20poly1305-prfsha256-curve25519", "aes128-sha1-modp1024", ""];
const ESP: &[&str] = &["aes128gcm16", "aes256gcm16-esn", "aes128-sha256", "chacha20poly1305", "sha256", "null-sha256-x25519", ""];
const TS: &[&str] = &["0.0.0.0/0", "10.1.0.0/16", "::/0", "192.0.2.1/32[tcp/443]", "10.0.0.0/8[udp]", "2001:db8::/32[58/128]", "10.0.0.1-10.0.0.9"];
const IDS: &[&str] = &["fqdn:a.example", "email:x@example", "dn:CN=a.example, O=esprit", "192.0.2.1", "any", "keyid:0011", "a.example", "CN=x"];
const DURATIONS: &[&str] = &["1h", "30m", "10s", "0s", "1d", "500ms", "1x", "-1s"];
const STARTS: &[&str] = &["start", "trap", "route", "none", "add"];
const MODES: &[&str] = &["tunnel", "transport"];
const PROTOS: &[&str] = &["esp", "ah"];
const POOLS: &[&str] = &["10.3.0.0/30", "10.3.0.0/24", "fd00:3::/120", "10.3.0.0/0", "10.3.0.0/32"];
const AUTHS: &[&str] = &["psk", "x509", "null"];
const L4S: &[&str] = &["tcp", "udp"];
const DIRS: &[&str] = &["out", "in", "fwd"];
const SETKEY: &[&str] = &[
    "flush;\nspdflush;\n",
    "add 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -E aes-gcm-16 0x00112233445566778899aabbccddeeff00112233;\n",
    "spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n",
];

#[derive(Debug, Arbitrary)]
struct Conn {
    name: Val,
    remote: Val,
    remote_port: Option<u16>,
    local_id: Option<Val>,
    remote_id: Option<Val>,
    auth: Val,
    ike: Vec<Val>,
    esp: Vec<Val>,
    protocol: Option<Val>,
    mode: Option<Val>,
    local_ts: Vec<Val>,
    remote_ts: Vec<Val>,
    start: Option<Val>,
    rekey: Option<Val>,
    ike_rekey: Option<Val>,
    dpd: Option<Val>,
    vip: bool,
    pool: Option<Val>,
    oe: Option<Val>,
    oe_timeout: Option<Val>,
}

#[derive(Debug, Arbitrary)]
struct Fwd {
    udp: bool,
    listen: Val,
    to: Val,
    port: u16,
}

#[derive(Debug, Arbitrary)]
struct Policy {
    src: Option<Val>,
    dst: Option<Val>,
    proto: Option<Val>,
    dir: Option<Val>,
    priority: Option<u32>,
    plugin: Val,
}

/// `[tun]`: address, mtu, routes, source.
type Tun = (Vec<Val>, Option<u32>, Vec<Val>, Option<Val>);
/// `[netstack]`: address, mtu, socks5, forwards, exposes.
type Netstack = (Vec<Val>, Option<u32>, Option<Val>, Vec<Fwd>, Vec<Fwd>);
/// `[ike]`: port, local, cookie_threshold, retransmit_timeout,
/// retransmit_tries, keepalive.
type Ike = (Option<u16>, Option<Val>, Option<usize>, Option<Val>, Option<u32>, Option<Val>);

#[derive(Debug, Arbitrary)]
struct Cfg {
    netstack_mode: bool,
    raw_outer: bool,
    listen: Option<Val>,
    peer_port: Option<u16>,
    peer_ports: Vec<(Val, u16)>,
    tun: Option<Tun>,
    netstack: Option<Netstack>,
    setkey: Option<Val>,
    replay_window: Option<u32>,
    ike: Option<Ike>,
    conns: Vec<Conn>,
    plugins: Vec<Val>,
    policies: Vec<Policy>,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn list(v: &[Val], vocab: &[&str]) -> String {
    let items: Vec<String> = v.iter().map(|x| q(&x.pick(vocab))).collect();
    format!("[{}]", items.join(", "))
}

fn opt(out: &mut String, key: &str, v: &Option<Val>, vocab: &[&str]) {
    if let Some(v) = v {
        let _ = writeln!(out, "{key} = {}", q(&v.pick(vocab)));
    }
}

fn render(c: &Cfg) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "mode = {}", if c.netstack_mode { "\"netstack\"" } else { "\"tun\"" });
    let _ = writeln!(o, "name = \"fuzz\"");
    let _ = writeln!(o, "[outer]\ntransport = {}", if c.raw_outer { "\"raw\"" } else { "\"udp\"" });
    opt(&mut o, "listen", &c.listen, SOCKETS);
    if let Some(p) = c.peer_port {
        let _ = writeln!(o, "peer_port = {p}");
    }
    if !c.peer_ports.is_empty() {
        o.push_str("[outer.peer_ports]\n");
        let mut seen = Vec::new();
        for (a, p) in &c.peer_ports {
            let a = a.pick(IPS);
            if !seen.contains(&a) {
                let _ = writeln!(o, "{} = {p}", q(&a));
                seen.push(a);
            }
        }
    }
    if let Some((addr, mtu, routes, source)) = &c.tun {
        let _ = writeln!(o, "[tun]\naddress = {}\nroutes = {}", list(addr, ADDRS), list(routes, ADDRS));
        if let Some(m) = mtu {
            let _ = writeln!(o, "mtu = {m}");
        }
        opt(&mut o, "source", source, IPS);
    }
    if let Some((addr, mtu, socks, fwds, exps)) = &c.netstack {
        let _ = writeln!(o, "[netstack]\naddress = {}", list(addr, ADDRS));
        if let Some(m) = mtu {
            let _ = writeln!(o, "mtu = {m}");
        }
        opt(&mut o, "socks5", socks, SOCKETS);
        for f in fwds {
            let _ = writeln!(o, "[[netstack.forward]]\nproto = {}\nlisten = {}\nto = {}", q(L4S[usize::from(f.udp)]), q(&f.listen.pick(SOCKETS)), q(&f.to.pick(SOCKETS)));
        }
        for f in exps {
            let _ = writeln!(o, "[[netstack.expose]]\nproto = {}\nport = {}\nto = {}", q(L4S[usize::from(f.udp)]), f.port, q(&f.to.pick(SOCKETS)));
        }
    }
    o.push_str("[ipsec]\n");
    opt(&mut o, "setkey", &c.setkey, SETKEY);
    if let Some(r) = c.replay_window {
        let _ = writeln!(o, "replay_window = {r}");
    }
    if let Some((port, local, cookie, rto, tries, keepalive)) = &c.ike {
        o.push_str("[ike]\n");
        if let Some(p) = port {
            let _ = writeln!(o, "port = {p}");
        }
        opt(&mut o, "local", local, IPS);
        if let Some(n) = cookie {
            let _ = writeln!(o, "cookie_threshold = {n}");
        }
        opt(&mut o, "retransmit_timeout", rto, DURATIONS);
        if let Some(n) = tries {
            let _ = writeln!(o, "retransmit_tries = {n}");
        }
        opt(&mut o, "keepalive", keepalive, DURATIONS);
    }
    for p in &c.plugins {
        let _ = writeln!(o, "[[plugin]]\nspec = {}", q(&p.pick(&["psk.plugin.toml", "x509.plugin.toml"])));
    }
    for p in &c.policies {
        o.push_str("[[policy]]\n");
        opt(&mut o, "src", &p.src, ADDRS);
        opt(&mut o, "dst", &p.dst, ADDRS);
        opt(&mut o, "proto", &p.proto, &["tcp", "udp", "icmp", "6", "300"]);
        opt(&mut o, "dir", &p.dir, DIRS);
        if let Some(n) = p.priority {
            let _ = writeln!(o, "priority = {n}");
        }
        let _ = writeln!(o, "plugin = {}", q(&p.plugin.pick(&["allowlist", "oe"])));
    }
    for c in &c.conns {
        let _ = writeln!(o, "[[conn]]\nname = {}\nremote = {}\nauth = {}", q(&c.name.pick(&["gw", "rw", "oe"])), q(&c.remote.pick(ADDRS)), q(&c.auth.pick(AUTHS)));
        if let Some(p) = c.remote_port {
            let _ = writeln!(o, "remote_port = {p}");
        }
        opt(&mut o, "local_id", &c.local_id, IDS);
        opt(&mut o, "remote_id", &c.remote_id, IDS);
        let _ = writeln!(o, "ike = {}\nesp = {}", list(&c.ike, IKE), list(&c.esp, ESP));
        opt(&mut o, "protocol", &c.protocol, PROTOS);
        opt(&mut o, "mode", &c.mode, MODES);
        let _ = writeln!(o, "local_ts = {}\nremote_ts = {}", list(&c.local_ts, TS), list(&c.remote_ts, TS));
        opt(&mut o, "start", &c.start, STARTS);
        opt(&mut o, "rekey", &c.rekey, DURATIONS);
        opt(&mut o, "ike_rekey", &c.ike_rekey, DURATIONS);
        opt(&mut o, "dpd", &c.dpd, DURATIONS);
        let _ = writeln!(o, "vip = {}", c.vip);
        opt(&mut o, "pool", &c.pool, POOLS);
        opt(&mut o, "oe", &c.oe, &["10.0.0.0/8", "0.0.0.0/0", "::/0"]);
        opt(&mut o, "oe_timeout", &c.oe_timeout, DURATIONS);
    }
    o
}

/// The TOML the input stands for (also used to write the seed corpus).
pub fn toml(data: &[u8]) -> Option<String> {
    Cfg::arbitrary_take_rest(Unstructured::new(data)).ok().map(|c| render(&c))
}

pub fn run(data: &[u8]) {
    if let Some(text) = toml(data) {
        crate::config::parse(&text);
    }
}
