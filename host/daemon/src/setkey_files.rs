//! The setkey statements of a config: its `setkey_files`, then its inline
//! `[ipsec] setkey` text (key-bearing files that others can read are
//! warned about).
use anyhow::Result;
use esprit_sadb::setkey::{self, Statement};

use crate::config::Config;

/// Reads all setkey statements of a config: the files, then the inline text.
pub fn load_statements(cfg: &Config) -> Result<Vec<Statement>> {
    let mut all = Vec::new();
    for f in &cfg.ipsec.setkey_files {
        let path = cfg.resolve(f);
        let statements = setkey::parse_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        if statements.iter().any(|s| matches!(s, Statement::Add(_))) {
            crate::secret_files::warn_if_readable(&path, "SA keys (`add` statements)");
        }
        all.extend(statements);
    }
    if let Some(text) = &cfg.ipsec.setkey {
        let name = format!("{} [ipsec.setkey]", cfg.path.display());
        all.extend(setkey::parse_str(&name, text).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(all)
}
