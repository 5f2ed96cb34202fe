//! `esprit pki` as a user runs it: a CA, host certificates in one step or
//! through newreq + sign, checked by OpenSSL and strongSwan's `pki`; private
//! key files are 0400 and a readable key is refused with the chmod to run.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{esprit_bin, require, Scratch};

fn esprit(args: &[&str]) -> Output {
    Command::new(esprit_bin()).args(args).output().expect("run esprit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs esprit, asserts success, returns stdout.
fn ok(args: &[&str]) -> String {
    let o = esprit(args);
    assert!(o.status.success(), "esprit {args:?} failed:\n{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// Runs esprit, asserts failure, returns stderr.
fn fails(args: &[&str]) -> String {
    let o = esprit(args);
    assert!(!o.status.success(), "esprit {args:?} should have failed:\n{}", text(&o.stdout));
    text(&o.stderr)
}

fn has(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Runs a tool, returns (success, stdout + stderr).
fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(tool).args(args).output().unwrap_or_else(|e| panic!("run {tool}: {e}"));
    (o.status.success(), format!("{}{}", text(&o.stdout), text(&o.stderr)))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// `esprit pki ca` + `issue` with one key type; returns (ca dir, host dir).
fn ca_and_host(dir: &Scratch, key_type: &str, host: &str) -> (PathBuf, PathBuf) {
    let ca = dir.path(&format!("ca-{key_type}"));
    let out = dir.path(&format!("host-{key_type}"));
    ok(&["pki", "ca", "--out", s(&ca), "--key-type", key_type]);
    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--cn",
        host,
        "--san",
        "IP:192.0.2.1",
        "--key-type",
        key_type,
        "--out",
        s(&out),
    ]);
    (ca, out)
}

const KEY_TYPES: [(&str, &str); 3] = [("rsa", "RSA 2048 bits"), ("ecdsa-p256", "ECDSA P-256"), ("ed25519", "Ed25519")];

#[test]
fn ca_and_issue_are_accepted_by_openssl_for_each_key_type() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-openssl");
    for (kt, key_desc) in KEY_TYPES {
        let host = format!("host-{kt}.example");
        let (ca, out) = ca_and_host(&dir, kt, &host);
        let cert = out.join(format!("{host}_cert.pem"));
        let key = out.join(format!("{host}_key.pem"));
        let cacert = out.join("cacert.pem");
        // The layout: CA.pl's files, the seed's host names, keys 0400.
        for f in ["cacert.pem", "cacert.der", "cakey.pem"] {
            assert!(ca.join(f).is_file(), "{kt}: no {f}");
        }
        assert_eq!(mode(&ca.join("cakey.pem")), 0o400, "{kt}");
        assert_eq!(mode(&key), 0o400, "{kt}");
        assert_eq!(std::fs::read(&cacert).unwrap(), std::fs::read(ca.join("cacert.pem")).unwrap());

        let (good, out_v) = run("openssl", &["verify", "-CAfile", s(&cacert), s(&cert)]);
        assert!(good && out_v.contains(": OK"), "{kt}: {out_v}");
        let (_, txt) = run("openssl", &["x509", "-in", s(&cert), "-noout", "-text"]);
        assert!(txt.contains(&format!("DNS:{host}, IP Address:192.0.2.1")), "{kt}: {txt}");
        assert!(txt.contains("TLS Web Server Authentication, TLS Web Client Authentication"), "{kt}: {txt}");
        assert!(txt.contains("CA:FALSE"), "{kt}: {txt}");
        let (_, ca_txt) = run("openssl", &["x509", "-in", s(&cacert), "-noout", "-text"]);
        assert!(ca_txt.contains("CA:TRUE") && ca_txt.contains("Certificate Sign"), "{kt}: {ca_txt}");
        // The key is unencrypted and belongs to the certificate.
        let (good, key_pub) = run("openssl", &["pkey", "-in", s(&key), "-pubout"]);
        assert!(good, "{kt}: {key_pub}");
        let (_, cert_pub) = run("openssl", &["x509", "-in", s(&cert), "-noout", "-pubkey"]);
        assert_eq!(key_pub, cert_pub, "{kt}");

        let shown = ok(&["pki", "show", "--in", s(&cert)]);
        assert!(shown.contains(&format!("Subject:     CN={host}")), "{shown}");
        assert!(shown.contains("Issuer:      CN=esprit CA"), "{shown}");
        assert!(shown.contains(&format!("SANs:        DNS:{host}, IP:192.0.2.1")), "{shown}");
        assert!(shown.contains(&format!("Key:         {key_desc}")), "{shown}");
        assert!(shown.contains("(valid now)") && shown.contains("CA:          no"), "{shown}");
        assert!(shown.contains("EKU:         serverAuth, clientAuth"), "{shown}");
    }
}

#[test]
fn strongswan_pki_verifies_and_prints_our_certificates() {
    if !require(has("pki") && has("openssl"), "strongSwan `pki` (apt-get install strongswan-pki) and openssl") {
        return;
    }
    let dir = Scratch::new("pki-strongswan");
    for (kt, _) in KEY_TYPES {
        let host = format!("gw-{kt}.example");
        let (_, out) = ca_and_host(&dir, kt, &host);
        let cert = out.join(format!("{host}_cert.pem"));
        let (good, v) = run("pki", &["--verify", "--in", s(&cert), "--cacert", s(&out.join("cacert.pem"))]);
        assert!(good && v.contains("certificate trusted"), "{kt}: {v}");
        let (good, p) = run("pki", &["--print", "--in", s(&cert)]);
        assert!(good, "{kt}: {p}");
        assert!(p.contains(&format!("subject:  \"CN={host}\"")), "{kt}: {p}");
        assert!(p.contains(&format!("altNames:  {host}, 192.0.2.1")), "{kt}: {p}");
        assert!(p.contains("serverAuth") && p.contains("clientAuth"), "{kt}: {p}");
        // strongSwan reads our key files too (it loads them for charon).
        let (good, k) = run("pki", &["--print", "--type", "priv", "--in", s(&out.join(format!("{host}_key.pem")))]);
        assert!(good, "{kt}: {k}");
    }
}

#[test]
fn a_readable_key_is_refused_with_the_chmod_to_run() {
    let dir = Scratch::new("pki-mode");
    let (ca, out) = ca_and_host(&dir, "ecdsa-p256", "m.example");
    let key = out.join("m.example_key.pem");
    let shown = ok(&["pki", "show", "--key", s(&key)]);
    assert!(
        shown.contains("ECDSA P-256 (SHA-256) key (scheme ecdsa-p256-sha256), unencrypted PKCS#8 PEM, mode 0400"),
        "{shown}"
    );
    let d = ok(&["pki", "decrypt", "--in", s(&key)]);
    assert!(d.contains("nothing to decrypt"), "{d}");

    chmod(&key, 0o644);
    let want = format!("private key {} has mode 0644", key.display());
    for args in [vec!["pki", "show", "--key", s(&key)], vec!["pki", "decrypt", "--in", s(&key)]] {
        let e = fails(&args);
        assert!(e.contains(&want), "{e}");
        assert!(e.contains(&format!("run `chmod 400 {}`", key.display())), "{e}");
    }
    // The CA key is checked the same way before signing.
    let cakey = ca.join("cakey.pem");
    chmod(&cakey, 0o640);
    let e = fails(&["pki", "issue", "--ca", s(&ca), "--cn", "n.example", "--out", s(&out)]);
    assert!(e.contains(&format!("private key {} has mode 0640", cakey.display())), "{e}");
    chmod(&cakey, 0o400);
}

#[test]
fn der_output_parses() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-der");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca), "--key-type", "ecdsa-p384", "--cn", "DER test CA"]);
    let (good, t) = run("openssl", &["x509", "-inform", "DER", "-in", s(&ca.join("cacert.der")), "-noout", "-subject"]);
    assert!(good && t.contains("CN = DER test CA"), "{t}");
    let out = dir.path("h");
    ok(&["pki", "issue", "--ca", s(&ca), "--cn", "d.example", "--der", "--out", s(&out)]);
    let der = out.join("d.example_cert.der");
    let pem = dir.path("from-der.pem");
    let (good, t) = run("openssl", &["x509", "-inform", "DER", "-in", s(&der), "-out", s(&pem)]);
    assert!(good, "{t}");
    let (good, t) = run("openssl", &["verify", "-CAfile", s(&ca.join("cacert.pem")), s(&pem)]);
    assert!(good, "{t}");
    let shown = ok(&["pki", "show", "--in", s(&der)]);
    assert!(shown.contains("SANs:        DNS:d.example") && shown.contains("Issuer:      CN=DER test CA"), "{shown}");
}

#[test]
fn newreq_then_sign_keeps_the_requested_sans() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-req");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca)]);
    let out = dir.path("gw");
    let wrote = ok(&[
        "pki",
        "newreq",
        "--cn",
        "gw.example",
        "--san",
        "DNS:gw.example",
        "--san",
        "IP:198.51.100.1",
        "--san",
        "email:admin@gw.example",
        "--san",
        "2001:db8::1",
        "--key-type",
        "ecdsa-p384",
        "--der",
        "--out",
        s(&out),
    ]);
    let req = out.join("gw.example_req.pem");
    let key = out.join("gw.example_key.pem");
    assert!(wrote.contains(&format!("wrote {}", req.display())), "{wrote}");
    assert_eq!(mode(&key), 0o400);
    let (good, t) = run("openssl", &["req", "-in", s(&req), "-noout", "-verify"]);
    assert!(good, "{t}");
    let shown = ok(&["pki", "show", "--in", s(&req)]);
    assert!(shown.contains("Subject:     CN=gw.example"), "{shown}");
    assert!(
        shown.contains("SANs:        DNS:gw.example, IP:198.51.100.1, email:admin@gw.example, IP:2001:db8::1"),
        "{shown}"
    );
    assert!(shown.contains("Key:         ECDSA P-384") && shown.contains("(verified)"), "{shown}");
    ok(&["pki", "show", "--in", s(&out.join("gw.example_req.der"))]);

    let cert = out.join("gw.example_cert.pem");
    ok(&["pki", "sign", "--ca", s(&ca), "--req", s(&req), "--out", s(&cert), "--days", "30"]);
    let (good, t) = run("openssl", &["verify", "-CAfile", s(&ca.join("cacert.pem")), s(&cert)]);
    assert!(good, "{t}");
    let shown = ok(&["pki", "show", "--in", s(&cert)]);
    assert!(
        shown.contains("SANs:        DNS:gw.example, IP:198.51.100.1, email:admin@gw.example, IP:2001:db8::1"),
        "{shown}"
    );
    assert!(shown.contains("Key:         ECDSA P-384"), "{shown}");

    // DER output of sign; newreq puts the CN first among the SANs (sign adds it
    // only to requests without SANs: see the OpenSSL request test).
    ok(&["pki", "newreq", "--cn", "bare.example", "--out", s(&out)]);
    let der = out.join("bare.der");
    ok(&[
        "pki",
        "sign",
        "--ca",
        s(&ca),
        "--req",
        s(&out.join("bare.example_req.pem")),
        "--out",
        s(&der),
        "--der",
        "--no-eku",
    ]);
    let shown = ok(&["pki", "show", "--in", s(&der)]);
    assert!(shown.contains("SANs:        DNS:bare.example") && !shown.contains("EKU:"), "{shown}");
}

