//! racoon.conf parser tests over the seed's stanzas and broken variants.

use super::*;

const SEED: &str = include_str!("../../../../../examples/seed/racoon.conf");

fn parse(text: &str) -> (Result<RacoonConf, RacoonError>, Vec<String>) {
    let mut w = Warnings::default();
    let r = parse_str("racoon.conf", text, &mut w);
    (r, w.iter().map(|w| w.to_string()).collect())
}

#[test]
fn seed_stanzas() {
    let (r, warnings) = parse(SEED);
    let c = r.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.sainfos.len(), 1);
    let s = &c.sainfos[0];
    assert_eq!((s.local.as_ref(), s.remote.as_ref()), (None, None));
    assert_eq!(s.lifetime, Some(At { value: 3600, line: 8 }));
    let names: Vec<&str> = s.encryption.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["blowfish", "twofish", "rijndael", "aes"]);
    assert_eq!(s.authentication.len(), 4);
    assert_eq!(s.compression[0].name, "deflate");
    let r = &c.remotes[0];
    assert_eq!(r.peer, Peer::Anonymous);
    assert_eq!(r.exchange_mode.as_ref().map(|m| (m.value.clone(), m.line)), Some((vec!["main".to_string()], 16)));
    assert_eq!(r.my_identifier.as_ref().map(|i| (i.kind.as_str(), i.value.clone())), Some(("asn1dn", None)));
    let cf = r.certificate.as_ref().unwrap();
    assert_eq!((cf.cert.as_str(), cf.key.as_str(), cf.line), ("thishostname_cert.pem", "thishostname_key.pem", 21));
    assert_eq!(r.verify_cert, Some(At { value: false, line: 22 }));
    assert_eq!(r.nonce_size.as_ref().map(|n| n.value), Some(16));
    assert_eq!(r.proposals.len(), 1);
    let p = &r.proposals[0];
    assert_eq!(p.auth_method.as_ref().map(|a| a.value.as_str()), Some("rsasig"));
    assert_eq!(p.dh_group.as_ref().map(|g| (g.value.as_str(), g.line)), Some(("2", 32)));
}

#[test]
fn full_grammar_subset() {
    let text = r#"
path certificate "/etc/racoon/certs";
path pre_shared_key "/etc/racoon/psk.txt";
log notify;
padding { randomize off; maximum_length 20; }
timer { counter 5; interval 20 sec; persend 1; natt_keepalive 15 sec; }
listen { isakmp 192.0.2.1 [500]; adminsock disabled; }
remote 192.0.2.2 {
    exchange_mode main, aggressive;
    my_identifier fqdn "a.example";
    peers_identifier address 192.0.2.2;
    lifetime time 8 hours;
    dpd_delay 30;
    nat_traversal on;
    proposal { encryption_algorithm aes 256; hash_algorithm sha256; authentication_method pre_shared_key; dh_group modp2048; }
};
sainfo address 10.0.0.0/24 any address 10.9.0.0/16 any {
    pfs_group 14;
    encryption_algorithm aes 256, 3des;
    authentication_algorithm hmac_sha256;
}
frobnicate yes;
"#;
    let (r, warnings) = parse(text);
    let c = r.unwrap();
    assert_eq!(c.path_certificate.as_ref().map(|p| p.value.as_str()), Some("/etc/racoon/certs"));
    assert_eq!(c.isakmp[0].value, ("192.0.2.1".parse().unwrap(), Some(500)));
    assert_eq!((c.timer_counter.as_ref().map(|c| c.value), c.timer_interval.as_ref().map(|c| c.value)), (Some(5), Some(20)));
    let r = &c.remotes[0];
    assert_eq!(r.peer, Peer::Address("192.0.2.2".parse().unwrap()));
    assert_eq!(r.lifetime.as_ref().map(|l| l.value), Some(8 * 3600));
    assert_eq!(r.proposals[0].encryption[0].key_len, Some(256));
    let s = &c.sainfos[0];
    assert_eq!(s.local.as_ref().map(|l| l.prefix_len), Some(24));
    assert_eq!(s.remote.as_ref().map(|l| l.addr.to_string()), Some("10.9.0.0".into()));
    assert_eq!(s.encryption.iter().map(|a| (a.name.as_str(), a.key_len)).collect::<Vec<_>>(), [("aes", Some(256)), ("3des", None)]);
    let expect = ["racoon.conf:4: log notify", "racoon.conf:5: padding", "racoon.conf:6: timer persend", "racoon.conf:7: listen adminsock", "racoon.conf:22: unknown statement `frobnicate`"];
    for e in expect {
        assert!(warnings.iter().any(|w| w.starts_with(&format!("warning: {e}"))), "missing {e:?} in {warnings:#?}");
    }
    assert_eq!(warnings.len(), expect.len(), "{warnings:#?}");
}

#[test]
fn syntax_errors_name_line_col_and_expectation() {
    let cases = [
        ("remote anonymous {\n  exchange_mode main\n}\n", "racoon.conf:3:1: expected ';' to end the `exchange_mode` statement that starts at line 2, found '}'"),
        ("sainfo anonymous {\n lifetime time 1 hour;\n", "racoon.conf:2:22: expected '}' to close the block opened at line 1, found end of file"),
        ("}\n", "racoon.conf:1:1: expected a statement, found '}' without an opening '{'"),
        ("remote anonymous { certificate_type x509 \"a.pem\n\"; }", "racoon.conf:1:42: expected a closing '\"'"),
        ("sainfo anonymous { lifetime time one hour; }", "racoon.conf:1:34: expected a number, found 'one'"),
        ("sainfo anonymous { lifetime time 1 fortnight; }", "racoon.conf:1:36: expected a time unit (sec, min or hour), found 'fortnight'"),
        ("sainfo anonymous { encryption_algorithm aes, ; }", "racoon.conf:1:46: expected another list item after ','"),
        ("remote 10.1.2.300 { }", "racoon.conf:1:8: expected an IPv4 or IPv6 address, found '10.1.2.300'"),
        ("remote anonymous { verify_cert maybe; }", "racoon.conf:1:32: expected on or off, found 'maybe'"),
        ("remote anonymous {\n verify_cert off\n nonce_size 16;\n}", "racoon.conf:3:2: expected ',' or ';' after 'off', found 'nonce_size' (is the ';' missing at the end of line 2?)"),
        ("remote anonymous {\n exchange_mode main\n doi ipsec_doi;\n}", "racoon.conf:3:2: expected ',' or ';' after 'main', found 'doi' (is the ';' missing at the end of line 2?)"),
        ("sainfo anonymous { encryption_algorithm aes 256 128; }", "racoon.conf:1:49: expected ',' or ';' after '256', found '128'"),
        ("remote anonymous;", "racoon.conf:1:1: expected a '{' block after `remote anonymous`"),
    ];
    for (text, want) in cases {
        let (r, _) = parse(text);
        let e = r.expect_err(text).to_string();
        assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
    }
}
