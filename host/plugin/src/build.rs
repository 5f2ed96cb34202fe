//! Building the project's plugins for tests and benches, with no manual step:
//! the README's `cargo test --workspace` calls [`ensure_plugins_built`],
//! which installs the `wasm32-wasip2` target if missing and runs
//! `cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml`
//! into `<workspace>/target/wasm` (a separate target dir, so the outer
//! cargo's lock on `target/` is never waited on). Concurrent callers build
//! once: a process-wide `OnceLock` plus an exclusive lock on
//! `target/wasm/.build.lock` across processes.
//!
//! At run time (an installed binary, a container image) [`plugin_dir`] and
//! [`plugin_path`] first look for built plugins in `$ESPRIT_PLUGIN_DIR` and
//! [`INSTALL_DIR`] and never run cargo when they are there.
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The esprit workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| here.to_path_buf())
}

/// `<workspace>/target/wasm`.
pub fn wasm_target_dir() -> PathBuf {
    workspace_root().join("target").join("wasm")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

fn lock_file() -> Result<File, String> {
    let dir = wasm_target_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let f = File::create(dir.join(".build.lock")).map_err(|e| format!("lock file: {e}"))?;
    f.lock().map_err(|e| format!("lock: {e}"))?;
    Ok(f)
}

/// Install the `wasm32-wasip2` target with rustup if it is missing.
pub fn ensure_wasm_target() -> Result<(), String> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2") => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"])),
        // No rustup: assume the toolchain has the target (the build says otherwise).
        Err(_) => Ok(()),
    }
}

fn build_plugins() -> Result<PathBuf, String> {
    let _guard = lock_file()?;
    ensure_wasm_target()?;
    let root = workspace_root();
    // plugins/, then the allowlist built for the frozen 0.1 WIT (its own
    // workspace, so Cargo does not unify the SDK's `wit-0-1` feature into
    // the 0.2 plugins).
    for manifest in [root.join("plugins").join("Cargo.toml"), root.join("plugins").join("compat").join("allowlist-v0-1").join("Cargo.toml")] {
        run(Command::new(cargo())
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(manifest)
            .env("CARGO_TARGET_DIR", wasm_target_dir())
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET"))?;
    }
    Ok(wasm_target_dir().join("wasm32-wasip2").join("release"))
}

/// Build `plugins/` (once per process) and return the directory holding the
/// `.wasm` files (`allowlist.wasm`, `per_port_sa.wasm`, ...).
pub fn ensure_plugins_built() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_plugins).clone()
}

/// Where packages and the container image install the plugins
/// (`deploy/Containerfile`).
pub const INSTALL_DIR: &str = "/usr/local/lib/esprit/plugins";

/// The environment variable naming a folder of built plugins; checked first.
pub const DIR_ENV: &str = "ESPRIT_PLUGIN_DIR";

fn wasm_file(crate_name: &str) -> String {
    format!("{}.wasm", crate_name.replace('-', "_"))
}

/// The first installed folder holding every one of `crate_names` built,
/// looked up at run time: `$ESPRIT_PLUGIN_DIR`, then [`INSTALL_DIR`]. Never
/// runs cargo; `None` if neither has them all.
pub fn find_installed(crate_names: &[&str]) -> Option<PathBuf> {
    let env = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()).map(PathBuf::from);
    first_holding(env.into_iter().chain([PathBuf::from(INSTALL_DIR)]), crate_names)
}

fn first_holding(dirs: impl IntoIterator<Item = PathBuf>, crate_names: &[&str]) -> Option<PathBuf> {
    dirs.into_iter().find(|d| crate_names.iter().all(|n| d.join(wasm_file(n)).is_file()))
}

/// The folder with `crate_names` built: [`find_installed`], else (in a
/// source checkout only) the workspace's wasm target dir, brought up to date
/// with cargo ([`ensure_plugins_built`]). A set `ESPRIT_PLUGIN_DIR` that
/// lacks one of them is an error, not a build; so is a missing install
/// outside a checkout (a container image has no cargo).
pub fn plugin_dir(crate_names: &[&str]) -> Result<PathBuf, String> {
    if let Some(d) = find_installed(crate_names) {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        let missing: Vec<String> = crate_names.iter().map(|n| wasm_file(n)).filter(|f| !Path::new(&d).join(f).is_file()).collect();
        return Err(format!("{DIR_ENV}={} lacks {}", Path::new(&d).display(), missing.join(", ")));
    }
    if !workspace_root().join("plugins").join("Cargo.toml").is_file() {
        return Err(format!(
            "the Wasm plugins {} are not installed in {INSTALL_DIR} (set {DIR_ENV} to the folder holding them)",
            crate_names.iter().map(|n| wasm_file(n)).collect::<Vec<_>>().join(", ")
        ));
    }
    ensure_plugins_built()
}

