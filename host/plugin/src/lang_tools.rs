//! The tools that build plugins in other languages, for tests and CI:
//! componentize-py (Python) and componentize-js (JavaScript), each at the
//! version the templates and docs name. JavaScript tools are pinned in
//! `scripts/js-tools/package.json` (+ lock) and installed there with
//! `npm ci` (by `.ci/run`, or on first use here).
use std::path::PathBuf;
use std::process::Command;

use crate::build::workspace_root;

/// The componentize-js version the JavaScript template is built with.
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// `scripts/js-tools`: the pinned JavaScript tools' project folder.
pub fn js_tools_dir() -> PathBuf {
    workspace_root().join("scripts").join("js-tools")
}

/// `scripts/js-tools/node_modules`, with `componentize-js` installed (by
/// `npm ci` if it is missing). `Err` says what is missing (node, npm, the
/// registry).
pub fn js_node_modules() -> Result<PathBuf, String> {
    let dir = js_tools_dir();
    let modules = dir.join("node_modules");
    let bin = modules.join(".bin").join("componentize-js");
    if !bin.exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("npm not found ({e}): install node 18+ and npm, then `npm ci --prefix scripts/js-tools`"))?;
        if !out.status.success() {
            return Err(format!("npm ci --prefix {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    Command::new("node").arg("--version").output().map_err(|e| format!("node not found: {e}"))?;
    if bin.exists() {
        Ok(modules)
    } else {
        Err(format!("{} missing after npm ci", bin.display()))
    }
}

/// componentize-py on `PATH` (installed with pip at
/// [`crate::build::COMPONENTIZE_PY`] if missing).
pub fn componentize_py() -> Result<PathBuf, String> {
    let find = || {
        let out = Command::new("python3").args(["-c", "import shutil;print(shutil.which('componentize-py') or '')"]).output().ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then(|| PathBuf::from(s))
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    let spec = format!("componentize-py=={}", crate::build::COMPONENTIZE_PY);
    let out = Command::new("python3").args(["-m", "pip", "install", "--quiet", &spec]).output().map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!("pip install {spec} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    find().ok_or_else(|| "componentize-py installed but not on PATH".to_string())
}
