//! `esprit ike up|down|rekey|rekey-ike` wait for the outcome: the SPIs on
//! success, the reason and exit status 1 on failure.
mod support;

use support::daemon::*;
use support::Scratch;

#[test]
fn ike_up_waits_for_the_outcome() {
    let dir = Scratch::new("ops-ike-up");
    let (pa, pb) = (udp_port(), udp_port());
    psk_spec(&dir.0, "a", "the-right-secret-1");
    psk_spec(&dir.0, "b", "a-wrong-secret-22");
    let _b = start(&dir.0, "b", &ike_config(&dir.0, "b", pb, pa, "10.79.0.2", "10.79.0.1", ("b.example", "a.example"), "none", ""), &[]);
    let a = start(&dir.0, "a", &ike_config(&dir.0, "a", pa, pb, "10.79.0.1", "10.79.0.2", ("a.example", "b.example"), "none", ""), &[]);
    // A wrong PSK: non-zero exit and the reason.
    let out = a.esprit(&["ike", "up", "peer", "--timeout", "20s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    println!("esprit ike up (wrong PSK): exit {:?}: {err}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("conn \"peer\": up failed:") && err.contains("AUTHENTICATION_FAILED"), "{err}");
    // An unknown conn.
    let out = a.esprit(&["ike", "up", "nosuch"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no [[conn]] named \"nosuch\""));
    // The right PSK: the CHILD_SA and its SPIs.
    drop(a);
    psk_spec(&dir.0, "a2", "a-wrong-secret-22");
    let a = start(&dir.0, "a2", &ike_config(&dir.0, "a2", pa, pb, "10.79.0.1", "10.79.0.2", ("a.example", "b.example"), "none", ""), &[]);
    let out = a.esprit(&["ike", "up", "peer", "--timeout", "20s"]);
    let so = String::from_utf8_lossy(&out.stdout);
    println!("esprit ike up (right PSK): exit {:?}: {so}", out.status.code());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(so.starts_with("conn \"peer\": CHILD_SA \"peer\" established (spi in 0x") && so.contains(", out 0x"), "{so}");
    let st = a.status();
    let ike = &st["ike"]["ike_sas"][0];
    assert!(ike["age_s"].as_u64().is_some(), "{st}");
    // Rekeys answer when the new SA is up.
    let out = a.esprit(&["ike", "rekey", "peer", "--timeout", "20s"]);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && so.contains("CHILD_SA \"peer\" rekeyed (spi in 0x"), "{out:?}");
    let out = a.esprit(&["ike", "rekey-ike", "peer", "--timeout", "20s"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IKE SA rekeyed"), "{out:?}");
    println!("esprit ike rekey / rekey-ike: {so}{}", String::from_utf8_lossy(&out.stdout));
    // Down: the IKE SA is deleted.
    let out = a.esprit(&["ike", "down", "peer", "--timeout", "20s"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IKE SA deleted"), "{out:?}");
}

