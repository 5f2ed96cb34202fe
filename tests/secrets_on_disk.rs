//! Secrets on disk: `--keylog` and `--pcap-inner` refuse a symlink and a
//! file others can read; a TOML error in a PSK spec does not echo the key.
mod support;

use std::os::unix::fs::PermissionsExt;

use support::daemon::*;
use support::Scratch;

#[test]
fn keylog_and_inner_capture_refuse_symlinks_and_wide_files() {
    let dir = Scratch::new("ops-secrets");
    let target = dir.path("victim");
    let link = dir.path("keys.link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--keylog", link.to_str().unwrap()]);
    assert!(err.contains("is a symbolic link; refusing to write secrets through it"), "{err}");
    assert!(!target.exists(), "the key log followed the symlink");
    let wide = dir.path("keys.wide");
    std::fs::write(&wide, "").unwrap();
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--keylog", wide.to_str().unwrap()]);
    assert!(err.contains("exists with mode 0644") && err.contains("chmod 600"), "{err}");
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--pcap-inner", wide.to_str().unwrap()]);
    assert!(err.contains("exists with mode 0644"), "{err}");
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--pcap-inner", link.to_str().unwrap()]);
    assert!(err.contains("symbolic link"), "{err}");
    // A fresh key log is 0600.
    let fresh = dir.path("keys.new");
    let d = start(&dir.0, "b", &plain_config(&dir.0, "b", ""), &["--keylog", fresh.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
    drop(d);
}

#[test]
fn a_psk_syntax_error_does_not_echo_the_key() {
    let dir = Scratch::new("ops-psk-echo");
    let (pa, pb) = (udp_port(), udp_port());
    let toml = ike_config(&dir.0, "a", pa, pb, "10.78.0.1", "10.78.0.2", ("a.example", "b.example"), "none", "");
    std::fs::write(dir.path("a.psk.plugin.toml"), "name = \"psk\"\npath = \"x.wasm\"\n[config]\npsk = \"TOPSECRET-0123456789\n").unwrap();
    let err = run_fails(&dir.0, "a", &toml, &[]);
    assert!(err.contains("a.psk.plugin.toml:4:"), "{err}");
    assert!(!err.contains("TOPSECRET"), "the PSK was echoed: {err}");
}

