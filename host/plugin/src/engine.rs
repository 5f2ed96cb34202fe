//! The wasmtime engine shared by all plugins of a process (policy and auth):
//! lean features (no `component-model-async`), a small pooling allocator,
//! epoch interruption driven by a ticker thread that runs only while a
//! plugin call is in progress, and compiled components cached in memory
//! (by code hash) and on disk ([`crate::code_cache`]). New code is compiled
//! in a child process ([`crate::compile_helper`], [`crate::compile_job`]),
//! so the running plugins' decisions never share the process with a
//! compile; only without a helper does this process compile (logged).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::artifact::{self, Source};
use crate::code_cache::{self, CodeCache};
use crate::compile_helper::{self, Helper};
use crate::compile_job::{Dest, Failure, Job};
use crate::error::PluginError;

/// Where new code is compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompileIn {
    /// In the helper [`compile_helper::find`] names; in this process (with
    /// a warning) when there is none.
    #[default]
    Auto,
    /// In a child process running this helper.
    Helper(Helper),
    /// In this process (tests of the fallback; hosts without `fork`).
    ThisProcess,
}

/// Engine-wide limits.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Epoch tick period while a call runs: deadlines are rounded up to
    /// whole ticks. No ticks happen while no plugin call is in progress.
    pub tick: Duration,
    /// Component instances the pooling allocator holds (one per loaded
    /// plugin, plus one during a reload).
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted (per-plugin caps are
    /// lower, see `PluginSettings::memory_limit`). The pool reserves this
    /// much address space per memory slot (two per instance).
    pub max_memory: usize,
    /// Where compiled components are kept between runs (`None`: nowhere).
    pub cache_dir: Option<PathBuf>,
    /// Where new code is compiled.
    pub compile_in: CompileIn,
    /// Longest a compile helper may run before it is killed and the plugin
    /// rejected (a Python component takes seconds to a few minutes on a
    /// busy machine at the helper's lower priority).
    pub compile_timeout: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            tick: Duration::from_micros(250),
            max_instances: 16,
            max_memory: 256 << 20,
            cache_dir: code_cache::default_dir(),
            compile_in: CompileIn::Auto,
            compile_timeout: Duration::from_secs(600),
        }
    }
}

/// How long the ticker keeps ticking after the last call ended before it
/// parks (an idle daemon then costs no CPU for plugins).
const IDLE_BEFORE_PARK: Duration = Duration::from_millis(50);

/// The epoch ticker's shared state: calls in progress and whether it is
/// parked.
struct Ticker {
    stop: AtomicBool,
    active: AtomicUsize,
    parked: AtomicBool,
    thread: OnceLock<Thread>,
    /// Ticks since start (for tests and status).
    ticks: std::sync::atomic::AtomicU64,
}

impl Ticker {
    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// The ticker thread's loop: tick while calls run, park when idle.
    fn run(&self, engine: Engine, tick: Duration) {
        let idle_limit = (IDLE_BEFORE_PARK.as_nanos() / tick.as_nanos().max(1)).max(1) as u32;
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
            self.ticks.fetch_add(1, Ordering::Relaxed);
            if self.active.load(Ordering::SeqCst) > 0 {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle < idle_limit {
                continue;
            }
            // Announce the park, then look again: a call that started in
            // between either is seen here or sees `parked` and unparks us.
            self.parked.store(true, Ordering::SeqCst);
            if self.active.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(Duration::from_secs(60));
            }
            self.parked.store(false, Ordering::SeqCst);
            idle = 0;
        }
    }
}

/// Stops the ticker thread when the last engine clone is dropped.
struct TickerHandle(Arc<Ticker>);

impl Drop for TickerHandle {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
        self.0.wake();
    }
}

