//! Writes the generated part of the seed corpus (the rest are copies of
//! `examples/` files and hand-written inputs): IKE messages of an honest
//! exchange and DER names. Run by hand when the formats change:
//! `cargo test -p esprit-fuzz --test seeds -- --ignored`.
use std::path::PathBuf;

fn dir(target: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    d
}

#[test]
#[ignore = "writes into host/fuzz/corpus"]
fn write_generated_seeds() {
    let msgs = esprit_fuzz::ike_responder::honest_exchange();
    assert!(msgs.len() >= 4, "the exchange produced {} messages", msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        std::fs::write(dir("ike_message").join(format!("exchange_{i}")), m).expect("write");
    }
    for (i, t) in ["CN=a.example, O=esprit, C=DE", "/CN=b/OU=ops/E=x@example"].iter().enumerate() {
        let der = esprit_ike::dn::encode_dn(t).expect("a DN");
        std::fs::write(dir("dn").join(format!("der_{i}")), der).expect("write");
    }
}
