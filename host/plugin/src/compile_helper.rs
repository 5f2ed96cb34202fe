//! The compile helper: the child process that turns a component into
//! machine code, so a large compile (a Python component takes seconds of
//! CPU) never runs in the process whose plugins are deciding. Kernel work
//! of a compile in the same address space (page faults, `mmap` lock
//! contention, TLB shootdowns) is charged to whichever thread meets it, and
//! a deciding thread on the other core missed 1 ms deadlines because of it.
//!
//! Which program: the one [`register`]ed (the `esprit` binary registers
//! itself, run as `esprit internal-compile-plugin`), else the program named
//! by `$ESPRIT_PLUGIN_COMPILER` (`off`: compile in this process), else
//! `esprit-plugin-compile` (this crate's `[[bin]]`) beside the running
//! executable. With none, components are compiled in this process and the
//! engine says so in the log ([`crate::engine::PluginEngine::new`]).
//!
//! The protocol ([`main`] is the child's side, [`crate::compile_job`] the
//! parent's): the component's bytes on standard input; arguments
//! `--out PATH|-` (a cache entry to write atomically, or standard output,
//! which the parent makes a private memory file) and the engine settings
//! that change the machine code (`--max-memory BYTES`, `--max-instances N`).
//! The output is an [`crate::artifact`] file naming the SHA-256 of the bytes
//! read and the engine's tag; the parent checks both. Exit status 0 on
//! success, [`EXIT_INVALID`] when the bytes are not a valid component (the
//! last line of standard error says why), anything else is a failure.
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::{artifact, code_cache, engine};

/// Exit status: the input is not a valid component (not a helper failure).
pub const EXIT_INVALID: u8 = 65;
/// Exit status: bad arguments.
pub const EXIT_USAGE: u8 = 64;
/// Exit status: the input could not be read or the output written.
pub const EXIT_IO: u8 = 74;
/// Exit status: the engine could not be built.
pub const EXIT_ENGINE: u8 = 70;
/// The environment variable naming a helper program (or `off`).
pub const ENV: &str = "ESPRIT_PLUGIN_COMPILER";
/// This crate's helper binary.
pub const BIN_NAME: &str = "esprit-plugin-compile";
/// Largest component the helper reads.
pub const MAX_COMPONENT: u64 = 512 << 20;
/// The nice value the helper adds to its own: a compile yields the cores to
/// the deciding threads (and everything else) of the machine.
pub const NICE: i32 = 10;

/// A helper program and the arguments that select its compile mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Helper {
    /// `program` run with `args` before the protocol's own arguments.
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<OsString>>) -> Helper {
        Helper { program: program.into(), args: args.into_iter().map(Into::into).collect() }
    }

    /// The running executable with `args`: `/proc/self/exe`, which stays
    /// this very binary even if its file is replaced by an upgrade (so the
    /// helper's engine always matches ours), else `current_exe`.
    pub fn this_executable(args: impl IntoIterator<Item = impl Into<OsString>>) -> Helper {
        let proc = Path::new("/proc/self/exe");
        let program = if proc.exists() { proc.to_path_buf() } else { std::env::current_exe().unwrap_or_else(|_| proc.to_path_buf()) };
        Helper::new(program, args)
    }
}

impl std::fmt::Display for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            write!(f, " {}", a.to_string_lossy())?;
        }
        Ok(())
    }
}

static REGISTERED: OnceLock<Helper> = OnceLock::new();

/// Makes `helper` the one engines of this process use (first call wins;
/// `false` if one was registered before). Call it before the first engine
/// is built.
pub fn register(helper: Helper) -> bool {
    REGISTERED.set(helper).is_ok()
}

/// The helper this process should use, or why there is none.
pub fn find() -> Result<Helper, String> {
    if let Some(h) = REGISTERED.get() {
        return Ok(h.clone());
    }
    match std::env::var_os(ENV) {
        Some(v) if v == "off" => return Err(format!("{ENV}=off")),
        Some(v) if !v.is_empty() => return Ok(Helper::new(PathBuf::from(v), Vec::<OsString>::new())),
        _ => {}
    }
    let exe = std::env::current_exe().map_err(|e| format!("the running executable is unknown: {e}"))?;
    let beside = exe.with_file_name(BIN_NAME);
    if beside.is_file() {
        return Ok(Helper::new(beside, Vec::<OsString>::new()));
    }
    Err(format!("none registered, {ENV} unset, no {BIN_NAME} beside {}", exe.display()))
}

