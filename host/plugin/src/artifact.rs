//! The compiled-component file: what a compile (in a child process, see
//! [`crate::compile_job`], or in this one) leaves for the engine to load,
//! in the on-disk cache ([`crate::code_cache`]) or in a private memory file.
//!
//! wasmtime's serialized component is machine code that runs unchecked once
//! deserialized, so the file says what it was made from and by whom, and
//! the loader refuses anything that does not match what it expects:
//!
//! ```text
//!  0..8    magic "ESPRITCW"
//!  8..12   format version (u32 LE)
//! 12..44   SHA-256 of the component's bytes (as the compiler read them)
//! 44..52   engine tag (u64 LE): a hash of the engine's compatibility hash
//! 52..60   payload length (u64 LE)
//! 60..     payload: `Engine::precompile_component` output
//! ```
//!
//! wasmtime checks its own header again on deserialize (version, target,
//! compiler settings); this one adds the code hash, which wasmtime does not
//! record, and catches truncation before wasmtime parses anything.
use std::hash::{Hash, Hasher};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Byte ranges of the header.
mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..8;
    pub const FORMAT: Range<usize> = 8..12;
    pub const CODE_HASH: Range<usize> = 12..44;
    pub const ENGINE_TAG: Range<usize> = 44..52;
    pub const PAYLOAD_LEN: Range<usize> = 52..60;
    pub const PAYLOAD: usize = 60;
}

/// The first bytes of every file.
pub const MAGIC: [u8; 8] = *b"ESPRITCW";
/// The layout above; a new one changes this (and the cache key).
pub const FORMAT: u32 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The engine's compatibility hash (wasmtime version, target, compiler
/// settings, tunables) folded to 64 bits. Two engines with equal tags load
/// each other's compiled code. Folded with std's `DefaultHasher`, whose
/// algorithm may change between Rust releases: a helper built by another
/// toolchain then simply does not match.
pub fn engine_tag(engine: &Engine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

/// The header for a payload of `payload_len` bytes.
pub fn header(code_hash: &[u8; 32], engine_tag: u64, payload_len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[field::MAGIC].copy_from_slice(&MAGIC);
    h[field::FORMAT].copy_from_slice(&FORMAT.to_le_bytes());
    h[field::CODE_HASH].copy_from_slice(code_hash);
    h[field::ENGINE_TAG].copy_from_slice(&engine_tag.to_le_bytes());
    h[field::PAYLOAD_LEN].copy_from_slice(&(payload_len as u64).to_le_bytes());
    h
}

/// Why a file is not the compiled component expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadArtifact {
    #[error("{len} bytes, shorter than the {HEADER_LEN}-byte header (truncated?)")]
    Short { len: usize },
    #[error("not an esprit compiled component (starts with {found})")]
    Magic { found: String },
    #[error("file format {found}, this esprit reads format {FORMAT}")]
    Format { found: u32 },
    #[error("compiled from other code (SHA-256 {found}…, expected {expected}…)")]
    CodeHash { found: String, expected: String },
    #[error("compiled by another engine configuration (engine tag {found:016x}, ours {expected:016x}; a helper from another esprit build?)")]
    Engine { found: u64, expected: u64 },
    #[error("{found} bytes of machine code where the header says {expected} (truncated or garbage)")]
    Length { found: usize, expected: u64 },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn u64_at(bytes: &[u8], r: std::ops::Range<usize>) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&bytes[r]);
    u64::from_le_bytes(v)
}

/// The payload of `file`, if its header says it is the code with
/// `code_hash` compiled by an engine with `engine_tag`, whole.
pub fn payload<'a>(file: &'a [u8], code_hash: &[u8; 32], engine_tag: u64) -> Result<&'a [u8], BadArtifact> {
    if file.len() < HEADER_LEN {
        return Err(BadArtifact::Short { len: file.len() });
    }
    if file[field::MAGIC] != MAGIC {
        return Err(BadArtifact::Magic { found: hex(&file[field::MAGIC]) });
    }
    let mut format = [0u8; 4];
    format.copy_from_slice(&file[field::FORMAT]);
    let format = u32::from_le_bytes(format);
    if format != FORMAT {
        return Err(BadArtifact::Format { found: format });
    }
    if file[field::CODE_HASH] != code_hash[..] {
        return Err(BadArtifact::CodeHash { found: hex(&file[field::CODE_HASH][..8]), expected: hex(&code_hash[..8]) });
    }
    let tag = u64_at(file, field::ENGINE_TAG);
    if tag != engine_tag {
        return Err(BadArtifact::Engine { found: tag, expected: engine_tag });
    }
    let len = u64_at(file, field::PAYLOAD_LEN);
    let body = &file[field::PAYLOAD..];
    if body.len() as u64 != len {
        return Err(BadArtifact::Length { found: body.len(), expected: len });
    }
    Ok(body)
}

