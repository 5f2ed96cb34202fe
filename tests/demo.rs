//! The README's run command, `esprit demo`, the way a user runs it: two
//! esprit processes on 127.0.0.1 negotiate IKEv2 (PSK through the Wasm psk
//! plugin) on A's first packet, which a Wasm policy plugin allowed, and carry
//! an HTTP request through ESP-in-UDP.
//! As root it also runs as the unprivileged user nobody (it needs no rights).

mod support;

use std::process::Command;

use support::{esprit_bin, is_root};

fn check(out: std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello from peer B's local service"), "{stdout}");
    assert!(stdout.contains("demo ok"), "{stdout}");
    // Both peers show their SAs with traffic and no drops.
    assert_eq!(stdout.matches("drops: none").count(), 2, "{stdout}");
    assert!(stdout.matches("aes128gcm16: ").count() >= 4, "{stdout}");
    // The SAs came from IKE on both sides, and the plugin decided A's packets.
    assert_eq!(stdout.matches("demo Established").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("CHILD_SA demo aes128gcm16").count(), 2, "{stdout}");
    assert!(stdout.contains("delegate allowlist"), "{stdout}");
}

#[test]
fn demo_carries_a_request_through_the_tunnel() {
    check(Command::new(esprit_bin()).arg("demo").output().expect("run esprit demo"));
}

#[test]
fn demo_runs_unprivileged() {
    if !is_root() {
        eprintln!("SKIPPED: already unprivileged (the other demo test covers it)");
        return;
    }
    let _ = Command::new("chmod").args(["a+x", env!("CARGO_TARGET_TMPDIR")]).output();
    let dir = format!("{}/demo-nobody-{}", env!("CARGO_TARGET_TMPDIR"), std::process::id());
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chmod").args(["777", &dir]).output();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(esprit_bin())
        .args(["demo", "--dir", &dir])
        .output()
        .expect("setpriv");
    check(out);
    let _ = std::fs::remove_dir_all(&dir);
}
