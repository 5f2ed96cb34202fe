//! Config conveniences for containers, with real processes in network
//! namespaces: B's outer address comes from `${ENV}`; A listens on every
//! address (`outer.listen = "0.0.0.0:4500"`) and names its peer by a DNS
//! name (from the namespace's own /etc/hosts, `/etc/netns/NAME/hosts`,
//! which `ip netns exec` mounts): IKE comes up and a ping crosses the
//! tunnel. An unset variable stops the daemon with file:line and its name.
//!
//! Needs root: skipped with a reason on a developer machine, a failure
//! under CI=true.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::esprit::{ike_sas, Esprit};
use support::ike::{link_pair, prerequisites, wasm, OUT_A, OUT_B};
use support::traffic::{ping, text};
use support::{esprit_bin, Scratch};

const IN_A: &str = "203.0.113.1";
const IN_B: &str = "198.51.100.1";

/// `/etc/netns/NAME/hosts`, removed on drop.
struct NetnsHosts(PathBuf);

impl NetnsHosts {
    fn new(ns: &str, text: &str) -> NetnsHosts {
        let dir = PathBuf::from(format!("/etc/netns/{ns}"));
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME");
        std::fs::write(dir.join("hosts"), text).expect("write hosts");
        NetnsHosts(dir)
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spec(dir: &Scratch) -> PathBuf {
    let p = dir.path("psk.plugin.toml");
    let text = format!("name = \"psk\"\npath = {:?}\n[config.secrets.ab]\nid = \"a.example\"\nid-b = \"b.example\"\nsecret = \"conveniences-test-psk-0123456789\"\n", wasm("psk-auth"));
    std::fs::write(&p, text).expect("write psk spec");
    p
}

#[allow(clippy::too_many_arguments)]
fn config(dir: &Scratch, name: &str, listen: &str, source: &str, remote: &str, ids: (&str, &str), ts: (&str, &str), start: &str) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"{listen}\"\n[tun]\nname = \"esprit0\"\nsource = \"{source}\"\n\
         [[plugin]]\nspec = \"psk.plugin.toml\"\n\
         [[conn]]\nname = \"net\"\nremote = \"{remote}\"\nlocal_id = \"{}\"\nremote_id = \"{}\"\nauth = \"psk\"\n\
         local_ts = [\"{}\"]\nremote_ts = [\"{}\"]\nstart = \"{start}\"\n",
        dir.path(&format!("{name}.sock")).display(),
        ids.0,
        ids.1,
        ts.0,
        ts.1
    );
    let p = dir.path(&format!("{name}.toml"));
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn env_substitution_any_address_and_dns_remote() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("conveniences");
    let (ns_a, mut ns_b) = link_pair("cv");
    ns_a.addr("lo", &format!("{IN_A}/32"));
    ns_b.addr("lo", &format!("{IN_B}/32"));
    let _hosts = NetnsHosts::new(&ns_a.name, &format!("127.0.0.1 localhost\n{OUT_B} gw-b.example\n"));
    spec(&dir);
    let bin = esprit_bin();
    let bin = bin.to_str().expect("utf-8 path");

    // An unset variable: refused with file:line and the variable.
    let cfg_b = config(&dir, "b", "${ESPRIT_TEST_OUTER}:4500", IN_B, OUT_A, ("b.example", "a.example"), ("198.51.100.0/24", "203.0.113.0/24"), "none");
    let o = ns_b.output(&["env", "-u", "ESPRIT_TEST_OUTER", bin, "run", "--config", cfg_b.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&o.stderr);
    let line = std::fs::read_to_string(&cfg_b).expect("config").lines().position(|l| l.contains("${ESPRIT_TEST_OUTER}")).expect("the line") + 1;
    assert!(!o.status.success() && err.contains(&format!("{}:{line}: environment variable ESPRIT_TEST_OUTER is not set", cfg_b.display())), "{err}");

    // B: its outer address from the environment.
    let log_b = dir.path("b.log");
    ns_b.spawn(&["env", &format!("ESPRIT_TEST_OUTER={OUT_B}"), bin, "run", "--config", cfg_b.to_str().expect("utf-8")], &log_b);
    let sock_b = dir.path("b.sock");
    let t0 = Instant::now();
    while !ns_b.output(&[bin, "status", "--socket", sock_b.to_str().expect("utf-8")]).status.success() {
        assert!(t0.elapsed() < Duration::from_secs(15), "B did not start:\n{}", std::fs::read_to_string(&log_b).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::fs::read_to_string(&log_b).unwrap_or_default().contains(&format!("listen={OUT_B}:500")), "B's IKE socket on the address from the environment");

    // A: every address, and its peer by name.
    let cfg_a = config(&dir, "a", "0.0.0.0:4500", IN_A, "gw-b.example", ("a.example", "b.example"), ("203.0.113.0/24", "198.51.100.0/24"), "start");
    let a = Esprit::start_file(&ns_a, &dir, "a", &cfg_a, &dir.path("a.sock"));
    let st = a.wait_up(Duration::from_secs(15));
    let sa = &ike_sas(&st)[0];
    assert_eq!((sa["local"].as_str(), sa["remote"].as_str()), (Some(&*format!("{OUT_A}:500")), Some(&*format!("{OUT_B}:500"))), "{st:#}");
    let log = a.log();
    assert!(log.contains("resolved to 192.0.2.2") && log.contains(&format!("inbound SAs are addressed to {OUT_A}")), "{}", a.log_tail());
    let p = ping(&ns_a, Some(IN_A), IN_B, 3, 2);
    assert!(p.status.success(), "ping through the tunnel:\n{}\n{}", text(&p), a.log_tail());
    let st = a.status();
    assert!(st["counters"]["in_decrypted"].as_u64().unwrap_or(0) >= 3, "the replies came back through ESP in UDP to the any-address socket: {st:#}");
}
