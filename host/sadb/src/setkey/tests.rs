//! Tests of the setkey.conf parser: every statement form and every error.

use super::*;
use crate::decider::{Level, SaRequest};
use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};

const K20: &str = "0x0102030405060708090a0b0c0d0e0f1011121314";
const K32: &str = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn err(text: &str) -> String {
    parse_str("t.conf", text).unwrap_err().to_string()
}

fn one(text: &str) -> Statement {
    let mut v = parse_str("t.conf", text).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn sa(text: &str) -> SaSpec {
    match one(text) {
        Statement::Add(s) => s,
        s => panic!("not an add: {s:?}"),
    }
}

fn pol(text: &str) -> PolicySpec {
    match one(text) {
        Statement::SpdAdd(p) => p,
        s => panic!("not an spdadd: {s:?}"),
    }
}

/// The seed's example for host 192.168.0.1 (typo fixed), with keys added.
pub(crate) const SEED_FIXED: &str = "\
# Out our 192.168.0.0/24 connection to 10.1.2.3:
spdadd 192.168.0.0/24 10.1.2.3/32 any -P out ipsec
\tesp/transport//require
\tah/transport//require;
# In from 10.1.2.3 on our 192.168.0.0/24 connection:
spdadd 10.1.2.3/32 192.168.0.0/24 any -P in ipsec
\tesp/transport//require
\tah/transport//require; 

add 192.168.0.1 10.1.2.3 esp 0x1001 -m transport
\t-E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;
add 10.1.2.3 192.168.0.1 esp 0x2001 -m transport
\t-E aes-gcm-16 0x1102030405060708090a0b0c0d0e0f1011121314;
add 192.168.0.1 10.1.2.3 ah 0x1002 -m transport
\t-A hmac-sha256 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;
add 10.1.2.3 192.168.0.1 ah 0x2002 -m transport
\t-A hmac-sha256 0x100102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;
";

#[test]
fn seed_example_with_keys() {
    let v = parse_str("seed.conf", SEED_FIXED).unwrap();
    assert_eq!(v.len(), 6);
    let req = |proto| SaRequest { proto, mode: IpsecMode::Transport, tunnel: None, level: Level::Require };
    match &v[0] {
        Statement::SpdAdd(p) => {
            assert_eq!(p.selector.src.to_string(), "192.168.0.0/24");
            assert_eq!(p.selector.dst.to_string(), "10.1.2.3/32");
            assert_eq!(p.selector.proto, None);
            assert_eq!(p.dir, Direction::Out);
            assert_eq!(p.priority, PRIORITY_DEFAULT);
            assert_eq!(p.action, Verdict::Protect(vec![req(IpsecProto::Esp), req(IpsecProto::Ah)]));
            assert_eq!(p.span, Span { line: 2, col: 1 });
        }
        s => panic!("{s:?}"),
    }
    match &v[1] {
        Statement::SpdAdd(p) => assert_eq!(p.dir, Direction::In),
        s => panic!("{s:?}"),
    }
    match &v[2] {
        Statement::Add(s) => {
            assert_eq!(s.spi, Spi(0x1001));
            assert_eq!(s.proto, IpsecProto::Esp);
            assert_eq!(s.mode, Some(IpsecMode::Transport));
            let (alg, key) = s.enc.as_ref().unwrap();
            assert_eq!(*alg, EncAlg::Aead(AeadAlg::Aes128Gcm16));
            assert_eq!(key.len(), 20);
            assert!(s.auth.is_none());
            assert_eq!(s.span, Span { line: 10, col: 1 });
        }
        s => panic!("{s:?}"),
    }
    match &v[4] {
        Statement::Add(s) => {
            assert_eq!(s.proto, IpsecProto::Ah);
            assert_eq!(s.auth.as_ref().unwrap().0, AuthAlg::Hmac(IntegAlg::HmacSha256_128));
        }
        s => panic!("{s:?}"),
    }
}

#[test]
fn seed_typo_is_refused_with_line_and_column() {
    let text = SEED_FIXED.replace("spdadd 10.1.2.3/32 192.168.0.0/24", "spdadd 10.1.2.3/32 192.168.0.0.0/24");
    assert_eq!(
        parse_str("setkey.conf", &text).unwrap_err().to_string(),
        "setkey.conf:6:20: expected an IPv4 or IPv6 address like 192.168.0.0/24 or 2001:db8::/32, found '192.168.0.0.0/24'"
    );
}

#[test]
fn seed_file_itself_host_10_1_2_3() {
    let text = "\
spdadd 10.1.2.0/24 192.168.0.1/32 any -P out ipsec
\tesp/transport//require
\tah/transport//require;
spdadd 192.168.0.1/32 10.1.2.0/24 any -P in ipsec
\tesp/transport//require
\tah/transport//require; 
";
    assert_eq!(parse_str("b.conf", text).unwrap().len(), 2);
}

#[test]
fn flush_spdflush_comments_and_empty() {
    assert_eq!(parse_str("t", "").unwrap(), vec![]);
    assert_eq!(parse_str("t", "# nothing\n\n").unwrap(), vec![]);
    assert_eq!(
        parse_str("t", "flush;\nspdflush; # again\n").unwrap(),
        vec![Statement::Flush, Statement::SpdFlush]
    );
}

#[test]
fn all_sa_options() {
    let s = sa(&format!(
        "add 2001:db8::1 2001:db8::2 esp 4096 -m tunnel -r 1024 -u 7 -f random-pad \
         -lh 3600 -ls 3000 -bh 1000000 -bs 900000 -ph 5000 -ps 4000 -esn \
         -E rijndael-cbc {K32} -A hmac-sha512 0x{};",
        "ab".repeat(64)
    ));
    assert_eq!(s.spi, Spi(4096));
    assert_eq!(s.mode, Some(IpsecMode::Tunnel));
    assert_eq!(s.replay, Some(1024));
    assert_eq!(s.reqid, Some(7));
    assert!(s.esn);
    assert_eq!(s.lifetimes.hard.time, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(s.lifetimes.soft.time, Some(std::time::Duration::from_secs(3000)));
    assert_eq!(s.lifetimes.hard.bytes, Some(1_000_000));
    assert_eq!(s.lifetimes.soft.bytes, Some(900_000));
    assert_eq!(s.lifetimes.hard.packets, Some(5000));
    assert_eq!(s.lifetimes.soft.packets, Some(4000));
    assert_eq!(s.enc.as_ref().unwrap().0, EncAlg::Cbc(CipherAlg::Aes256Cbc));
    assert_eq!(s.auth.as_ref().unwrap().0, AuthAlg::Hmac(IntegAlg::HmacSha512_256));
}

#[test]
fn f_option_warns() {
    let (_, w) = parse_str_with_warnings("t", &format!("add 1.1.1.1 2.2.2.2 esp 300 -f zero-pad -E aes-gcm-16 {K20};"))
        .unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].to_string().starts_with("t:1:32: warning: '-f zero-pad' is ignored"));
}

