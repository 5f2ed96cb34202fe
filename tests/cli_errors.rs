//! Bad input through the CLI, as a user meets it: broken config and setkey
//! lines name file:line:col and what was expected; nothing half-loads; a
//! running daemon survives garbage on its outer socket and counts it.

mod support;

use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{esprit_bin, Scratch};

fn esprit(args: &[&str]) -> Output {
    Command::new(esprit_bin()).args(args).output().expect("run esprit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn seed_example(f: &str) -> String {
    format!("{}/../../examples/seed/{f}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_seed_typo_is_refused_with_file_line_col() {
    let dir = Scratch::new("cli-typo");
    let out = esprit(&["pcap", "decap", "--setkey", &seed_example("seed-typo.setkey.conf"), "--in", "/dev/null", "--out", dir.path("o.pcap").to_str().unwrap()]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("seed-typo.setkey.conf:8:20: expected an IPv4 or IPv6 address like 192.168.0.0/24"), "{e}");
    assert!(e.contains("found '192.168.0.0.0/24'"), "{e}");
}

fn run_config(dir: &Scratch, toml: &str, setkey: &str) -> Output {
    std::fs::write(dir.path("k.conf"), setkey).unwrap();
    let cfg = dir.path("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    esprit(&["run", "--config", cfg.to_str().unwrap()])
}

const NETSTACK: &str = "mode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n[ipsec]\nsetkey_files = [\"k.conf\"]\n";

#[test]
fn bad_setkey_lines_fail_the_whole_load() {
    let dir = Scratch::new("cli-setkey");
    let cases = [
        ("add 10.0.0.1 10.0.0.2 esp 0x100 -E blowfish-cbc 0x0011;", "k.conf:1:"),
        ("add 10.0.0.1 10.0.0.2 esp 0x100 -E aes-gcm-16 0x0011;", "k.conf:1:"),
        ("add 10.0.0.1 10.0.0.2 esp 0x100 -E aes-gcm-16 0x00112233445566778899aabbccddeeff00112233\n", "k.conf:"),
        (
            "add 10.0.0.1 10.0.0.2 esp 0x100 -E aes-gcm-16 0x00112233445566778899aabbccddeeff00112233;\n\
             add 10.0.0.3 10.0.0.2 esp 0x100 -E aes-gcm-16 0x00112233445566778899aabbccddeeff00112233;",
            "already exists",
        ),
    ];
    for (setkey, want) in cases {
        let out = run_config(&dir, NETSTACK, setkey);
        assert!(!out.status.success(), "accepted: {setkey}");
        let e = stderr(&out);
        assert!(e.contains(want), "for {setkey:?}: {e}");
    }
}

#[test]
fn bad_config_keys_name_the_line() {
    let dir = Scratch::new("cli-config");
    let out = run_config(&dir, "mode = \"netstack\"\n[outer]\nlisten_port = 4500\n", "");
    let e = stderr(&out);
    assert!(e.contains("c.toml:3:1: unknown field `listen_port`"), "{e}");
}

#[test]
fn an_unknown_key_lists_the_valid_ones() {
    let dir = Scratch::new("cli-config-keys");
    let out = run_config(&dir, &NETSTACK.replace("[netstack]\n", "[netstack]\nsocks = \"127.0.0.1:1080\"\n"), "");
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("c.toml:5:1: unknown field `socks`, expected one of `address`, `mtu`, `socks5`, `forward`, `expose`, `max_connections`"), "{e}");
}

#[test]
fn a_bad_tcp_buffer_size_names_the_line_and_the_range() {
    let dir = Scratch::new("cli-config-tcpbuf");
    for (bad, col) in [("\"64GB\"", 14), ("100", 14), ("\"32MiB\"", 14)] {
        let out = run_config(&dir, &NETSTACK.replace("[netstack]\n", &format!("[netstack]\ntcp_buffer = {bad}\n")), "");
        assert!(!out.status.success(), "{bad} accepted");
        let e = stderr(&out);
        assert!(e.contains(&format!("c.toml:5:{col}: tcp_buffer")) && e.contains("expected a size in bytes from 4096 to 16777216"), "{bad}: {e}");
    }
}

#[test]
fn a_bad_setting_value_lists_the_valid_values() {
    let dir = Scratch::new("cli-config-enum");
    let out = run_config(&dir, &NETSTACK.replace("[outer]\n", "[outer]\ntransport = \"tcp\"\n"), "");
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("c.toml:3:13: unknown variant `tcp`, expected `udp` or `raw`"), "{e}");
}

/// The IKE part of a netstack config with one PSK conn, and its plugin spec.
fn ike_base(dir: &Scratch) -> String {
    std::fs::write(dir.path("psk.plugin.toml"), "name = \"psk\"\npath = \"psk_auth.wasm\"\n[config]\npsk = \"0123456789abcdef\"\n").unwrap();
    "mode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n[[plugin]]\nspec = \"psk.plugin.toml\"\n".to_string()
}

#[test]
fn a_duplicate_conn_name_points_at_the_second_conn() {
    let dir = Scratch::new("cli-config-dup");
    let conn = "\n[[conn]]\nname = \"b\"\nremote = \"127.0.0.1\"\nauth = \"psk\"\n";
    // Lines 9-12 and 14-17: the second conn's name is on line 15.
    let out = run_config(&dir, &format!("{}{conn}{conn}", ike_base(&dir)), "");
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("c.toml:15:8: [[conn]] b: a second connection with this name (the first is at"), "{e}");
    assert!(e.contains("c.toml:10:8)"), "{e}");
}

