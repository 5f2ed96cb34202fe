//! Plugin spec text (TOML) → `esprit_plugin::PluginSpec::from_toml`. Specs
//! can name `[config_files]` to read: inputs naming special files are skipped
//! and relative names resolve in a folder that does not exist.
use std::path::Path;

use esprit_plugin::PluginSpec;

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    if crate::names_special_file(text) {
        return;
    }
    let base = Path::new("/nonexistent/esprit-fuzz");
    let _ = PluginSpec::from_toml(text, base, &base.join("fuzz.plugin.toml"));
}
