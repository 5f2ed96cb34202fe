//! esprit ↔ esprit over IKEv2 in network namespaces: what strongSwan 5.9.8
//! (kernel-libipsec, UDP-encapsulated tunnel mode only) cannot show.
//!
//! 1. Transport mode over raw IP (IKE on UDP 500, ESP as protocol 50),
//!    host to host: ping and a 10 MB TCP transfer with sha256 on both ends.
//! 2. AH (protocol 51) transport mode over raw IP: ping.
//! 3. ESN (`aes128gcm16-esn`) in a UDP-encapsulated tunnel.
//! 4. `start = "trap"`: the first packet starts IKE (ACQUIRE), nobody runs
//!    `esprit ike up`, and the packets sent while IKE ran are delivered.
//! 5. Opportunistic encryption with NULL authentication (RFC 7619):
//!    both hosts run esprit (encrypted); the peer runs no esprit
//!    (`private-or-clear`: a clear shunt after `oe_timeout`; `private`:
//!    traffic is dropped and counted).
//! 6. The seed's racoon setup imported with `esprit import racoon`
//!    (certificates from `esprit pki`), run unmodified on the seed's two
//!    hosts 192.168.0.1 and 10.1.2.3: a ping sets up the SAs.
//!
//! Needs root (namespaces, TUN, raw sockets): skipped with a reason on a
//! developer machine, a failure under CI=true. Namespaces and the processes
//! in them are removed on drop, also when an assertion fails.

mod support;

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde_json::Value;
use support::esprit::{data_sas, ike_sas, Esprit};
use support::netns::{veth, Netns};
use support::ike::{link_pair, null_spec, prerequisites, psk_spec, wasm, OUT_A, OUT_B};
use support::traffic::{ping, text, transfer, Capture};
use support::{esprit_bin, Scratch};

const PSK: &str = "esprit-esprit-test-psk-0123456789";
const MB: u64 = 1024 * 1024;

// ---------------------------------------------------------------- esprit


/// A daemon config head: TUN `esprit0` with source `source`, outer `outer`
/// (raw IP, or UDP on `listen`), one plugin spec. Daemon `b` runs a packet
/// worker per direction and every other one a single worker, so each
/// exchange crosses both layouts (`[tun] workers`).
fn head(dir: &Scratch, name: &str, outer: &str, source: &str, spec: &Path) -> String {
    let workers = if name == "b" { 2 } else { 1 };
    format!(
        "name = \"{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\n{outer}\n[tun]\nname = \"esprit0\"\nsource = \"{source}\"\nworkers = {workers}\n[[plugin]]\nspec = \"{}\"\n",
        dir.path(&format!("{name}.sock")).display(),
        spec.display()
    )
}

/// A PSK `[[conn]]` for the a.example/b.example pair; `extra` adds lines.
#[allow(clippy::too_many_arguments)]
fn psk_conn(name: &str, remote: &str, me: &str, peer: &str, local_ts: &str, remote_ts: &str, start: &str, extra: &str) -> String {
    format!(
        "[[conn]]\nname = \"{name}\"\nremote = \"{remote}\"\nlocal_id = \"{me}\"\nremote_id = \"{peer}\"\nauth = \"psk\"\n\
         ike = [\"aes128gcm16-prfsha256-x25519\"]\nlocal_ts = [\"{local_ts}\"]\nremote_ts = [\"{remote_ts}\"]\nstart = \"{start}\"\n{extra}"
    )
}

// ---------------------------------------------------------------- traffic

fn assert_ping(ns: &Netns, from: Option<&str>, to: &str, e: &Esprit) {
    let p = ping(ns, from, to, 3, 2);
    assert!(p.status.success(), "ping {to} failed:\n{}\n---- esprit status\n{:#}\n---- log\n{}", text(&p), e.status(), e.log_tail());
}

/// Checks every data-plane SA of `st` has `proto`/`mode` and carried packets.
fn assert_sas(st: &Value, proto: &str, mode: &str, min_packets: u64) {
    let sas = data_sas(st);
    assert_eq!(sas.len(), 2, "one inbound and one outbound SA: {st:#}");
    for sa in &sas {
        assert_eq!((sa["proto"].as_str(), sa["mode"].as_str()), (Some(proto), Some(mode)), "{st:#}");
        assert!(sa["packets"].as_u64().unwrap_or(0) >= min_packets, "SA {} carried fewer than {min_packets} packets: {st:#}", sa["spi"]);
    }
}

