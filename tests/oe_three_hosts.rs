//! Opportunistic encryption between three hosts (issue 15): A and B run
//! esprit (tun mode, NULL authentication, one group conn `remote = "any"`,
//! `start = "trap"` over 192.0.2.0/24), C runs none.
//!
//! For every pair of OE modes that must end encrypted (A initiates with
//! `private-or-clear` or `private`; B has any of the three modes), traffic
//! goes both ways (ping, and a 1 MB TCP transfer each way with sha256
//! compared) and a capture in B's namespace must show ESP both ways and not
//! one cleartext packet between A and B. A's first echo waits for IKE and is
//! answered (held, not lost). With C, `private-or-clear` falls back to clear
//! after `oe_timeout` in both directions, whoever sends first, also without
//! losing the first packet.
//!
//! `clear-or-private` B (the leak) also shows: B's traffic to A
//! leaves through esprit, a packet that would bypass the SA is dropped and
//! counted (`bypass_to_protected_peer`, a warning in `esprit status`), and
//! B's route and per-peer policies for A go when the SA goes. When B sends
//! first, only its packets before its SA are clear (by design). B to a
//! `private` A is dropped by A's kernel filter and counted in
//! `cleartext_enforcement`.
//!
//! The scenarios are separate tests (own namespaces) so that they run in
//! parallel: about 20 s for all of them.
//!
//! Needs root: skipped with a reason on a developer machine, a failure
//! under CI=true. Namespaces and processes are removed on drop.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::esprit::{data_sas, ike_sas, Esprit};
use support::netns::{veth, Netns};
use support::traffic::{ping, text, transfer, Capture};
use support::ike::{null_spec, prerequisites};
use support::Scratch;

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";
const C: &str = "192.0.2.3";
const MB: u64 = 1024 * 1024;
/// The routing table of instance `name` (`[tun] table` defaults to one
/// derived from the instance name).
fn table(name: &str) -> u32 {
    esprit::instance::derived(name).table
}
const POC: &str = "private-or-clear";
const PRIVATE: &str = "private";
const COP: &str = "clear-or-private";

/// Host `me` in tun mode (ESP in UDP 4500) with one OE group conn.
fn conf(dir: &Scratch, name: &str, me: &str, oe: &str, spec: &Path) -> String {
    format!(
        "name = \"{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"{me}:4500\"\n[tun]\nname = \"esprit0\"\nsource = \"{me}\"\n\
         [[plugin]]\nspec = \"{}\"\n\
         [[conn]]\nname = \"oe\"\nremote = \"any\"\nlocal_id = \"null\"\nremote_id = \"any\"\nauth = \"null\"\nmode = \"tunnel\"\n\
         local_ts = [\"{me}/32\"]\nremote_ts = [\"192.0.2.0/24\"]\nstart = \"trap\"\noe = \"{oe}\"\noe_timeout = \"2s\"\n",
        dir.path(&format!("{name}.sock")).display(),
        spec.display()
    )
}

/// Who sends first between A and the plain host C.
#[derive(Clone, Copy)]
enum Plain {
    AFirst,
    CFirst,
}

/// ESP (in UDP 4500, or raw) from `src` to `dst`.
/// ESP packets `src` sent to `dst`, counted by their sequence numbers (per
/// SPI, highest minus lowest seen, plus one): esprit sends runs of
/// ESP-in-UDP datagrams as one UDP GSO send, which a veth carries as one
/// frame to the peer's namespace (a NIC would put the segments on the wire),
/// so frames undercount packets while sequence numbers do not.
fn esp(cap: &Capture, src: &str, dst: &str) -> usize {
    let lines = cap.lines(&[], &format!("ip src {src} and ip dst {dst} and ((udp port 4500 and udp[8:4] != 0) or ip proto 50)"));
    let mut per_spi: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for l in &lines {
        let field = |k: &str| l.split(k).nth(1).and_then(|r| u64::from_str_radix(r.split([',', ')']).next()?.trim_start_matches("0x"), 16).ok());
        let (Some(spi), Some(seq)) = (field("spi="), field("seq=")) else { panic!("tcpdump did not decode an ESP packet: {l}") };
        let e = per_spi.entry(spi).or_insert((seq, seq));
        e.0 = e.0.min(seq);
        e.1 = e.1.max(seq);
    }
    per_spi.values().map(|(lo, hi)| (hi - lo + 1) as usize).sum()
}