#[test]
fn durations_take_humantime_forms() {
    let dir = Scratch::new("cli-config-dur");
    let toml = format!(
        "{}[ike]\nkeepalive = \"1m 30s\"\nhalf_open_timeout = 45\n\n[[conn]]\nname = \"b\"\nremote = \"any\"\nauth = \"psk\"\nrekey = \"1h 30m\"\nike_rekey = \"4h\"\ndpd = \"30\"\n",
        ike_base(&dir)
    );
    std::fs::write(dir.path("c.toml"), &toml).unwrap();
    // `policy test` loads the whole config (conns and plugin specs included)
    // without running the daemon.
    let out = esprit(&["policy", "test", "-c", dir.path("c.toml").to_str().unwrap(), "tcp 10.0.0.1:1 -> 10.0.0.2:2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bad = toml.replace("\"1h 30m\"", "\"1 fortnight\"");
    std::fs::write(dir.path("c.toml"), &bad).unwrap();
    let out = esprit(&["policy", "test", "-c", dir.path("c.toml").to_str().unwrap(), "tcp 10.0.0.1:1 -> 10.0.0.2:2"]);
    let e = stderr(&out);
    assert!(!out.status.success() && e.contains("c.toml:16:9: duration \"1 fortnight\"") && e.contains("expected a duration like \"30s\""), "{e}");
}

#[test]
fn an_unknown_key_in_a_plugin_spec_names_its_line() {
    let dir = Scratch::new("cli-spec-key");
    let base = ike_base(&dir);
    std::fs::write(dir.path("psk.plugin.toml"), "name = \"psk\"\npath = \"psk_auth.wasm\"\ndeadline_ms = 5\n[config]\npsk = \"0123456789abcdef\"\n").unwrap();
    let out = run_config(&dir, &format!("{base}\n[[conn]]\nname = \"b\"\nremote = \"127.0.0.1\"\nauth = \"psk\"\n"), "");
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("psk.plugin.toml:3:1: unknown field `deadline_ms`, expected one of `name`, `path`, `deadline_us`"), "{e}");
    assert!(!e.contains("0123456789abcdef"), "the PSK was echoed: {e}");
}