#[test]
fn an_openssl_request_like_ca_pl_newreq_is_signed() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-openssl-req");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca), "--key-type", "rsa"]);
    let req = dir.path("newreq.pem");
    let key = dir.path("newkey.pem");
    let (good, t) = run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=legacy.example",
            "-keyout",
            s(&key),
            "-out",
            s(&req),
        ],
    );
    assert!(good, "{t}");
    let cert = dir.path("newcert.pem");
    ok(&["pki", "sign", "--ca", s(&ca), "--req", s(&req), "--out", s(&cert)]);
    let (good, t) = run("openssl", &["verify", "-CAfile", s(&ca.join("cacert.pem")), s(&cert)]);
    assert!(good, "{t}");
    assert!(ok(&["pki", "show", "--in", s(&cert)]).contains("SANs:        DNS:legacy.example"));
    // OpenSSL's key loads once it is owner-only.
    chmod(&key, 0o400);
    assert!(ok(&["pki", "show", "--key", s(&key)]).contains("RSA (PKCS#1 v1.5, SHA-256) key"));
}

#[test]
fn expired_and_backdated_certificates_for_tests() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-expired");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca)]);
    let out = dir.path("o");
    ok(&["pki", "issue", "--ca", s(&ca), "--cn", "old.example", "--days", "0", "--out", s(&out)]);
    let cert = out.join("old.example_cert.pem");
    let (good, t) = run("openssl", &["verify", "-CAfile", s(&ca.join("cacert.pem")), s(&cert)]);
    assert!(!good && t.contains("certificate has expired"), "{t}");
    assert!(ok(&["pki", "show", "--in", s(&cert)]).contains("(EXPIRED)"));

    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--cn",
        "y2020.example",
        "--valid-from",
        "2020-01-01T00:00:00Z",
        "--valid-until",
        "2020-12-31T00:00:00Z",
        "--out",
        s(&out),
    ]);
    let shown = ok(&["pki", "show", "--in", s(&out.join("y2020.example_cert.pem"))]);
    assert!(shown.contains("Not before:  2020-01-01T00:00:00Z"), "{shown}");
    assert!(shown.contains("Not after:   2020-12-31T00:00:00Z (EXPIRED)"), "{shown}");

    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--cn",
        "future.example",
        "--valid-from",
        "2999-01-01T00:00:00Z",
        "--out",
        s(&out),
    ]);
    assert!(ok(&["pki", "show", "--in", s(&out.join("future.example_cert.pem"))]).contains("(not yet valid)"));

    let e =
        fails(&["pki", "issue", "--ca", s(&ca), "--cn", "x.example", "--valid-until", "last week", "--out", s(&out)]);
    assert!(e.contains("expected an RFC 3339 time like 2026-01-01T00:00:00Z"), "{e}");
    let e = fails(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--cn",
        "x.example",
        "--valid-from",
        "2021-01-01T00:00:00Z",
        "--valid-until",
        "2020-01-01T00:00:00Z",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("is before --valid-from"), "{e}");
}

