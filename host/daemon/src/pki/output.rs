//! Writing keys and certificates: private keys are created with mode 0400
//! (never briefly readable by others), and nothing is overwritten without
//! `--force`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::PkiError;

/// Where and how outputs are written.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Replace existing files.
    pub force: bool,
}

impl Output {
    /// Writes a private key file with mode 0400.
    pub fn private_key(&self, path: &Path, contents: &[u8]) -> Result<(), PkiError> {
        self.make_room(path)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(path)
            .map_err(|e| PkiError::io(path, e))?;
        // The umask may only have removed bits; make the mode exact.
        f.set_permissions(std::fs::Permissions::from_mode(0o400)).map_err(|e| PkiError::io(path, e))?;
        f.write_all(contents).and_then(|()| f.sync_all()).map_err(|e| PkiError::io(path, e))
    }

    /// Writes a public file (certificate, request). A file that already holds
    /// exactly `contents` is left alone, so re-installing the CA certificate
    /// into its own folder is not an error.
    pub fn public(&self, path: &Path, contents: &[u8]) -> Result<(), PkiError> {
        if std::fs::read(path).is_ok_and(|old| old == contents) {
            return Ok(());
        }
        self.make_room(path)?;
        std::fs::write(path, contents).map_err(|e| PkiError::io(path, e))
    }

    fn make_room(&self, path: &Path) -> Result<(), PkiError> {
        if std::fs::symlink_metadata(path).is_ok() {
            if !self.force {
                return Err(PkiError::Exists { path: path.to_path_buf() });
            }
            std::fs::remove_file(path).map_err(|e| PkiError::io(path, e))?;
        }
        Ok(())
    }
}

/// Creates the output folder (and parents) if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
    std::fs::create_dir_all(dir).map_err(|e| PkiError::io(dir, e))
}

/// File name stem for a host: its CN, which must be usable as a file name
/// (the seed's `newhostname_cert.pem` naming).
pub fn host_stem(cn: &str) -> Result<&str, PkiError> {
    let bad =
        cn.is_empty() || cn.starts_with('.') || cn.contains(['/', '\\', '\0']) || cn.chars().any(char::is_whitespace);
    if bad {
        return Err(PkiError::Usage(format!(
            "--cn {cn:?} cannot name files HOST_cert.pem/HOST_key.pem: expected a host name without '/', \
             spaces or a leading '.' (pass --name to choose the file name)"
        )));
    }
    Ok(cn)
}

/// `DIR/STEM_SUFFIX`.
pub fn host_file(dir: &Path, stem: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{stem}_{suffix}"))
}
