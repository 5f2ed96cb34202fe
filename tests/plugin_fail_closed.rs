//! A hostile policy plugin that answers `protect` with an empty SA list must
//! not get its flows sent in the clear: esprit in tun mode in a network
//! namespace, TCP connections through the TUN, the outer link captured with
//! tcpdump. The plugin's port-80 flows (empty protect) never appear on the
//! wire; its port-81 flows (an honest `bypass`) do, which shows the capture
//! and the clear path work. The daemon counts the faults.
//!
//! Needs root (namespaces, TUN, raw sockets) and tcpdump: skipped with a
//! reason on a developer machine, a failure under CI=true.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::netns::{can_netns, veth, Netns};
use support::{esprit_bin, is_root, require, Scratch};

fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

fn prerequisites() -> bool {
    require(is_root(), "root (network namespaces, TUN, raw sockets)")
        && require(can_netns(), "`ip netns add` (iproute2, root)")
        && require(have("tcpdump"), "tcpdump (Debian package tcpdump)")
        && require(have("python3"), "python3")
}

/// One TCP connection attempt from `ns` (a SYN or a few retransmissions).
fn connect(ns: &Netns, dst: &str, port: u16) {
    let code = format!("import socket\ns=socket.socket()\ns.settimeout(1.5)\ntry:\n  s.connect(('{dst}',{port}))\nexcept OSError:\n  pass\n");
    let _ = ns.output(&["python3", "-c", &code]);
}

/// Packets in `cap` matching the tcpdump `filter`.
fn count(cap: &Path, filter: &str) -> usize {
    let out = Command::new("tcpdump").args(["-n", "-r", cap.to_str().expect("utf-8"), filter]).output().expect("tcpdump -r");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn status(ns: &Netns, sock: &Path) -> serde_json::Value {
    let out = ns.run(&[esprit_bin().to_str().expect("utf-8"), "status", "--json", "--socket", sock.to_str().expect("utf-8")]);
    serde_json::from_str(&out).expect("status JSON")
}

#[test]
fn empty_protect_sends_no_cleartext_in_tun_mode() {
    if !prerequisites() {
        return;
    }
    let wasm = esprit_plugin::build::plugin_path("hostile-bad-output").expect("building the Wasm plugins");
    let dir = Scratch::new("fail-closed");
    let (mut a, b) = (Netns::new("fcA"), Netns::new("fcB"));
    veth(&a, "v0", &b, "v0");
    a.run(&["ip", "addr", "add", "192.0.2.1/24", "dev", "v0"]);
    b.run(&["ip", "addr", "add", "192.0.2.2/24", "dev", "v0"]);
    // The plain route a bypassed packet takes (esprit's TUN routes win for
    // everything else).
    a.run(&["ip", "route", "add", "10.9.0.0/24", "via", "192.0.2.2"]);
    std::fs::write(
        dir.path("bad.plugin.toml"),
        format!("name = \"bad\"\npath = \"{}\"\ndeadline_us = 100000\nquarantine_after = 1000\n[config]\nmode = \"empty-protect\"\nport = 80\n", wasm.display()),
    )
    .expect("spec");
    let sock = dir.path("a.sock");
    let cfg = dir.path("a.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"fc\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\ntransport = \"raw\"\n\
             [tun]\nname = \"espfc\"\naddress = [\"10.8.0.1/32\"]\nroutes = [\"10.9.0.0/24\"]\nsource = \"10.8.0.1\"\n\
             [[plugin]]\nspec = \"bad.plugin.toml\"\n\
             [[policy]]\nsrc = \"10.8.0.1/32\"\ndst = \"10.9.0.0/24\"\nplugin = \"bad\"\n",
            sock.display()
        ),
    )
    .expect("config");
    let bin = esprit_bin();
    let log = dir.path("a.log");
    a.spawn(&[bin.to_str().expect("utf-8"), "run", "--config", cfg.to_str().expect("utf-8")], &log);
    let t = Instant::now();
    while !a.output(&[bin.to_str().expect("utf-8"), "status", "--socket", sock.to_str().expect("utf-8")]).status.success() {
        assert!(t.elapsed() < Duration::from_secs(20), "esprit did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }

    let cap = dir.path("wire.pcap");
    let cap_log = dir.path("tcpdump.log");
    let tcpdump = a.start(&["tcpdump", "-i", "v0", "-n", "-U", "--immediate-mode", "-w", cap.to_str().expect("utf-8"), "ip"], &cap_log);
    let t = Instant::now();
    while !std::fs::read_to_string(&cap_log).unwrap_or_default().contains("listening") {
        assert!(t.elapsed() < Duration::from_secs(10), "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..3 {
        connect(&a, &format!("10.9.0.{}", 2 + i), 80);
    }
    connect(&a, "10.9.0.2", 81);
    // Stop the capture (SIGINT flushes it), then read it.
    let out = Command::new("ip").args(["netns", "pids", &a.name]).output().expect("pids");
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == "tcpdump").unwrap_or(false) {
            let _ = Command::new("kill").args(["-INT", pid]).output();
        }
    }
    tcpdump.wait(Duration::from_secs(10));

    let leaked = count(&cap, "tcp and dst net 10.9.0.0/24 and dst port 80");
    let honest = count(&cap, "tcp and dst host 10.9.0.2 and dst port 81");
    let st = status(&a, &sock);
    assert_eq!(leaked, 0, "cleartext for an empty protect left on the wire; status {st}");
    assert!(honest >= 1, "the honest bypass flow was not captured (capture or clear path broken); status {st}");
    let faults = st["plugins"][0]["faults"].to_string();
    let invalid: u64 = st["plugins"][0]["faults"]["invalid_verdict"].as_u64().unwrap_or(0);
    assert!(invalid >= 3, "faults not counted (one per port-80 flow at least): {faults}");
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(daemon_log.contains("protect with no SA request"), "no clear reason in the log:\n{daemon_log}");
    println!("0 cleartext packets for empty protect, {honest} for the honest bypass; {faults}");
}