#[test]
fn nothing_is_overwritten_without_force_and_bad_input_is_named() {
    let dir = Scratch::new("pki-force");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca)]);
    let e = fails(&["pki", "ca", "--out", s(&ca)]);
    assert!(
        e.contains(&format!("{} already exists; remove it or pass --force", ca.join("cacert.pem").display())),
        "{e}"
    );
    let out = dir.path("o");
    ok(&["pki", "issue", "--ca", s(&ca), "--cn", "f.example", "--out", s(&out)]);
    let before = std::fs::read(out.join("f.example_cert.pem")).unwrap();
    let e = fails(&["pki", "issue", "--ca", s(&ca), "--cn", "f.example", "--out", s(&out)]);
    assert!(e.contains("f.example_cert.pem already exists"), "{e}");
    assert_eq!(std::fs::read(out.join("f.example_cert.pem")).unwrap(), before);
    ok(&["pki", "issue", "--ca", s(&ca), "--cn", "f.example", "--out", s(&out), "--force"]);
    assert_ne!(std::fs::read(out.join("f.example_cert.pem")).unwrap(), before);
    assert_eq!(mode(&out.join("f.example_key.pem")), 0o400);

    let e = fails(&["pki", "issue", "--ca", s(&ca), "--cn", "g.example", "--san", "IP:not-an-ip", "--out", s(&out)]);
    assert!(e.contains("--san \"IP:not-an-ip\": expected an IPv4 or IPv6 address"), "{e}");
    let e = fails(&["pki", "issue", "--ca", s(&out), "--cn", "g.example", "--out", s(&out)]);
    assert!(e.contains(&format!("{}: ", out.join("cakey.pem").display())), "{e}");
    let e = fails(&["pki", "show", "--in", s(&out.join("f.example_key.pem"))]);
    assert!(e.contains("expected a PEM `CERTIFICATE` block, found PEM block(s) `PRIVATE KEY`"), "{e}");
    let e = fails(&[
        "pki",
        "sign",
        "--ca",
        s(&ca),
        "--req",
        s(&out.join("f.example_cert.pem")),
        "--out",
        s(&dir.path("x.pem")),
    ]);
    assert!(e.contains("expected a PKCS#10 certificate request"), "{e}");
}

