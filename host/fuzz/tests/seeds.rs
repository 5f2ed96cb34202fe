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
    // config_arb: random values whose config parses and has conns that
    // translate, so the fuzzer starts past the TOML layer.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut kept = 0;
    for _ in 0..200_000 {
        let n = rng.gen_range(32..400);
        let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let Some(text) = esprit_fuzz::config_arb::toml(&bytes) else { continue };
        let Ok(cfg) = esprit::config::Config::parse(std::path::Path::new(esprit_fuzz::config::PATH), &text) else { continue };
        if esprit::ike::conf::conns(&cfg).is_ok_and(|c| !c.is_empty()) {
            std::fs::write(dir("config_arb").join(format!("conns_{kept}")), &bytes).expect("write");
            kept += 1;
            if kept == 6 {
                break;
            }
        }
    }
    assert!(kept > 0, "no random config with conns");
    for (i, t) in ["CN=a.example, O=esprit, C=DE", "/CN=b/OU=ops/E=x@example"].iter().enumerate() {
        let der = esprit_ike::dn::encode_dn(t).expect("a DN");
        std::fs::write(dir("dn").join(format!("der_{i}")), der).expect("write");
    }
}