#[test]
fn algorithms_and_key_forms() {
    let s = sa(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E chacha20-poly1305 0x{};", "11".repeat(36)));
    assert_eq!(s.enc.unwrap().0, EncAlg::Aead(AeadAlg::ChaCha20Poly1305));
    let s = sa(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E aes-gcm-16 0x{};", "11".repeat(36)));
    assert_eq!(s.enc.unwrap().0, EncAlg::Aead(AeadAlg::Aes256Gcm16));
    let s = sa("add 1.1.1.1 2.2.2.2 esp 0x300 -E aes-cbc \"0123456789abcdef\" -A hmac-sha384 \"012345678901234567890123456789012345678901234567\";");
    assert_eq!(s.enc.as_ref().unwrap().1.as_slice(), b"0123456789abcdef");
    assert_eq!(s.auth.unwrap().0, AuthAlg::Hmac(IntegAlg::HmacSha384_192));
    let s = sa(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E null -A hmac-sha256 {K32};"));
    assert_eq!(s.enc.unwrap().0, EncAlg::Null);
    let s = sa(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E null \"\" -A hmac-sha256 {K32};"));
    assert_eq!(s.enc.unwrap().0, EncAlg::Null);
    let s = sa(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -m any -A hmac-sha256 {K32} -E null;"));
    assert_eq!(s.mode, None);
}

#[test]
fn spdadd_forms() {
    let p = pol("spdadd 10.0.0.0/8[any] 192.0.2.1[443] tcp -P fwd prio 10 none;");
    assert_eq!(p.selector.proto, Some(6));
    assert_eq!(p.selector.src_port, None);
    assert_eq!(p.selector.dst_port, Some(443));
    assert_eq!(p.dir, Direction::Fwd);
    assert_eq!(p.priority, PRIORITY_DEFAULT - 10);
    assert_eq!(p.action, Verdict::Bypass);
    let p = pol("spdadd ::/0 ::/0 icmp6 135,0 -P out prio def +5 discard;");
    assert_eq!(p.selector.proto, Some(58));
    assert_eq!((p.selector.src_port, p.selector.dst_port), (Some(135), Some(0)));
    assert_eq!(p.priority, PRIORITY_DEFAULT - 5);
    assert_eq!(p.action, Verdict::Discard);
    let p = pol("spdadd 0.0.0.0/0 0.0.0.0/0 icmp 8 -P in priority high -10 none;");
    assert_eq!((p.selector.src_port, p.selector.dst_port), (Some(8), None));
    assert_eq!(p.priority, PRIORITY_HIGH + 10);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 udp -P out prio low - 1 none;");
    assert_eq!(p.priority, PRIORITY_LOW + 1);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 udp -P out prio -7 none;");
    assert_eq!(p.priority, PRIORITY_DEFAULT + 7);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 udp -P out prio - 7 none;");
    assert_eq!(p.priority, PRIORITY_DEFAULT + 7);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 udp -P out prio 2147483648 none;");
    assert_eq!(p.priority, 0);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 udp -P out prio def + 3 none;");
    assert_eq!(p.priority, PRIORITY_DEFAULT - 3);
    let p = pol("spdadd 10.0.0.0/24 10.0.1.0/24 47 -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique:3 ah/transport//use esp/transport//default esp/transport/ ah/transport;");
    assert_eq!(p.selector.proto, Some(47));
    match p.action {
        Verdict::Protect(r) => {
            assert_eq!(r.len(), 5);
            assert_eq!(r[4].level, Level::Default);
            assert_eq!(r[0].tunnel, Some(("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())));
            assert_eq!(r[0].level, Level::Unique(3));
            assert_eq!(r[1].level, Level::Use);
            assert_eq!(r[2].level, Level::Default);
            assert_eq!(r[3].level, Level::Default);
        }
        v => panic!("{v:?}"),
    }
    let p = pol("spdadd 2001:db8::/32 2001:db8:1::/48 any -P out ipsec esp/tunnel/2001:db8::1-2001:db8::2/require;");
    assert_eq!(p.selector.dst.len(), 48);
}

// ---- every error, with its exact message -------------------------------

#[test]
fn error_unknown_statement() {
    assert_eq!(err("spddelete 1.1.1.1 2.2.2.2 any -P out;"),
        "t.conf:1:1: expected a statement (add, spdadd, flush or spdflush), found 'spddelete'");
}

#[test]
fn error_missing_semicolon() {
    assert_eq!(err("flush\nspdflush;"), "t.conf:2:1: expected ';', found 'spdflush'");
    assert_eq!(err("flush"), "t.conf:1:6: expected ';', found end of file");
    assert_eq!(
        err("spdadd 1.1.1.1 2.2.2.2 any -P out ipsec esp/transport//require\nspdadd 1.1.1.1 2.2.2.2 any -P in none;"),
        "t.conf:2:1: expected another request or ';', found 'spdadd'"
    );
    assert_eq!(
        err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 {K20}\nflush;")),
        "t.conf:2:1: expected an option (-m, -r, -u, -f, -lh, -ls, -bh, -bs, -ph, -ps, -esn, -E, -A) or ';', found 'flush'"
    );
    assert_eq!(
        err("spdadd 1.1.1.1 2.2.2.2 any -P out none"),
        "t.conf:1:39: expected ';', found end of file"
    );
}

#[test]
fn error_bad_addresses() {
    assert_eq!(err("add 1.1.1 2.2.2.2 esp 300;"),
        "t.conf:1:5: expected an IPv4 or IPv6 address like 192.168.0.1 or 2001:db8::1, found '1.1.1'");
    assert_eq!(err("add 1.1.1.1 host.example esp 300;"),
        "t.conf:1:13: expected an IPv4 or IPv6 address like 192.168.0.1 or 2001:db8::1, found 'host.example'");
    assert_eq!(err("spdadd 10.0.0.0/33 1.1.1.1 any -P out none;"),
        "t.conf:1:8: expected an IPv4 or IPv6 address like 192.168.0.0/24 or 2001:db8::/32 (prefix length 33 is too long for 10.0.0.0 (at most 32)), found '10.0.0.0/33'");
    assert_eq!(err("spdadd 10.0.0.0/x 1.1.1.1 any -P out none;"),
        "t.conf:1:8: expected an IPv4 or IPv6 address like 192.168.0.0/24 or 2001:db8::/32, found '10.0.0.0/x'");
    assert_eq!(err("spdadd 10.0.0.0/8[http] 1.1.1.1 any -P out none;"),
        "t.conf:1:8: expected a port number (0-65535) or 'any' in brackets, found '10.0.0.0/8[http]'");
    assert_eq!(err("spdadd 10.0.0.0/8[80 1.1.1.1 any -P out none;"),
        "t.conf:1:8: expected a port in brackets like 10.0.0.0/8[443] or [any], found '10.0.0.0/8[80'");
    assert_eq!(err("spdadd 10.0.0.0/8 ::1 any -P out none;"),
        "t.conf:1:1: expected source and destination of the same address family, found 10.0.0.0/8 and ::1/128");
    assert_eq!(err("add 1.1.1.1 ::1 esp 300;"),
        "t.conf:1:1: expected source and destination of the same address family, found 1.1.1.1 and ::1");
}

#[test]
fn error_proto_spi_mode() {
    assert_eq!(err("add 1.1.1.1 2.2.2.2 ipcomp 300;"), "t.conf:1:21: expected esp or ah, found 'ipcomp'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 255;"),
        "t.conf:1:25: expected an SPI (a number from 256 to 4294967295, decimal or 0x hex), found '255'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 0x1ffffffff;"),
        "t.conf:1:25: expected an SPI (a number from 256 to 4294967295, decimal or 0x hex), found '0x1ffffffff'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -m beet;"),
        "t.conf:1:32: expected a mode: transport, tunnel or any, found 'beet'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -r lots;"),
        "t.conf:1:32: expected a replay window size in packets, found 'lots'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -lh -1;"),
        "t.conf:1:33: expected a lifetime in seconds, found '-1'");
}

#[test]
fn error_unknown_option() {
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -x 1;"),
        "t.conf:1:29: expected an option (-m, -r, -u, -f, -lh, -ls, -bh, -bs, -ph, -ps, -esn, -E, -A) or ';', found '-x'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -C deflate;"),
        "t.conf:1:29: expected an option other than -C (IPComp is not supported), found '-C'");
}

