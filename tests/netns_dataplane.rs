//! The data plane between real hosts: esprit daemons in network namespaces
//! (created and removed by each test), real TUN devices, raw ESP/AH sockets
//! and ESP-in-UDP, real TCP transfers checked with sha256 on both ends, and
//! cleartext injected by a protected peer that must be dropped and counted.
//!
//! Needs root (namespaces, TUN, raw sockets, nftables): skipped with a reason
//! on a developer machine, a failure under CI=true.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::netns::{can_netns, veth, Netns};
use support::{esprit_bin, is_root, require, Scratch};

const MB100: u64 = 100 * 1024 * 1024;
/// The fwmark instance `name` puts on its outer sockets (derived from the
/// name by default); a socket with it bypasses the TUN routing, which is
/// how a test sends cleartext on purpose.
fn fwmark(name: &str) -> String {
    esprit::instance::derived(name).fwmark.to_string()
}

fn prerequisites() -> bool {
    let have = |cmd: &str| std::process::Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false);
    require(is_root(), "root (network namespaces, TUN, raw sockets)")
        && require(can_netns(), "`ip netns add` (iproute2, root)")
        && require(have("nft"), "nft (Debian package nftables)")
        && require(have("ping"), "ping (Debian package iputils-ping)")
        && require(have("python3"), "python3")
}

fn xfer_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/xfer.py")
}

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn key(seed: u32, len: usize) -> String {
    (0..len).map(|i| format!("{:02x}", (i as u32 * 37 + seed * 101 + 11) % 256)).collect()
}

