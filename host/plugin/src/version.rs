//! The versions of the WIT contract `esprit:plugin` this host supports, and
//! which one a component speaks. Each supported version has a binding module
//! generated from its frozen WIT (`v0_1` from `sdk/wit/v0.1.0`) or, for the
//! live one, from `sdk/wit` (`v0_2`); the loader picks the module by the
//! version the component's `esprit:plugin` imports and exports name.
use std::collections::BTreeSet;
use std::fmt;

/// The WIT package every esprit plugin interface belongs to.
pub const WIT_PACKAGE: &str = "esprit:plugin";

/// A supported `esprit:plugin` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WitVersion {
    /// 0.1.0: `decide` and a separate `sa-key` export.
    V0_1,
    /// 0.2.0: `decide` returns the SA key in its decision.
    V0_2,
}

impl WitVersion {
    /// Every version this host loads, oldest first.
    pub const SUPPORTED: [WitVersion; 2] = [WitVersion::V0_1, WitVersion::V0_2];
    /// The live version (`sdk/wit`); the host's internal types are its types.
    pub const LATEST: WitVersion = WitVersion::V0_2;

    /// `0.1.0`, `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1 => crate::v0_1::WIT_VERSION,
            WitVersion::V0_2 => crate::v0_2::WIT_VERSION,
        }
    }

    /// The version named `s` (as after the `@` of an interface name).
    pub fn parse(s: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == s)
    }

    /// The interfaces the host provides to a plugin of this version.
    pub fn provided(self) -> [&'static str; 3] {
        match self {
            WitVersion::V0_1 => ["esprit:plugin/types@0.1.0", "esprit:plugin/host@0.1.0", "esprit:plugin/crypto@0.1.0"],
            WitVersion::V0_2 => ["esprit:plugin/types@0.2.0", "esprit:plugin/host@0.2.0", "esprit:plugin/crypto@0.2.0"],
        }
    }

    /// `0.1.0, 0.2.0`: the supported versions for messages.
    pub fn supported_list() -> String {
        Self::SUPPORTED.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for WitVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{WIT_PACKAGE}@{}", self.as_str())
    }
}

/// Why no supported version could be chosen for a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undetected {
    /// No import or export names an `esprit:plugin` interface.
    NoEspritInterface,
    /// The component speaks one version, and this host does not support it.
    Unsupported(String),
    /// The component names more than one version.
    Mixed(Vec<String>),
}

/// The version a component speaks, from the names of its imports and
/// exports (`esprit:plugin/types@0.2.0`, ...). Every plugin names at least
/// `types` (its functions take a flow or an auth context).
pub fn detect<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<WitVersion, Undetected> {
    let versions: BTreeSet<&str> = names
        .into_iter()
        .filter_map(|n| n.strip_prefix(WIT_PACKAGE)?.strip_prefix('/'))
        .map(|rest| rest.split_once('@').map_or("(unversioned)", |(_, v)| v))
        .collect();
    let mut it = versions.iter();
    match (it.next(), it.next()) {
        (None, _) => Err(Undetected::NoEspritInterface),
        (Some(v), None) => WitVersion::parse(v).ok_or_else(|| Undetected::Unsupported((*v).to_string())),
        (Some(_), Some(_)) => Err(Undetected::Mixed(versions.iter().map(|v| v.to_string()).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_supported_version_is_found_by_its_names() {
        assert_eq!(detect(["wasi:cli/stdout@0.2.3", "esprit:plugin/types@0.1.0", "esprit:plugin/host@0.1.0"]), Ok(WitVersion::V0_1));
        assert_eq!(detect(["esprit:plugin/types@0.2.0"]), Ok(WitVersion::V0_2));
        for v in WitVersion::SUPPORTED {
            assert_eq!(detect(v.provided()), Ok(v));
            assert_eq!(WitVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(WitVersion::supported_list(), "0.1.0, 0.2.0");
        assert_eq!(WitVersion::LATEST.to_string(), "esprit:plugin@0.2.0");
    }

    #[test]
    fn unknown_mixed_and_foreign_components_are_told_apart() {
        assert_eq!(detect(["esprit:plugin/types@0.9.0"]), Err(Undetected::Unsupported("0.9.0".into())));
        assert_eq!(detect(["esprit:plugin/types"]), Err(Undetected::Unsupported("(unversioned)".into())));
        assert_eq!(
            detect(["esprit:plugin/types@0.1.0", "esprit:plugin/host@0.2.0"]),
            Err(Undetected::Mixed(vec!["0.1.0".into(), "0.2.0".into()]))
        );
        assert_eq!(detect(["wasi:cli/stdout@0.2.3", "esprit:pluginx/types@0.1.0"]), Err(Undetected::NoEspritInterface));
    }
}