/// Where checked bytes came from (for the reasoning in [`load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A cache entry: a regular file, not a symlink, owned by our effective
    /// user, mode without group/other write, in a directory of the same
    /// kind (checked on the open descriptor, see [`crate::code_cache`]).
    CacheEntry,
    /// An anonymous memory file (`memfd`) this process created and handed
    /// to its compile helper as standard output; it has no name anyone
    /// else could open.
    PrivateMemfd,
}

/// The component in `payload` (a [`payload`] that passed its checks),
/// loaded into `engine`.
pub fn load(engine: &Engine, payload: &[u8], source: Source) -> Result<Component, String> {
    // SAFETY: `Component::deserialize` runs the machine code in `payload`
    // unverified; wasmtime requires the caller to vouch for it. These bytes
    // come from a place only our own user can write (`source`: a private
    // cache entry checked on its descriptor, or a memfd only we and our
    // helper child hold), and their header says they were compiled from
    // the exact component we hash (SHA-256) by an engine with our
    // compatibility hash, with nothing missing. wasmtime also checks its own
    // header (version, target, settings) and fails on a mismatch, which the
    // caller treats as an error, never as code to run. So only someone who
    // can already run code as this user could have planted them. The gain
    // is measured (docs/PLUGINS.md, "Costs"): a Python component loads in a
    // fraction of a second instead of many seconds of compilation, and the
    // compilation happens outside this process.
    tracing::debug!(?source, bytes = payload.len(), "loading a compiled component");
    #[allow(unsafe_code)]
    let loaded = unsafe { Component::deserialize(engine, payload) };
    loaded.map_err(|e| format!("wasmtime refused the compiled code: {}", crate::engine::one_line(&format!("{e:#}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: [u8; 32] = [7; 32];
    const TAG: u64 = 0x0123_4567_89ab_cdef;

    fn file(payload: &[u8]) -> Vec<u8> {
        let mut f = header(&CODE, TAG, payload.len()).to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_whole_matching_file_gives_its_payload() {
        let f = file(b"machine code");
        assert_eq!(payload(&f, &CODE, TAG), Ok(&b"machine code"[..]));
        assert_eq!(&f[..8], b"ESPRITCW");
        assert_eq!(&f[8..12], &[1, 0, 0, 0]);
        assert_eq!(&f[52..60], &[12, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(payload(&file(b""), &CODE, TAG), Ok(&b""[..]));
    }

    #[test]
    fn truncation_is_caught_in_the_header_and_in_the_payload() {
        let f = file(b"machine code");
        assert_eq!(payload(&f[..10], &CODE, TAG), Err(BadArtifact::Short { len: 10 }));
        assert_eq!(payload(&[], &CODE, TAG), Err(BadArtifact::Short { len: 0 }));
        assert_eq!(payload(&f[..f.len() - 1], &CODE, TAG), Err(BadArtifact::Length { found: 11, expected: 12 }));
        let mut longer = f.clone();
        longer.push(0);
        assert_eq!(payload(&longer, &CODE, TAG), Err(BadArtifact::Length { found: 13, expected: 12 }));
    }

    #[test]
    fn other_code_other_engines_other_formats_and_garbage_are_refused() {
        let f = file(b"x");
        let other = [8u8; 32];
        let e = payload(&f, &other, TAG).unwrap_err();
        assert!(matches!(e, BadArtifact::CodeHash { .. }), "{e}");
        assert!(e.to_string().contains("0707070707070707") && e.to_string().contains("0808080808080808"), "{e}");
        let e = payload(&f, &CODE, TAG ^ 1).unwrap_err();
        assert_eq!(e, BadArtifact::Engine { found: TAG, expected: TAG ^ 1 });
        let mut v2 = f.clone();
        v2[8] = 2;
        assert_eq!(payload(&v2, &CODE, TAG), Err(BadArtifact::Format { found: 2 }));
        let elf = [b"\x7fELF".as_slice(), &[0u8; 80]].concat();
        let e = payload(&elf, &CODE, TAG).unwrap_err();
        assert_eq!(e.to_string(), "not an esprit compiled component (starts with 7f454c4600000000)");
    }
}