/// Starts `esprit run` in `ns` with `config` and waits for its control socket.
fn esprit_up(ns: &mut Netns, dir: &Scratch, name: &str, config: &Path, socket: &Path, extra: &[&str]) -> PathBuf {
    let log = dir.path(&format!("{name}.log"));
    let bin = esprit_bin();
    let mut args = vec![bin.to_str().unwrap(), "run", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    ns.spawn(&args, &log);
    let start = std::time::Instant::now();
    loop {
        let out = ns.output(&[bin.to_str().unwrap(), "status", "--json", "--socket", socket.to_str().unwrap()]);
        if out.status.success() {
            return log;
        }
        if start.elapsed() > Duration::from_secs(15) {
            panic!("esprit {name} did not come up:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(ns: &Netns, socket: &Path) -> Value {
    let out = ns.run(&[esprit_bin().to_str().unwrap(), "status", "--json", "--socket", socket.to_str().unwrap()]);
    serde_json::from_str(&out).expect("status JSON")
}

fn ping(ns: &Netns, dst: &str, extra: &[&str]) -> bool {
    let mut args = vec!["ping", "-c", "3", "-i", "0.2", "-W", "2"];
    args.extend_from_slice(extra);
    args.push(dst);
    ns.output(&args).status.success()
}

/// Sends `bytes` from `client` to a receiver in `server` and compares sha256.
fn transfer(server: &Netns, listen: (&str, u16), client: &Netns, client_args: &[&str], dir: &Scratch, tag: &str) {
    let slog = dir.path(&format!("{tag}-recv.log"));
    let port = listen.1.to_string();
    let srv = server.start(&["python3", xfer_script(), "recv", listen.0, &port], &slog);
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&slog).unwrap_or_default().contains("LISTENING") {
        assert!(start.elapsed() < Duration::from_secs(10), "receiver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut args = vec!["python3", xfer_script(), "send"];
    args.extend_from_slice(client_args);
    let out = client.output(&args);
    let sent = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "[{tag}] sender failed: {sent}{}", String::from_utf8_lossy(&out.stderr));
    srv.wait(Duration::from_secs(60));
    let recv = std::fs::read_to_string(&slog).unwrap();
    let sent_line = sent.lines().find(|l| l.starts_with("SENT ")).expect("SENT line").trim_start_matches("SENT ");
    let recv_line = recv.lines().find(|l| l.starts_with("RECV ")).expect("RECV line").trim_start_matches("RECV ");
    assert_eq!(sent_line, recv_line, "[{tag}] bytes/sha256 differ between sender and receiver");
    println!("[{tag}] transfer ok: {sent_line}");
}

fn drops(st: &Value, reason: &str) -> u64 {
    st["drops"][reason].as_u64().unwrap_or(0)
}

fn enforcement_drops(st: &Value) -> u64 {
    st["cleartext_enforcement"].as_array().into_iter().flatten().filter_map(|r| r["dropped"].as_u64()).sum()
}

/// (a) The seed's two hosts, 192.168.0.1 and 10.1.2.3, with the seed's own
/// setkey.conf policies (transport mode, ESP then AH) over raw IP.
#[test]
fn seed_transport_esp_and_ah_between_two_hosts() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("seed-a");
    let (mut a, mut b) = (Netns::new("seedA"), Netns::new("seedB"));
    veth(&a, "v0", &b, "v0");
    a.run(&["ip", "addr", "add", "192.168.0.1/24", "dev", "v0"]);
    a.run(&["ip", "route", "add", "10.1.2.3/32", "dev", "v0"]);
    b.run(&["ip", "addr", "add", "10.1.2.3/24", "dev", "v0"]);
    b.run(&["ip", "route", "add", "192.168.0.0/24", "dev", "v0"]);
    let ex = repo().join("examples/seed");
    // The shipped example configs, with the control socket moved into the scratch dir.
    let mut socks = Vec::new();
    for host in ["192.168.0.1", "10.1.2.3"] {
        let text = std::fs::read_to_string(ex.join(format!("host-{host}.toml"))).unwrap();
        let sock = dir.path(&format!("{host}.sock"));
        let text = text
            .replace("name = \"seed-", &format!("control_socket = \"{}\"\nname = \"seed-", sock.display()))
            .replace("setkey_files = [\"", &format!("setkey_files = [\"{}/", ex.display()))
            .replace(", \"host-", &format!(", \"{}/host-", ex.display()));
        let cfg = dir.path(&format!("{host}.toml"));
        std::fs::write(&cfg, text).unwrap();
        socks.push((cfg, sock));
    }
    let keylog = dir.path("keys.esp_sa");
    esprit_up(&mut a, &dir, "a", &socks[0].0, &socks[0].1, &["--keylog", keylog.to_str().unwrap()]);
    esprit_up(&mut b, &dir, "b", &socks[1].0, &socks[1].1, &[]);

    // Capture the wire while traffic flows.
    let cap = dir.path("wire.pcap");
    let tcpdump = a.start(&["tcpdump", "-i", "v0", "-U", "--immediate-mode", "-B", "16384", "-c", "4000", "-w", cap.to_str().unwrap(), "ip"], &dir.path("tcpdump.log"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(ping(&a, "10.1.2.3", &[]), "ping through ESP+AH failed");
    transfer(&b, ("10.1.2.3", 5001), &a, &["10.1.2.3", "5001", &MB100.to_string()], &dir, "seed-100MB");
    std::thread::sleep(Duration::from_millis(500));
    if let Some(pid) = tcpdump_pid(&a) {
        let _ = std::process::Command::new("kill").args(["-INT", &pid]).output();
    }
    drop(tcpdump);

    let st_a = status(&a, &socks[0].1);
    let spis: Vec<&str> = st_a["sas"].as_array().unwrap().iter().map(|s| s["spi"].as_str().unwrap()).collect();
    assert_eq!(spis.len(), 4, "{st_a}");
    for sa in st_a["sas"].as_array().unwrap() {
        assert!(sa["packets"].as_u64().unwrap() > 1000, "SA {} carried too little: {sa}", sa["spi"]);
    }
    // No packet of the transfer was lost to the data plane (the kernel's own
    // IPv6 chatter on a fresh TUN may count as unroutable bypass; that is fine).
    let lost: Vec<_> = st_a["drops"].as_object().into_iter().flatten().filter(|(k, _)| !k.starts_with("bypass")).collect();
    assert!(lost.is_empty(), "unexpected drops: {}", st_a["drops"]);

    // The peer suddenly sends plain IP: dropped and counted (the seed's rule).
    let before = enforcement_drops(&st_a);
    assert!(!ping(&b, "192.168.0.1", &["-m", &fwmark("seed-10.1.2.3")]), "cleartext ping from the protected peer was answered");
    let after = enforcement_drops(&status(&a, &socks[0].1));
    assert!(after >= before + 3, "cleartext drops not counted: {before} -> {after}");

    // Every ESP packet on the wire decrypts and verifies in tshark with the key
    // log; every AH packet verifies with scapy.
    verify_capture(&cap, &keylog, &ex.join("keys.setkey.conf"), &dir);
}

fn tcpdump_pid(ns: &Netns) -> Option<String> {
    let out = std::process::Command::new("ip").args(["netns", "pids", &ns.name]).output().unwrap();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == "tcpdump").unwrap_or(false) {
            return Some(pid.to_string());
        }
    }
    None
}

fn verify_capture(cap: &Path, keylog: &Path, setkey: &Path, dir: &Scratch) {
    let have_tshark = std::process::Command::new("sh").args(["-c", "command -v tshark"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !require(have_tshark, "tshark (Debian package tshark)") {
        return;
    }
    let ws = dir.path("wireshark");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::copy(keylog, ws.join("esp_sa")).unwrap();
    std::fs::write(ws.join("preferences"), "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n").unwrap();
    let out = std::process::Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &ws)
        .args(["-r", cap.to_str().unwrap(), "-Y", "esp", "-T", "fields", "-e", "esp.spi", "-e", "esp.icv_good", "-e", "ip.proto"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 1000, "too few ESP packets in the capture: {}", lines.len());
    let bad: Vec<&&str> = lines.iter().filter(|l| !l.contains("\t1\t") && !l.contains("\tTrue\t")).collect();
    assert!(bad.is_empty(), "{} of {} ESP packets did not verify in tshark, e.g. {:?}", bad.len(), lines.len(), bad.first());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/verify_ah.py");
    let out = std::process::Command::new("python3").args([script, setkey.to_str().unwrap(), cap.to_str().unwrap()]).output().unwrap();
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "AH verification: {msg}{}", String::from_utf8_lossy(&out.stderr));
    println!("tshark: {} ESP packets verified; {}", lines.len(), msg.trim());
}

/// Two gateways, each with a host behind it: GW1 and GW2 carry H1↔H2
/// traffic in an ESP tunnel over raw IP.
struct Sites {
    h1: Netns,
    gw1: Netns,
    gw2: Netns,
    h2: Netns,
    socks: [PathBuf; 2],
}

fn sites(dir: &Scratch, tag: &str) -> Sites {
    let (h1, mut gw1, mut gw2, h2) = (Netns::new(&format!("{tag}H1")), Netns::new(&format!("{tag}G1")), Netns::new(&format!("{tag}G2")), Netns::new(&format!("{tag}H2")));
    veth(&h1, "v0", &gw1, "lan");
    veth(&gw1, "wan", &gw2, "wan");
    veth(&gw2, "lan", &h2, "v0");
    h1.run(&["ip", "addr", "add", "10.1.0.10/24", "dev", "v0"]);
    h1.run(&["ip", "route", "add", "default", "via", "10.1.0.1"]);
    h2.run(&["ip", "addr", "add", "10.2.0.10/24", "dev", "v0"]);
    h2.run(&["ip", "route", "add", "default", "via", "10.2.0.1"]);
    gw1.run(&["ip", "addr", "add", "10.1.0.1/24", "dev", "lan"]);
    gw1.run(&["ip", "addr", "add", "192.0.2.1/24", "dev", "wan"]);
    gw2.run(&["ip", "addr", "add", "10.2.0.1/24", "dev", "lan"]);
    gw2.run(&["ip", "addr", "add", "192.0.2.2/24", "dev", "wan"]);
    // Plain routes the cleartext tests use (protected traffic never takes
    // them: esprit's routing table is consulted first).
    gw1.run(&["ip", "route", "add", "10.2.0.0/24", "via", "192.0.2.2"]);
    gw2.run(&["ip", "route", "add", "10.1.0.0/24", "via", "192.0.2.1"]);
    for g in [&gw1, &gw2] {
        g.run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    let (k1, k2) = (key(1, 20), key(2, 20));
    let mut socks = Vec::new();
    for (i, gw) in [&mut gw1, &mut gw2].into_iter().enumerate() {
        let (me, peer, mine, theirs) = if i == 0 {
            ("192.0.2.1", "192.0.2.2", "10.1.0.0/24", "10.2.0.0/24")
        } else {
            ("192.0.2.2", "192.0.2.1", "10.2.0.0/24", "10.1.0.0/24")
        };
        let setkey = format!(
            "flush;\nspdflush;\n\
             add 192.0.2.1 192.0.2.2 esp 0x3001 -m tunnel -E aes-gcm-16 0x{k1};\n\
             add 192.0.2.2 192.0.2.1 esp 0x3002 -m tunnel -E aes-gcm-16 0x{k2};\n\
             spdadd {mine} {theirs} any -P out ipsec esp/tunnel/{me}-{peer}/require;\n\
             spdadd {theirs} {mine} any -P in ipsec esp/tunnel/{peer}-{me}/require;\n\
             spdadd {theirs} {mine} any -P fwd ipsec esp/tunnel/{peer}-{me}/require;\n"
        );
        let name = format!("gw{}", i + 1);
        // Both worker layouts on every path: gw1 runs a worker per
        // direction, gw2 one worker for both (`[tun] workers`).
        let workers = if i == 0 { 2 } else { 1 };
        std::fs::write(dir.path(&format!("{name}.setkey.conf")), setkey).unwrap();
        let sock = dir.path(&format!("{name}.sock"));
        let cfg = format!(
            "name = \"{tag}-{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\ntransport = \"raw\"\n[tun]\nname = \"esp{name}\"\nworkers = {workers}\n[ipsec]\nsetkey_files = [\"{name}.setkey.conf\"]\n",
            sock.display()
        );
        let cfg_path = dir.path(&format!("{name}.toml"));
        std::fs::write(&cfg_path, cfg).unwrap();
        esprit_up(gw, dir, &name, &cfg_path, &sock, &[]);
        socks.push(sock);
    }
    Sites { h1, gw1, gw2, h2, socks: [socks[0].clone(), socks[1].clone()] }
}

/// (b) Tunnel mode between two gateways with a host behind each.
#[test]
fn tunnel_mode_between_gateways() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("tunnel-b");
    let s = sites(&dir, "b");
    assert!(ping(&s.h1, "10.2.0.10", &[]), "H1 -> H2 ping through the gateways' tunnel failed");
    transfer(&s.h2, ("10.2.0.10", 5002), &s.h1, &["10.2.0.10", "5002", &MB100.to_string()], &dir, "tunnel-100MB");
    let st = status(&s.gw1, &s.socks[0]);
    assert!(st["counters"]["out_protected"].as_u64().unwrap() > 1000, "{st}");
    // GW2 (the protected peer) sends plain IP into site 1: dropped, counted.
    let before = enforcement_drops(&st);
    assert!(!ping(&s.gw2, "10.1.0.10", &["-I", "10.2.0.1", "-m", &fwmark("b-gw2")]));
    let after = enforcement_drops(&status(&s.gw1, &s.socks[0]));
    assert!(after >= before + 3, "cleartext into the protected site not counted: {before} -> {after}");
    let st2 = status(&s.gw2, &s.socks[1]);
    assert_eq!(drops(&st2, "decrypted packet does not match its policy"), 0, "{st2}");

    // The TUN device is removed under the daemon: logged, counted, the daemon
    // keeps running and recreates it (with its routes) within seconds.
    s.gw1.run(&["ip", "link", "del", "espgw1"]);
    let start = std::time::Instant::now();
    loop {
        let up = s.gw1.output(&["ip", "link", "show", "espgw1"]).status.success();
        if up && ping(&s.h1, "10.2.0.10", &[]) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "TUN was not recreated");
        std::thread::sleep(Duration::from_millis(500));
    }
    let st = status(&s.gw1, &s.socks[0]);
    assert!(drops(&st, "TUN device disappeared") >= 1, "{st}");
}

/// (c) Nesting: an H1↔H2 transport SA carried inside the GW1↔GW2 tunnel
/// (the seed's defense-in-depth picture).
#[test]
fn host_to_host_sa_nested_in_gateway_tunnel() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("nested-c");
    let mut s = sites(&dir, "c");
    let (k3, k4) = (key(3, 32), key(4, 32));
    let mut socks = Vec::new();
    for (i, h) in [&mut s.h1, &mut s.h2].into_iter().enumerate() {
        let (me, peer) = if i == 0 { ("10.1.0.10", "10.2.0.10") } else { ("10.2.0.10", "10.1.0.10") };
        let setkey = format!(
            "flush;\nspdflush;\n\
             add 10.1.0.10 10.2.0.10 esp 0x5001 -m transport -E aes-cbc 0x{k3} -A hmac-sha256 0x{k4};\n\
             add 10.2.0.10 10.1.0.10 esp 0x5002 -m transport -E aes-cbc 0x{k4} -A hmac-sha256 0x{k3};\n\
             spdadd {me}/32 {peer}/32 any -P out ipsec esp/transport//require;\n\
             spdadd {peer}/32 {me}/32 any -P in ipsec esp/transport//require;\n"
        );
        let name = format!("h{}", i + 1);
        std::fs::write(dir.path(&format!("{name}.setkey.conf")), setkey).unwrap();
        let sock = dir.path(&format!("{name}.sock"));
        let cfg = format!(
            "name = \"c-{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\ntransport = \"raw\"\n[tun]\nname = \"esp{name}\"\nsource = \"{me}\"\n# nested in the gateways' tunnel: leave room for both ESP layers\nmtu = 1360\n[ipsec]\nsetkey_files = [\"{name}.setkey.conf\"]\n",
            sock.display()
        );
        let cfg_path = dir.path(&format!("{name}.toml"));
        std::fs::write(&cfg_path, cfg).unwrap();
        esprit_up(h, &dir, &name, &cfg_path, &sock, &[]);
        socks.push(sock);
    }
    assert!(ping(&s.h1, "10.2.0.10", &[]), "nested ping failed");
    transfer(&s.h2, ("10.2.0.10", 5003), &s.h1, &["10.2.0.10", "5003", &MB100.to_string()], &dir, "nested-100MB");
    // Both layers carried the traffic.
    let h1 = status(&s.h1, &socks[0]);
    let g1 = status(&s.gw1, &s.socks[0]);
    assert!(h1["counters"]["out_protected"].as_u64().unwrap() > 1000, "{h1}");
    assert!(g1["counters"]["out_protected"].as_u64().unwrap() > 1000, "{g1}");
    // GW2 decrypts the tunnel and forwards the inner ESP to H2 unopened.
    let g2 = status(&s.gw2, &s.socks[1]);
    assert!(g2["counters"]["in_decrypted"].as_u64().unwrap() > 1000, "{g2}");
    assert_eq!(drops(&g2, "unknown SPI"), 0, "{g2}");
    // A cleartext packet from H1's address straight to H2 (bypassing H1's
    // esprit) is dropped by H2's enforcement... it still crosses the tunnel,
    // so H2 must be the one to drop it.
    let before = enforcement_drops(&status(&s.h2, &socks[1]));
    assert!(!ping(&s.h1, "10.2.0.10", &["-m", &fwmark("c-h1")]));
    let after = enforcement_drops(&status(&s.h2, &socks[1]));
    assert!(after >= before + 3, "cleartext H1->H2 not dropped at H2: {before} -> {after}");
}

/// (d) esprit netstack (unprivileged user, rootless) ↔ esprit tun, through a
/// port forward and through SOCKS5, over ESP-in-UDP.
#[test]
fn netstack_unprivileged_to_tun_via_forward_and_socks5() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("netstack-d");
    // The unprivileged daemon must be able to read its files and write its socket.
    let _ = std::process::Command::new("chmod").args(["-R", "a+rwX", dir.0.to_str().unwrap()]).output();
    let _ = std::process::Command::new("chmod").args(["a+x", env!("CARGO_TARGET_TMPDIR")]).output();
    let (mut ns1, mut ns2) = (Netns::new("dNS"), Netns::new("dTUN"));
    veth(&ns1, "v0", &ns2, "v0");
    ns1.run(&["ip", "addr", "add", "192.0.2.1/24", "dev", "v0"]);
    ns2.run(&["ip", "addr", "add", "192.0.2.2/24", "dev", "v0"]);
    let (k1, k2) = (key(7, 36), key(8, 36));
    let setkey = |me: &str, peer: &str, mine: &str, theirs: &str| {
        format!(
            "flush;\nspdflush;\n\
             add 192.0.2.1 192.0.2.2 esp 0x6001 -m tunnel -E chacha20-poly1305 0x{k1};\n\
             add 192.0.2.2 192.0.2.1 esp 0x6002 -m tunnel -E chacha20-poly1305 0x{k2};\n\
             spdadd {mine} {theirs} any -P out ipsec esp/tunnel/{me}-{peer}/require;\n\
             spdadd {theirs} {mine} any -P in ipsec esp/tunnel/{peer}-{me}/require;\n"
        )
    };
    std::fs::write(dir.path("ns.setkey.conf"), setkey("192.0.2.1", "192.0.2.2", "10.9.0.1/32", "10.9.0.2/32")).unwrap();
    std::fs::write(dir.path("tun.setkey.conf"), setkey("192.0.2.2", "192.0.2.1", "10.9.0.2/32", "10.9.0.1/32")).unwrap();
    let ns_sock = dir.path("ns.sock");
    let tun_sock = dir.path("tun.sock");
    std::fs::write(
        dir.path("ns.toml"),
        format!(
            "name = \"d-ns\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"192.0.2.1:4500\"\n\
             [netstack]\naddress = [\"10.9.0.1/32\"]\nsocks5 = \"127.0.0.1:1080\"\n\
             [[netstack.forward]]\nlisten = \"127.0.0.1:8080\"\nto = \"10.9.0.2:5004\"\n\
             [ipsec]\nsetkey_files = [\"ns.setkey.conf\"]\n",
            ns_sock.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("tun.toml"),
        format!(
            "name = \"d-tun\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"192.0.2.2:4500\"\n\
             [tun]\nname = \"espd\"\naddress = [\"10.9.0.2/32\"]\n[ipsec]\nsetkey_files = [\"tun.setkey.conf\"]\n",
            tun_sock.display()
        ),
    )
    .unwrap();
    let _ = std::process::Command::new("chmod").args(["-R", "a+rwX", dir.0.to_str().unwrap()]).output();
    esprit_up(&mut ns2, &dir, "tun", &dir.path("tun.toml"), &tun_sock, &[]);
    // The netstack side runs as nobody, without any capability.
    let bin = esprit_bin();
    let cfg = dir.path("ns.toml");
    let log = dir.path("ns.log");
    let pid = ns1.spawn(
        &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin.to_str().unwrap(), "run", "--config", cfg.to_str().unwrap()],
        &log,
    );
    let start = std::time::Instant::now();
    while !ns1.output(&[bin.to_str().unwrap(), "status", "--socket", ns_sock.to_str().unwrap()]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(15), "netstack esprit did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = proc_status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default();
    assert!(uid.split_whitespace().skip(1).all(|u| u == "65534"), "the netstack daemon must run unprivileged: {uid}");
    let caps = proc_status.lines().find(|l| l.starts_with("CapEff:")).unwrap_or_default();
    assert!(caps.ends_with("0000000000000000"), "the netstack daemon must have no capabilities: {caps}");

    transfer(&ns2, ("10.9.0.2", 5004), &ns1, &["127.0.0.1", "8080", &MB100.to_string()], &dir, "forward-100MB");
    transfer(&ns2, ("10.9.0.2", 5005), &ns1, &["10.9.0.2", "5005", &MB100.to_string(), "--socks", "127.0.0.1:1080"], &dir, "socks5-100MB");
    let st = status(&ns2, &tun_sock);
    assert!(st["counters"]["in_decrypted"].as_u64().unwrap() > 1000, "{st}");

    // Cleartext from the netstack peer's inner address to the tun side: dropped.
    ns1.run(&["ip", "addr", "add", "10.9.0.1/32", "dev", "lo"]);
    ns1.run(&["ip", "route", "add", "10.9.0.2/32", "dev", "v0", "src", "10.9.0.1"]);
    let before = enforcement_drops(&st);
    assert!(!ping(&ns1, "10.9.0.2", &["-I", "10.9.0.1"]));
    let after = enforcement_drops(&status(&ns2, &tun_sock));
    assert!(after >= before + 3, "cleartext not dropped: {before} -> {after}");
}