#[test]
fn encrypted_keys_are_refused_and_legacy_keys_converted() {
    if !require(has("openssl"), "openssl") {
        return;
    }
    let dir = Scratch::new("pki-decrypt");
    let enc = dir.path("enc.pem");
    let (good, t) = run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes256",
            "-pass",
            "pass:x",
            "-out",
            s(&enc),
        ],
    );
    assert!(good, "{t}");
    chmod(&enc, 0o400);
    let e = fails(&["pki", "decrypt", "--in", s(&enc)]);
    assert!(e.contains("the private key is encrypted (PKCS#8 EncryptedPrivateKeyInfo)"), "{e}");
    assert!(e.contains("openssl pkcs8 -topk8 -nocrypt"), "{e}");

    // `openssl ecparam -genkey` writes SEC1 after EC PARAMETERS; decrypt --out makes PKCS#8.
    let sec1 = dir.path("sec1.pem");
    let (good, t) = run("openssl", &["ecparam", "-name", "prime256v1", "-genkey", "-out", s(&sec1)]);
    assert!(good, "{t}");
    chmod(&sec1, 0o400);
    let out = dir.path("p8.pem");
    let d = ok(&["pki", "decrypt", "--in", s(&sec1), "--out", s(&out)]);
    assert!(d.contains("unencrypted SEC1 `EC PRIVATE KEY` PEM") && d.contains("nothing to decrypt"), "{d}");
    assert_eq!(mode(&out), 0o400);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    let (_, a) = run("openssl", &["pkey", "-in", s(&sec1), "-pubout"]);
    let (_, b) = run("openssl", &["pkey", "-in", s(&out), "-pubout"]);
    assert_eq!(a, b);
}