#[test]
fn error_unknown_algorithm() {
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E des-cbc 0x0011223344556677;"),
        "t.conf:1:32: expected an encryption algorithm (aes-gcm-16, chacha20-poly1305, rijndael-cbc, aes-cbc or null), found 'des-cbc'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 ah 300 -A hmac-md5 0x00112233445566770011223344556677;"),
        "t.conf:1:31: expected an integrity algorithm (hmac-sha256, hmac-sha384 or hmac-sha512), found 'hmac-md5'");
}

#[test]
fn error_wrong_key_length() {
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 0x00112233445566770011223344556677;"),
        "t.conf:1:43: expected a 20-byte (AES-128) or 36-byte (AES-256) key for aes-gcm-16 (AES key + 4-byte salt), found 16 bytes");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 0x{};", "00".repeat(28))),
        "t.conf:1:43: expected a 20-byte (AES-128) or 36-byte (AES-256) key for aes-gcm-16 (AES key + 4-byte salt; AES-192 is not supported), found 28 bytes");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E chacha20-poly1305 {K32};")),
        "t.conf:1:50: expected a 36-byte key for chacha20-poly1305 (32-byte key + 4-byte salt), found 32 bytes");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E rijndael-cbc {K20} -A hmac-sha256 {K32};")),
        "t.conf:1:45: expected a 16-byte (AES-128) or 32-byte (AES-256) key for rijndael-cbc, found 20 bytes");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 ah 300 -A hmac-sha256 {K20};")),
        "t.conf:1:43: expected a 32-byte key for hmac-sha256, found 20 bytes");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E null 0x00 -A hmac-sha256 0x00;"),
        "t.conf:1:32: expected no key (or \"\") for null encryption, found 1 bytes");
}

