//! IKE authentication failures the way an operator meets them: two esprit
//! daemons (netstack mode, rootless, on 127.0.0.1) with a wrong pre-shared
//! key, and with an X.509 certificate whose SAN does not match the IKE ID
//! the other side expects. Each side must log one line a newcomer
//! understands, send/receive AUTHENTICATION_FAILED, install no SA and keep
//! running; then a correct configuration comes up.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{esprit_bin, Scratch};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &Path, name: &str, toml: &str) -> Daemon {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, toml).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Daemon(
        Command::new(esprit_bin())
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start esprit"),
    )
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

fn wait_log(dir: &Path, name: &str, needle: &str) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        let l = log(dir, name);
        if l.contains(needle) {
            return l;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name}'s log never said {needle:?}:\n{}", log(dir, name));
}

fn status(dir: &Path, name: &str) -> serde_json::Value {
    let out = Command::new(esprit_bin()).args(["status", "--json", "--socket", dir.join(format!("{name}.sock")).to_str().unwrap()]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn config(dir: &Path, name: &str, me: u16, peer: u16, inner: &str, peer_inner: &str, ids: (&str, &str), auth: &str, start: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"127.0.0.1:{me}\"\npeer_port = {peer}\n\
         [netstack]\naddress = [\"{inner}/32\"]\n[[plugin]]\nspec = \"{name}.{auth}.plugin.toml\"\n\
         [[conn]]\nname = \"peer\"\nremote = \"127.0.0.1\"\nremote_port = {peer}\nlocal_id = \"{}\"\nremote_id = \"{}\"\nauth = \"{auth}\"\n\
         local_ts = [\"{inner}/32\"]\nremote_ts = [\"{peer_inner}/32\"]\nstart = \"{start}\"\n{extra}",
        dir.join(format!("{name}.sock")).display(),
        ids.0,
        ids.1
    )
}

fn psk_spec(dir: &Path, name: &str, secret: &str) {
    let wasm = esprit_plugin::build::plugin_path("psk-auth").expect("psk plugin");
    std::fs::write(dir.join(format!("{name}.psk.plugin.toml")), format!("name = \"psk\"\npath = {:?}\n[config]\npsk = \"{secret}\"\n", wasm.display().to_string())).unwrap();
}

#[test]
fn wrong_psk_is_logged_on_both_sides_and_the_right_one_works() {
    let dir = Scratch::new("ike-psk-fail");
    let (pa, pb) = (port(), port());
    psk_spec(&dir.0, "a", "the-right-secret-1");
    psk_spec(&dir.0, "b", "a-wrong-secret-22");
    let _b = start(&dir.0, "b", &config(&dir.0, "b", pb, pa, "10.7.0.2", "10.7.0.1", ("b.example", "a.example"), "psk", "none", ""));
    std::thread::sleep(Duration::from_millis(300));
    let a = start(&dir.0, "a", &config(&dir.0, "a", pa, pb, "10.7.0.1", "10.7.0.2", ("a.example", "b.example"), "psk", "start", ""));
    let lb = wait_log(&dir.0, "b", "AUTHENTICATION_FAILED");
    assert!(
        lb.contains("authentication of peer fqdn:a.example failed: the peer's AUTH (pre-shared key MIC) does not match: the two sides have different pre-shared keys for fqdn:a.example"),
        "{lb}"
    );
    let la = wait_log(&dir.0, "a", "rejected our authentication");
    assert!(la.contains("check that both sides use the same pre-shared key"), "{la}");
    // No SA on either side; both daemons keep running and count it.
    let (sa, sb) = (status(&dir.0, "a"), status(&dir.0, "b"));
    assert_eq!(sa["sas"].as_array().map(|v| v.len()), Some(0), "{sa}");
    assert_eq!(sb["sas"].as_array().map(|v| v.len()), Some(0), "{sb}");
    assert_eq!(sb["ike"]["stats"]["auth_failed"], 1, "{sb}");
    drop(a);
    // The right key: the IKE SA and the CHILD_SA come up.
    psk_spec(&dir.0, "a", "a-wrong-secret-22");
    let _a = start(&dir.0, "a", &config(&dir.0, "a", pa, pb, "10.7.0.1", "10.7.0.2", ("a.example", "b.example"), "psk", "start", ""));
    wait_log(&dir.0, "b", "CHILD_SA peer established");
    assert_eq!(status(&dir.0, "b")["sas"].as_array().map(|v| v.len()), Some(2));
    // An operator command for a connection that does not exist fails and says so.
    let out = Command::new(esprit_bin()).args(["ike", "up", "nosuch", "--socket", dir.0.join("b.sock").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no [[conn]] named \"nosuch\"") && err.contains("peer"), "exit {:?}: {err}", out.status);
}

/// A `start = "start"` connection whose login fails tries again with
/// back-off and says when (issue 11: it never did).
#[test]
fn a_failed_login_is_retried_with_back_off() {
    let dir = Scratch::new("ike-psk-retry");
    let (pa, pb) = (port(), port());
    psk_spec(&dir.0, "a", "the-right-secret-1");
    psk_spec(&dir.0, "b", "a-wrong-secret-22");
    let _b = start(&dir.0, "b", &config(&dir.0, "b", pb, pa, "10.7.0.2", "10.7.0.1", ("b.example", "a.example"), "psk", "none", ""));
    std::thread::sleep(Duration::from_millis(300));
    let _a = start(&dir.0, "a", &config(&dir.0, "a", pa, pb, "10.7.0.1", "10.7.0.2", ("a.example", "b.example"), "psk", "start", ""));
    wait_log(&dir.0, "a", "setup failed 1 time(s) in a row; next try in 5s");
    let la = wait_log(&dir.0, "a", "setup failed 2 time(s) in a row; next try in 10s");
    assert!(la.contains("trying to set up the connection again"), "{la}");
}

fn pki(args: &[&str]) {
    let out = Command::new(esprit_bin()).arg("pki").args(args).output().unwrap();
    assert!(out.status.success(), "esprit pki {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn x509_spec(dir: &Path, name: &str, ca: &Path) {
    let wasm = esprit_plugin::build::plugin_path("x509-auth").expect("x509 plugin");
    std::fs::write(
        dir.join(format!("{name}.x509.plugin.toml")),
        format!(
            "name = \"x509\"\npath = {:?}\n[config]\nkey_handle = \"peer\"\nscheme = \"ecdsa-p256-sha256\"\n[config_files]\nca = {:?}\n",
            wasm.display().to_string(),
            ca.display().to_string()
        ),
    )
    .unwrap();
}

/// A CA and certificates for a.example and b.example made by `esprit pki`,
/// and an x509 plugin spec per side trusting that CA.
fn x509_hosts(d: &Path) {
    pki(&["ca", "--out", d.join("ca").to_str().unwrap(), "--cn", "esprit test CA"]);
    for h in ["a.example", "b.example"] {
        pki(&["issue", "--ca", d.join("ca").to_str().unwrap(), "--cn", h, "--out", d.join(h).to_str().unwrap()]);
    }
    let ca = d.join("ca/cacert.pem");
    x509_spec(d, "a", &ca);
    x509_spec(d, "b", &ca);
}

/// The `[[conn]]` lines naming host `h`'s certificate, key and the CA.
fn creds(h: &str) -> String {
    format!("cert = \"{h}/{h}_cert.pem\"\nkey = \"{h}/{h}_key.pem\"\nca = \"ca/cacert.pem\"\n")
}

#[test]
fn certificate_san_mismatch_names_both_identities() {
    let dir = Scratch::new("ike-x509-fail");
    let d = &dir.0;
    x509_hosts(d);
    let (pa, pb) = (port(), port());
    // B expects the initiator to be c.example; A's certificate says a.example.
    let _b = start(d, "b", &config(d, "b", pb, pa, "10.8.0.2", "10.8.0.1", ("b.example", "any"), "x509", "none", &creds("b.example")));
    std::thread::sleep(Duration::from_millis(300));
    // A claims the identity c.example with a.example's certificate.
    let _a = start(d, "a", &config(d, "a", pa, pb, "10.8.0.1", "10.8.0.2", ("c.example", "b.example"), "x509", "start", &creds("a.example")));
    let lb = wait_log(d, "b", "AUTHENTICATION_FAILED");
    assert!(lb.contains("peer certificate CN=a.example has no SAN matching IKE ID fqdn:c.example (SANs: DNS:a.example)"), "{lb}");
    wait_log(d, "a", "rejected our authentication");
    assert_eq!(status(d, "b")["sas"].as_array().map(|v| v.len()), Some(0));
}

#[test]
fn certificates_from_esprit_pki_authenticate() {
    let dir = Scratch::new("ike-x509-ok");
    let d = &dir.0;
    x509_hosts(d);
    let (pa, pb) = (port(), port());
    let _b = start(d, "b", &config(d, "b", pb, pa, "10.9.0.2", "10.9.0.1", ("b.example", "a.example"), "x509", "none", &creds("b.example")));
    std::thread::sleep(Duration::from_millis(300));
    let _a = start(d, "a", &config(d, "a", pa, pb, "10.9.0.1", "10.9.0.2", ("a.example", "b.example"), "x509", "start", &creds("a.example")));
    let la = wait_log(d, "a", "CHILD_SA peer established");
    assert!(la.contains("IKE SA established with fqdn:b.example"), "{la}");
    assert_eq!(status(d, "a")["sas"].as_array().map(|v| v.len()), Some(2));
}