// ---------------------------------------------------------------- 1, 2: raw IP transport

/// Host-to-host transport mode over raw IP, `proto_lines` sets protocol/esp.
fn raw_transport_pair(dir: &Scratch, tag: &str, proto_lines: &str) -> (Netns, Netns, Esprit, Esprit, Capture) {
    let (ns_a, ns_b) = link_pair(tag);
    let cap = Capture::start(&ns_a, "veth0", dir, "wire");
    let spec = psk_spec(dir, PSK);
    let extra = format!("mode = \"transport\"\n{proto_lines}");
    let outer = "transport = \"raw\"";
    let conf_b = head(dir, "b", outer, OUT_B, &spec)
        + &format!("[ike]\nlocal = \"{OUT_B}\"\n")
        + &psk_conn("host", OUT_A, "b.example", "a.example", &format!("{OUT_B}/32"), &format!("{OUT_A}/32"), "none", &extra);
    let b = Esprit::start(&ns_b, dir, "b", &conf_b);
    let conf_a = head(dir, "a", outer, OUT_A, &spec)
        + &format!("[ike]\nlocal = \"{OUT_A}\"\n")
        + &psk_conn("host", OUT_B, "a.example", "b.example", &format!("{OUT_A}/32"), &format!("{OUT_B}/32"), "start", &extra);
    let a = Esprit::start(&ns_a, dir, "a", &conf_a);
    (ns_a, ns_b, a, b, cap)
}

/// On the wire: IKE on UDP 500 only, at least `min` packets of IP protocol
/// `proto` (50 ESP, 51 AH), no UDP encapsulation and no cleartext ICMP/TCP
/// between the hosts.
fn assert_wire(cap: &mut Capture, proto: u8, min: usize) {
    cap.stop();
    let ike = cap.count("udp port 500");
    let ipsec = cap.count(&format!("ip proto {proto}"));
    let natt = cap.count("udp port 4500");
    let clear = cap.count("icmp or tcp");
    assert!(ike >= 4 && ipsec >= min && natt == 0 && clear == 0, "wire: {ike} IKE (UDP 500), {ipsec} protocol-{proto}, {natt} UDP 4500, {clear} cleartext ICMP/TCP packets");
    eprintln!("wire: {ike} IKE packets on UDP 500, {ipsec} packets of IP protocol {proto}, none in UDP 4500 or in the clear");
}

/// (1) ESP transport mode over raw IP, IKE on UDP 500.
#[test]
fn transport_mode_esp_over_raw_ip() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    let dir = Scratch::new("ike-ee-1");
    let (ns_a, ns_b, a, b, mut cap) = raw_transport_pair(&dir, "e1", "esp = [\"aes128gcm16\"]\n");
    let st = a.wait_up(Duration::from_secs(15));
    b.wait_up(Duration::from_secs(5));
    let t_up = t0.elapsed();
    let sa = &ike_sas(&st)[0];
    assert!(sa["local"].as_str().is_some_and(|l| l.ends_with(":500")) && sa["remote"].as_str().is_some_and(|r| r.ends_with(":500")), "IKE on UDP 500 (no NAT, no float): {st:#}");
    assert_ping(&ns_a, None, OUT_B, &a);
    transfer(&ns_b, &ns_a, (OUT_B, 5101), 10 * MB, &dir, "transport-10MB");
    let st_a = a.status();
    let st_b = b.status();
    // The data direction carried the 10 MB; the other one the ACKs, whose
    // number depends on how many segments the receiver's TUN coalesced
    // (GRO) before its kernel acknowledged them, so only "some".
    for st in [&st_a, &st_b] {
        assert_sas(st, "esp", "transport", 3);
        let most = data_sas(st).iter().filter_map(|sa| sa["packets"].as_u64()).max().unwrap_or(0);
        assert!(most >= 5000, "no SA carried the 10 MB (7,000+ segments of at most 1,460 bytes): {st:#}");
    }
    assert_eq!(st_a["drops"]["unknown SPI"].as_u64().unwrap_or(0), 0, "{st_a:#}");
    // No packet went through a UDP socket: ESP is protocol 50 here. (A's
    // inbound packets are the ACKs: some, however coalesced.)
    assert_eq!(st_a["counters"]["in_decrypted"].as_u64().map(|n| n >= 10), Some(true), "{st_a:#}");
    assert_wire(&mut cap, 50, 5000);
    eprintln!("scenario 1: SAs up at {t_up:?}, ping + 10 MB done at {:?}", t0.elapsed());
}

