//! SPD lookup cost: a warm flow-cache hit vs a miss that scans 1000 entries
//! (DESIGN.md §3 target: warm hit ≤ 50 ns).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use esprit_sadb::decider::{Direction, Flow, Verdict};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy, Spd};

/// 1000 /24 → /24 entries; the flow matches only the last one.
fn spd_1000() -> Spd {
    let mut spd = Spd::new();
    for i in 0..1000u32 {
        let src = Ipv4Addr::from(0x0a00_0000 | (i << 8));
        spd.insert(NewPolicy {
            selector: Selector {
                src: IpPrefix::new(IpAddr::V4(src), 24).unwrap(),
                dst: IpPrefix::new("192.0.2.0".parse().unwrap(), 24).unwrap(),
                proto: Some(6),
                src_port: None,
                dst_port: None,
            },
            dir: Direction::Out,
            priority: 1000 + i,
            action: Action::Verdict(Verdict::Bypass),
        });
    }
    spd
}

fn flow(n: u32) -> Flow {
    Flow {
        src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (999 << 8) | (n & 0xff))),
        dst: "192.0.2.7".parse().unwrap(),
        proto: 6,
        src_port: 40_000 + (n >> 8) as u16,
        dst_port: 443,
        dir: Direction::Out,
        iface: None,
    }
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("spd_1000_entries");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));

    let mut spd = spd_1000();
    let f = flow(1);
    spd.lookup(&f, now);
    g.bench_function("warm_cache_hit", |b| b.iter(|| black_box(spd.lookup(black_box(&f), now))));

    // 4096 distinct warm flows, so the hit includes realistic cache misses of the CPU cache.
    let flows: Vec<Flow> = (0..4096).map(flow).collect();
    for f in &flows {
        spd.lookup(f, now);
    }
    let mut i = 0usize;
    g.bench_function("warm_cache_hit_4096_flows", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(spd.lookup(black_box(&flows[i]), now))
        })
    });

    // A miss: capacity-1 cache and two alternating flows, so every lookup scans.
    let mut cold = Spd::with_cache_capacity(1);
    for e in spd_1000().entries() {
        cold.insert(NewPolicy {
            selector: e.selector.clone(),
            dir: e.dir,
            priority: e.priority,
            action: e.action.clone(),
        });
    }
    let (a, b2) = (flow(1), flow(2));
    let mut flip = false;
    g.bench_function("miss_scan_1000", |b| {
        b.iter(|| {
            flip = !flip;
            black_box(cold.lookup(black_box(if flip { &a } else { &b2 }), now))
        })
    });
    g.finish();
}

/// SAD inbound lookup by SPI with 10 vs 100k SAs (DESIGN.md §3: no slowdown),
/// and the whole outbound decision (SPD hit + SA resolution) for the seed.
fn bench_sad(c: &mut Criterion) {
    use esprit_sadb::decider::{IpsecMode, IpsecProto};
    use esprit_sadb::sad::{Sad, SaInfo};
    let now = Instant::now();
    let mut g = c.benchmark_group("sad");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let dst: IpAddr = "10.0.0.1".parse().unwrap();
    for n in [10u32, 100_000] {
        let mut sad = Sad::new();
        for spi in 256..256 + n {
            let info = SaInfo {
                spi: esprit_sadb::Spi(spi),
                proto: IpsecProto::Esp,
                mode: Some(IpsecMode::Transport),
                src: IpAddr::V4(Ipv4Addr::from(0xac10_0000 | spi)),
                dst,
                reqid: None,
                lifetimes: Default::default(),
                selector: None,
                bind: None,
            };
            sad.insert(info, spi, now).unwrap();
        }
        let mut spi = 256u32;
        g.bench_function(format!("inbound_by_spi_{n}_sas"), |b| {
            b.iter(|| {
                spi = if spi + 7 >= 256 + n { 256 } else { spi + 7 };
                let h = sad.inbound(black_box(esprit_sadb::Spi(spi)), IpsecProto::Esp, dst).unwrap();
                black_box(sad.get(h).map(|e| e.state))
            })
        });
    }

    let text = "spdadd 192.168.0.0/24 10.1.2.3/32 any -P out ipsec esp/transport//require ah/transport//require;\n\
                add 192.168.0.1 10.1.2.3 esp 0x1001 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;\n\
                add 192.168.0.1 10.1.2.3 ah 0x1002 -A hmac-sha256 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;";
    let st = esprit_sadb::setkey::parse_str("bench", text).unwrap();
    let mut db = esprit_sadb::Sadb::from_setkey(&st, now, |s| Ok::<_, String>(s.spi.get())).unwrap();
    let f = Flow {
        src: "192.168.0.1".parse().unwrap(),
        dst: "10.1.2.3".parse().unwrap(),
        proto: 6,
        src_port: 40000,
        dst_port: 80,
        dir: Direction::Out,
        iface: None,
    };
    g.bench_function("sadb_outbound_esp_ah_warm", |b| b.iter(|| black_box(db.outbound(black_box(&f), now))));
    g.finish();
}

criterion_group!(benches, bench, bench_sad);
criterion_main!(benches);