/// Anything between `x` and `y` that is neither IKE nor ESP-in-UDP.
fn cleartext(cap: &Capture, x: &str, y: &str) -> usize {
    cap.count(&format!("ip and host {x} and host {y} and not udp port 500 and not udp port 4500 and not ip proto 50"))
}

/// ESP both ways (at least `min` each) and zero cleartext between `x` and
/// `y`; with `clear_first` (`clear-or-private` `y` sends first), `y`'s
/// packets before its first ESP packet may be clear, nothing after.
fn assert_encrypted_wire(cap: &Capture, x: &str, y: &str, min: usize, clear_first: bool) {
    let (xy, yx) = (esp(cap, x, y), esp(cap, y, x));
    let clear = cleartext(cap, x, y);
    let allowed = if clear_first {
        let first_esp = times(cap, &format!("ip src {y} and ip dst {x} and udp port 4500 and udp[8:4] != 0")).first().copied().unwrap_or(f64::MAX);
        let before = times(cap, &format!("ip src {y} and ip dst {x} and icmp and not udp port 500 and not udp port 4500")).into_iter().filter(|t| *t < first_esp).count();
        assert!(before >= 1, "{y} sent first: its first echo should be on the wire in the clear");
        before
    } else {
        0
    };
    assert!(xy >= min && yx >= min && clear == allowed, "wire {x} <-> {y}: {xy} ESP {x}->{y}, {yx} ESP {y}->{x} (each >= {min} wanted), {clear} cleartext packets ({allowed} wanted: {y}'s echoes before its SA)");
    eprintln!("wire {x} <-> {y}: {xy} ESP packets {x}->{y}, {yx} {y}->{x}, {clear} cleartext (before the SA)");
}

