//! `esprit import racoon` on the seed document's own files, run as the
//! built binary: the warnings a racoon user sees, the TOML and plugin spec
//! it writes (parsed back with the `toml` crate), and the errors for broken
//! inputs (file:line:col).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A self-signed Ed25519 certificate "C=US, O=esprit seed, CN=host-b" and its
/// key: stands in for the seed's thishostname_cert.pem / _key.pem and cacert.pem.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfzCCATGgAwIBAgIUA42+MZtX8dA/UDzFlCs45E8ggZowBQYDK2VwMDQxCzAJ
BgNVBAYTAlVTMRQwEgYDVQQKDAtlc3ByaXQgc2VlZDEPMA0GA1UEAwwGaG9zdC1i
MCAXDTI2MTEyNjIxNTg1NVoYDzIxMjYxMTAyMjE1ODU1WjA0MQswCQYDVQQGEwJV
UzEUMBIGA1UECgwLZXNwcml0IHNlZWQxDzANBgNVBAMMBmhvc3QtYjAqMAUGAytl
cAMhAHUGLriOs5VWCTgUSqldavc4jDYlF6F6glmmVlYpnnYvo1MwUTAdBgNVHQ4E
FgQUYfzq+T5qiRC9OyWAVp0LwNnDNaYwHwYDVR0jBBgwFoAUYfzq+T5qiRC9OyWA
Vp0LwNnDNaYwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQAEVBQCEweq8xVSdqfm
dOylmz7auaD3bGe/YH3nQIb0naiY5h1oQle4n9RfCbo4gKkJTax1LvcMNsLnQcdJ
tMYL
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDxdz2FoHcPBgzMRAB5iEyCoUJPPm2WD0Z3kDXiTsgOa
-----END PRIVATE KEY-----
";

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("esprit-import-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn seed(f: &str) -> String {
    format!("{}/../../examples/seed/{f}", env!("CARGO_MANIFEST_DIR"))
}

fn esprit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_esprit")).args(args).current_dir(cwd).output().expect("run esprit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn strs(v: &toml::Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}

/// The warnings the seed's racoon.conf must produce, by line of examples/seed/racoon.conf.
const SEED_WARNINGS: [&str; 8] = [
    "racoon.conf:16: exchange_mode main is IKEv1; esprit speaks IKEv2 (IKE_SA_INIT + IKE_AUTH), which strongSwan and racoon2 also use",
    "racoon.conf:9: encryption_algorithm blowfish dropped:",
    "racoon.conf:9: encryption_algorithm twofish dropped:",
    "racoon.conf:10: authentication_algorithm hmac_sha1 dropped:",
    "racoon.conf:11: compression_algorithm deflate is not carried over: esprit does not implement IPComp",
    "racoon.conf:22: verify_cert off: esprit always verifies the peer certificate against the CA (cacert.pem from the seed's step 5); set verify_cert on",
    "racoon.conf:30: hash_algorithm sha1 → prfsha256",
    "racoon.conf:32: dh_group 2 is 1024-bit MODP, deprecated by RFC 8247",
];

fn assert_warned(e: &str, want: &str) {
    assert!(e.lines().any(|l| l.starts_with("warning: ") && l.contains(want)), "no warning containing {want:?} in:\n{e}");
}

