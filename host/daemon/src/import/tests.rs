//! End-to-end conversion tests on in-memory inputs (the binary is tested on
//! the seed files in tests/import_racoon.rs).

use super::*;

const SEED_RACOON: &str = include_str!("../../../../examples/seed/racoon.conf");
const SEED_SETKEY_A: &str = include_str!("../../../../examples/seed/host-192.168.0.1.setkey.conf");

fn convert_text(racoon_text: &str, setkey_text: &str, local: Option<&str>) -> (Result<(String, convert::Imported), String>, Vec<String>) {
    let mut w = Warnings::default();
    let r = (|| {
        let rc = racoon::parse_str("racoon.conf", racoon_text, &mut w).map_err(|e| e.to_string())?;
        let st = esprit_sadb::setkey::parse_str("setkey.conf", setkey_text).map_err(|e| e.to_string())?;
        let pol = policies::analyse(&st, "setkey.conf", &mut w);
        let opts = convert::Options {
            name: None,
            certs: Some(PathBuf::from("/nonexistent/certs")),
            local: local.map(|l| l.parse().unwrap()),
            plugin_dir: PathBuf::from("/p"),
            racoon_dir: PathBuf::from("/nonexistent"),
        };
        let imp = convert::convert(&rc, &pol, "setkey.conf", &opts, &mut w).map_err(|e| e.to_string())?;
        Ok((emit::render(&imp), imp))
    })();
    let msgs = w.iter().map(|w| w.to_string()).collect();
    (r, msgs)
}

#[test]
fn seed_host_a_converts_to_one_trap_conn() {
    let (r, warnings) = convert_text(SEED_RACOON, SEED_SETKEY_A, Some("192.168.0.1"));
    let (toml_text, imp) = r.unwrap();
    let v: toml::Table = toml_text.parse().unwrap_or_else(|e| panic!("{e}\n{toml_text}"));
    let conn = &v["conn"].as_array().unwrap()[0];
    assert_eq!(conn["remote"].as_str(), Some("10.1.2.3"));
    assert_eq!(conn["mode"].as_str(), Some("transport"));
    assert_eq!(conn["start"].as_str(), Some("trap"));
    assert_eq!(conn["local_id"].as_str(), Some("dn:"));
    assert_eq!(conn["cert"].as_str(), Some("/nonexistent/certs/thishostname_cert.pem"));
    assert_eq!(imp.plugins[0].file_name, "x509.plugin.toml");
    let spec: toml::Table = imp.plugins[0].text.parse().unwrap();
    assert_eq!(spec["config_files"]["ca"].as_str(), Some("/nonexistent/certs/cacert.pem"));
    assert_eq!(spec["config"]["key_handle"].as_str(), Some("to-10.1.2.3"));
    assert_eq!(v["outer"]["listen"].as_str(), Some("192.168.0.1:4500"));
    for want in ["racoon.conf:16: exchange_mode main is IKEv1", "racoon.conf:22: verify_cert off", "racoon.conf:32: dh_group 2", "setkey.conf:6: esp+ah bundle"] {
        assert!(warnings.iter().any(|w| w.contains(want)), "missing {want:?} in {warnings:#?}");
    }
}

#[test]
fn prefix_source_without_local_is_a_clear_error() {
    let (r, _) = convert_text(SEED_RACOON, SEED_SETKEY_A, None);
    let e = r.unwrap_err();
    assert!(e.starts_with("cannot tell this host's address: setkey.conf:6: the out policy's source is 192.168.0.0/24"), "{e}");
    assert!(e.contains("--local ADDRESS"), "{e}");
}

#[test]
fn psk_tunnel_with_specific_remote_and_sainfo() {
    let racoon_text = r#"
path pre_shared_key "/nonexistent/psk.txt";
remote 198.51.100.2 {
    exchange_mode aggressive;
    lifetime time 8 hour;
    dpd_delay 20;
    proposal { encryption_algorithm aes 256; hash_algorithm sha384; authentication_method pre_shared_key; dh_group 14; }
}
sainfo address 10.1.0.0/16 any address 10.2.0.0/16 any {
    lifetime time 30 min;
    encryption_algorithm aes 256;
    authentication_algorithm hmac_sha512;
    pfs_group 19;
}
"#;
    let setkey_text = "spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/198.51.100.1-198.51.100.2/require;\nspdadd 10.2.0.0/16 10.1.0.0/16 any -P in ipsec esp/tunnel/198.51.100.2-198.51.100.1/require;\n";
    let (r, warnings) = convert_text(racoon_text, setkey_text, None);
    let (toml_text, _) = r.unwrap();
    let v: toml::Table = toml_text.parse().unwrap();
    let conn = &v["conn"].as_array().unwrap()[0];
    assert_eq!(conn["remote"].as_str(), Some("198.51.100.2"));
    assert_eq!(conn["mode"].as_str(), Some("tunnel"));
    assert_eq!(conn["auth"].as_str(), Some("psk"));
    assert_eq!(conn["local_id"].as_str(), Some("ip:198.51.100.1"));
    assert_eq!(conn["rekey"].as_str(), Some("30m"));
    assert_eq!(conn["ike_rekey"].as_str(), Some("8h"));
    assert_eq!(conn["dpd"].as_str(), Some("20s"));
    let ike: Vec<&str> = conn["ike"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(ike, ["aes256gcm16-prfsha384-modp2048", "aes256-sha384-modp2048"]);
    let esp: Vec<&str> = conn["esp"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(esp, ["aes256gcm16-ecp256", "aes256-sha512-ecp256"]);
    assert!(warnings.iter().any(|w| w.contains("racoon.conf:4: exchange_mode aggressive is IKEv1")), "{warnings:#?}");
    assert!(warnings.iter().any(|w| w.contains("racoon.conf:2: cannot read /nonexistent/psk.txt")), "{warnings:#?}");
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
}
