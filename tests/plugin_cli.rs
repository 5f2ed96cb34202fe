//! `esprit plugin check`, as a plugin author runs it: a good policy plugin
//! and a good auth plugin are described (world, WIT version, imports,
//! self-check); a plugin the daemon would refuse exits 1 with the reason on
//! one line.

mod support;

use std::process::{Command, Output};

use support::{esprit_bin, Scratch};

fn esprit(args: &[&str]) -> Output {
    Command::new(esprit_bin()).args(args).env("ESPRIT_WASM_CACHE", "off").output().expect("run esprit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn built(name: &str) -> String {
    esprit_plugin::build::plugin_path(name).expect("plugins build").to_string_lossy().into_owned()
}

#[test]
fn a_policy_spec_is_described_with_its_self_check() {
    let dir = Scratch::new("plugin-check-policy");
    let spec = dir.path("allow.plugin.toml");
    std::fs::write(
        &spec,
        format!("name = \"allow\"\npath = \"{}\"\n[config]\nallow = [\"198.51.100.0/24\"]\non_match = \"protect-tunnel:192.0.2.1-192.0.2.2\"\n", built("allowlist")),
    )
    .unwrap();
    let out = esprit(&["plugin", "check", spec.to_str().unwrap()]);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("plugin allow ("), "{o}");
    assert!(o.contains("world       policy (esprit:plugin@0.2.0)"), "{o}");
    assert!(o.contains("exports     ") && o.contains("decide"), "{o}");
    assert!(o.contains("self-check  probe tcp 192.0.2.1:49152 -> 198.51.100.1:443: Protect"), "{o}");

    let out = esprit(&["plugin", "check", "--json", spec.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(v["world"], "policy");
    assert_eq!(v["version"].as_str().map(str::len), Some(16));
}

#[test]
fn an_auth_wasm_is_described_with_its_method() {
    let out = esprit(&["plugin", "check", &built("null-auth")]);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("world       auth (esprit:plugin@0.1.0)"), "{o}");
    assert!(o.contains("IKEv2 auth method 13 (NULL authentication, RFC 7619)"), "{o}");
}

#[test]
fn a_plugin_the_daemon_would_refuse_fails_the_check() {
    let dir = Scratch::new("plugin-check-bad");
    // Traps in every call: its self-check fails, as at daemon start.
    let out = esprit(&["plugin", "check", &built("hostile-trap-always")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let e = text(&out.stderr);
    assert!(e.contains("hostile_trap_always") || e.contains("trap"), "{e}");
    // Not a component at all.
    let junk = dir.path("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let out = esprit(&["plugin", "check", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("not a WebAssembly file"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    // A spec with a mistyped key names its line.
    let spec = dir.path("typo.plugin.toml");
    std::fs::write(&spec, format!("name = \"x\"\npath = \"{}\"\ndeadline_usec = 5\n", built("allowlist"))).unwrap();
    let out = esprit(&["plugin", "check", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("typo.plugin.toml:3:"), "{e}");
}