/// Imports one seed host and checks what every seed host shares.
fn import_seed_host(dir: &Scratch, local: &str, peer: &str, out_line: u32, extra: &[&str]) -> (toml::Table, toml::Table, String) {
    let out = dir.path("esprit.toml");
    let racoon = seed("racoon.conf");
    let setkey = seed(&format!("host-{local}.setkey.conf"));
    let mut args = vec!["import", "racoon", "--racoon", &racoon, "--setkey", &setkey, "--local", local, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = esprit(&args, &dir.0);
    let e = stderr(&o);
    assert!(o.status.success(), "import failed:\n{e}");
    for w in SEED_WARNINGS {
        assert_warned(&e, w);
    }
    assert_warned(&e, &format!("host-{local}.setkey.conf:{out_line}: esp+ah bundle: IKEv2 negotiates one protocol per CHILD_SA; imported as ESP"));
    // the `in` policy mirrors the `out` one: the out policy is the only setkey line warned about
    let setkey_lines = e.lines().filter(|l| l.contains(&format!("host-{local}.setkey.conf:"))).count();
    assert_eq!(setkey_lines, 1, "{e}");

    let text = std::fs::read_to_string(&out).expect("output written");
    let cfg: toml::Table = text.parse().unwrap_or_else(|err| panic!("output is not TOML: {err}\n{text}"));
    assert_eq!(cfg["mode"].as_str(), Some("tun"));
    assert_eq!(cfg["outer"]["transport"].as_str(), Some("raw"));
    assert_eq!(cfg["outer"]["listen"].as_str(), Some(format!("{local}:4500").as_str()));
    assert_eq!(cfg["tun"]["source"].as_str(), Some(local));
    assert_eq!(cfg["ike"]["port"].as_integer(), Some(500));
    assert_eq!(cfg["plugin"][0]["spec"].as_str(), Some("x509.plugin.toml"));
    let conns = cfg["conn"].as_array().expect("[[conn]]");
    assert_eq!(conns.len(), 1, "one out policy, one conn");
    let c = &conns[0];
    assert_eq!(c["name"].as_str(), Some(format!("to-{peer}").as_str()));
    assert_eq!(c["remote"].as_str(), Some(peer));
    assert_eq!(c["remote_id"].as_str(), Some("any"));
    assert_eq!(c["auth"].as_str(), Some("x509"));
    assert_eq!(strs(&c["ike"]), ["aes128gcm16-prfsha256-x25519-modp2048", "aes128-sha256-x25519-modp2048"]);
    assert_eq!(strs(&c["esp"]), ["aes128gcm16", "aes128-sha256", "aes128-sha384", "aes128-sha512"]);
    assert_eq!(c["protocol"].as_str(), Some("esp"));
    assert_eq!(c["mode"].as_str(), Some("transport"));
    assert_eq!(strs(&c["remote_ts"]), [format!("{peer}/32")]);
    assert_eq!(c["start"].as_str(), Some("trap"));
    assert_eq!(c["rekey"].as_str(), Some("1h"));
    assert!(c.get("ike_rekey").is_none() && c.get("dpd").is_none(), "the seed sets neither");

    let spec_text = std::fs::read_to_string(dir.path("x509.plugin.toml")).expect("plugin spec written next to the output");
    let spec: toml::Table = spec_text.parse().expect("plugin spec is TOML");
    assert_eq!(spec["name"].as_str(), Some("x509"));
    assert_eq!(spec["config"]["key_handle"].as_str(), Some(format!("to-{peer}").as_str()));
    (cfg, spec, e)
}

#[test]
fn seed_host_192_168_0_1_without_its_certificates() {
    let dir = Scratch::new("a");
    let (cfg, spec, e) = import_seed_host(&dir, "192.168.0.1", "10.1.2.3", 6, &[]);
    let c = &cfg["conn"][0];
    assert_eq!(strs(&c["local_ts"]), ["192.168.0.0/24"]);
    // The certificates live in /etc/racoon/certs on the real host, not here:
    // the import still succeeds, with a placeholder ID and a warning.
    assert_eq!(c["local_id"].as_str(), Some("dn:"));
    assert_eq!(c["cert"].as_str(), Some("/etc/racoon/certs/thishostname_cert.pem"));
    assert_eq!(c["key"].as_str(), Some("/etc/racoon/certs/thishostname_key.pem"));
    assert_warned(&e, "racoon.conf:21: cannot read /etc/racoon/certs/thishostname_cert.pem");
    assert_eq!(spec["config"]["scheme"].as_str(), Some("rsa-pss-sha256"));
    assert_eq!(spec["config_files"]["ca"].as_str(), Some("/etc/racoon/certs/cacert.pem"));
}

#[test]
fn seed_host_10_1_2_3_with_certificates_takes_local_id_from_the_certificate() {
    let dir = Scratch::new("b");
    let certs = dir.path("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("thishostname_cert.pem"), CERT).unwrap();
    std::fs::write(certs.join("cacert.pem"), CERT).unwrap();
    let key = certs.join("thishostname_key.pem");
    std::fs::write(&key, KEY).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    let (cfg, spec, e) = import_seed_host(&dir, "10.1.2.3", "192.168.0.1", 4, &["--certs", certs.to_str().unwrap(), "--name", "seed-b"]);
    assert_eq!(cfg["name"].as_str(), Some("seed-b"));
    let c = &cfg["conn"][0];
    assert_eq!(strs(&c["local_ts"]), ["10.1.2.0/24"]);
    assert_eq!(c["local_id"].as_str(), Some("dn:C=US, O=esprit seed, CN=host-b"));
    assert_eq!(c["cert"].as_str().map(PathBuf::from), Some(certs.join("thishostname_cert.pem")));
    assert!(!e.contains("cannot read"), "all files are there:\n{e}");
    assert!(!e.contains("group or others"), "{e}");
    assert_eq!(spec["config"]["scheme"].as_str(), Some("ed25519"));
    assert_eq!(spec["config_files"]["ca"].as_str().map(PathBuf::from), Some(certs.join("cacert.pem")));
}

#[test]
fn to_stdout_with_the_plugin_spec_in_the_current_folder() {
    let dir = Scratch::new("stdout");
    let o = esprit(&["import", "racoon", "--racoon", &seed("racoon.conf"), "--setkey", &seed("host-10.1.2.3.setkey.conf"), "--local", "10.1.2.3"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: toml::Table = String::from_utf8_lossy(&o.stdout).parse().expect("stdout is the TOML");
    assert_eq!(cfg["conn"][0]["remote"].as_str(), Some("192.168.0.1"));
    assert!(dir.path("x509.plugin.toml").exists());
    assert!(!stderr(&o).lines().any(|l| l.starts_with("[[conn]]")), "warnings only on stderr");
}

#[test]
fn a_prefix_source_without_local_is_refused_and_says_what_to_pass() {
    let dir = Scratch::new("nolocal");
    let out = dir.path("esprit.toml");
    let o = esprit(&["import", "racoon", "--racoon", &seed("racoon.conf"), "--setkey", &seed("host-192.168.0.1.setkey.conf"), "--out", out.to_str().unwrap()], &dir.0);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("host-192.168.0.1.setkey.conf:6: the out policy's source is 192.168.0.0/24, not a single address; pass --local ADDRESS"), "{e}");
    assert!(!out.exists(), "nothing written on error");
}

#[test]
fn racoon_syntax_error_names_file_line_col() {
    let dir = Scratch::new("syntax");
    let bad = dir.path("racoon.conf");
    std::fs::write(&bad, "remote anonymous\n{\n\texchange_mode main\n\tdoi ipsec_doi;\n}\n").unwrap();
    let out = dir.path("esprit.toml");
    let o = esprit(&["import", "racoon", "--racoon", bad.to_str().unwrap(), "--setkey", &seed("host-10.1.2.3.setkey.conf"), "--out", out.to_str().unwrap()], &dir.0);
    assert!(!o.status.success());
    let e = stderr(&o);
    // `exchange_mode main` lacks its `;` and runs into the next line's `doi`
    assert!(e.contains(&format!("{}:4:2: expected ',' or ';' after 'main', found 'doi' (is the ';' missing at the end of line 3?)", bad.display())), "{e}");
    assert!(!out.exists());
}

#[test]
fn the_seed_setkey_typo_is_the_setkey_parsers_error() {
    let dir = Scratch::new("typo");
    let o = esprit(&["import", "racoon", "--racoon", &seed("racoon.conf"), "--setkey", &seed("seed-typo.setkey.conf"), "--local", "192.168.0.1"], &dir.0);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("seed-typo.setkey.conf:8:20: expected an IPv4 or IPv6 address like 192.168.0.0/24"), "{e}");
    assert!(e.contains("found '192.168.0.0.0/24'"), "{e}");
    assert!(o.stdout.is_empty());
}

#[test]
fn psk_setup_reads_racoons_psk_file_into_a_private_plugin_spec() {
    let dir = Scratch::new("psk");
    std::fs::write(dir.path("psk.txt"), "# racoon psk.txt\n192.168.0.1\tseed shared secret\n").unwrap();
    let racoon = "path pre_shared_key \"psk.txt\";\nremote anonymous {\n exchange_mode main;\n proposal { encryption_algorithm aes; hash_algorithm sha256; authentication_method pre_shared_key; dh_group 14; }\n}\nsainfo anonymous { encryption_algorithm aes; authentication_algorithm hmac_sha256; }\n";
    std::fs::write(dir.path("racoon.conf"), racoon).unwrap();
    let out = dir.path("esprit.toml");
    let o = esprit(&["import", "racoon", "--racoon", dir.path("racoon.conf").to_str().unwrap(), "--setkey", &seed("host-10.1.2.3.setkey.conf"), "--local", "10.1.2.3", "--out", out.to_str().unwrap()], &dir.0);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    let cfg: toml::Table = std::fs::read_to_string(&out).unwrap().parse().unwrap();
    let c = &cfg["conn"][0];
    assert_eq!(c["auth"].as_str(), Some("psk"));
    assert_eq!(c["local_id"].as_str(), Some("ip:10.1.2.3"));
    assert_eq!(strs(&c["ike"]), ["aes128gcm16-prfsha256-modp2048", "aes128-sha256-modp2048"]);
    let spec_path = dir.path("psk.plugin.toml");
    let spec: toml::Table = std::fs::read_to_string(&spec_path).unwrap().parse().unwrap();
    assert_eq!(spec["config"]["secrets"]["peer1"]["id"].as_str(), Some("192.168.0.1"));
    assert_eq!(spec["config"]["secrets"]["peer1"]["secret"].as_str(), Some("seed shared secret"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&spec_path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_warned(&e, "racoon.conf:3: exchange_mode main is IKEv1");
    assert!(!e.contains("dh_group"), "group 14 is kept as modp2048:\n{e}");
}