/// (2) AH transport mode over raw IP.
#[test]
fn transport_mode_ah_over_raw_ip() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    let dir = Scratch::new("ike-ee-2");
    let (ns_a, _ns_b, a, b, mut cap) = raw_transport_pair(&dir, "e2", "protocol = \"ah\"\nesp = [\"sha256\"]\n");
    a.wait_up(Duration::from_secs(15));
    b.wait_up(Duration::from_secs(5));
    assert_ping(&ns_a, None, OUT_B, &a);
    let st = a.status();
    assert_sas(&st, "ah", "transport", 3);
    let kids = &ike_sas(&st)[0]["children"][0];
    assert!(kids["algs"].as_str().unwrap_or_default().to_lowercase().contains("sha2"), "AH integrity algorithm: {st:#}");
    assert_wire(&mut cap, 51, 6);
    eprintln!("scenario 2: AH up and ping done at {:?}", t0.elapsed());
}

// ---------------------------------------------------------------- 3, 4: UDP tunnels

const IN_A: &str = "203.0.113.1";
const IN_B: &str = "198.51.100.1";
const NET_A: &str = "203.0.113.0/24";
const NET_B: &str = "198.51.100.0/24";

/// Two gateways (ESP in UDP 4500) with inner addresses on `lo`; A's conn
/// starts with `start_a`, B responds; `extra` is added to both conns.
fn udp_tunnel_pair(dir: &Scratch, tag: &str, start_a: &str, extra: &str) -> (Netns, Netns, Esprit, Esprit) {
    let (ns_a, ns_b) = link_pair(tag);
    ns_a.addr("lo", &format!("{IN_A}/32"));
    ns_b.addr("lo", &format!("{IN_B}/32"));
    let spec = psk_spec(dir, PSK);
    let conf_b = head(dir, "b", &format!("listen = \"{OUT_B}:4500\""), IN_B, &spec) + &psk_conn("net", OUT_A, "b.example", "a.example", NET_B, NET_A, "none", extra);
    let b = Esprit::start(&ns_b, dir, "b", &conf_b);
    let conf_a = head(dir, "a", &format!("listen = \"{OUT_A}:4500\""), IN_A, &spec) + &psk_conn("net", OUT_B, "a.example", "b.example", NET_A, NET_B, start_a, extra);
    let a = Esprit::start(&ns_a, dir, "a", &conf_a);
    (ns_a, ns_b, a, b)
}

/// (3) Extended sequence numbers, negotiated by both sides.
#[test]
fn esn_tunnel_in_udp() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    let dir = Scratch::new("ike-ee-3");
    let (ns_a, _ns_b, a, b) = udp_tunnel_pair(&dir, "e3", "start", "esp = [\"aes128gcm16-esn\"]\n");
    a.wait_up(Duration::from_secs(15));
    b.wait_up(Duration::from_secs(5));
    assert_ping(&ns_a, Some(IN_A), IN_B, &a);
    for (side, e) in [("A", &a), ("B", &b)] {
        let st = e.status();
        assert_sas(&st, "esp", "tunnel", 3);
        for sa in data_sas(&st) {
            assert_eq!(sa["esn"], Value::Bool(true), "{side}: SA {} without ESN: {st:#}", sa["spi"]);
        }
    }
    eprintln!("scenario 3: ESN tunnel up and ping done at {:?}", t0.elapsed());
}

