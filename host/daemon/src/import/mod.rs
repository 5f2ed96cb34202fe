//! `esprit import racoon`: turn an ipsec-tools setup (racoon.conf for IKEv1
//! and setkey.conf for the policies) into an esprit IKEv2 configuration.
//!
//! ```text
//! esprit import racoon --racoon racoon.conf --setkey setkey.conf
//!     [--out esprit.toml] [--name NAME] [--certs DIR] [--local ADDRESS] [--plugin-dir DIR]
//! ```
//! The TOML goes to `--out` (or stdout); the auth plugin specs
//! (`x509.plugin.toml`, `psk.plugin.toml`) are written next to it (or into
//! the current folder). Every item that cannot be carried over as it is gets
//! one line on stderr, `warning: FILE:LINE: ...`. The exit status is 0 when a
//! usable configuration was written; syntax errors in either input and
//! setups with nothing to negotiate are errors (`FILE:LINE:COL: ...`).

mod algs;
mod cert;
mod convert;
mod emit;
mod policies;
mod psk;
pub mod racoon;
mod warn;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use warn::Warnings;

/// `esprit import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// Turn racoon.conf + setkey.conf (ipsec-tools, IKEv1) into an esprit IKEv2 config.
    Racoon(RacoonArgs),
}

/// `esprit import racoon` arguments.
#[derive(Debug, Args)]
pub struct RacoonArgs {
    /// racoon.conf to read (remote, sainfo, path, listen, timer stanzas).
    #[arg(long)]
    pub racoon: PathBuf,
    /// setkey.conf with the policies (one [[conn]] per `-P out ipsec` policy).
    #[arg(long)]
    pub setkey: PathBuf,
    /// Write the configuration here (default: stdout); plugin specs go next to it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instance name (default: racoon-<this host's address>).
    #[arg(long)]
    pub name: Option<String>,
    /// Folder with the certificates on the host that will run esprit
    /// (default: racoon's `path certificate`, else /etc/racoon/certs).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// This host's address, needed when the out policies' sources are prefixes.
    #[arg(long)]
    pub local: Option<IpAddr>,
    /// Folder with the auth plugins' .wasm files (x509_auth.wasm, psk_auth.wasm).
    #[arg(long, default_value = "/usr/local/lib/esprit/plugins")]
    pub plugin_dir: PathBuf,
}

/// Runs an import command.
pub fn run(cmd: ImportCmd) -> Result<()> {
    match cmd {
        ImportCmd::Racoon(a) => racoon_cmd(&a),
    }
}

fn print_warnings(w: &Warnings) {
    for line in w.iter() {
        eprintln!("{line}");
    }
}

fn racoon_cmd(a: &RacoonArgs) -> Result<()> {
    let mut w = Warnings::default();
    let result = import(a, &mut w);
    print_warnings(&w);
    let (toml, plugins) = result?;
    let dir = match &a.out {
        Some(out) => out.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => PathBuf::new(),
    };
    for p in &plugins {
        let path = dir.join(&p.file_name);
        write_file(&path, &p.text, p.secret)?;
        eprintln!("esprit: wrote {}", path.display());
    }
    match &a.out {
        Some(out) => {
            write_file(out, &toml, false)?;
            eprintln!("esprit: wrote {} ({} warnings)", out.display(), w.len());
        }
        None => print!("{toml}"),
    }
    Ok(())
}

/// Parses both inputs and converts; returns the TOML and the plugin files.
fn import(a: &RacoonArgs, w: &mut Warnings) -> Result<(String, Vec<convert::PluginFile>)> {
    let rc = racoon::parse_file(&a.racoon, w)?;
    let setkey_name = a.setkey.display().to_string();
    let (statements, setkey_warnings) = esprit_sadb::setkey::parse_file_with_warnings(&a.setkey)?;
    for sw in setkey_warnings {
        w.at(&sw.file, sw.span.line, sw.message);
    }
    let pol = policies::analyse(&statements, &setkey_name, w);
    let opts = convert::Options {
        name: a.name.clone(),
        certs: a.certs.clone(),
        local: a.local,
        plugin_dir: a.plugin_dir.clone(),
        racoon_dir: a.racoon.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let imported = convert::convert(&rc, &pol, &setkey_name, &opts, w)?;
    Ok((emit::render(&imported), imported.plugins))
}

fn write_file(path: &Path, text: &str, secret: bool) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        // an existing file keeps its mode on open: tighten it
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).with_context(|| format!("chmod 600 {}", path.display()))?;
    }
    f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;

/// The whole import in memory (for the fuzz target and its replay test):
/// racoon.conf and setkey.conf text in, the TOML and the number of warnings
/// out; `local` is `--local`. Relative files racoon.conf names
/// (certificates, keys, psk.txt) are looked up under `dir`.
#[doc(hidden)]
pub fn import_str(racoon: &str, setkey: &str, local: Option<IpAddr>, dir: &Path) -> Result<(String, usize)> {
    let mut w = Warnings::default();
    let rc = racoon::parse_str("racoon.conf", racoon, &mut w)?;
    let (statements, setkey_warnings) = esprit_sadb::setkey::parse_str_with_warnings("setkey.conf", setkey)?;
    for sw in setkey_warnings {
        w.at(&sw.file, sw.span.line, sw.message);
    }
    let pol = policies::analyse(&statements, "setkey.conf", &mut w);
    let opts = convert::Options {
        name: None,
        certs: None,
        local,
        plugin_dir: dir.join("plugins"),
        racoon_dir: dir.to_path_buf(),
    };
    let imported = convert::convert(&rc, &pol, "setkey.conf", &opts, &mut w)?;
    Ok((emit::render(&imported), w.len()))
}
