//! Files that hold secrets: the `--keylog` (SA keys) and the `--pcap-inner`
//! capture (the traffic IPsec protects) are created `O_NOFOLLOW`, mode
//! 0600; an existing file is refused unless it is a regular file of ours
//! with no group or other access (a 0644 key log stayed 0644 with keys in
//! it, and a symlink planted at the path redirected the keys). Files esprit
//! only reads but that hold keys (PSK plugin specs, setkey files with
//! `add`) are checked for their mode and warned about.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use tracing::warn;

fn refused(path: &Path, why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, format!("{}: {why}", path.display()))
}

/// Opens `path` for writing secrets: created 0600 without following a
/// symlink; `truncate` or append. Refuses what is not ours and private.
pub fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).write(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
    if !truncate {
        o.append(true);
    }
    let f = o.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            refused(path, "is a symbolic link; refusing to write secrets through it (remove it or pick another path)".into())
        } else {
            e
        }
    })?;
    // Checked on the open file: no race with a rename of the path.
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(refused(path, "is not a regular file; refusing to write secrets into it".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if m.uid() != me {
        return Err(refused(path, format!("belongs to uid {}, not to us (uid {me}); refusing to write secrets into it", m.uid())));
    }
    if m.mode() & 0o077 != 0 {
        return Err(refused(
            path,
            format!("exists with mode {:04o}, readable or writable by others; refusing to write secrets into it (chmod 600 it or remove it)", m.mode() & 0o7777),
        ));
    }
    if truncate {
        f.set_len(0)?;
    }
    Ok(f)
}

/// Warns when a file holding keys (`what`) is open to group or others;
/// returns the warning (for tests).
pub fn warn_if_readable(path: &Path, what: &str) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    if m.mode() & 0o077 == 0 {
        return None;
    }
    let w = format!(
        "{} holds {what} and has mode {:04o} (group/other can read it): chmod 600 it",
        path.display(),
        m.mode() & 0o7777
    );
    warn!("{w}");
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_0600_and_wide_or_symlink_refused() {
        let d = std::env::temp_dir().join(format!("esprit-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("k");
        drop(open_private(&p, true).unwrap());
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_private(&p, false).unwrap_err().to_string().contains("mode 0644"));
        assert!(warn_if_readable(&p, "keys").unwrap().contains("0644"));
        let l = d.join("l");
        std::os::unix::fs::symlink(d.join("target"), &l).unwrap();
        assert!(open_private(&l, true).unwrap_err().to_string().contains("symbolic link"));
        assert!(!d.join("target").exists());
        let _ = std::fs::remove_dir_all(d);
    }
}
