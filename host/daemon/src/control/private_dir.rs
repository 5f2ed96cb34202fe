//! The directory of a control socket. Under the shared temporary directory
//! (the non-root default without `XDG_RUNTIME_DIR`) another user could
//! create it first and watch or replace our socket, so there it must be a
//! real directory (not a symlink), owned by us, with mode 0700: we create
//! it so, and refuse one that is not.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Creates `dir` (mode 0700) if missing. When `strict`, an existing `dir`
/// must be ours with no group or other access.
pub fn ensure(dir: &Path, strict: bool) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            // The mode passed through the umask: make it exact.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("chmod 0700 {}", dir.display()))?;
            if strict {
                check(dir)?;
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("checking {}", dir.display())),
        Ok(_) if strict => check(dir),
        Ok(_) => Ok(()),
    }
}

/// Refuses a directory that is a symlink, not ours, or open to others.
pub fn check(dir: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(dir).with_context(|| format!("checking {}", dir.display()))?;
    let me = super::peer_cred::own_uid();
    if m.file_type().is_symlink() || !m.is_dir() {
        bail!("control socket directory {} is not a directory (a symlink?); refusing it — remove it or set control_socket", dir.display());
    }
    if m.uid() != me {
        bail!(
            "control socket directory {} belongs to uid {}, not to us (uid {me}); refusing it — another user may have created it: remove it or set control_socket",
            dir.display(),
            m.uid()
        );
    }
    if m.mode() & 0o077 != 0 {
        bail!(
            "control socket directory {} has mode {:04o}; it must be 0700 (chmod 700 it, or remove it)",
            dir.display(),
            m.mode() & 0o7777
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_wide_refused() {
        let base = std::env::temp_dir().join(format!("esprit-pd-test-{}", std::process::id()));
        let d = base.join("sub");
        ensure(&d, true).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        ensure(&d, true).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ensure(&d, true).unwrap_err().to_string().contains("0755"));
        let link = base.join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        assert!(check(&link).unwrap_err().to_string().contains("symlink"));
        let _ = std::fs::remove_dir_all(base);
    }
}
