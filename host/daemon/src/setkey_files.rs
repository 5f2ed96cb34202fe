//! The setkey statements of a config: its `setkey_files`, then its inline
//! `[ipsec] setkey` text (key-bearing files that others can read are
//! warned about). Errors found when the statements are applied name the
//! file they came from.
use anyhow::Result;
use esprit_sadb::setkey::{self, Statement};
use esprit_sadb::SadbError;

use crate::config::Config;

/// All setkey statements of a config, in order, and where each came from.
pub struct SetkeyStatements {
    pub statements: Vec<Statement>,
    /// (index of the first statement after this source, source name).
    sources: Vec<(usize, String)>,
}

impl SetkeyStatements {
    /// The file (or `config [ipsec.setkey]`) statement `index` came from.
    fn source_of(&self, index: usize) -> Option<&str> {
        self.sources.iter().find(|(end, _)| index < *end).map(|(_, name)| name.as_str())
    }

    /// `file:line:col: why` for an error applying these statements; other
    /// errors are prefixed with `context` (the config file).
    pub fn locate(&self, e: anyhow::Error, context: &std::path::Path) -> anyhow::Error {
        if let Some(SadbError::Statement { index, span, message }) = e.downcast_ref::<SadbError>() {
            if let Some(name) = self.source_of(*index) {
                return anyhow::anyhow!("{name}:{span}: {message}");
            }
        }
        anyhow::anyhow!("{}: {e:#}", context.display())
    }
}

/// Reads all setkey statements of a config: the files, then the inline text.
pub fn load_statements(cfg: &Config) -> Result<SetkeyStatements> {
    let mut all = SetkeyStatements { statements: Vec::new(), sources: Vec::new() };
    for f in &cfg.ipsec.setkey_files {
        let path = cfg.resolve(f);
        let statements = setkey::parse_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        if statements.iter().any(|s| matches!(s, Statement::Add(_))) {
            crate::secret_files::warn_if_readable(&path, "SA keys (`add` statements)");
        }
        all.statements.extend(statements);
        all.sources.push((all.statements.len(), path.display().to_string()));
    }
    if let Some(text) = &cfg.ipsec.setkey {
        let name = format!("{} [ipsec.setkey]", cfg.path.display());
        all.statements.extend(setkey::parse_str(&name, text).map_err(|e| anyhow::anyhow!("{e}"))?);
        all.sources.push((all.statements.len(), name));
    }
    Ok(all)
}
