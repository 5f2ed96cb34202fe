//! Error messages an operator reads, checked as printed by a real `esprit`
//! process: each names the file it is about once, says the cause once, and
//! fits on one line.

mod support;

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use support::{esprit_bin, Scratch};

fn esprit(args: &[&str]) -> Output {
    Command::new(esprit_bin()).args(args).output().expect("run esprit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a key-bearing file with the mode esprit expects for it.
fn write_secret(dir: &Scratch, name: &str, text: &str) {
    let p = dir.path(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn netstack_config(dir: &Scratch, listen: &str, setkey_files: &[&str]) -> String {
    let files: Vec<String> = setkey_files.iter().map(|f| format!("\"{f}\"")).collect();
    let toml = format!(
        "mode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"{listen}\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n[ipsec]\nsetkey_files = [{}]\n",
        dir.path("c.sock").display(),
        files.join(", ")
    );
    let cfg = dir.path("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    cfg.to_str().unwrap().to_string()
}

const KEY: &str = "0x00112233445566778899aabbccddeeff00112233";

#[test]
fn a_duplicate_spi_names_the_setkey_file_and_line_that_repeats_it() {
    let dir = Scratch::new("msg-dup-spi");
    write_secret(&dir, "one.conf", &format!("add 10.0.0.1 10.0.0.2 esp 0x100 -E aes-gcm-16 {KEY};\n"));
    write_secret(&dir, "two.conf", &format!("# the same SA again\n\nadd 10.0.0.1 10.0.0.2 esp 0x100 -E aes-gcm-16 {KEY};\n"));
    let cfg = netstack_config(&dir, "127.0.0.1:0", &["one.conf", "two.conf"]);
    let out = esprit(&["run", "--config", &cfg]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("two.conf:3:1: an SA with SPI 0x00000100 for esp to 10.0.0.2 already exists"), "{e}");
    assert!(!e.contains("c.toml"), "the error names the config instead of the setkey file: {e}");
}

#[test]
fn a_replay_window_error_names_the_file_and_the_sa_once() {
    let dir = Scratch::new("msg-replay");
    write_secret(&dir, "k.conf", &format!("add 10.0.0.1 10.0.0.2 esp 0x100 -r 4294967295 -E aes-gcm-16 {KEY};\n"));
    let cfg = netstack_config(&dir, "127.0.0.1:0", &["k.conf"]);
    let out = esprit(&["run", "--config", &cfg]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("k.conf:1:1: SA 0x100: replay window 4294967295 is larger than the maximum"), "{e}");
    assert_eq!(e.matches("SA 0x100").count(), 1, "{e}");
    assert_eq!(e.matches("k.conf").count(), 1, "{e}");
}

#[test]
fn a_busy_outer_port_names_the_address() {
    let dir = Scratch::new("msg-busy");
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cfg = netstack_config(&dir, &addr, &[]);
    let out = esprit(&["run", "--config", &cfg]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains(&format!("{addr}: Address already in use")), "{e}");
}

#[test]
fn a_missing_file_says_no_such_file_once() {
    let dir = Scratch::new("msg-enoent");
    let ca = dir.path("no-ca");
    let out = esprit(&["pki", "issue", "--ca", ca.to_str().unwrap(), "--cn", "x", "--out", dir.path("out").to_str().unwrap()]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("no-ca/cacert.pem: No such file or directory"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");

    let cfg = netstack_config(&dir, "127.0.0.1:0", &["missing.conf"]);
    let e = stderr(&esprit(&["run", "--config", &cfg]));
    assert!(e.contains("missing.conf: No such file or directory"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

#[test]
fn a_file_that_is_not_a_component_gets_a_one_line_reason() {
    let dir = Scratch::new("msg-wasm");
    let cases: [(&str, &[u8], &str); 3] = [
        ("garbage.wasm", b"#!/bin/sh\necho this is a shell script\n", "not a WebAssembly file"),
        ("core.wasm", b"\0asm\x01\0\0\0", "a core WebAssembly module, not a component"),
        ("cut.wasm", b"\0asm\x0d\0\x01\0\x01\x05", "not a valid WebAssembly component"),
    ];
    for (file, bytes, want) in cases {
        std::fs::write(dir.path(file), bytes).unwrap();
        std::fs::write(dir.path("p.plugin.toml"), format!("name = \"p\"\npath = \"{file}\"\n")).unwrap();
        let toml = "mode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:0\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n\
                    [[plugin]]\nspec = \"p.plugin.toml\"\n[[policy]]\nsrc = \"10.0.0.0/8\"\ndst = \"0.0.0.0/0\"\ndir = \"out\"\nplugin = \"p\"\n";
        std::fs::write(dir.path("c.toml"), toml).unwrap();
        let out = esprit(&["policy", "test", "-c", dir.path("c.toml").to_str().unwrap(), "tcp 10.0.0.1:1 -> 10.0.0.2:80"]);
        assert!(!out.status.success(), "{file} loaded");
        let e = stderr(&out);
        assert!(e.contains(want), "{file}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{file}: more than one line: {e}");
        assert!(!e.contains("0x61,"), "{file}: a hex dump: {e}");
    }
}