#[test]
fn policy_test_explains_from_a_config() {
    let out = esprit(&["policy", "test", "-c", &seed_example("host-192.168.0.1.toml"), "tcp 192.168.0.1:40000 -> 10.1.2.3:443"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.contains("policy #1") && s.contains("esp/transport//require ah/transport//require"), "{s}");
    let out = esprit(&["policy", "test", "-c", &seed_example("host-192.168.0.1.toml"), "tcp 1.2.3.4 to 5.6.7.8"]);
    assert!(stderr(&out).contains("expected `->`"), "{}", stderr(&out));
}

#[test]
fn daemon_survives_garbage_on_its_outer_socket() {
    let dir = Scratch::new("cli-garbage");
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.path("k.conf"),
        "add 127.0.0.1 127.0.0.1 esp 0x100 -m tunnel -E aes-gcm-16 0x00112233445566778899aabbccddeeff00112233;\n",
    )
    .unwrap();
    let sock = dir.path("c.sock");
    let cfg = dir.path("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "mode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"127.0.0.1:{port}\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n[ipsec]\nsetkey_files = [\"k.conf\"]\n",
            sock.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(esprit_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while esprit(&["status", "--socket", sock.to_str().unwrap()]).status.code() != Some(0) {
        assert!(start.elapsed() < Duration::from_secs(10), "daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = ("127.0.0.1", port);
    tx.send_to(b"abc", to).unwrap(); // too short
    tx.send_to(&[0xff], to).unwrap(); // NAT keepalive
    tx.send_to(&[0, 0, 0, 0, 1, 2, 3, 4, 5, 6], to).unwrap(); // IKE marker
    tx.send_to(&[0, 0, 0x99, 0x99, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], to).unwrap(); // unknown SPI
    let mut bad = vec![0, 0, 1, 0, 0, 0, 0, 1];
    bad.extend_from_slice(&[0x55; 40]);
    tx.send_to(&bad, to).unwrap(); // known SPI, bad ICV
    tx.send_to(&bad, to).unwrap(); // ...twice
    // Wait until all six datagrams are accounted for (not a fixed sleep).
    let start = Instant::now();
    let v = loop {
        let out = esprit(&["status", "--json", "--socket", sock.to_str().unwrap()]);
        assert!(out.status.success(), "daemon died: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let drops: u64 = v["drops"].as_object().map(|d| d.values().filter_map(serde_json::Value::as_u64).sum()).unwrap_or(0);
        let counted = drops + v["counters"]["nat_keepalives"].as_u64().unwrap_or(0) + v["counters"]["ike_messages"].as_u64().unwrap_or(0);
        if counted >= 6 || start.elapsed() > Duration::from_secs(10) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The control socket is the daemon user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode {mode:o}");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(v["drops"]["garbage on the UDP socket"], 1, "{v}");
    assert_eq!(v["drops"]["unknown SPI"], 1, "{v}");
    assert_eq!(v["drops"]["ICV mismatch"], 2, "{v}");
    assert_eq!(v["counters"]["nat_keepalives"], 1, "{v}");
    assert_eq!(v["counters"]["ike_messages"], 1, "{v}");
}

#[test]
fn tun_mode_without_privileges_names_netstack_mode() {
    if !support::is_root() {
        // Already unprivileged: run directly.
        let dir = Scratch::new("cli-tun");
        let out = run_config(&dir, "mode = \"tun\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[ipsec]\nsetkey_files = [\"k.conf\"]\n", "");
        assert!(stderr(&out).contains("netstack"), "{}", stderr(&out));
        return;
    }
    let dir = Scratch::new("cli-tun");
    let _ = Command::new("chmod").args(["-R", "a+rwX", dir.0.to_str().unwrap()]).output();
    let _ = Command::new("chmod").args(["a+x", env!("CARGO_TARGET_TMPDIR")]).output();
    std::fs::write(dir.path("k.conf"), "").unwrap();
    let cfg = dir.path("c.toml");
    std::fs::write(&cfg, "mode = \"tun\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[ipsec]\nsetkey_files = [\"k.conf\"]\n").unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(esprit_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("tun mode needs root or CAP_NET_ADMIN") && e.contains("netstack"), "{e}");
}

#[test]
fn every_example_config_loads() {
    esprit_plugin::build::ensure_plugins_built().expect("building the Wasm plugins");
    let root = format!("{}/../../examples", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        for f in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "toml") && !p.to_string_lossy().ends_with(".plugin.toml") && p.parent().is_some_and(|d| !d.ends_with("plugins")) {
                let out = esprit(&["policy", "test", "-c", p.to_str().unwrap(), "tcp 10.0.0.1:1 -> 10.0.0.2:2"]);
                assert!(out.status.success(), "{}: {}", p.display(), stderr(&out));
                n += 1;
            }
        }
    }
    assert!(n >= 4, "only {n} example configs found");
}

#[test]
fn broken_ike_connections_name_the_conn_and_what_was_expected() {
    let dir = Scratch::new("cli-ike");
    let base = "mode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n[[plugin]]\nspec = \"psk.plugin.toml\"\n";
    std::fs::write(dir.path("psk.plugin.toml"), "name = \"psk\"\npath = \"psk_auth.wasm\"\n[config]\npsk = \"0123456789abcdef\"\n").unwrap();
    let conn = |extra: &str| format!("{base}\n[[conn]]\nname = \"b\"\nremote = \"127.0.0.1\"\nauth = \"psk\"\n{extra}");
    let cases = [
        (conn("ike = [\"aes128gcm16-prfsha1-x25519\"]\n"), "c.toml:10:8: [[conn]] b: ike: proposal \"aes128gcm16-prfsha1-x25519\": unknown algorithm \"prfsha1\""),
        (conn("esp = [\"aes256\"]\n"), "needs an integrity algorithm"),
        (conn("ike = [\"aes128gcm16-prfsha256\"]\n"), "IKE needs a key exchange group"),
        (conn("local_ts = [\"10.0.0.0/33\"]\n"), "traffic selector \"10.0.0.0/33\": bad prefix length"),
        (conn("mode = \"beet\"\n"), "c.toml:13:8: unknown variant `beet`, expected `tunnel` or `transport`"),
        (conn("remote_port = 500\nstart = \"sometimes\"\n"), "c.toml:14:9: unknown variant `sometimes`, expected one of `start`, `route`, `trap`, `add`, `none`"),
        (conn("dpd = \"5 parsecs\"\n"), "c.toml:13:7: duration \"5 parsecs\": unknown time unit \"parsecs\""),
        (format!("{base}\n[[conn]]\nname = \"b\"\nremote = \"any\"\nauth = \"psk\"\nstart = \"start\"\n"), "can only respond"),
        (format!("{base}\n[[conn]]\nname = \"b\"\nremote = \"127.0.0.1\"\nauth = \"x509\"\n"), "no [[plugin]] spec is named \"x509\""),
        (conn("rekey_time = \"1h\"\n"), "c.toml:13:1: unknown field `rekey_time`, expected one of `name`, `remote`"),
    ];
    for (toml, want) in cases {
        let out = run_config(&dir, &toml, "");
        assert!(!out.status.success(), "accepted:\n{toml}");
        let e = stderr(&out);
        assert!(e.contains(want), "want {want:?} in:\n{e}");
    }
    // A private key that others can read is refused before anything starts.
    std::fs::write(dir.path("k.pem"), "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(dir.path("k.pem")).unwrap().permissions(), 0o644);
    let _ = std::process::Command::new("chmod").args(["644", dir.path("k.pem").to_str().unwrap()]).status();
    let out = run_config(&dir, &conn("key = \"k.pem\"\n"), "");
    let e = stderr(&out);
    assert!(!out.status.success() && e.contains("has mode 0644") && e.contains("chmod 400"), "{e}");
}
