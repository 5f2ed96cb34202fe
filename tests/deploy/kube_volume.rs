//! A ConfigMap or Secret volume as the kubelet writes it: the files in a
//! timestamped directory, `..data` a symlink to it, and each name a symlink
//! `name -> ..data/name` (how the atomic update swaps all files at once).
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Writes `files` into `dir` in the kubelet's layout, each file with `mode`
/// (a Secret's `defaultMode`).
pub fn write(dir: &Path, files: &[(String, String)], mode: u32) {
    let stamp = "..2026_12_02_01_00_00.000000001";
    let data = dir.join(stamp);
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    for (name, text) in files {
        let f = data.join(name);
        std::fs::write(&f, text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        symlink(format!("..data/{name}"), dir.join(name)).unwrap_or_else(|e| panic!("link {name}: {e}"));
    }
    symlink(stamp, dir.join("..data")).unwrap_or_else(|e| panic!("link ..data: {e}"));
}

/// Hands every file and directory under `dir` (not following links) to `uid:gid`.
pub fn chown_all(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => chown_all(&p, uid, gid),
            _ => std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", p.display())),
        }
    }
}
