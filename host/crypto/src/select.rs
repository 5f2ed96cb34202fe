//! Provider selection for configuration: by name, or the default (the faster
//! backend compiled in — aws-lc-rs, see DESIGN.md §2 "esp").

use crate::{CryptoError, Provider};

#[cfg(feature = "aws-lc")]
const NAMES: &[&str] = &["aws-lc", "rustcrypto"];
#[cfg(not(feature = "aws-lc"))]
const NAMES: &[&str] = &["rustcrypto"];

/// The provider used when the configuration names none: aws-lc-rs when
/// compiled in (feature `aws-lc`, default), otherwise RustCrypto.
pub fn default_provider() -> &'static dyn Provider {
    #[cfg(feature = "aws-lc")]
    {
        &crate::awslc::AWSLC
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        &crate::rustcrypto::RUSTCRYPTO
    }
}

/// Looks a provider up by its configuration name (`"rustcrypto"`, `"aws-lc"`).
pub fn provider_by_name(name: &str) -> Result<&'static dyn Provider, CryptoError> {
    match name {
        "rustcrypto" => Ok(&crate::rustcrypto::RUSTCRYPTO),
        #[cfg(feature = "aws-lc")]
        "aws-lc" => Ok(&crate::awslc::AWSLC),
        _ => Err(CryptoError::UnknownProvider(name.to_owned())),
    }
}

/// Names of the providers compiled in, the default first.
pub fn provider_names() -> &'static [&'static str] {
    NAMES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_itself() {
        for n in provider_names() {
            assert_eq!(provider_by_name(n).map(|p| p.name()), Ok(*n));
        }
    }

    #[test]
    fn default_is_first_name() {
        assert_eq!(default_provider().name(), provider_names()[0]);
    }

    #[test]
    fn unknown_name_is_an_error() {
        assert_eq!(
            provider_by_name("openssl").map(|p| p.name()),
            Err(CryptoError::UnknownProvider("openssl".into()))
        );
        assert!(provider_by_name("").is_err());
        assert!(provider_by_name("AWS-LC").is_err());
    }

    #[cfg(not(feature = "aws-lc"))]
    #[test]
    fn aws_lc_absent_without_feature() {
        assert!(provider_by_name("aws-lc").is_err());
    }
}
