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

criterion_group!(benches, bench);
criterion_main!(benches);
