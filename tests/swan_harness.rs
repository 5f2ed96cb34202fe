//! Proves the strongSwan harness (tests/support/swan.rs) that the esprit ↔
//! strongSwan IKEv2 interop tests stand on: two charons in two network
//! namespaces negotiate a PSK tunnel, a ping crosses it (ESP in UDP 4500,
//! counted on both sides), and a DELETE from one side leaves no SA on either;
//! likewise with X.509 ECDSA certificates and with a virtual IP from a pool.
//!
//! The parser, config and key-type checks run everywhere; the namespace test
//! needs root and strongSwan: skipped with a reason on a developer machine, a
//! failure under CI=true.

mod support;

use std::time::{Duration, Instant};

use support::netns::{can_netns, interop_pair, INNER_A, INNER_B, NET_A, NET_B, OUTER_A, OUTER_B};
use support::swan::{key_kind, parse_list_sas, swan_missing, swanctl_conf, Swan, SwanChildConf, SwanConn, SwanError, SwanOpts};
use support::{is_root, require};

const PSK: &str = "swan-harness-psk-0123456789";

/// `swanctl --list-sas --pretty` from strongSwan 5.9.8 (trimmed to the
/// fields the parser reads, plus a few it must skip).
const PRETTY: &str = "list-sa event {
  psk {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-host = 192.0.2.1
    local-port = 4500
    local-id = a.example
    remote-host = 192.0.2.2
    remote-port = 4500
    remote-id = C=CH, O=test, CN=b.example
    initiator = yes
    initiator-spi = 6ab1b5fe1ef0e9c5
    responder-spi = 8c2d6b0c57dd4b50
    nat-local = yes
    nat-any = yes
    encr-alg = AES_GCM_16
    encr-keysize = 128
    prf-alg = PRF_HMAC_SHA2_256
    dh-group = CURVE_25519
    established = 1
    rekey-time = 13859
    child-sas {
      net-1 {
        name = net
        uniqueid = 1
        reqid = 1
        state = INSTALLED
        mode = TUNNEL
        protocol = ESP
        encap = yes
        spi-in = c9a1f2b3
        spi-out = 0d5e6f70
        encr-alg = AES_CBC
        encr-keysize = 256
        integ-alg = HMAC_SHA2_256_128
        bytes-in = 252
        packets-in = 3
        bytes-out = 252
        packets-out = 3
        local-ts = [
          203.0.113.0/24
        ]
        remote-ts = [
          198.51.100.0/24
        ]
      }
    }
  }
}
";

#[test]
fn parses_list_sas_pretty() {
    let sas = parse_list_sas(PRETTY);
    assert_eq!(sas.len(), 1, "{sas:#?}");
    let ike = &sas[0];
    assert_eq!((ike.name.as_str(), ike.state.as_str(), ike.initiator), ("psk", "ESTABLISHED", true));
    assert_eq!(ike.remote_id, "C=CH, O=test, CN=b.example");
    assert_eq!((ike.local_port, ike.remote_port), (4500, 4500));
    assert_eq!(ike.proposal, "AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519");
    let c = &ike.children[0];
    assert_eq!((c.name.as_str(), c.state.as_str(), c.mode_text().as_str()), ("net", "INSTALLED", "TUNNEL-in-UDP"));
    assert_eq!((c.spi_in, c.spi_out), (0xc9a1f2b3, 0x0d5e6f70));
    assert_eq!((c.bytes_in, c.packets_in, c.bytes_out, c.packets_out), (252, 3, 252, 3));
    assert_eq!(c.proposal, "AES_CBC-256/HMAC_SHA2_256_128");
    assert_eq!((c.local_ts.as_slice(), c.remote_ts.as_slice()), (&["203.0.113.0/24".to_string()][..], &["198.51.100.0/24".to_string()][..]));
    assert!(parse_list_sas("").is_empty());
}