#[test]
fn error_bad_keys_do_not_echo_key_material() {
    let e = err("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 0xsecretsecret;");
    assert_eq!(e, "t.conf:1:43: expected a key for aes-gcm-16 (0x followed by hex digits, or a \"quoted string\"), found a word that is not an even number of hex digits");
    assert!(!e.contains("secret"));
    assert!(err("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 0x123;").contains("even number"));
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 ;"),
        "t.conf:1:43: expected a key for aes-gcm-16 (0x followed by hex digits, or a \"quoted string\"), found ';'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16"),
        "t.conf:1:42: expected a key for aes-gcm-16 (0x followed by hex digits, or a \"quoted string\"), found end of file");
}

#[test]
fn error_bad_combinations() {
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300;"), "t.conf:1:28: expected -E ALG KEY for an esp SA, found ';'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 ah 300 -m transport;"), "t.conf:1:40: expected -A ALG KEY for an ah SA, found ';'");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 ah 300 -E aes-gcm-16 {K20};")),
        "t.conf:1:28: expected -A ALG KEY (an ah SA has no encryption), found '-E'");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 {K20} -A hmac-sha256 {K32};")),
        "t.conf:1:86: expected no -A with an AEAD (aes-gcm-16 and chacha20-poly1305 authenticate themselves), found '-A'");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E aes-cbc {K32};")),
        "t.conf:1:106: expected -A ALG KEY (rijndael-cbc, aes-cbc and null need an integrity algorithm), found ';'");
    assert_eq!(err("add 1.1.1.1 2.2.2.2 esp 300 -E null;"),
        "t.conf:1:36: expected -A ALG KEY (rijndael-cbc, aes-cbc and null need an integrity algorithm), found ';'");
    assert_eq!(err(&format!("add 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 {K20} -E aes-gcm-16 {K20};")),
        "t.conf:1:86: expected one -E per SA, found '-E'");
}

