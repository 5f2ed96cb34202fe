//! `esprit policy test` explains a decision that came from a Wasm policy
//! plugin, both from a config file and from a running daemon, the way an
//! operator would ask.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{esprit_bin, Scratch};

fn example(f: &str) -> String {
    format!("{}/../../examples/plugin-policy/{f}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn policy_test_shows_the_plugin_and_its_reason() {
    esprit_plugin::build::ensure_plugins_built().expect("building the Wasm plugins");
    let out = Command::new(esprit_bin())
        .args(["policy", "test", "-c", &example("esprit.toml"), "tcp 10.1.0.5:40000 -> 203.0.113.5:443"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.contains("via decider 'allowlist'"), "{s}");
    assert!(s.contains("esp/tunnel/192.0.2.1-192.0.2.2"), "{s}");
    assert!(s.contains("example allowlist"), "the plugin's own explanation is missing: {s}");
    // A flow the allowlist does not name is discarded, also with a reason.
    let out = Command::new(esprit_bin())
        .args(["policy", "test", "-c", &example("esprit.toml"), "udp 10.1.0.5:5353 -> 192.0.2.99:53"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("via decider 'allowlist'") && s.contains("discard"), "{s}");
}

#[test]
fn running_daemon_explains_plugin_decisions() {
    esprit_plugin::build::ensure_plugins_built().expect("building the Wasm plugins");
    let dir = Scratch::new("policy-plugin");
    let spec = std::fs::read_to_string(example("allowlist.plugin.toml")).unwrap();
    let wasm = esprit_plugin::build::plugin_path("allowlist").unwrap();
    let spec = spec.replace("../../target/wasm/wasm32-wasip2/release/allowlist.wasm", wasm.to_str().unwrap());
    std::fs::write(dir.path("allowlist.plugin.toml"), spec).unwrap();
    let cfg = std::fs::read_to_string(example("esprit.toml")).unwrap();
    let sock = dir.path("d.sock");
    let cfg = cfg
        .replace("listen = \"192.0.2.1:4500\"", "listen = \"127.0.0.1:0\"")
        .replace("mode = \"netstack\"", &format!("mode = \"netstack\"\ncontrol_socket = \"{}\"", sock.display()));
    std::fs::write(dir.path("esprit.toml"), cfg).unwrap();
    let mut child = Command::new(esprit_bin())
        .args(["run", "--config", dir.path("esprit.toml").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.path("d.log")).unwrap()))
        .spawn()
        .unwrap();
    let start = Instant::now();
    let explained = loop {
        let out = Command::new(esprit_bin())
            .args(["policy", "test", "--socket", sock.to_str().unwrap(), "tcp 10.1.0.5:40000 -> 203.0.113.5:443"])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("daemon did not answer: {}", std::fs::read_to_string(dir.path("d.log")).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(explained.contains("via decider 'allowlist'") && explained.contains("example allowlist"), "{explained}");
}

/// A plugin's explanation and log line with embedded newlines and ESC
/// sequences (imitating daemon log lines and `policy test` output) each stay
/// one escaped line: in `policy test` output and in the log on stderr.
#[test]
fn forged_lines_stay_one_escaped_line_in_policy_test_and_the_log() {
    let wasm = esprit_plugin::build::plugin_path("hostile-bad-output").expect("building the Wasm plugins");
    let dir = Scratch::new("policy-forged");
    std::fs::write(
        dir.path("forger.plugin.toml"),
        format!("name = \"forger\"\npath = \"{}\"\ndeadline_us = 100000\n[config]\nmode = \"forged-log\"\n", wasm.display()),
    )
    .unwrap();
    std::fs::write(
        dir.path("esprit.toml"),
        "name = \"forged\"\nmode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[netstack]\naddress = [\"10.1.0.5/32\"]\n\
         [[plugin]]\nspec = \"forger.plugin.toml\"\n[[policy]]\nsrc = \"10.0.0.0/8\"\ndst = \"0.0.0.0/0\"\nplugin = \"forger\"\n",
    )
    .unwrap();
    let out = Command::new(esprit_bin())
        .args(["policy", "test", "-c", dir.path("esprit.toml").to_str().unwrap(), "tcp 10.1.0.5:40000 -> 203.0.113.5:443"])
        .env("ESPRIT_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "policy test printed more than one line: {stdout:?}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\r'), "{stdout:?}");
    assert!(stdout.contains("via decider 'forger'") && stdout.contains("ok\\n2026-12-01T21:00:00"), "{stdout}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r'), "{stderr:?}");
    let forged: Vec<&str> = stderr.lines().filter(|l| l.contains("policy #9")).collect();
    assert!(!forged.is_empty(), "the plugin's log line is missing: {stderr}");
    assert!(forged.iter().all(|l| l.contains("ok\\n2026-12-01T21:00:00")), "a forged line stands on its own: {stderr}");
}
