//! Hot reload under traffic, the way an operator does it: two esprit
//! daemons (rootless netstack peers) carry a continuous TCP stream through
//! ESP while the outbound policy plugin's spec file is rewritten 100 times.
//! Every rewrite is a new plugin version; after each one `esprit policy test`
//! must already answer from the new version (new flows use it). At the end the
//! stream arrived complete (sha256), no packet was dropped by either data
//! plane, and every protected packet A sent was decrypted by B.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::{esprit_bin, Scratch};

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(cfg: &Path, sock: &Path, log: &Path) -> Daemon {
    let child = Command::new(esprit_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let d = Daemon(child);
    let t = Instant::now();
    while !Command::new(esprit_bin()).args(["status", "--socket", sock.to_str().unwrap()]).output().unwrap().status.success() {
        assert!(t.elapsed() < Duration::from_secs(30), "daemon did not start: {}", std::fs::read_to_string(log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

fn status(sock: &Path) -> serde_json::Value {
    let out = Command::new(esprit_bin()).args(["status", "--json", "--socket", sock.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn spec(wasm: &Path, generation: u32) -> String {
    format!(
        "name = \"hot\"\npath = \"{}\"\ndeadline_us = 100000\n[config]\nallow = [\"10.201.0.0/24\"]\n\
         on_match = \"protect-tunnel:127.0.0.1-127.0.0.2\"\notherwise = \"discard\"\ntag = \"gen-{generation}\"\n",
        wasm.display()
    )
}

fn free_udp(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

#[test]
fn hundred_plugin_swaps_under_traffic_lose_nothing() {
    let wasm = esprit_plugin::build::plugin_path("allowlist").expect("building the Wasm plugins");
    let dir = Scratch::new("reload-dp");
    let (pa, pb) = (free_udp("127.0.0.1"), free_udp("127.0.0.2"));
    let fwd = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // B's local service: reads the stream, hashes it.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let service = server.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        let (mut c, _) = server.accept().unwrap();
        let (mut h, mut n, mut buf) = (Sha256::new(), 0u64, vec![0u8; 65536]);
        loop {
            let k = c.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        (n, hex::encode(h.finalize()))
    });
    let (k1, k2) = ("00112233445566778899aabbccddeeff01020304", "ffeeddccbbaa99887766554433221100a0b0c0d0");
    std::fs::write(
        dir.path("a.setkey.conf"),
        format!(
            "add 127.0.0.1 127.0.0.2 esp 0x7101 -m tunnel -E aes-gcm-16 0x{k1};\n\
             add 127.0.0.2 127.0.0.1 esp 0x7102 -m tunnel -E aes-gcm-16 0x{k2};\n\
             spdadd 10.201.0.2/32 10.201.0.1/32 any -P in ipsec esp/tunnel/127.0.0.2-127.0.0.1/require;\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("b.setkey.conf"),
        format!(
            "add 127.0.0.1 127.0.0.2 esp 0x7101 -m tunnel -E aes-gcm-16 0x{k1};\n\
             add 127.0.0.2 127.0.0.1 esp 0x7102 -m tunnel -E aes-gcm-16 0x{k2};\n\
             spdadd 10.201.0.2/32 10.201.0.1/32 any -P out ipsec esp/tunnel/127.0.0.2-127.0.0.1/require;\n\
             spdadd 10.201.0.1/32 10.201.0.2/32 any -P in ipsec esp/tunnel/127.0.0.1-127.0.0.2/require;\n"
        ),
    )
    .unwrap();
    let spec_path = dir.path("hot.plugin.toml");
    std::fs::write(&spec_path, spec(&wasm, 0)).unwrap();
    let (sa, sb) = (dir.path("a.sock"), dir.path("b.sock"));
    std::fs::write(
        dir.path("a.toml"),
        format!(
            "mode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"127.0.0.1:{pa}\"\npeer_ports = {{ \"127.0.0.2\" = {pb} }}\n\
             [netstack]\naddress = [\"10.201.0.1/32\"]\n[[netstack.forward]]\nlisten = \"127.0.0.1:{fwd}\"\nto = \"10.201.0.2:80\"\n\
             [[plugin]]\nspec = \"hot.plugin.toml\"\n[[policy]]\nsrc = \"10.201.0.1/32\"\ndst = \"10.201.0.0/24\"\nplugin = \"hot\"\n\
             [ipsec]\nsetkey_files = [\"a.setkey.conf\"]\n",
            sa.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("b.toml"),
        format!(
            "mode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"127.0.0.2:{pb}\"\npeer_ports = {{ \"127.0.0.1\" = {pa} }}\n\
             [netstack]\naddress = [\"10.201.0.2/32\"]\n[[netstack.expose]]\nport = 80\nto = \"127.0.0.1:{service}\"\n\
             [ipsec]\nsetkey_files = [\"b.setkey.conf\"]\n",
            sb.display()
        ),
    )
    .unwrap();
    let _b = start(&dir.path("b.toml"), &sb, &dir.path("b.log"));
    let _a = start(&dir.path("a.toml"), &sa, &dir.path("a.log"));

    // A continuous stream through A's forward while the plugin is swapped.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", fwd)).unwrap();
            let (mut h, mut n, mut i) = (Sha256::new(), 0u64, 0u64);
            let mut block = vec![0u8; 16384];
            while !stop.load(Ordering::Relaxed) {
                for (j, b) in block.iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8);
                }
                s.write_all(&block).unwrap();
                h.update(&block);
                n += block.len() as u64;
                i += 1;
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            (n, hex::encode(h.finalize()))
        })
    };
    let probe = "tcp 10.201.0.1:50000 -> 10.201.0.2:80";
    for g in 1..=100u32 {
        let tmp = dir.path("hot.plugin.toml.tmp");
        std::fs::write(&tmp, spec(&wasm, g)).unwrap();
        std::fs::rename(&tmp, &spec_path).unwrap();
        let t = Instant::now();
        loop {
            let out = Command::new(esprit_bin()).args(["policy", "test", "--socket", sa.to_str().unwrap(), probe]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains(&format!("gen-{g}")) && !text.contains(&format!("gen-{g}0")) {
                assert!(text.contains("esp/tunnel/127.0.0.1-127.0.0.2"), "{text}");
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "swap {g} not in effect: {text}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let received = receiver.join().unwrap();
    assert_eq!(sent, received, "the stream was damaged during the swaps");
    assert!(sent.0 > 1_000_000, "too little traffic during the swaps: {} bytes", sent.0);
    std::thread::sleep(Duration::from_millis(300));
    let (a, b) = (status(&sa), status(&sb));
    assert_eq!(a["plugins"][0]["reloads"], 100, "{}", a["plugins"]);
    assert_eq!(a["drops"].as_object().map(|d| d.len()), Some(0), "A dropped packets: {}", a["drops"]);
    assert_eq!(b["drops"].as_object().map(|d| d.len()), Some(0), "B dropped packets: {}", b["drops"]);
    assert_eq!(a["counters"]["out_protected"], b["counters"]["in_decrypted"], "packets lost between A and B");
    println!("{} bytes through 100 plugin swaps, {} ESP packets A->B, none lost", sent.0, a["counters"]["out_protected"]);
}