#[test]
fn error_spdadd_parts() {
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 ftp -P out none;"),
        "t.conf:1:24: expected an upper-layer protocol (any, tcp, udp, icmp, icmp6 or a number), found 'ftp'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 256 -P out none;"),
        "t.conf:1:24: expected an upper-layer protocol (any, tcp, udp, icmp, icmp6 or a number), found '256'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 icmp 8,x -P out none;"),
        "t.conf:1:29: expected an ICMP TYPE or TYPE,CODE (numbers 0-255), found '8,x'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any out none;"), "t.conf:1:28: expected -P, found 'out'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P sideways none;"),
        "t.conf:1:31: expected a direction: in, out or fwd, found 'sideways'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out bypass;"),
        "t.conf:1:35: expected an action: ipsec, none or discard (or prio N before it), found 'bypass'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out prio top none;"),
        "t.conf:1:40: expected a priority: a number, or low, def or high with an optional +N or -N, found 'top'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out prio def +x none;"),
        "t.conf:1:44: expected a priority: a number, or low, def or high with an optional +N or -N, found '+x'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out prio high +2000000000 none;"),
        "t.conf:1:45: expected a priority that stays within 0..=4294967295, found '+2000000000'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out prio 2147483649 none;"),
        "t.conf:1:40: expected a priority that stays within 0..=4294967295, found '2147483649'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out prio - x none;"),
        "t.conf:1:42: expected a priority: a number, or low, def or high with an optional +N or -N, found 'x'");
    assert_eq!(err("spdadd 1.1.1.1 2.2.2.2 any -P out ipsec;"),
        "t.conf:1:40: expected a request like esp/transport//require or esp/tunnel/192.0.2.1-192.0.2.2/require, found ';'");
}

