//! Crash-safe tun-mode plumbing, with real processes in network namespaces:
//!
//! (a) kill -9 leaves the instance's rule, nftables table, state file and
//!     changed `rp_filter` behind; the next start of the same instance
//!     replaces them and carries traffic, and a clean stop leaves no rule,
//!     no route table, no nftables table and the original `rp_filter`.
//! (b) two tun instances with different names in one namespace start side
//!     by side with distinct tables, fwmarks and rule priorities, both carry
//!     traffic, and `rp_filter` comes back only when the last one stops.
//!
//! Static (setkey) SAs, ESP in UDP: no IKE involved. Needs root: skipped
//! with a reason on a developer machine, a failure under CI=true.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::esprit::Esprit;
use support::ike::{link_pair, prerequisites, OUT_A, OUT_B};
use support::netns::Netns;
use support::Scratch;

fn key(seed: u32) -> String {
    (0..36).map(|i| format!("{:02x}", (i * 41 + seed * 97 + 5) % 256)).collect()
}

/// One tunnel: instance `name` in the namespace at `me`, inner address
/// `inner` on its TUN `dev`, to `peer_inner` behind `peer`; ESP in UDP on
/// `port` both ways. Writes DIR/NAME.toml and its setkey file.
#[allow(clippy::too_many_arguments)]
fn config(dir: &Scratch, name: &str, dev: &str, me: &str, peer: &str, inner: &str, peer_inner: &str, port: u16, spis: (u32, u32)) -> PathBuf {
    let (k_ab, k_ba) = (key(spis.0), key(spis.1));
    // SPI spis.0 carries OUT_A -> OUT_B, spis.1 the other way.
    let setkey = format!(
        "flush;\nspdflush;\n\
         add {OUT_A} {OUT_B} esp {:#x} -m tunnel -E aes-gcm-16 0x{k_ab};\n\
         add {OUT_B} {OUT_A} esp {:#x} -m tunnel -E aes-gcm-16 0x{k_ba};\n\
         spdadd {inner}/32 {peer_inner}/32 any -P out ipsec esp/tunnel/{me}-{peer}/require;\n\
         spdadd {peer_inner}/32 {inner}/32 any -P in ipsec esp/tunnel/{peer}-{me}/require;\n",
        spis.0, spis.1
    );
    std::fs::write(dir.path(&format!("{name}.setkey.conf")), setkey).expect("write setkey");
    let cfg = format!(
        "name = \"{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"{me}:{port}\"\npeer_port = {port}\n\
         [tun]\nname = \"{dev}\"\naddress = [\"{inner}/32\"]\n\
         # a worker per direction: the inbound one follows the recreated TUN\n\
         workers = 2\n[ipsec]\nsetkey_files = [\"{name}.setkey.conf\"]\n",
        dir.path(&format!("{name}.sock")).display()
    );
    let p = dir.path(&format!("{name}.toml"));
    std::fs::write(&p, cfg).expect("write config");
    p
}

fn start(ns: &Netns, dir: &Scratch, name: &str) -> Esprit {
    Esprit::start_file(ns, dir, name, &dir.path(&format!("{name}.toml")), &dir.path(&format!("{name}.sock")))
}

