//! Seeded randomized robustness test (stable Rust, runs in `cargo test`):
//! valid packets of every transform are mutated — bit flips, byte writes,
//! truncation, extension, header-field rewrites — and fed to `decapsulate`
//! and `peek_spi`. Nothing may panic, a mutated packet must never be accepted
//! unless the mutation only touched fields outside the ICV's coverage, and
//! the counters must add up.
mod common;
use common::*;
use esprit_esp::{peek_spi, Mode, Protocol};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn mutate(rng: &mut StdRng, p: &mut Vec<u8>) {
    match rng.gen_range(0..7) {
        0 => {
            let i = rng.gen_range(0..p.len());
            p[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => {
            let i = rng.gen_range(0..p.len());
            p[i] = rng.gen();
        }
        2 => {
            let n = rng.gen_range(0..p.len());
            p.truncate(n);
        }
        3 => {
            let n = rng.gen_range(1..64);
            for _ in 0..n {
                p.push(rng.gen());
            }
        }
        4 => {
            // Rewrite a length or protocol field of the outer header.
            let i = *[2usize, 3, 4, 5, 6, 9].get(rng.gen_range(0..6)).unwrap();
            if i < p.len() {
                p[i] = rng.gen();
            }
        }
        5 => {
            // Several flips at once.
            for _ in 0..rng.gen_range(2..8) {
                if p.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..p.len());
                p[i] = rng.gen();
            }
        }
        _ => {
            // Pure noise with an IP-looking first byte.
            let n = rng.gen_range(0..200);
            *p = (0..n).map(|_| rng.gen()).collect();
            if let Some(b) = p.first_mut() {
                *b = if rng.gen() { 0x45 } else { 0x60 };
            }
        }
    }
}

#[test]
fn mutated_packets_never_panic_nor_pass() {
    let mut rng = StdRng::seed_from_u64(0x000e_5b17);
    let p = providers();
    let mut accepted_mutants = 0u64;
    let mut total = 0u64;
    for t in all_transforms() {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for v6 in [false, true] {
                let cfg = config(t, mode, v6, rng.gen());
                let mut tx = sa(&cfg, p[0]);
                let mut rx = sa(&cfg, p[1]);
                let mut out = vec![0u8; 4096];
                let mut back = vec![0u8; 4096];
                for _ in 0..300 {
                    let len = rng.gen_range(0..300);
                    let inner = if v6 { ipv6_udp(&payload(len, rng.gen()), rng.gen(), rng.gen()) } else { ipv4_udp(&payload(len, rng.gen())) };
                    let enc = tx.encapsulate(&inner, &mut out).unwrap().to_vec();
                    let mut m = enc.clone();
                    mutate(&mut rng, &mut m);
                    let _ = peek_spi(&m);
                    total += 1;
                    if let Ok(dec) = rx.decapsulate(&m, &mut back) {
                        // Only bytes outside the ICV may differ: IP header
                        // fields ESP does not cover, AH's mutable ones, or
                        // bytes beyond the IP total length.
                        let dec = dec.to_vec();
                        accepted_mutants += 1;
                        let unprotected = m != enc && {
                            // ESP covers from the SPI on; what precedes it (IP header,
                            // hop-by-hop options in transport mode) is not protected.
                            let h = if !v6 { 20 } else if enc[6] == 0 { 48 } else { 40 };
                            let covered_start = match t.protocol() {
                                Protocol::Esp => h,
                                Protocol::Ah => usize::MAX,
                            };
                            m.len() >= enc.len() && m[covered_start.min(enc.len())..enc.len()] == enc[covered_start.min(enc.len())..]
                        };
                        assert!(m == enc || unprotected || t.protocol() == Protocol::Ah, "{} {mode:?} v6={v6}: accepted a mutant\n{}\n{}", t.name(), hex::encode(&enc), hex::encode(&m));
                        if mode == Mode::Tunnel {
                            assert_eq!(dec, inner);
                        }
                    }
                    // The genuine packet is accepted unless the mutant was.
                    let genuine = rx.decapsulate(&enc, &mut back);
                    assert!(genuine.is_ok() || rx.stats().packets_in > 0, "{}", t.name());
                }
                let s = rx.stats();
                assert_eq!(s.packets_in + s.drops_in.total(), 600);
            }
        }
    }
    assert_eq!(total, 15 * 2 * 2 * 300);
    // Mutations of covered bytes are never accepted; some of the header-only
    // ones (TTL, trailing bytes) legitimately are.
    assert!(accepted_mutants < total / 4, "{accepted_mutants} of {total}");
}

#[test]
fn random_noise_never_panics() {
    let mut rng = StdRng::seed_from_u64(42);
    let p = providers();
    let mut sas: Vec<_> = all_transforms()
        .into_iter()
        .flat_map(|t| [Mode::Transport, Mode::Tunnel].map(|m| sa(&config(t, m, rng.gen(), rng.gen()), p[0])))
        .collect();
    let mut out = vec![0u8; 512];
    for _ in 0..20_000 {
        let n = rng.gen_range(0..256);
        let mut pkt: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        if n > 40 {
            // Make it look like IPv4/IPv6 carrying ESP/AH with a plausible length.
            if rng.gen() {
                pkt[0] = 0x45;
                pkt[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                pkt[6] &= 0x40;
                pkt[7] = 0;
                pkt[9] = if rng.gen() { 50 } else { 51 };
            } else {
                pkt[0] = 0x60;
                pkt[4..6].copy_from_slice(&((n - 40) as u16).to_be_bytes());
                pkt[6] = [50, 51, 0, 60, 43, 44][rng.gen_range(0..6)];
            }
        }
        let _ = peek_spi(&pkt);
        for sa in sas.iter_mut() {
            let _ = sa.decapsulate(&pkt, &mut out);
        }
    }
    for sa in &sas {
        assert_eq!(sa.stats().packets_in, 0);
    }
}
