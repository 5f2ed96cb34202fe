//! Errors of `esprit pki` and of key/certificate loading. Each names the file
//! it is about and what was expected there.

use std::path::{Path, PathBuf};

/// What went wrong while making, reading or writing keys and certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The file could not be read or written. The I/O error is part of the
    /// message and deliberately not a `source` (a `{:#}` chain would print
    /// it twice).
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// A private key file that group or others may access.
    #[error(
        "private key {} has mode {mode:04o}: group/others may access it, expected 0400 or 0600; run `chmod 400 {}`",
        .path.display(), .path.display()
    )]
    KeyMode { path: PathBuf, mode: u32 },
    /// The file holds something other than what was expected.
    #[error("{}: expected {expected}, found {found}", .path.display())]
    Format { path: PathBuf, expected: &'static str, found: String },
    /// An encrypted private key: esprit reads keys in the clear only.
    #[error(
        "{}: the private key is encrypted ({kind}); esprit starts unattended and reads unencrypted PKCS#8 keys only. \
         Decrypt it once with `openssl pkcs8 -topk8 -nocrypt -in {} -out KEY.pem && chmod 400 KEY.pem`",
        .path.display(), .path.display()
    )]
    Encrypted { path: PathBuf, kind: &'static str },
    /// A well-formed key of a kind esprit cannot sign with.
    #[error("{}: {what}", .path.display())]
    UnsupportedKey { path: PathBuf, what: String },
    /// An output file that is already there.
    #[error("{} already exists; remove it or pass --force", .path.display())]
    Exists { path: PathBuf },
    /// A bad command-line value.
    #[error("{0}")]
    Usage(String),
    /// rcgen refused to build or sign something.
    #[error("{context}: {error}")]
    Rcgen { context: String, error: rcgen::Error },
}

impl PkiError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> PkiError {
        PkiError::Io { path: path.to_path_buf(), error }
    }

    pub(crate) fn format(path: &Path, expected: &'static str, found: impl Into<String>) -> PkiError {
        PkiError::Format { path: path.to_path_buf(), expected, found: found.into() }
    }

    pub(crate) fn rcgen(context: impl Into<String>) -> impl FnOnce(rcgen::Error) -> PkiError {
        let context = context.into();
        move |error| PkiError::Rcgen { context, error }
    }
}
