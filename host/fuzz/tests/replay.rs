//! Stable-Rust replay of every fuzz target (run by `cargo test --workspace`,
//! hence by `./scripts/test` and `.ci/run`): each test feeds its target's
//! committed corpus (`host/fuzz/corpus/<target>/`) and then a few thousand
//! inputs from a seeded RNG (random bytes, and corpus entries mutated the
//! way libFuzzer mutates: bit flips, byte changes, inserts, deletes,
//! truncation, splices, interesting integers) to the exact body the fuzzer
//! runs (`esprit_fuzz::<target>::run`). Deterministic: same seed, same inputs.
//! A failing input is written to `target/fuzz-replay-<target>.bin` and its
//! hex is printed, to become a regression test next to the parser.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let out: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    assert!(!out.is_empty(), "corpus {} is empty", dir.display());
    out
}

const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'\n', b'"', b'[', b'=', b';', b'/', b':', b'0'];

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = rng.gen();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                v.insert(i, INTERESTING[rng.gen_range(0..INTERESTING.len())]);
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => v.truncate(rng.gen_range(0..len)),
            5 => {
                // splice: a piece of another seed
                let o = &seeds[rng.gen_range(0..seeds.len())];
                if !o.is_empty() {
                    let a = rng.gen_range(0..o.len());
                    let b = rng.gen_range(a..=o.len().min(a + 64));
                    let i = rng.gen_range(0..=len);
                    v.splice(i..i, o[a..b].iter().copied());
                }
            }
            6 if len >= 2 => {
                // an interesting 16-bit value (lengths, ports, counts)
                let i = rng.gen_range(0..len - 1);
                let x: u16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x0100][rng.gen_range(0..6)];
                v[i..i + 2].copy_from_slice(&x.to_be_bytes());
            }
            7 if len > 0 => {
                // duplicate a chunk (repetition, nesting)
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 32));
                let chunk = v[a..b].to_vec();
                v.splice(b..b, chunk);
            }
            _ => {}
        }
    }
    v
}

fn replay(name: &str, run: fn(&[u8]), rounds: usize) {
    let seeds = corpus(name);
    let check = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
            let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target").join(format!("fuzz-replay-{name}.bin"));
            let _ = std::fs::write(&out, input);
            panic!("{name}: the input above panicked (saved as {}): {}", out.display(), hex(input));
        }
    };
    for s in &seeds {
        check(s);
    }
    // One seed per target name, so every target sees its own sequence.
    let seed = name.bytes().fold(0xE5B1_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..rounds {
        let input = if i % 4 == 0 {
            let n = rng.gen_range(0..256);
            (0..n).map(|_| rng.gen()).collect()
        } else {
            mutate(&mut rng, &seeds)
        };
        check(&input);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

macro_rules! replay_tests {
    ($($name:ident: $rounds:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), esprit_fuzz::$name::run, $rounds);
            }
        )*

        /// Every target in `esprit_fuzz::TARGETS` has a replay test here.
        #[test]
        fn every_target_is_replayed() {
            let here = [$(stringify!($name)),*];
            for t in esprit_fuzz::TARGETS {
                assert!(here.contains(&t.name), "target {} has no replay test", t.name);
            }
            assert_eq!(here.len(), esprit_fuzz::TARGETS.len());
        }
    };
}

replay_tests! {
    setkey: 5000,
    config: 5000,
    config_arb: 5000,
    plugin_spec: 5000,
    import: 5000,
    pcap: 5000,
    x509_host: 5000,
    x509_plugin: 5000,
    dn: 5000,
    socks5: 5000,
    control: 5000,
    flow: 5000,
    netstack: 1000,
    verdict: 5000,
    decapsulate: 5000,
    ike_message: 5000,
    ike_responder: 500,
}