/// (4) `start = "trap"`: the first packet starts IKE; the packets sent while
/// IKE ran are held and delivered, not dropped.
#[test]
fn trap_first_packet_starts_ike_and_is_delivered() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("ike-ee-4");
    let (ns_a, _ns_b, a, b) = udp_tunnel_pair(&dir, "e4", "trap", "esp = [\"aes128gcm16\"]\n");
    // Nothing happens before traffic.
    std::thread::sleep(Duration::from_millis(500));
    let st = a.status();
    assert!(ike_sas(&st).is_empty() && data_sas(&st).is_empty(), "trap must not negotiate before traffic: {st:#}");
    let t0 = Instant::now();
    let p = ping(&ns_a, Some(IN_A), IN_B, 3, 5);
    let t_ping = t0.elapsed();
    let out = text(&p);
    let st = a.wait_up(Duration::from_secs(10));
    b.wait_up(Duration::from_secs(5));
    assert!(ike_sas(&st)[0]["initiator"] == Value::Bool(true), "A initiated: {st:#}");
    assert!(a.log().contains("ACQUIRE"), "A's log names the ACQUIRE:\n{}", a.log_tail());
    // The first echo request (icmp_seq=1) went out while IKE ran.
    assert!(out.contains("icmp_seq=1 "), "the first packet (sent before the SA existed) was not delivered:\n{out}\n---- A status\n{st:#}\n---- A log\n{}", a.log_tail());
    assert!(out.contains(" 3 received"), "not every echo was answered:\n{out}");
    let held = st["counters"]["held_for_ike"].as_u64().unwrap_or(0);
    assert!(held >= 1, "the first packet should have been held while IKE ran: {st:#}");
    eprintln!("scenario 4: trap ping (3 echoes, first one held for IKE) took {t_ping:?}; {held} packet(s) held");
    // A TCP connection also gets through at once now.
    transfer(&_ns_b, &ns_a, (IN_B, 5104), MB, &dir, "trap-1MB");
}

// ---------------------------------------------------------------- 5: OE

/// An opportunistic group conn for host `me`: 192.0.2.0/24, NULL auth, tunnel mode.
fn oe_conf(dir: &Scratch, name: &str, me: &str, oe: &str, spec: &Path) -> String {
    head(dir, name, &format!("listen = \"{me}:4500\""), me, spec)
        + &format!(
            "[[conn]]\nname = \"oe\"\nremote = \"any\"\nlocal_id = \"null\"\nremote_id = \"any\"\nauth = \"null\"\nmode = \"tunnel\"\n\
             local_ts = [\"{me}/32\"]\nremote_ts = [\"192.0.2.0/24\"]\nstart = \"trap\"\noe = \"{oe}\"\noe_timeout = \"2s\"\n"
        )
}

/// (5a) Both hosts run esprit with private-or-clear: traffic is encrypted.
#[test]
fn oe_null_auth_both_hosts_encrypt() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    let dir = Scratch::new("ike-ee-5a");
    let (ns_a, ns_b) = link_pair("e5a");
    let spec = null_spec(&dir);
    let b = Esprit::start(&ns_b, &dir, "b", &oe_conf(&dir, "b", OUT_B, "private-or-clear", &spec));
    let a = Esprit::start(&ns_a, &dir, "a", &oe_conf(&dir, "a", OUT_A, "private-or-clear", &spec));
    let p = ping(&ns_a, None, OUT_B, 3, 5);
    assert!(p.status.success(), "OE ping failed:\n{}\n{:#}\n{}", text(&p), a.status(), a.log_tail());
    let st = a.wait_up(Duration::from_secs(10));
    b.wait_up(Duration::from_secs(5));
    let ike = &ike_sas(&st)[0];
    assert!(ike["peer_id"].as_str().unwrap_or_default().to_lowercase().contains("null"), "NULL identity: {st:#}");
    assert!(st["ike"]["clear_shunts"].as_array().is_none_or(|a| a.is_empty()), "no clear shunt when the peer answers: {st:#}");
    // The echoes were protected (and counted) in both directions.
    let st = a.status();
    assert_sas(&st, "esp", "tunnel", 3);
    assert!(st["counters"]["out_protected"].as_u64().unwrap_or(0) >= 3 && st["counters"]["in_decrypted"].as_u64().unwrap_or(0) >= 3, "{st:#}");
    eprintln!("scenario 5a: OE between two esprits, first ping answered at {:?}", t0.elapsed());
}