/// Path of one built plugin by crate name (`-` becomes `_`): found by
/// [`plugin_dir`] (installed first, built with cargo last).
pub fn plugin_path(crate_name: &str) -> Result<PathBuf, String> {
    let p = plugin_dir(&[crate_name])?.join(wasm_file(crate_name));
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} was not built", p.display()))
    }
}

/// The componentize-py version the Python example is built with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

fn componentize_py() -> Option<PathBuf> {
    let out = Command::new("python3").args(["-c", "import shutil;print(shutil.which('componentize-py') or '')"]).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if s.is_empty() {
        None
    } else {
        Some(PathBuf::from(s))
    }
}

/// Whether `out` exists and is newer than every one of `inputs` (relative to `base`).
fn newer_than_inputs(out: &Path, base: &Path, inputs: &[&str]) -> bool {
    let newest_input = inputs.iter().filter_map(|f| fs::metadata(base.join(f)).and_then(|m| m.modified()).ok()).max();
    matches!((fs::metadata(out).and_then(|m| m.modified()), newest_input), (Ok(m), Some(i)) if m > i)
}

fn build_python() -> Result<PathBuf, String> {
    let _guard = lock_file()?;
    let root = workspace_root();
    let src = root.join("examples").join("plugins").join("python-policy");
    let out = wasm_target_dir().join("python_policy.wasm");
    if newer_than_inputs(&out, &src, &["app.py", "../../../sdk/wit/types.wit", "../../../sdk/wit/host.wit", "../../../sdk/wit/worlds.wit"]) {
        return Ok(out);
    }
    let tool = match componentize_py() {
        Some(t) => t,
        None => {
            run(Command::new("python3").args(["-m", "pip", "install", "--quiet", &format!("componentize-py=={COMPONENTIZE_PY}")]))?;
            componentize_py().ok_or("componentize-py installed but not on PATH")?
        }
    };
    run(Command::new(tool)
        .arg("-d")
        .arg(root.join("sdk").join("wit"))
        .args(["-w", "esprit:plugin/policy@0.2.0", "componentize", "--stub-wasi", "app", "-o"])
        .arg(&out)
        .current_dir(&src))?;
    Ok(out)
}

/// Build the Python policy (`examples/plugins/python-policy`) with
/// componentize-py `--stub-wasi`, installing componentize-py with pip if
/// missing; rebuilt only when its inputs changed.
pub fn ensure_python_policy_built() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_python).clone()
}

fn build_js_template() -> Result<PathBuf, String> {
    let _guard = lock_file()?;
    let root = workspace_root();
    let name = "js-template";
    let dir = wasm_target_dir().join(name);
    let out = dir.join(format!("{name}.wasm"));
    let inputs = ["sdk/templates/js/app.js", "sdk/templates/js/package.json", "sdk/templates/js/plugin.toml", "sdk/wit/types.wit", "sdk/wit/host.wit", "sdk/wit/worlds.wit"];
    if newer_than_inputs(&out, &root, &inputs) {
        return Ok(out);
    }
    let modules = crate::lang_tools::js_node_modules()?;
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    crate::scaffold::scaffold(crate::scaffold::Lang::Js, name, &dir).map_err(|e| e.to_string())?;
    // `npm install` of the template, from the pinned tools.
    std::os::unix::fs::symlink(&modules, dir.join("node_modules")).map_err(|e| format!("linking node_modules: {e}"))?;
    run(Command::new("npm").args(["run", "build"]).current_dir(&dir))?;
    Ok(out)
}

/// Build the JavaScript template as `esprit plugin new --lang js` writes it
/// (in `target/wasm/js-template/`, with the pinned tools of
/// `scripts/js-tools`), for benchmarks; rebuilt only when the template or
/// the WIT changed. Returns the component's path; its spec is
/// `js-template.plugin.toml` beside it.
pub fn ensure_js_template_built() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_js_template).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_folder_holding_every_plugin_wins() {
        let base = std::env::temp_dir().join(format!("esprit-plugin-dirs-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        fs::create_dir_all(&a).and_then(|()| fs::create_dir_all(&b)).expect("dirs");
        fs::write(a.join("psk_auth.wasm"), b"").expect("a/psk");
        fs::write(b.join("psk_auth.wasm"), b"").and_then(|()| fs::write(b.join("allowlist.wasm"), b"")).expect("b");
        assert_eq!(first_holding([a.clone(), b.clone()], &["psk-auth"]), Some(a.clone()));
        assert_eq!(first_holding([a.clone(), b.clone()], &["psk-auth", "allowlist"]), Some(b.clone()));
        assert_eq!(first_holding([a, b], &["x509-auth"]), None);
        let _ = fs::remove_dir_all(&base);
    }
}