/// Capture times (seconds) of the packets matching `filter`, in order.
fn times(cap: &Capture, filter: &str) -> Vec<f64> {
    cap.lines(&["-tt"], filter).iter().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

fn counter(st: &Value, k: &str) -> u64 {
    st["counters"][k].as_u64().unwrap_or(0)
}

/// One host sends first (A, or a `clear-or-private` B, whose first packets
/// are clear by design and whose peer's replies start OE): the first echo is
/// answered (held for IKE, not lost), both report the SAs, then the other
/// direction (B's own traffic is the one that leaked) and a transfer each way.
fn encrypted(ns_a: &Netns, ns_b: &Netns, a: &Esprit, b: &Esprit, dir: &Scratch, b_first: bool) {
    let ((first, first_to, e), (second, second_to)) = if b_first { ((ns_b, A, b), (ns_a, B)) } else { ((ns_a, B, a), (ns_b, A)) };
    let p = ping(first, None, first_to, 3, 5);
    let out = text(&p);
    assert!(p.status.success() && out.contains("icmp_seq=1 ") && out.contains(" 3 received"), "-> {first_to}: the first echo (or its reply, held for IKE) and the others must be answered:\n{out}\n---- sender's esprit\n{:#}\n{}", e.status(), e.log_tail());
    a.wait_up(Duration::from_secs(10));
    b.wait_up(Duration::from_secs(5));
    let p = ping(second, None, second_to, 3, 2);
    assert!(p.status.success() && text(&p).contains(" 3 received"), "-> {second_to}:\n{}\n---- A\n{:#}\n---- B\n{:#}", text(&p), a.status(), b.status());
    transfer(ns_b, ns_a, (B, 5201), MB, dir, "a-to-b");
    transfer(ns_a, ns_b, (A, 5202), MB, dir, "b-to-a");
    for (side, e) in [("A", a), ("B", b)] {
        let st = e.status();
        let sas = data_sas(&st);
        assert_eq!(sas.len(), 2, "{side}: one SA pair, with the other esprit host: {st:#}");
        for sa in &sas {
            // The outbound one is the witness of the leak: 0 packets on B before.
            assert!(sa["packets"].as_u64().unwrap_or(0) >= 500, "{side}: SA {} {} -> {} carried too few packets: {st:#}", sa["spi"], sa["src"], sa["dst"]);
        }
        assert_eq!(counter(&st, "bypass_to_protected_peer"), 0, "{side}: {st:#}");
    }
}

/// A (`private-or-clear`) and the plain host C: the first packet waits
/// `oe_timeout` for IKE, then it and everything after flow in the clear.
fn clear_fallback(ns_a: &Netns, ns_c: &Netns, a: &Esprit, first: Plain, dir: &Scratch) {
    let (from, to, back_from, back_to) = match first {
        Plain::AFirst => (ns_a, C, ns_c, A),
        Plain::CFirst => (ns_c, A, ns_a, C),
    };
    let p = ping(from, None, to, 5, 6);
    let out = text(&p);
    assert!(p.status.success() && out.contains("icmp_seq=1 ") && out.contains(" 5 received"), "-> {to}: the first echo (held while IKE to C was tried) and the others must be answered in the clear:\n{out}\n---- A\n{:#}\n{}", a.status(), a.log_tail());
    let p = ping(back_from, None, back_to, 3, 2);
    assert!(p.status.success(), "-> {back_to} after the clear shunt:\n{}", text(&p));
    transfer(ns_c, ns_a, (C, 5203), MB, dir, "a-to-c");
    transfer(ns_a, ns_c, (A, 5204), MB, dir, "c-to-a");
    let st = a.status();
    let shunts: Vec<&str> = st["ike"]["clear_shunts"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(shunts, [C], "A: a clear shunt for C only: {st:#}");
    assert!(data_sas(&st).iter().all(|sa| sa["src"] != C && sa["dst"] != C), "A: no SA with C: {st:#}");
}

/// B (`clear-or-private`) holds an SA for A: a packet to A from another
/// local address matches no protect policy (bypass), and is dropped,
/// counted and warned about instead of going out in the clear.
fn refuses_bypass_to_protected_peer(ns_b: &Netns, b: &Esprit) {
    const OTHER: &str = "10.9.9.9";
    ns_b.addr("lo", &format!("{OTHER}/32"));
    let p = ping(ns_b, Some(OTHER), A, 2, 1);
    assert!(!p.status.success(), "a bypass packet to A must not get through:\n{}", text(&p));
    let st = b.wait_status("bypass_to_protected_peer >= 2", Duration::from_secs(10), |st| counter(st, "bypass_to_protected_peer") >= 2);
    assert!(st["warnings"].as_array().is_some_and(|w| !w.is_empty()), "B: a warning in the status: {st:#}");
    let o = b.cmd(&["status"]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(shown.contains("WARNING") && shown.contains("bypass_to_protected_peer"), "`esprit status` shows the refused cleartext:\n{shown}");
    b.wait_log("matched a bypass policy and were dropped", Duration::from_secs(5));
    eprintln!("B refused {} bypass packet(s) to A", counter(&st, "bypass_to_protected_peer"));
}

/// A CHILD_SA rekey (from B) installs the new SA before the old one goes:
/// B's route and per-peer policies for A stay, and B -> A stays encrypted.
fn rekey_keeps_peer_state(ns_b: &Netns, b: &Esprit) {
    let child_spi = |st: &Value| ike_sas(st).first().and_then(|s| s["children"][0]["spi_in"].as_str().map(str::to_string)).unwrap_or_default();
    let old = child_spi(&b.status());
    b.ike("rekey", "oe");
    let old_sa = format!("0x{old}");
    b.wait_status("the rekeyed CHILD_SA alone", Duration::from_secs(10), |st| {
        let sas = data_sas(st);
        child_spi(st) != old && !child_spi(st).is_empty() && sas.len() == 2 && sas.iter().all(|sa| sa["spi"] != old_sa.as_str())
    });
    let p = ping(ns_b, None, A, 3, 2);
    assert!(p.status.success(), "B -> A after the rekey:\n{}\n{:#}", text(&p), b.status());
    let present = format!("ip route show table {} | grep -q '^{A} '", table("b"));
    ns_b.run(&["sh", "-c", &present]);
    let st = b.status();
    assert!(st["policies"].as_array().into_iter().flatten().any(|p| p["policy"].as_str().unwrap_or_default().contains(&format!("{A}/32"))), "B's per-peer policies survive the rekey: {st:#}");
    eprintln!("rekey: B's route and per-peer policies for A kept; new CHILD_SA {}", child_spi(&st));
}

/// `esprit ike down` on B (its only IKE SA; A's conn also holds the
/// attempt towards C): both sides' per-peer policies and routes go with the SA.
fn teardown_removes_peer_state(ns_a: &Netns, ns_b: &Netns, a: &Esprit, b: &Esprit) {
    b.ike("down", "oe");
    let st = b.wait_down(Duration::from_secs(10));
    a.wait_status("no SA with B", Duration::from_secs(10), |st| {
        data_sas(st).is_empty() && ike_sas(st).iter().all(|s| !s["remote"].as_str().unwrap_or_default().starts_with(&format!("{B}:")))
    });
    let gone = format!("! ip route show table {} | grep -q '^{A} '", table("b"));
    ns_b.wait_for(&["sh", "-c", &gone], Duration::from_secs(5));
    let gone = format!("! ip route show table {} | grep -q '^{B} '", table("a"));
    ns_a.wait_for(&["sh", "-c", &gone], Duration::from_secs(5));
    for (side, e, peer) in [("A", a, B), ("B", b, A)] {
        let st = if side == "B" { st.clone() } else { e.status() };
        let left: Vec<&Value> = st["policies"].as_array().into_iter().flatten().filter(|p| p["policy"].as_str().unwrap_or_default().contains(&format!("{peer}/32"))).collect();
        assert!(left.is_empty(), "{side}: the per-peer policies for {peer} must go with their SA: {left:#?}");
    }
    eprintln!("teardown: per-peer policies and routes removed on both sides");
}

/// One A/B mode pair.
struct Case {
    tag: &'static str,
    mode_a: &'static str,
    mode_b: &'static str,
    /// With the plain host C (A must be `private-or-clear`).
    plain: Option<Plain>,
    /// B (`clear-or-private`) sends first instead of A.
    b_first: bool,
    /// The invariant and the teardown checks.
    cop_checks: bool,
}

impl Case {
    fn new(tag: &'static str, mode_a: &'static str, mode_b: &'static str) -> Case {
        Case { tag, mode_a, mode_b, plain: None, b_first: false, cop_checks: false }
    }
}

fn scenario(case: Case) {
    if !prerequisites() {
        return;
    }
    let Case { tag, mode_a, mode_b, plain, b_first, cop_checks } = case;
    let t0 = Instant::now();
    let dir = Scratch::new(&format!("oe3-{tag}"));
    let spec = null_spec(&dir);
    let ns_a = Netns::new(&format!("{tag}a"));
    let ns_b = Netns::new(&format!("{tag}b"));
    veth(&ns_a, "veth0", &ns_b, "veth0");
    ns_a.addr("veth0", &format!("{A}/24"));
    ns_b.addr("veth0", &format!("{B}/24"));
    ns_a.wait_for(&["ping", "-c1", "-W1", B], Duration::from_secs(5));
    let ns_c = plain.map(|_| {
        let c = Netns::new(&format!("{tag}c"));
        veth(&ns_a, "veth1", &c, "veth0");
        c.addr("veth0", &format!("{C}/24"));
        ns_a.run(&["ip", "route", "add", &format!("{C}/32"), "dev", "veth1"]);
        ns_a.wait_for(&["ping", "-c1", "-W1", C], Duration::from_secs(5));
        c
    });
    let mut cap_b = Capture::start(&ns_b, "veth0", &dir, "b-veth0");
    let mut cap_c = ns_c.as_ref().map(|c| Capture::start(c, "veth0", &dir, "c-veth0"));
    let b = Esprit::start(&ns_b, &dir, "b", &conf(&dir, "b", B, mode_b, &spec));
    let a = Esprit::start(&ns_a, &dir, "a", &conf(&dir, "a", A, mode_a, &spec));
    std::thread::scope(|s| {
        let (ns_a, a, dir) = (&ns_a, &a, &dir);
        let with_c = ns_c.as_ref().zip(plain).map(|(c, first)| s.spawn(move || clear_fallback(ns_a, c, a, first, dir)));
        encrypted(ns_a, &ns_b, a, &b, dir, b_first);
        if let Some(Err(e)) = with_c.map(|h| h.join()) {
            std::panic::resume_unwind(e);
        }
    });
    if cop_checks {
        refuses_bypass_to_protected_peer(&ns_b, &b);
        rekey_keeps_peer_state(&ns_b, &b);
    }
    cap_b.stop();
    assert_encrypted_wire(&cap_b, A, B, 500, b_first);
    assert_eq!(cap_b.count("ip src 10.9.9.9"), 0, "a refused bypass packet reached the wire");
    if let Some(cap) = cap_c.as_mut() {
        cap.stop();
        let (ac, ca) = (esp(cap, A, C), esp(cap, C, A));
        let clear = cap.count(&format!("ip and host {A} and host {C} and (icmp or tcp)"));
        // Cleartext TCP may be offloaded into large segments: a low floor.
        assert!(ac == 0 && ca == 0 && clear >= 50, "wire A <-> C: {ac} + {ca} ESP (0 wanted), {clear} cleartext ICMP/TCP (>= 50 wanted)");
        eprintln!("wire A <-> C: {clear} cleartext packets, no ESP");
    }
    if cop_checks {
        teardown_removes_peer_state(&ns_a, &ns_b, &a, &b);
    }
    eprintln!("[{tag}] A {mode_a} -> B {mode_b}{}: done in {:?}", if plain.is_some() { " (and plain C)" } else { "" }, t0.elapsed());
}

/// The case: B accepts OE and protects its own side too; A falls
/// back to clear for C (A sends first).
#[test]
fn private_or_clear_to_clear_or_private_and_plain_host() {
    scenario(Case { plain: Some(Plain::AFirst), cop_checks: true, ..Case::new("o1", POC, COP) });
}

/// Both try OE; C sends to A first (A's first reply is held, then clear).
#[test]
fn private_or_clear_to_private_or_clear_and_plain_host_first() {
    scenario(Case { plain: Some(Plain::CFirst), ..Case::new("o2", POC, POC) });
}

#[test]
fn private_or_clear_to_private() {
    scenario(Case::new("o3", POC, PRIVATE));
}

#[test]
fn private_to_private_or_clear() {
    scenario(Case::new("o4", PRIVATE, POC));
}

#[test]
fn private_to_private() {
    scenario(Case::new("o5", PRIVATE, PRIVATE));
}

#[test]
fn private_to_clear_or_private() {
    scenario(Case { cop_checks: true, ..Case::new("o6", PRIVATE, COP) });
}

/// B (`clear-or-private`) sends first: its first echo is clear by design,
/// A's reply starts OE, and from B's SA on everything is ESP.
#[test]
fn clear_or_private_first_to_private_or_clear() {
    scenario(Case { b_first: true, ..Case::new("o7", POC, COP) });
}

/// B (`clear-or-private`) to A (`private`): A drops cleartext from the whole
/// group in the kernel, counted per rule in `cleartext_enforcement`; nothing
/// is negotiated, nothing gets through.
#[test]
fn clear_or_private_to_private_is_dropped_and_counted() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("oe3-o8");
    let spec = null_spec(&dir);
    let ns_a = Netns::new("o8a");
    let ns_b = Netns::new("o8b");
    veth(&ns_a, "veth0", &ns_b, "veth0");
    ns_a.addr("veth0", &format!("{A}/24"));
    ns_b.addr("veth0", &format!("{B}/24"));
    ns_a.wait_for(&["ping", "-c1", "-W1", B], Duration::from_secs(5));
    let b = Esprit::start(&ns_b, &dir, "b", &conf(&dir, "b", B, COP, &spec));
    let a = Esprit::start(&ns_a, &dir, "a", &conf(&dir, "a", A, PRIVATE, &spec));
    let p = ping(&ns_b, None, A, 3, 1);
    assert!(!p.status.success(), "private: cleartext from the group must not get through:\n{}", text(&p));
    let dropped = |st: &Value| st["cleartext_enforcement"].as_array().into_iter().flatten().filter_map(|r| r["dropped"].as_u64()).sum::<u64>();
    let st = a.wait_status("3 cleartext echoes dropped by the kernel filter", Duration::from_secs(10), |st| dropped(st) >= 3);
    assert!(data_sas(&st).is_empty() && data_sas(&b.status()).is_empty(), "nothing negotiated: {st:#}");
    let o = a.cmd(&["status"]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(shown.contains("Cleartext from protected peers") && shown.contains("192.0.2.0/24"), "`esprit status` shows the group rule and its drops:\n{shown}");
    eprintln!("[o8] B clear-or-private -> A private: {} cleartext packets dropped by A's kernel filter", dropped(&st));
}