/// (5b) private-or-clear to a host without esprit: after oe_timeout a clear
/// shunt is installed and the ping gets through in the clear.
#[test]
fn oe_private_or_clear_to_plain_host_falls_back_to_clear() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("ike-ee-5b");
    let (ns_a, _ns_b) = link_pair("e5b");
    let spec = null_spec(&dir);
    let a = Esprit::start(&ns_a, &dir, "a", &oe_conf(&dir, "a", OUT_A, "private-or-clear", &spec));
    let t0 = Instant::now();
    // 10 echoes over ~2 s plus a 5 s wait: the held first ones and the later ones are answered.
    let p = ping(&ns_a, None, OUT_B, 10, 5);
    let took = t0.elapsed();
    let out = text(&p);
    let st = a.status();
    assert!(p.status.success(), "ping to the plain host never succeeded:\n{out}\n{st:#}\n{}", a.log_tail());
    let shunts: Vec<&str> = st["ike"]["clear_shunts"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    assert_eq!(shunts, [OUT_B], "{st:#}");
    assert!(data_sas(&st).is_empty(), "no SA with a host that runs no IKE: {st:#}");
    assert!(a.log().contains("did not answer IKE"), "{}", a.log_tail());
    let received = out.lines().find(|l| l.contains(" received")).unwrap_or_default().to_string();
    eprintln!("scenario 5b: private-or-clear fallback: {received} in {took:?}");
    // Now clear at once.
    let p = ping(&ns_a, None, OUT_B, 3, 2);
    assert!(p.status.success(), "clear ping after the shunt:\n{}", text(&p));
}

/// (5c) private to a host without esprit: the traffic is dropped, counted.
#[test]
fn oe_private_to_plain_host_drops() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("ike-ee-5c");
    let (ns_a, _ns_b) = link_pair("e5c");
    let spec = null_spec(&dir);
    let a = Esprit::start(&ns_a, &dir, "a", &oe_conf(&dir, "a", OUT_A, "private", &spec));
    const NO_SA: &str = "no SA for policy (acquire)";
    let p = ping(&ns_a, None, OUT_B, 5, 2);
    assert!(!p.status.success(), "private: a host without IPsec must not be reachable:\n{}", text(&p));
    // The echoes are held while IKE tries (bounded, 10 s), then dropped and counted.
    let st = a.wait_status("the 5 dropped echoes counted", Duration::from_secs(30), |st| st["drops"][NO_SA].as_u64().unwrap_or(0) >= 5);
    assert!(st["ike"]["clear_shunts"].as_array().is_none_or(|a| a.is_empty()), "private installs no clear shunt: {st:#}");
    assert!(data_sas(&st).is_empty(), "{st:#}");
    eprintln!("scenario 5c: private: drops {}", st["drops"]);
}

