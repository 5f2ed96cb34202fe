//! The wasmtime engine shared by all plugins: lean features (no
//! `component-model-async`), pooling allocator, epoch interruption driven by
//! a ticker thread, and a cache of compiled components keyed by code hash.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::PluginError;

/// Engine-wide limits.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Epoch tick period: deadlines are rounded up to whole ticks.
    pub tick: Duration,
    /// Component instances the pooling allocator holds (one per loaded
    /// plugin, plus one during a reload).
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted (per-plugin caps are
    /// lower, see `PluginSettings::memory_limit`).
    pub max_memory: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { tick: Duration::from_micros(250), max_instances: 64, max_memory: 256 << 20 }
    }
}

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A configured engine plus its epoch ticker; cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    tick: Duration,
    _ticker: Arc<Ticker>,
    compiled: Arc<Mutex<HashMap<[u8; 32], Component>>>,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine").field("tick", &self.tick).finish()
    }
}

impl PluginEngine {
    /// Build an engine and start its epoch ticker thread (stopped when the
    /// last clone is dropped).
    pub fn new(settings: &EngineSettings) -> Result<Self, PluginError> {
        let mut pool = PoolingAllocationConfig::new();
        let n = settings.max_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(16))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            .max_tables_per_module(4)
            .max_memories_per_module(2)
            .table_elements(100_000)
            .max_core_instance_size(4 << 20)
            .max_memory_size(settings.max_memory);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s, tick) = (engine.clone(), stop.clone(), settings.tick.max(Duration::from_micros(10)));
        std::thread::Builder::new()
            .name("esprit-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    e.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Engine(format!("epoch ticker: {e}")))?;
        Ok(PluginEngine { engine, tick, _ticker: Arc::new(Ticker { stop }), compiled: Arc::default() })
    }

    /// The process-wide engine with default settings.
    pub fn shared() -> Result<Self, PluginError> {
        static SHARED: OnceLock<Result<PluginEngine, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| PluginEngine::new(&EngineSettings::default()).map_err(|e| e.to_string()))
            .clone()
            .map_err(PluginError::Engine)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Epoch ticks for a deadline: the call traps within `(d - tick, d]`,
    /// at least one tick.
    pub fn ticks_for(&self, d: Duration) -> u64 {
        let t = self.tick.as_nanos().max(1);
        (d.as_nanos().div_ceil(t) as u64).max(1)
    }

    /// Compile `bytes` (or reuse the component compiled from identical bytes).
    pub fn compile(&self, name: &str, bytes: &[u8], code_hash: [u8; 32]) -> Result<Component, PluginError> {
        if let Some(c) = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&code_hash) {
            return Ok(c.clone());
        }
        if let Some(reason) = not_a_component(bytes) {
            return Err(PluginError::Compile { name: name.to_string(), reason });
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::Compile { name: name.to_string(), reason: one_line(&format!("{e:#}")) })?;
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(code_hash, component.clone());
        Ok(component)
    }
}

/// Monotonic nanoseconds since the first call in this process.
pub fn monotonic_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Why `bytes` cannot be a component, told before wasmtime's parser (whose
/// errors dump the expected magic number as a multi-line array).
fn not_a_component(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\0asm";
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Some(format!(
            "not a WebAssembly file ({} bytes starting with {}; a .wasm file starts with 00 61 73 6d): is the path right?",
            bytes.len(),
            if head.is_empty() { "nothing".to_string() } else { head.join(" ") }
        ));
    }
    // Bytes 4..8: version 1 layer 0 is a core module, layer 1 a component.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Some(
            "a core WebAssembly module, not a component: build the plugin for `wasm32-wasip2` \
             (or wrap it with `wasm-tools component new`)"
                .to_string(),
        );
    }
    None
}

/// An error message on one line with runs of whitespace collapsed, at most
/// 400 characters.
fn one_line(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > 400 {
        let mut cut = 400;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod header_tests {
    use super::{not_a_component, one_line};

    #[test]
    fn garbage_empty_and_core_modules_get_a_plain_reason() {
        let garbage = not_a_component(b"hello world, not wasm").unwrap_or_default();
        assert!(garbage.contains("not a WebAssembly file") && garbage.contains("68 65 6c 6c"), "{garbage}");
        assert!(not_a_component(b"").unwrap_or_default().contains("starting with nothing"));
        let core = not_a_component(b"\0asm\x01\0\0\0").unwrap_or_default();
        assert!(core.contains("core WebAssembly module"), "{core}");
        assert_eq!(not_a_component(b"\0asm\x0d\0\x01\0"), None);
    }

    #[test]
    fn one_line_collapses_and_bounds() {
        assert_eq!(one_line("a:\n  [\n 0x0,\n]"), "a: [ 0x0, ]");
        assert!(one_line(&"é".repeat(500)).chars().count() <= 402);
    }
}