fn ping_ok(ns: &Netns, from: &str, to: &str) -> bool {
    ns.output(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", from, to]).status.success()
}

fn rp_filter(ns: &Netns) -> String {
    ns.run(&["cat", "/proc/sys/net/ipv4/conf/all/rp_filter"]).trim().to_string()
}

/// `ip rule` lines that look up `table`.
fn rules_for(ns: &Netns, table: u32) -> Vec<String> {
    ns.run(&["ip", "-4", "rule", "show"]).lines().filter(|l| l.ends_with(&format!("lookup {table}"))).map(str::to_string).collect()
}

fn nft_tables(ns: &Netns) -> String {
    ns.run(&["nft", "list", "tables"])
}

fn ids(name: &str) -> esprit::instance::Ids {
    esprit::instance::derived(name)
}

/// Asserts that nothing of instance `name` is left in `ns`.
fn assert_clean(ns: &Netns, dir: &Scratch, name: &str) {
    let i = ids(name);
    assert!(rules_for(ns, i.table).is_empty(), "rules of {name} left: {:?}", rules_for(ns, i.table));
    // (A table that never had a route does not exist: `ip` fails, nothing is left.)
    let o = ns.output(&["ip", "-4", "route", "show", "table", &i.table.to_string()]);
    let routes = String::from_utf8_lossy(&o.stdout);
    assert!(routes.trim().is_empty(), "routes of {name} left in table {}: {routes}", i.table);
    let nft = nft_tables(ns);
    assert!(!nft.contains(&format!("esprit_{name}")), "nftables table of {name} left: {nft}");
    assert!(!dir.path(&format!("{name}.state")).exists(), "state file of {name} left");
}

/// (a) kill -9, restart in the same namespace, traffic, clean stop.
#[test]
fn kill_9_then_restart_replaces_stale_plumbing() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("tun-restart-a");
    let (ns_a, ns_b) = link_pair("kr");
    // A host that filters strictly: esprit must loosen it and put it back.
    ns_a.run(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    config(&dir, "ra", "espra", OUT_A, OUT_B, "10.9.0.1", "10.9.0.2", 4500, (0x7001, 0x7002));
    config(&dir, "rb", "esprb", OUT_B, OUT_A, "10.9.0.2", "10.9.0.1", 4500, (0x7001, 0x7002));
    let b = start(&ns_b, &dir, "rb");
    let a = start(&ns_a, &dir, "ra");
    assert!(ping_ok(&ns_a, "10.9.0.1", "10.9.0.2"), "ping through the tunnel (first run):\n{}", a.log_tail());
    assert_eq!(rp_filter(&ns_a), "2", "loose reverse-path filtering while esprit runs");
    let table = ids("ra").table;
    assert_eq!(rules_for(&ns_a, table).len(), 1, "{}", ns_a.run(&["ip", "rule"]));

    // kill -9: nothing runs esprit's cleanup.
    let pid = a.pid().to_string();
    ns_a.run(&["kill", "-9", &pid]);
    drop(a); // reaps the process
    assert_eq!(rules_for(&ns_a, table).len(), 1, "the dead run's rule is still there");
    assert!(nft_tables(&ns_a).contains("esprit_ra"), "the dead run's nftables table is still there");
    assert!(dir.path("ra.state").exists(), "the dead run's state file is still there");
    assert_eq!(rp_filter(&ns_a), "2");

    // The same instance again: replaces what the dead run left.
    let a = start(&ns_a, &dir, "ra");
    let log = a.wait_log("did not stop cleanly", Duration::from_secs(5));
    assert!(!log.contains("File exists"), "{log}");
    assert_eq!(rules_for(&ns_a, table).len(), 1, "one rule, not two: {}", ns_a.run(&["ip", "rule"]));
    // Static SAs restart their sequence numbers at 1, which B's replay
    // window has seen: B starts afresh too (with IKE, new SAs are negotiated).
    assert!(b.terminate(Duration::from_secs(10)).success());
    let _b = start(&ns_b, &dir, "rb");
    assert!(ping_ok(&ns_a, "10.9.0.1", "10.9.0.2"), "ping through the tunnel after the restart:\n{}", a.log_tail());
    let mode = std::fs::metadata(dir.path("ra.state")).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777).unwrap_or(0);
    assert_eq!(mode, 0o600, "state file mode");

    // A second start of the running instance is refused and breaks nothing.
    let bin = support::esprit_bin();
    let cfg = dir.path("ra.toml");
    let second = ns_a.start(&[bin.to_str().expect("utf-8"), "run", "--config", cfg.to_str().expect("utf-8")], &dir.path("ra-second.log"));
    assert!(!second.wait(Duration::from_secs(10)).success(), "a second start of a running instance must fail");
    let err = std::fs::read_to_string(dir.path("ra-second.log")).unwrap_or_default();
    assert!(err.contains("already running"), "{err}");
    assert_eq!(rules_for(&ns_a, table).len(), 1, "the running instance keeps its rule");
    assert!(dir.path("ra.state").exists(), "the running instance keeps its state file");
    assert!(ping_ok(&ns_a, "10.9.0.1", "10.9.0.2"), "the running instance still carries traffic:\n{}", a.log_tail());

    // A clean stop leaves nothing and restores rp_filter from the state
    // file (the value before the *first* run, not the dead run's 2).
    let st = a.terminate(Duration::from_secs(10));
    assert!(st.success(), "clean stop: {st:?}");
    assert_clean(&ns_a, &dir, "ra");
    assert_eq!(rp_filter(&ns_a), "1", "rp_filter restored");
}