/// A plugin call in progress: the ticker runs until it is dropped.
#[must_use = "the deadline is enforced only while this guard lives"]
pub struct CallGuard(Arc<Ticker>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A configured engine plus its epoch ticker; cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    tick: Duration,
    ticker: Arc<Ticker>,
    _handle: Arc<TickerHandle>,
    compiled: Arc<Mutex<HashMap<[u8; 32], Component>>>,
    disk: Option<Arc<CodeCache>>,
    /// The compile helper (`None`: compile in this process).
    helper: Option<Arc<Helper>>,
    /// The engine's tag ([`artifact::engine_tag`]).
    tag: u64,
    max_memory: usize,
    max_instances: u32,
    compile_timeout: Duration,
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
        let max_instances = settings.max_instances.max(1);
        let config = wasmtime_config(settings.max_memory, max_instances);
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let ticker = Arc::new(Ticker {
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            thread: OnceLock::new(),
            ticks: Default::default(),
        });
        let (e, t, tick) = (engine.clone(), Arc::clone(&ticker), settings.tick.max(Duration::from_micros(10)));
        let handle = std::thread::Builder::new()
            .name("esprit-epoch".into())
            .spawn(move || t.run(e, tick))
            .map_err(|e| PluginError::Engine(format!("epoch ticker: {e}")))?;
        let _ = ticker.thread.set(handle.thread().clone());
        let disk = settings.cache_dir.as_deref().and_then(|dir| match CodeCache::open(dir, &engine) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!("compiled-plugin cache not used (plugins are compiled at every load): {e}");
                None
            }
        });
        let helper = match &settings.compile_in {
            CompileIn::Helper(h) => Some(Arc::new(h.clone())),
            CompileIn::ThisProcess => None,
            CompileIn::Auto => match compile_helper::find() {
                Ok(h) => Some(Arc::new(h)),
                Err(why) => {
                    tracing::warn!("no plugin compile helper ({why}): new plugin code is compiled in this process, where a large compile can make running plugins miss their deadlines");
                    None
                }
            },
        };
        Ok(PluginEngine {
            tag: artifact::engine_tag(&engine),
            engine,
            tick,
            _handle: Arc::new(TickerHandle(Arc::clone(&ticker))),
            ticker,
            compiled: Arc::default(),
            disk,
            helper,
            max_memory: settings.max_memory,
            max_instances,
            compile_timeout: settings.compile_timeout,
        })
    }

    /// Marks a plugin call as running: the epoch ticker ticks (waking it if
    /// it parked) until the guard is dropped.
    pub fn call_started(&self) -> CallGuard {
        self.ticker.active.fetch_add(1, Ordering::SeqCst);
        if self.ticker.parked.load(Ordering::SeqCst) {
            self.ticker.wake();
        }
        CallGuard(Arc::clone(&self.ticker))
    }

    /// Epoch ticks so far (the ticker is idle when this stops moving).
    pub fn ticks(&self) -> u64 {
        self.ticker.ticks.load(Ordering::Relaxed)
    }

    /// The compiled-plugin cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.disk.as_ref().map(|c| c.dir())
    }

    /// The process-wide engine with default settings: policy and auth
    /// plugins of a daemon share it (one pool, one ticker, one cache).
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
        ticks_for(self.tick, d)
    }

    /// The epoch tick period.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Compile `bytes` (or reuse the component compiled from identical bytes).
    pub fn compile(&self, name: &str, bytes: &[u8], code_hash: [u8; 32]) -> Result<Component, PluginError> {
        if let Some(c) = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&code_hash) {
            return Ok(c.clone());
        }
        if let Some(reason) = not_a_component(bytes) {
            return Err(PluginError::Compile { name: name.to_string(), reason });
        }
        let cached = self.disk.as_ref().and_then(|d| d.load(&self.engine, &code_hash));
        let component = match cached {
            Some(c) => {
                tracing::debug!(plugin = name, "compiled plugin loaded from the cache");
                c
            }
            None => self.compile_new(name, bytes, &code_hash)?,
        };
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(code_hash, component.clone());
        Ok(component)
    }
}

impl PluginEngine {
    /// The compile helper in use (`None`: this process compiles).
    pub fn compile_helper(&self) -> Option<&Helper> {
        self.helper.as_deref()
    }