#[test]
fn error_bad_requests() {
    let e = |r: &str| err(&format!("spdadd 1.1.1.1 2.2.2.2 any -P out ipsec {r};"));
    assert_eq!(e("esp"), "t.conf:1:41: expected a request like esp/transport//require or esp/tunnel/192.0.2.1-192.0.2.2/require, found 'esp'");
    assert_eq!(e("ipcomp/transport//use"), "t.conf:1:41: expected a request starting with esp/ or ah/, found 'ipcomp/transport//use'");
    assert_eq!(e("esp/beet//use"), "t.conf:1:41: expected transport or tunnel as the request's mode, found 'esp/beet//use'");
    assert_eq!(e("esp/tunnel//require"), "t.conf:1:41: expected tunnel endpoints in a tunnel request, like esp/tunnel/192.0.2.1-192.0.2.2/require, found 'esp/tunnel//require'");
    assert_eq!(e("esp/tunnel/1.1.1.1/require"), "t.conf:1:41: expected tunnel endpoints like 192.0.2.1-192.0.2.2 in the request, found 'esp/tunnel/1.1.1.1/require'");
    assert_eq!(e("esp/tunnel/1.1.1.1-::1/require"), "t.conf:1:41: expected tunnel endpoints like 192.0.2.1-192.0.2.2 in the request, found 'esp/tunnel/1.1.1.1-::1/require'");
    assert_eq!(e("esp/transport/1.1.1.1-2.2.2.2/require"), "t.conf:1:41: expected no endpoints in a transport request (esp/transport//require), found 'esp/transport/1.1.1.1-2.2.2.2/require'");
    assert_eq!(e("esp/transport//always"), "t.conf:1:41: expected a level: default, use, require or unique[:ID], found 'esp/transport//always'");
    assert_eq!(e("esp/transport//unique:x"), "t.conf:1:41: expected a level: default, use, require or unique[:ID], found 'esp/transport//unique:x'");
    assert_eq!(e("esp/transport//require/x"), "t.conf:1:41: expected a request like esp/transport//require or esp/tunnel/192.0.2.1-192.0.2.2/require, found 'esp/transport//require/x'");
}

#[test]
fn all_or_nothing() {
    // A good statement followed by a bad one yields only the error.
    let text = format!("flush;\nadd 1.1.1.1 2.2.2.2 esp 300 -E aes-gcm-16 {K20};\nadd 1.1.1.1 2.2.2.2 esp 301 -E foo 0x00;\n");
    assert!(parse_str("t", &text).is_err());
}

#[test]
fn parse_file_reads_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("esprit-sadb-setkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(&good, SEED_FIXED).unwrap();
    assert_eq!(parse_file(&good).unwrap().len(), 6);
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "flush").unwrap();
    assert_eq!(parse_file(&bad).unwrap_err().to_string(), format!("{}:1:6: expected ';', found end of file", bad.display()));
    let missing = dir.join("missing.conf");
    assert!(parse_file(&missing).unwrap_err().to_string().starts_with(&missing.display().to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nothing panics on mangled input: every prefix of the seed file, and the
/// seed with bytes replaced at pseudo-random places, parses or errors.
#[test]
fn mangled_input_never_panics() {
    for cut in 0..SEED_FIXED.len() {
        if SEED_FIXED.is_char_boundary(cut) {
            let _ = parse_str("t", &SEED_FIXED[..cut]);
        }
    }
    let alphabet = b" \t\n;#\"/-[]0x9aAz:.,+";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut b = SEED_FIXED.as_bytes().to_vec();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % b.len();
            b[at] = alphabet[(x >> 32) as usize % alphabet.len()];
        }
        let text = String::from_utf8_lossy(&b);
        if let Err(e) = parse_str("t", &text) {
            let msg = e.to_string();
            assert!(msg.starts_with("t:"), "{msg}");
            assert!(msg.contains("expected"), "{msg}");
        }
    }
}