/// (b) Two tun instances in one namespace.
#[test]
fn two_tun_instances_coexist_in_one_namespace() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("tun-restart-b");
    let (ns_a, ns_b) = link_pair("kt");
    ns_a.run(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    config(&dir, "one", "esp1", OUT_A, OUT_B, "10.9.1.1", "10.9.1.2", 4500, (0x7101, 0x7102));
    config(&dir, "two", "esp2", OUT_A, OUT_B, "10.9.2.1", "10.9.2.2", 4501, (0x7201, 0x7202));
    config(&dir, "peer1", "espp1", OUT_B, OUT_A, "10.9.1.2", "10.9.1.1", 4500, (0x7101, 0x7102));
    config(&dir, "peer2", "espp2", OUT_B, OUT_A, "10.9.2.2", "10.9.2.1", 4501, (0x7201, 0x7202));
    let _p1 = start(&ns_b, &dir, "peer1");
    let _p2 = start(&ns_b, &dir, "peer2");
    let one = start(&ns_a, &dir, "one");
    let two = start(&ns_a, &dir, "two");
    let (i1, i2) = (ids("one"), ids("two"));
    assert!(i1.table != i2.table && i1.fwmark != i2.fwmark && i1.priority != i2.priority, "{i1:?} {i2:?}");
    for (name, i) in [("one", i1), ("two", i2)] {
        let rules = rules_for(&ns_a, i.table);
        assert_eq!(rules.len(), 1, "{name}: {}", ns_a.run(&["ip", "rule"]));
        assert!(rules[0].starts_with(&format!("{}:", i.priority)) && rules[0].contains(&format!("not from all fwmark {:#x}", i.fwmark)), "{name}: {rules:?}");
        assert!(nft_tables(&ns_a).contains(&format!("esprit_{name}")), "{name}'s nftables table");
    }
    assert!(ping_ok(&ns_a, "10.9.1.1", "10.9.1.2"), "instance one carries traffic:\n{}", one.log_tail());
    assert!(ping_ok(&ns_a, "10.9.2.1", "10.9.2.2"), "instance two carries traffic:\n{}", two.log_tail());
    let c1 = one.status()["counters"]["in_decrypted"].as_u64().unwrap_or(0);
    let c2 = two.status()["counters"]["in_decrypted"].as_u64().unwrap_or(0);
    assert!(c1 >= 3 && c2 >= 3, "each instance decrypted its own replies: {c1} {c2}");

    // A third instance on instance one's TUN name is refused with a hint
    // and takes nothing away from the two.
    config(&dir, "three", "esp1", OUT_A, OUT_B, "10.9.3.1", "10.9.3.2", 4502, (0x7401, 0x7402));
    let bin = support::esprit_bin();
    let cfg3 = dir.path("three.toml");
    let o = ns_a.output(&[bin.to_str().expect("utf-8"), "run", "--config", cfg3.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("give each instance its own [tun] name"), "{err}");
    assert_clean(&ns_a, &dir, "three");
    assert_eq!(rp_filter(&ns_a), "2", "the failed start left the running instances' sysctl alone");
    assert!(ping_ok(&ns_a, "10.9.1.1", "10.9.1.2"), "instance one still carries traffic:\n{}", one.log_tail());

    // The first to stop leaves the shared sysctl to the other.
    assert!(one.terminate(Duration::from_secs(10)).success());
    assert_clean(&ns_a, &dir, "one");
    assert_eq!(rp_filter(&ns_a), "2", "instance two still runs");
    assert!(ping_ok(&ns_a, "10.9.2.1", "10.9.2.2"), "instance two still carries traffic:\n{}", two.log_tail());
    assert!(two.terminate(Duration::from_secs(10)).success());
    assert_clean(&ns_a, &dir, "two");
    assert_eq!(rp_filter(&ns_a), "1", "the last instance restores rp_filter");
}

/// (c) kill -9, then `esprit cleanup` instead of a restart: nothing is left
/// (the nftables table no longer drops cleartext) and rp_filter is back.
#[test]
fn kill_9_then_cleanup_without_restart() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("tun-restart-c");
    let (ns_a, _ns_b) = link_pair("kc");
    ns_a.run(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    let cfg = config(&dir, "rc", "esprc", OUT_A, OUT_B, "10.9.0.1", "10.9.0.2", 4500, (0x7301, 0x7302));
    let a = start(&ns_a, &dir, "rc");
    let bin = support::esprit_bin();
    let cleanup = |ns: &Netns| ns.output(&[bin.to_str().expect("utf-8"), "cleanup", "--config", cfg.to_str().expect("utf-8")]);
    let o = cleanup(&ns_a);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("is running"), "cleanup of a running instance is refused");
    let pid = a.pid().to_string();
    ns_a.run(&["kill", "-9", &pid]);
    drop(a);
    assert!(nft_tables(&ns_a).contains("esprit_rc"), "the dead run's nftables table is still there");
    let o = cleanup(&ns_a);
    assert!(o.status.success(), "esprit cleanup: {}", String::from_utf8_lossy(&o.stderr));
    assert_clean(&ns_a, &dir, "rc");
    assert_eq!(rp_filter(&ns_a), "1", "rp_filter restored");
    let o = cleanup(&ns_a);
    assert!(o.status.success(), "cleanup twice is fine: {}", String::from_utf8_lossy(&o.stderr));
}