#[test]
fn renders_swanctl_conf() {
    let gw = SwanConn::new("gw", OUTER_B, OUTER_A)
        .ids("b.example", "C=CH, CN=a.example")
        .pubkey("b.pem", "ca.pem")
        .proposals("aes256-sha256-modp2048")
        .rekey_time(Duration::from_secs(45))
        .dpd_delay(Duration::from_secs(5))
        .encap(true)
        .pool("p", "10.3.0.0/24")
        .child(SwanChildConf::new("net", "0.0.0.0/0", "dynamic").esp("aes128gcm16-x25519").start_action("trap").rekey_time(Duration::from_secs(20)).life_time(Duration::from_secs(40)));
    let psk = SwanConn::new("psk", OUTER_B, OUTER_A).psk("a \"quoted\" secret").child(SwanChildConf::new("c", NET_B, NET_A));
    let text = swanctl_conf(&[gw, psk]);
    for want in [
        "proposals = aes256-sha256-modp2048",
        "rekey_time = 45s",
        "rand_time = 0s",
        "dpd_delay = 5s",
        "encap = yes",
        "send_cert = always",
        "pools = p",
        "addrs = 10.3.0.0/24",
        "id = \"C=CH, CN=a.example\"",
        "certs = b.pem",
        "cacerts = ca.pem",
        "remote_ts = dynamic",
        "esp_proposals = aes128gcm16-x25519",
        "start_action = trap",
        "life_time = 40s",
        "mode = tunnel",
        "secret = \"a \\\"quoted\\\" secret\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // braces balance (a swanctl parse error would unload every connection)
    assert_eq!(text.matches('{').count(), text.matches('}').count(), "{text}");
}

#[test]
fn tells_private_key_encodings_apart() {
    assert_eq!(key_kind(b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"), Some("pkcs8"));
    assert_eq!(key_kind(b"-----BEGIN EC PRIVATE KEY-----\n"), Some("ecdsa"));
    assert_eq!(key_kind(b"-----BEGIN RSA PRIVATE KEY-----\n"), Some("rsa"));
    // DER: PKCS#8 = SEQ { INT 0, SEQ {..}, OCTET STRING }
    assert_eq!(key_kind(&[0x30, 0x08, 0x02, 0x01, 0x00, 0x30, 0x00, 0x04, 0x01, 0x00]), Some("pkcs8"));
    // SEC1 = SEQ { INT 1, OCTET STRING, ... }
    assert_eq!(key_kind(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x00]), Some("ecdsa"));
    // PKCS#1 = SEQ { INT 0, INT n, ... }
    assert_eq!(key_kind(&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05]), Some("rsa"));
    assert_eq!(key_kind(b"not a key"), None);
}

fn prerequisites() -> bool {
    let missing = swan_missing();
    require(is_root(), "root (network namespaces, TUN, bind mounts)")
        && require(can_netns(), "`ip netns add` (iproute2, root)")
        && require(missing.is_none(), &format!("strongSwan: {}", missing.unwrap_or_default()))
}

fn ping(ns: &support::netns::Netns, count: &str) -> std::process::Output {
    ns.output(&["ping", "-c", count, "-i", "0.2", "-W", "2", "-I", INNER_A, INNER_B])
}

#[test]
fn two_swans_psk_tunnel() {
    if !prerequisites() {
        return;
    }
    let t0 = Instant::now();
    // Declared first, dropped last: charons stop before their namespaces go.
    let (ns_a, ns_b) = interop_pair("swa", "swb");

    // A broken swanctl.conf must fail the start, although swanctl exits 0.
    match Swan::start("bad", &ns_b.name, "connections {\n  broken {\n", None, SwanOpts::default()) {
        Err(SwanError::Load { output, .. }) => assert!(output.contains("syntax error") && output.contains("invalid config file"), "{output}"),
        Err(e) => panic!("expected a load error, got {e}"),
        Ok(_) => panic!("a broken swanctl.conf was accepted"),
    }

    let b_conf = SwanConn::new("psk", OUTER_B, OUTER_A)
        .ids("b.example", "a.example")
        .psk(PSK)
        .child(SwanChildConf::new("net", NET_B, NET_A).esp("aes128gcm16,chacha20poly1305,aes256-sha256").dpd_action("clear"))
        .render();
    let a_conf = SwanConn::new("psk", OUTER_A, OUTER_B).ids("a.example", "b.example").psk(PSK).child(SwanChildConf::new("net", NET_A, NET_B).esp("aes128gcm16")).render();
    let b = Swan::start("B", &ns_b.name, &b_conf, None, SwanOpts::default()).expect("start strongSwan B");
    let a = Swan::start("A", &ns_a.name, &a_conf, None, SwanOpts { keylog: true, ..SwanOpts::default() }).expect("start strongSwan A");
    let t_started = t0.elapsed();

    let out = a.initiate_child("net", Some("psk")).expect("initiate net");
    assert!(out.contains("initiate completed successfully"), "{out}");
    let ca = a.wait_child_installed("net", Duration::from_secs(10)).expect("A: net installed");
    let cb = b.wait_child_installed("net", Duration::from_secs(10)).expect("B: net installed");
    assert_eq!((ca.spi_out, ca.spi_in), (cb.spi_in, cb.spi_out), "SPIs must pair up:\n{}\n{}", a.list_sas(), b.list_sas());
    let t_up = t0.elapsed();

    let p = ping(&ns_a, "3");
    assert!(p.status.success(), "ping through the tunnel failed: {}{}\n{}", String::from_utf8_lossy(&p.stdout), String::from_utf8_lossy(&p.stderr), a.list_sas());

    let sas = a.sas().expect("A: list-sas");
    assert_eq!(sas.len(), 1, "{sas:#?}");
    let ike = &sas[0];
    assert_eq!((ike.name.as_str(), ike.state.as_str(), ike.initiator), ("psk", "ESTABLISHED", true), "{ike:#?}");
    assert_eq!((ike.local_id.as_str(), ike.remote_id.as_str()), ("a.example", "b.example"));
    assert_eq!(ike.remote_port, 4500, "IKE must float to 4500 (libipsec fakes NAT-D)");
    assert_eq!(ike.proposal, "AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519");
    let c = &ike.children[0];
    assert_eq!((c.name.as_str(), c.state.as_str(), c.protocol.as_str()), ("net", "INSTALLED", "ESP"));
    assert_eq!(c.mode_text(), "TUNNEL-in-UDP");
    assert_eq!(c.proposal, "AES_GCM_16-128");
    assert_eq!((c.local_ts.clone(), c.remote_ts.clone()), (vec![NET_A.to_string()], vec![NET_B.to_string()]));
    assert!(c.packets_out >= 3 && c.packets_in >= 3 && c.bytes_out > 0 && c.bytes_in > 0, "ping not counted: {c:#?}");
    assert!(a.list_sas().contains("TUNNEL-in-UDP"), "{}", a.list_sas());
    let cb = b.child("net").expect("B: list-sas").expect("B has net");
    assert!(cb.packets_in >= 3 && cb.packets_out >= 3, "B did not count the ping: {cb:#?}");
    // keylog: ESP keys are in A's level-4 log (what interop debugging decrypts with)
    let keys = std::fs::read_to_string(a.keylog_path()).expect("A keys.log");
    assert!(keys.contains("encryption initiator key"), "no ESP keys in keys.log");

    a.terminate_ike("psk").expect("terminate psk");
    a.wait_no_sas(Duration::from_secs(10)).expect("A: no SAs after terminate");
    b.wait_no_sas(Duration::from_secs(10)).expect("B: no SAs after the peer's DELETE");
    b.wait_log("received DELETE for IKE_SA", Duration::from_secs(2)).expect("B saw the DELETE");
    // the tunnel's route (table 220 via ipsec0) went with the CHILD_SA
    let route = ns_a.output(&["ip", "route", "get", INNER_B, "from", INNER_A]);
    assert!(!route.status.success(), "A still routes {INNER_B}: {}", String::from_utf8_lossy(&route.stdout));

    eprintln!("swan_harness: both charons up in {t_started:?}, CHILD_SA installed at {t_up:?}, done in {:?}", t0.elapsed());
}

/// Runs strongSwan's `pki` with a private config (only the plugins it needs;
/// the packaged default also tries a TPM and complains), stdout to `out`.
fn pki(dir: &std::path::Path, args: &[&str], out: &str) {
    let conf = dir.join("pki.conf");
    if !conf.exists() {
        std::fs::write(&conf, "pki {\n    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey sha1 sha2 gmp\n}\n").expect("write pki.conf");
    }
    let o = std::process::Command::new("pki").args(args).env("STRONGSWAN_CONF", &conf).current_dir(dir).output().expect("run pki");
    assert!(o.status.success(), "pki {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join(out), &o.stdout).expect("write pki output");
}

/// A test CA (ECDSA P-256) and a host cert + key for `name`; `der` picks the
/// encoding of the host files (key: SEC1).
fn issue(dir: &std::path::Path, name: &str, der: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    if !dir.join("ca.pem").exists() {
        pki(dir, &["--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"], "ca.key");
        pki(dir, &["--self", "--ca", "--lifetime", "30", "--in", "ca.key", "--type", "ecdsa", "--dn", "C=CH, O=esprit test, CN=Test CA", "--outform", "pem"], "ca.pem");
    }
    let form = if der { "der" } else { "pem" };
    let key = format!("{name}.key.{form}");
    let cert = format!("{name}.cert.{form}");
    pki(dir, &["--gen", "--type", "ecdsa", "--size", "256", "--outform", form], &key);
    let dn = format!("C=CH, O=esprit test, CN={name}");
    pki(dir, &["--issue", "--in", &key, "--type", "priv", "--cacert", "ca.pem", "--cakey", "ca.key", "--dn", &dn, "--san", name, "--flag", "serverAuth", "--flag", "clientAuth", "--lifetime", "30", "--outform", form], &cert);
    (dir.join(cert), dir.join(key))
}

#[test]
fn two_swans_x509_ecdsa() {
    let have_pki = std::process::Command::new("pki").arg("--help").output().is_ok();
    if !prerequisites() || !require(have_pki, "strongSwan pki (Debian package strongswan-pki)") {
        return;
    }
    let t0 = Instant::now();
    let (ns_a, ns_b) = interop_pair("sxa", "sxb");
    let dir = support::Scratch::new("swan-x509");
    let (a_cert, a_key) = issue(&dir.0, "a.example", true);
    let (b_cert, b_key) = issue(&dir.0, "b.example", false);
    assert_eq!(key_kind(&std::fs::read(&a_key).expect("a key")), Some("ecdsa"));
    assert_eq!(key_kind(&std::fs::read(&b_key).expect("b key")), Some("ecdsa"));

    // A gets a creds dir in swanctl's layout at start ...
    let creds = dir.path("a-creds");
    for (sub, src) in [("x509ca", dir.path("ca.pem")), ("x509", a_cert.clone()), ("ecdsa", a_key.clone())] {
        std::fs::create_dir_all(creds.join(sub)).expect("mkdir");
        std::fs::copy(&src, creds.join(sub).join(src.file_name().expect("name"))).expect("copy cred");
    }
    let a_conf = SwanConn::new("x509", OUTER_A, OUTER_B).ids("a.example", "b.example").pubkey("a.example.cert.der", "ca.pem").child(SwanChildConf::new("net", NET_A, NET_B)).render();
    let a = Swan::start("xA", &ns_a.name, &a_conf, Some(&creds), SwanOpts::default()).expect("start strongSwan A");

    // ... B starts empty, gets its creds with install_creds, then its config.
    let b = Swan::start("xB", &ns_b.name, &swanctl_conf(&[]), None, SwanOpts::default()).expect("start strongSwan B");
    b.install_creds(&dir.path("ca.pem"), &b_cert, &b_key).expect("install B's creds");
    let certs = b.ctl_ok(&["--list-certs"]).expect("list-certs");
    assert!(certs.contains("CN=b.example") && certs.contains("CN=Test CA") && certs.contains("has private key"), "{certs}");
    let b_conf = SwanConn::new("x509", OUTER_B, OUTER_A).ids("b.example", "a.example").pubkey("b.example.cert.pem", "ca.pem").child(SwanChildConf::new("net", NET_B, NET_A)).render();
    b.reload(&b_conf).expect("load B's config");

    a.initiate_child("net", Some("x509")).expect("initiate net");
    let c = a.wait_child_installed("net", Duration::from_secs(10)).expect("A: net installed");
    assert_eq!(c.mode_text(), "TUNNEL-in-UDP");
    b.wait_child_installed("net", Duration::from_secs(10)).expect("B: net installed");
    assert!(a.log_contains("authentication of 'b.example' with ECDSA_WITH_SHA256_DER successful"), "{}", support::swan::tail(&a.log(), 40));
    assert!(b.log_contains("authentication of 'a.example' with ECDSA_WITH_SHA256_DER successful"), "{}", support::swan::tail(&b.log(), 40));
    let p = ping(&ns_a, "2");
    assert!(p.status.success(), "ping through the tunnel failed: {}", String::from_utf8_lossy(&p.stdout));

    b.terminate_ike("x509").expect("terminate from B");
    a.wait_no_sas(Duration::from_secs(10)).expect("A: no SAs");
    b.wait_no_sas(Duration::from_secs(10)).expect("B: no SAs");
    eprintln!("swan_harness x509: done in {:?}", t0.elapsed());
}

/// Virtual IP from an address pool (what esprit's netstack mode asks for),
/// with a classic CBC/HMAC/MODP proposal and a short DPD interval.
#[test]
fn two_swans_virtual_ip() {
    if !prerequisites() {
        return;
    }
    let (ns_a, ns_b) = interop_pair("sva", "svb");
    let b_conf = SwanConn::new("vip", OUTER_B, OUTER_A)
        .ids("b.example", "a.example")
        .psk(PSK)
        .proposals("aes256-sha256-modp2048")
        .pool("p", "10.3.0.0/24")
        .dpd_delay(Duration::from_secs(2))
        .child(SwanChildConf::new("net", NET_B, "dynamic").esp("aes256-sha256"))
        .render();
    let a_conf = SwanConn::new("vip", OUTER_A, OUTER_B)
        .ids("a.example", "b.example")
        .psk(PSK)
        .proposals("aes256-sha256-modp2048")
        .vips("0.0.0.0")
        .encap(true)
        .child(SwanChildConf::new("net", "dynamic", NET_B).esp("aes256-sha256"))
        .render();
    let b = Swan::start("vB", &ns_b.name, &b_conf, None, SwanOpts::default()).expect("start strongSwan B");
    let a = Swan::start("vA", &ns_a.name, &a_conf, None, SwanOpts::default()).expect("start strongSwan A");
    a.initiate_child("net", None).expect("initiate net");
    let c = a.wait_child_installed("net", Duration::from_secs(10)).expect("A: net installed");
    assert_eq!(c.local_ts, vec!["10.3.0.1/32".to_string()], "{c:#?}");
    assert_eq!(c.proposal, "AES_CBC-256/HMAC_SHA2_256_128");
    let ike = a.sas().expect("A sas").remove(0);
    assert_eq!(ike.local_vips, vec!["10.3.0.1".to_string()]);
    assert_eq!(ike.proposal, "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048");
    let bike = b.sas().expect("B sas").remove(0);
    assert_eq!(bike.remote_vips, vec!["10.3.0.1".to_string()]);
    let p = ns_a.output(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "10.3.0.1", INNER_B]);
    assert!(p.status.success(), "ping from the virtual IP failed: {}{}", String::from_utf8_lossy(&p.stdout), String::from_utf8_lossy(&p.stderr));
    // dpd_delay = 2s: B checks liveness with an empty INFORMATIONAL
    b.wait_log("generating INFORMATIONAL request", Duration::from_secs(5)).expect("B sends DPD");
    a.terminate_ike("vip").expect("terminate");
    b.wait_no_sas(Duration::from_secs(10)).expect("B: no SAs");
}