/// What the child was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    out: Option<PathBuf>,
    max_memory: usize,
    max_instances: u32,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut it = args.into_iter();
    let (mut out, mut max_memory, mut max_instances) = (None, None, None);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{} needs a value", flag.to_string_lossy()))?;
        let number = |v: &OsStr| v.to_str().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| format!("{}: not a number: {}", flag.to_string_lossy(), v.to_string_lossy()));
        match flag.to_str() {
            Some("--out") => out = Some(if value == "-" { None } else { Some(PathBuf::from(value)) }),
            Some("--max-memory") => max_memory = Some(usize::try_from(number(&value)?).map_err(|e| e.to_string())?),
            Some("--max-instances") => max_instances = Some(u32::try_from(number(&value)?).map_err(|e| e.to_string())?),
            _ => return Err(format!("unknown argument {}", flag.to_string_lossy())),
        }
    }
    Ok(Args {
        out: out.ok_or("--out is missing")?,
        max_memory: max_memory.ok_or("--max-memory is missing")?,
        max_instances: max_instances.ok_or("--max-instances is missing")?,
    })
}

/// The helper's main: reads a component on standard input, compiles it
/// and writes the artifact; returns the exit status. Errors go to standard
/// error as one line (the parent keeps the tail).
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{BIN_NAME}: {e} (usage: --out PATH|- --max-memory BYTES --max-instances N, component on stdin)");
            return EXIT_USAGE;
        }
    };
    // A helper outliving its parent (a daemon killed mid-reload) would only
    // burn CPU: die with it.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    // Lower priority first: everything after this is the compile. A failure
    // (a seccomp filter, say) only costs the parent some sharing.
    if let Err(e) = rustix::process::nice(NICE) {
        eprintln!("{BIN_NAME}: nice({NICE}) failed, compiling at normal priority: {e}");
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().lock().take(MAX_COMPONENT + 1).read_to_end(&mut bytes) {
        eprintln!("{BIN_NAME}: reading the component from stdin: {e}");
        return EXIT_IO;
    }
    if bytes.len() as u64 > MAX_COMPONENT {
        eprintln!("more than {MAX_COMPONENT} bytes: too large for a plugin");
        return EXIT_INVALID;
    }
    let code_hash: [u8; 32] = Sha256::digest(&bytes).into();
    let engine = match Engine::new(&engine::wasmtime_config(args.max_memory, args.max_instances)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{BIN_NAME}: wasm engine: {}", engine::one_line(&format!("{e:#}")));
            return EXIT_ENGINE;
        }
    };
    let payload = match engine.precompile_component(&bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", engine::one_line(&format!("{e:#}")));
            return EXIT_INVALID;
        }
    };
    drop(bytes);
    let header = artifact::header(&code_hash, artifact::engine_tag(&engine), payload.len());
    let written = match &args.out {
        Some(path) => code_cache::write_atomically(path, &[&header, &payload]),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&header).and_then(|()| out.write_all(&payload)).and_then(|()| out.flush())
        }
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            let to = args.out.as_deref().map_or("standard output".to_string(), |p| p.display().to_string());
            eprintln!("{BIN_NAME}: writing {to}: {e}");
            EXIT_IO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse_and_errors_name_the_problem() {
        let a = parse_args(os(&["--out", "-", "--max-memory", "1024", "--max-instances", "3"])).expect("parse");
        assert_eq!(a, Args { out: None, max_memory: 1024, max_instances: 3 });
        let a = parse_args(os(&["--max-instances", "1", "--out", "/x/y.cwasm", "--max-memory", "5"])).expect("parse");
        assert_eq!(a.out.as_deref(), Some(Path::new("/x/y.cwasm")));
        assert_eq!(parse_args(os(&["--out"])).unwrap_err(), "--out needs a value");
        assert_eq!(parse_args(os(&["--out", "-", "--max-memory", "x"])).unwrap_err(), "--max-memory: not a number: x");
        assert_eq!(parse_args(os(&["--verbose", "1"])).unwrap_err(), "unknown argument --verbose");
        assert_eq!(parse_args(os(&["--out", "-", "--max-memory", "1"])).unwrap_err(), "--max-instances is missing");
    }

    #[test]
    fn a_helper_prints_as_a_command_line() {
        assert_eq!(Helper::new("/usr/bin/esprit", ["internal-compile-plugin"]).to_string(), "/usr/bin/esprit internal-compile-plugin");
        assert!(Helper::this_executable(["x"]).program.exists());
    }
}