/// (5d) One OE group, two hosts: B runs esprit, C does not. A pings both at
/// once: B is encrypted at once (each host of the group is negotiated on its
/// own, not queued behind C's unanswered attempt) and C falls back to clear.
#[test]
fn oe_group_encrypts_to_esprit_hosts_and_falls_back_for_plain_ones() {
    if !prerequisites() {
        return;
    }
    const OUT_C: &str = "192.0.2.3";
    let dir = Scratch::new("ike-ee-5d");
    let (ns_a, ns_b) = link_pair("e5d");
    let ns_c = Netns::new("e5dc");
    veth(&ns_a, "veth1", &ns_c, "veth0");
    ns_c.addr("veth0", &format!("{OUT_C}/24"));
    ns_a.run(&["ip", "route", "add", &format!("{OUT_C}/32"), "dev", "veth1"]);
    ns_a.wait_for(&["ping", "-c1", "-W1", OUT_C], Duration::from_secs(5));
    let spec = null_spec(&dir);
    let b = Esprit::start(&ns_b, &dir, "b", &oe_conf(&dir, "b", OUT_B, "private-or-clear", &spec));
    let a = Esprit::start(&ns_a, &dir, "a", &oe_conf(&dir, "a", OUT_A, "private-or-clear", &spec));
    // C first: its ACQUIRE stays unanswered for oe_timeout (2 s).
    let to_c = ns_a.cmd(&["ping", "-c", "10", "-i", "0.2", "-W", "5", OUT_C]).spawn().expect("ping C");
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let pb = ping(&ns_a, None, OUT_B, 3, 2);
    let took_b = t0.elapsed();
    assert!(pb.status.success(), "ping to the esprit host B failed:\n{}\n{:#}\n{}", text(&pb), a.status(), a.log_tail());
    let pc = to_c.wait_with_output().expect("ping C output");
    assert!(pc.status.success(), "ping to the plain host C never succeeded:\n{}\n{:#}", text(&pc), a.status());
    let st = a.status();
    let shunts: Vec<&str> = st["ike"]["clear_shunts"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    assert_eq!(shunts, [OUT_C], "only C falls back: {st:#}");
    // One IKE SA is up, with B (the attempt towards C may still be retrying).
    let up: Vec<Value> = ike_sas(&st).into_iter().filter(|s| s["state"] == "Established").collect();
    assert_eq!(up.len(), 1, "one IKE SA up, with B: {st:#}");
    assert!(up[0]["remote"].as_str().unwrap_or_default().starts_with(OUT_B), "{st:#}");
    assert!(st["counters"]["out_protected"].as_u64().unwrap_or(0) >= 3, "B's echoes were protected: {st:#}");
    b.wait_up(Duration::from_secs(5));
    eprintln!("scenario 5d: OE group: B encrypted in {took_b:?} while C's attempt was pending; C fell back to clear");
}

// ---------------------------------------------------------------- 6: racoon import

/// Files outside the scratch dir (the daemons' default control sockets,
/// left behind when a daemon is killed), removed on drop.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn run_ok(args: &[&str]) -> String {
    let o = std::process::Command::new(esprit_bin()).args(args).output().expect("run esprit");
    assert!(o.status.success(), "esprit {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (6) The seed's racoon.conf + setkey.conf, imported and run unmodified.
#[test]
fn racoon_import_seed_hosts_establish_on_ping() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    let dir = Scratch::new("ike-ee-6");
    let seed = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed"));
    let ca = dir.path("ca");
    run_ok(&["pki", "ca", "--out", ca.to_str().expect("utf-8"), "--cn", "esprit seed CA"]);
    let plugin_dir = PathBuf::from(wasm("x509-auth")).parent().expect("plugin dir").to_path_buf();
    let racoon = std::fs::read_to_string(seed.join("racoon.conf")).expect("seed racoon.conf");
    let mut cfgs = Vec::new();
    let mut sockets = RemoveOnDrop(Vec::new());
    for host in ["192.168.0.1", "10.1.2.3"] {
        let hdir = dir.path(host);
        std::fs::create_dir_all(&hdir).expect("host dir");
        let certs = hdir.join("certs");
        run_ok(&["pki", "issue", "--ca", ca.to_str().expect("utf-8"), "--cn", host, "--out", certs.to_str().expect("utf-8")]);
        // The seed says: change "thishostname" to match yours.
        let r = hdir.join("racoon.conf");
        std::fs::write(&r, racoon.replace("thishostname", host)).expect("write racoon.conf");
        let out = hdir.join("esprit.toml");
        let name = format!("seed-{host}-{}", std::process::id());
        let warnings = run_ok(&[
            "import",
            "racoon",
            "--racoon",
            r.to_str().expect("utf-8"),
            "--setkey",
            seed.join(format!("host-{host}.setkey.conf")).to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--certs",
            certs.to_str().expect("utf-8"),
            "--local",
            host,
            "--name",
            &name,
            "--plugin-dir",
            plugin_dir.to_str().expect("utf-8"),
        ]);
        assert!(!warnings.contains("cannot read"), "all certificate files are there:\n{warnings}");
        eprintln!("---- import for {host}: {}\n{}", out.display(), std::fs::read_to_string(&out).unwrap_or_default());
        // The daemon's default control socket for that name (the TOML is not edited).
        let sock = PathBuf::from(format!("/run/esprit/{name}.sock"));
        sockets.0.push(sock.clone());
        cfgs.push((out, sock));
    }
    // The seed's two hosts on one link (netns_dataplane.rs scenario (a)).
    let (ns_a, ns_b) = (Netns::new("e6a"), Netns::new("e6b"));
    veth(&ns_a, "v0", &ns_b, "v0");
    ns_a.run(&["ip", "addr", "add", "192.168.0.1/24", "dev", "v0"]);
    ns_a.run(&["ip", "route", "add", "10.1.2.3/32", "dev", "v0"]);
    ns_b.run(&["ip", "addr", "add", "10.1.2.3/24", "dev", "v0"]);
    ns_b.run(&["ip", "route", "add", "192.168.0.0/24", "dev", "v0"]);
    ns_a.wait_for(&["ping", "-c1", "-W1", "10.1.2.3"], Duration::from_secs(5));
    let b = Esprit::start_file(&ns_b, &dir, "b", &cfgs[1].0, &cfgs[1].1);
    let a = Esprit::start_file(&ns_a, &dir, "a", &cfgs[0].0, &cfgs[0].1);
    // trap: the ping starts IKE; its first echo is held, not lost.
    let p = ping(&ns_a, None, "10.1.2.3", 3, 5);
    let st = a.wait_up(Duration::from_secs(15));
    b.wait_up(Duration::from_secs(5));
    assert!(p.status.success(), "ping 10.1.2.3 through the imported setup failed:\n{}\n{st:#}\n{}", text(&p), a.log_tail());
    assert_sas(&st, "esp", "transport", 1);
    for l in a.log().lines().filter(|l| l.contains("ACQUIRE") || l.contains("CHILD_SA") || l.contains("held")) {
        eprintln!("A: {l}");
    }
    let ike = &ike_sas(&st)[0];
    assert!(ike["peer_id"].as_str().unwrap_or_default().contains("CN=10.1.2.3"), "authenticated by certificate: {st:#}");
    assert!(text(&p).contains("icmp_seq=1 "), "the echo that triggered IKE was not delivered:\n{}", text(&p));
    assert_ping(&ns_a, None, "10.1.2.3", &a);
    // ... and from the other side, and full-size packets (TCP).
    assert_ping(&ns_b, None, "192.168.0.1", &b);
    transfer(&ns_b, &ns_a, ("10.1.2.3", 5106), 2 * MB, &dir, "seed-2MB");
    eprintln!("scenario 6: imported racoon setup up and pinged at {:?}; IKE {}", t0.elapsed(), ike["algs"]);
}

/// (7) A `remote = "any"` responder adds per-peer policies with the first
/// CHILD_SA and removes them when that peer's SAs go (issue 11: they
/// leaked, one pair per peer ever seen).
#[test]
fn remote_any_peer_policies_go_with_their_sas() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("ike-ee-7");
    let (ns_a, ns_b) = link_pair("e7");
    ns_a.addr("lo", &format!("{IN_A}/32"));
    ns_b.addr("lo", &format!("{IN_B}/32"));
    let spec = psk_spec(&dir, PSK);
    let conf_b = head(&dir, "b", &format!("listen = \"{OUT_B}:4500\""), IN_B, &spec) + &psk_conn("net", "any", "b.example", "a.example", NET_B, NET_A, "none", "");
    let b = Esprit::start(&ns_b, &dir, "b", &conf_b);
    let policies = |st: &Value| st["policies"].as_array().map(|p| p.len()).unwrap_or(0);
    let before = policies(&b.status());
    let conf_a = head(&dir, "a", &format!("listen = \"{OUT_A}:4500\""), IN_A, &spec) + &psk_conn("net", OUT_B, "a.example", "b.example", NET_A, NET_B, "start", "");
    let a = Esprit::start(&ns_a, &dir, "a", &conf_a);
    a.wait_up(Duration::from_secs(15));
    let st = b.wait_up(Duration::from_secs(5));
    assert_eq!(policies(&st), before + 2, "out and in policies for the peer: {st:#}");
    a.ike("down", "net");
    b.wait_status("the peer's SAs and policies gone", Duration::from_secs(5), |st| ike_sas(st).is_empty() && data_sas(st).is_empty() && policies(st) == before);
}

/// (8) SIGTERM of one peer: it deletes its IKE SA on the way out (RFC 7296
/// §1.4.1), so the other side removes the SAs within 1 s instead of after
/// dead peer detection (issue 11).
#[test]
fn sigterm_deletes_the_sas_at_the_peer() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("ike-ee-8");
    let (_ns_a, _ns_b, a, b) = udp_tunnel_pair(&dir, "e8", "start", "");
    a.wait_up(Duration::from_secs(15));
    b.wait_up(Duration::from_secs(5));
    let t = Instant::now();
    let exit = a.terminate(Duration::from_secs(5));
    assert!(exit.success(), "esprit A exited with {exit}");
    let left = Duration::from_secs(1).saturating_sub(t.elapsed()).max(Duration::from_millis(100));
    b.wait_status("B removed the SAs after A's SIGTERM", left, |st| ike_sas(st).is_empty() && data_sas(st).is_empty());
    eprintln!("scenario 8: B removed the SAs {:?} after A's SIGTERM", t.elapsed());
}
