//! Compiled plugins on disk: the machine code cranelift made for a
//! component, kept so the next load (a restart, `policy test -c`, a reload
//! back to an earlier version) skips compilation. A Python component takes
//! 7–23 s to compile on a 2-core machine and well under a second to load
//! from here.
//!
//! Entries are keyed by the SHA-256 of the component's bytes, the
//! engine's compatibility hash (wasmtime version, target, tunables) and the
//! file format, so a changed plugin, engine setting or esprit upgrade
//! misses instead of loading stale code. Each entry is an
//! [`crate::artifact`] file whose header repeats the code hash and engine
//! tag; a mismatch, a truncated entry or wasmtime refusing it is a miss.
//! Entries are written by the compile helper (a child process, see
//! [`crate::compile_job`]) or, without one, by this process.
//!
//! Tampering: loading an entry runs its code unchecked, so the cache is
//! used only when whoever could write it could already run code as us. The
//! directory and each file must be owned by the effective user and not
//! writable by group or others (checked on the open descriptor of each
//! file, opened with `O_NOFOLLOW`); anything else is refused and the
//! component is compiled instead. Files are written to a temporary name
//! with mode 0600 and renamed into place, so a reader never sees half an
//! entry.
//!
//! Where: `$ESPRIT_WASM_CACHE` (a directory, or `off`), else
//! `/var/cache/esprit/wasm` for root, else `$XDG_CACHE_HOME/esprit/wasm` or
//! `~/.cache/esprit/wasm`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::artifact::{self, Source};

/// Largest entry read back (a compiled Python component is ~40 MiB).
pub const MAX_ENTRY: u64 = 512 << 20;

/// The on-disk cache of compiled components.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
    /// The engine's tag ([`artifact::engine_tag`]): part of every key.
    engine_tag: u64,
}

/// Why the cache is not used (logged once; loads then compile).
#[derive(Debug, thiserror::Error)]
pub enum CacheRefused {
    #[error("{}: {why}", .dir.display())]
    Unsafe { dir: PathBuf, why: String },
    #[error("{}: {error}", .dir.display())]
    Io { dir: PathBuf, error: std::io::Error },
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The directory the cache uses by default, or `None` when turned off
/// (`ESPRIT_WASM_CACHE=off`) or when no home is known.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("ESPRIT_WASM_CACHE") {
        Some(v) if v == "off" || v.is_empty() => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    if euid() == 0 {
        return Some(PathBuf::from("/var/cache/esprit/wasm"));
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("esprit/wasm"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache/esprit/wasm"))
}

/// `Ok` when `meta` is ours and not writable by group or others.
fn private(meta: &fs::Metadata) -> Result<(), String> {
    if meta.uid() != euid() {
        return Err(format!("owned by uid {}, not by us (uid {})", meta.uid(), euid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!("mode {:04o} lets group or others write it (expected 0700 for the directory, 0600 for entries)", meta.mode() & 0o7777));
    }
    Ok(())
}

impl CodeCache {
    /// Opens (creating with mode 0700) the cache directory for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> Result<CodeCache, CacheRefused> {
        let io = |error| CacheRefused::Io { dir: dir.to_path_buf(), error };
        if !dir.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
        }
        // symlink_metadata: the cache directory itself must not be a link.
        let meta = fs::symlink_metadata(dir).map_err(io)?;
        if !meta.is_dir() {
            return Err(CacheRefused::Unsafe { dir: dir.to_path_buf(), why: "not a directory".into() });
        }
        private(&meta).map_err(|why| CacheRefused::Unsafe { dir: dir.to_path_buf(), why })?;
        Ok(CodeCache { dir: dir.to_path_buf(), engine_tag: artifact::engine_tag(engine) })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file for a component with this code hash.
    pub fn entry(&self, code_hash: &[u8; 32]) -> PathBuf {
        let key: [u8; 32] = Sha256::new()
            .chain_update(code_hash)
            .chain_update(format!("{:016x}", self.engine_tag).as_bytes())
            .chain_update(artifact::FORMAT.to_le_bytes())
            .finalize()
            .into();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.cwasm"))
    }

    /// The entry's bytes: `Ok(None)` when there is none, `Err` (why) when
    /// one is there but refused (not ours, writable by others, a symlink,
    /// too large, unreadable). The header is not checked here.
    pub fn read_entry(&self, code_hash: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
        let path = self.entry(code_hash);
        let file = match OpenOptions::new().read(true).custom_flags(o_nofollow()).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        read_private(file).map(Some)
    }

    /// The compiled component from the entry for `code_hash`: `Ok(None)`
    /// when there is no entry, `Err` (why) when there is one that is
    /// refused, damaged, for other code or another engine.
    pub fn load_checked(&self, engine: &Engine, code_hash: &[u8; 32]) -> Result<Option<Component>, String> {
        let Some(bytes) = self.read_entry(code_hash)? else { return Ok(None) };
        let payload = artifact::payload(&bytes, code_hash, self.engine_tag).map_err(|e| e.to_string())?;
        artifact::load(engine, payload, Source::CacheEntry).map(Some)
    }

    /// The compiled component, if a valid entry is there. A refused or
    /// unusable entry is a miss (the reason is logged).
    pub fn load(&self, engine: &Engine, code_hash: &[u8; 32]) -> Option<Component> {
        self.load_checked(engine, code_hash).unwrap_or_else(|why| {
            tracing::warn!(entry = %self.entry(code_hash).display(), "compiled-plugin cache entry not used (recompiling): {why}");
            None
        })
    }

    /// Removes the entry for `code_hash` (one found unusable), if any.
    pub fn remove(&self, code_hash: &[u8; 32]) {
        let path = self.entry(code_hash);
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(entry = %path.display(), "could not remove an unusable compiled-plugin cache entry: {e}");
            }
        }
    }

    /// Writes the entry for `component` (best effort: a failure is logged
    /// and the next load compiles again).
    pub fn store(&self, code_hash: &[u8; 32], component: &Component) {
        let path = self.entry(code_hash);
        let result = component.serialize().map_err(|e| format!("{e:#}")).and_then(|payload| {
            let header = artifact::header(code_hash, self.engine_tag, payload.len());
            write_atomically(&path, &[&header, &payload]).map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            tracing::warn!(entry = %path.display(), "could not write the compiled-plugin cache entry: {e}");
        }
    }
}

pub(crate) fn o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// The file's bytes, after checking on the descriptor that it is a regular
/// file of ours, private, and of a sane size.
pub(crate) fn read_private(mut file: File) -> Result<Vec<u8>, String> {
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    private(&meta)?;
    if meta.len() > MAX_ENTRY {
        return Err(format!("{} bytes, more than the {MAX_ENTRY} an entry may have", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Writes `parts` to `path` through a 0600 temporary file in the same
/// directory, synced and renamed into place: a reader sees the whole file
/// or none.
pub(crate) fn write_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    // Unique per process and per write, so concurrent writers of one entry
    // never share a temporary file; the last rename wins (same bytes).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(o_nofollow()).open(&tmp)?;
    let written = parts.iter().try_for_each(|p| f.write_all(p)).and_then(|()| f.sync_all()).and_then(|()| {
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
