//! Decision cost on a flow-cache miss, one flow through each decider:
//! - `native_allowlist`: the allowlist policy as native Rust (no Wasm);
//! - `wasm_raw_wit_v0_1`: plain wit-bindgen on the frozen 0.1 WIT (`raw-wit`;
//!   this flow is discarded, so 0.1 asks no `sa-key`);
//! - `wasm_allowlist_sdk_v0_1`: the SDK allowlist built for 0.1 (a protect
//!   verdict: `decide` then `sa-key`, two calls);
//! - `wasm_allowlist_sdk_v0_2`: the same source on 0.2 (one `decide` call
//!   returns the verdict and the SA key);
//! - `python_policy_v0_2`: the componentize-py example (skipped with a
//!   printed reason when componentize-py is missing);
//! - `js_template_v0_2`: the JavaScript template (`esprit plugin new --lang
//!   js`, componentize-js 0.23; skipped with a printed reason when node/npm
//!   or the pinned tools are missing).
//!
//! Target: the SDK allowlist on 0.2 ≤ 1 µs including the call.
//! Run: `cargo bench -p esprit-plugin --bench decide`.
//!
//! Measured in CPU time of the deciding thread (as plugin deadlines are),
//! not wall-clock time: on a shared machine, time the thread waited for a
//! core is not the decision's cost.
use std::hint::black_box;
use std::net::IpAddr;

use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esprit_plugin::{build, parse_flow, PluginEngine, PluginSpec, PolicyPlugin};
use esprit_sadb::decider::{Decision, Flow, IpsecMode, IpsecProto, Level, PolicyDecider, SaRequest, Verdict};

/// The allowlist policy in native Rust (same entries, same explanation work).
struct NativeAllowlist {
    nets: Vec<(u32, u32, Option<u16>)>,
}

impl PolicyDecider for NativeAllowlist {
    fn name(&self) -> &str {
        "native"
    }
    fn version(&self) -> u64 {
        1
    }
    fn decide(&self, flow: &Flow) -> Decision {
        let IpAddr::V4(dst) = flow.dst else {
            return Decision { verdict: Verdict::Discard, cache_ttl: None, sa_key: None, explanation: "v6".into() };
        };
        let d = u32::from(dst);
        let hit = self.nets.iter().any(|(net, mask, port)| d & mask == *net && port.is_none_or(|p| p == flow.dst_port));
        let verdict = if hit {
            Verdict::Protect(vec![SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level: Level::Require }])
        } else {
            Verdict::Discard
        };
        Decision { verdict, cache_ttl: None, sa_key: None, explanation: format!("native: {dst} port {}", flow.dst_port) }
    }
}

/// Criterion measurement: CPU time of the benchmarking thread.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        ThreadTime::now().as_duration()
    }
    fn end(&self, start: Duration) -> Duration {
        ThreadTime::now().as_duration().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds scaled to ns/µs/ms, with "cpu" in the unit.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = match typical {
            t if t < 1e3 => (1.0, "ns cpu"),
            t if t < 1e6 => (1e3, "µs cpu"),
            _ => (1e6, "ms cpu"),
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(&self, _typical: f64, _throughput: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v = 1e9 / *v);
        "decisions/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let dir = build::ensure_plugins_built().expect("plugins build");
    let engine = PluginEngine::shared().expect("engine");
    let allow = "203.0.113.0/24 tcp/443,198.51.100.0/24 tcp/80,10.0.0.0/8,192.0.2.0/24 udp/53";
    let sdk_v2 = PolicyPlugin::load(&engine, PluginSpec::new("allowlist", dir.join("allowlist.wasm")).with_config("allow", allow)).expect("load");
    let sdk_v1 = PolicyPlugin::load(&engine, PluginSpec::new("allowlist01", dir.join("allowlist_v0_1.wasm")).with_config("allow", allow)).expect("load");
    let raw = PolicyPlugin::load(&engine, PluginSpec::new("raw", dir.join("raw_wit.wasm"))).expect("load");
    // An interpreted plugin, built if its tools are present (skipped with the reason if not).
    let interpreted = |name: &str, built: Result<std::path::PathBuf, String>, key: &str, value: &str| match built {
        Ok(path) => {
            let mut spec = PluginSpec::new(name, path).with_config(key, value);
            spec.settings.memory_limit = 64 << 20;
            spec.settings.deadline = std::time::Duration::from_millis(20);
            Some(PolicyPlugin::load(&engine, spec).expect("load"))
        }
        Err(e) => {
            println!("{name} skipped: {e}");
            None
        }
    };
    let python = interpreted("python_policy_v0_2", build::ensure_python_policy_built(), "protect", "203.0.113.0/24");
    // The template's own config: ports 443 and 8443 protected.
    let js = interpreted("js_template_v0_2", build::ensure_js_template_built(), "ports", "443, 8443");
    let native = NativeAllowlist {
        nets: vec![
            (0xcb00_7100, 0xffff_ff00, Some(443)),
            (0xc633_6400, 0xffff_ff00, Some(80)),
            (0x0a00_0000, 0xff00_0000, None),
            (0xc000_0200, 0xffff_ff00, Some(53)),
        ],
    };
    let flow = parse_flow("tcp 198.51.100.7:40000 -> 203.0.113.5:443").expect("flow");
    let mut g = c.benchmark_group("decide_on_miss_cpu");
    g.bench_function("native_allowlist", |b| b.iter(|| native.decide(black_box(&flow))));
    g.bench_function("wasm_raw_wit_v0_1", |b| b.iter(|| raw.decide(black_box(&flow))));
    g.bench_function("wasm_allowlist_sdk_v0_1", |b| b.iter(|| sdk_v1.decide(black_box(&flow))));
    g.bench_function("wasm_allowlist_sdk_v0_2", |b| b.iter(|| sdk_v2.decide(black_box(&flow))));
    if let Some(py) = &python {
        g.bench_function("python_policy_v0_2", |b| b.iter(|| py.decide(black_box(&flow))));
    }
    if let Some(js) = &js {
        g.bench_function("js_template_v0_2", |b| b.iter(|| js.decide(black_box(&flow))));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu).sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