#[test]
fn a_host_address_as_cn_becomes_an_ip_san() {
    // The seed's hosts are addresses (192.168.0.1 and 10.1.2.3).
    let dir = Scratch::new("pki-ip-cn");
    let ca = dir.path("ca");
    ok(&["pki", "ca", "--out", s(&ca)]);
    let out = dir.path("h");
    let wrote = ok(&["pki", "issue", "--ca", s(&ca), "--cn", "192.168.0.1", "--out", s(&out)]);
    assert!(wrote.contains("192.168.0.1_cert.pem") && wrote.contains("192.168.0.1_key.pem"), "{wrote}");
    let shown = ok(&["pki", "show", "--in", s(&out.join("192.168.0.1_cert.pem"))]);
    assert!(shown.contains("SANs:        IP:192.168.0.1\n"), "{shown}");
    let e = fails(&["pki", "issue", "--ca", s(&ca), "--cn", "../evil", "--out", s(&out)]);
    assert!(e.contains("cannot name files HOST_cert.pem/HOST_key.pem"), "{e}");
    let e = fails(&["pki", "issue", "--ca", s(&ca), "--cn", "My Gateway", "--name", "gw", "--out", s(&out)]);
    assert!(e.contains("no subjectAltName, and the CN \"My Gateway\" is not a host name"), "{e}");
    ok(&[
        "pki",
        "issue",
        "--ca",
        s(&ca),
        "--cn",
        "My Gateway",
        "--name",
        "gw",
        "--san",
        "gw.example",
        "--out",
        s(&out),
    ]);
    let shown = ok(&["pki", "show", "--in", s(&out.join("gw_cert.pem"))]);
    assert!(shown.contains("Subject:     CN=My Gateway") && shown.contains("SANs:        DNS:gw.example\n"), "{shown}");
}