    /// Compiles code found in no cache: in the helper, or here without one
    /// (or when it cannot be started).
    fn compile_new(&self, name: &str, bytes: &[u8], code_hash: &[u8; 32]) -> Result<Component, PluginError> {
        if let Some(helper) = &self.helper {
            let started = Instant::now();
            match self.compile_in_child(helper, bytes, code_hash) {
                Ok(c) => {
                    tracing::info!(plugin = name, seconds = format_args!("{:.2}", started.elapsed().as_secs_f64()), "plugin compiled in a child process");
                    return Ok(c);
                }
                Err(Failure::Unavailable(why)) => {
                    tracing::warn!(plugin = name, "plugin compile helper unavailable ({why}): compiling in this process");
                }
                Err(Failure::Invalid(reason)) => return Err(PluginError::Compile { name: name.to_string(), reason }),
                Err(Failure::Failed(reason) | Failure::Unwritable(reason)) => {
                    return Err(PluginError::CompileHelper { name: name.to_string(), helper: helper.to_string(), reason })
                }
            }
        }
        let c = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile { name: name.to_string(), reason: one_line(&format!("{e:#}")) })?;
        if let Some(d) = &self.disk {
            d.store(code_hash, &c);
        }
        Ok(c)
    }

    /// Runs the helper, then checks and loads what it wrote: the cache entry
    /// (owner, mode, no symlink, header) or its private output file.
    fn compile_in_child(&self, helper: &Helper, bytes: &[u8], code_hash: &[u8; 32]) -> Result<Component, Failure> {
        let job = Job { helper, max_memory: self.max_memory, max_instances: self.max_instances, timeout: self.compile_timeout };
        let unusable = |why: String| Failure::Failed(format!("it wrote unusable compiled code: {why}"));
        match &self.disk {
            Some(disk) => {
                match job.run(bytes, Dest::File(&disk.entry(code_hash))) {
                    Ok(_) => {}
                    // A cache that cannot take the entry (full, read-only)
                    // must not reject the plugin: compile to memory instead.
                    Err(Failure::Unwritable(why)) => {
                        tracing::warn!(cache = %disk.dir().display(), "the compile helper could not write the cache entry ({why}): compiling again without the cache");
                        return self.compile_to_memfd(&job, bytes, code_hash);
                    }
                    Err(e) => return Err(e),
                }
                let loaded = disk.load_checked(&self.engine, code_hash).and_then(|c| c.ok_or_else(|| "no cache entry".to_string()));
                loaded.map_err(|why| {
                    disk.remove(code_hash);
                    unusable(why)
                })
            }
            None => self.compile_to_memfd(&job, bytes, code_hash),
        }
    }

    /// Runs `job` with a private memory file as its output and loads that.
    fn compile_to_memfd(&self, job: &Job<'_>, bytes: &[u8], code_hash: &[u8; 32]) -> Result<Component, Failure> {
        let unusable = |why: String| Failure::Failed(format!("it wrote unusable compiled code: {why}"));
        let file = match job.run(bytes, Dest::Memfd) {
            Ok(file) => file.unwrap_or_default(),
            Err(Failure::Unwritable(why)) => return Err(Failure::Failed(format!("it could not write its output: {why}"))),
            Err(e) => return Err(e),
        };
        let payload = artifact::payload(&file, code_hash, self.tag).map_err(|e| unusable(e.to_string()))?;
        artifact::load(&self.engine, payload, Source::PrivateMemfd).map_err(unusable)
    }
}

/// The wasmtime configuration of an engine (the compile helper builds the
/// same one, so its machine code loads here): lean features, epoch
/// interruption, a small pooling allocator.
pub fn wasmtime_config(max_memory: usize, max_instances: u32) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let n = max_instances.max(1);
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
        .max_memory_size(max_memory);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        // Reserve only what a memory may grow to (not wasmtime's 4 GiB
        // + guard per slot, ~1 TB for the pool): esprit runs under
        // `ulimit -v` and in small containers. Bounds checks are then
        // explicit in the code; decisions touch little memory.
        .memory_reservation(max_memory as u64)
        .memory_guard_size(64 << 10)
        .memory_reservation_for_growth(0)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `ESPRIT_WASM_PERFMAP=1`: name plugin functions in `perf report`
    // (/tmp/perf-PID.map); for profiling a plugin, off by default.
    if std::env::var_os("ESPRIT_WASM_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Monotonic nanoseconds since the first call in this process.
pub fn monotonic_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Epoch ticks of `tick` for a deadline `d`: at least one.
pub fn ticks_for(tick: Duration, d: Duration) -> u64 {
    let t = tick.as_nanos().max(1);
    (d.as_nanos().div_ceil(t) as u64).max(1)
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
pub(crate) fn one_line(text: &str) -> String {
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
