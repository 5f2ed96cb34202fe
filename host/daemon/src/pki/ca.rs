//! `esprit pki ca`: a self-signed CA in a folder (`cacert.pem`, `cacert.der`,
//! `cakey.pem`), and loading that folder to sign with it.

use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use zeroize::Zeroizing;

use super::error::PkiError;
use super::key_file::{load_certificate, load_private_key};
use super::key_type::KeyType;
use super::output::{ensure_dir, Output};
use super::params::{ca_params, ValidityArgs};

/// CA certificate file name in a CA folder (as OpenSSL's CA.pl).
pub const CA_CERT: &str = "cacert.pem";
/// CA certificate, DER.
pub const CA_CERT_DER: &str = "cacert.der";
/// CA private key file name.
pub const CA_KEY: &str = "cakey.pem";

/// `esprit pki ca`.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    /// Folder for cacert.pem, cacert.der and cakey.pem (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Common name of the CA.
    #[arg(long, default_value = "esprit CA")]
    pub cn: String,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyType,
    #[command(flatten)]
    pub validity: ValidityArgs,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Default CA lifetime (days).
const CA_DAYS: u32 = 3650;

/// Creates the CA; returns the files written.
pub fn create(args: &CaArgs) -> Result<Vec<PathBuf>, PkiError> {
    let validity = args.validity.resolve(CA_DAYS)?;
    let key = args.key_type.generate()?;
    let cert =
        ca_params(&args.cn, validity).self_signed(&key).map_err(PkiError::rcgen("signing the CA certificate"))?;
    ensure_dir(&args.out)?;
    let out = Output { force: args.force };
    let files = [args.out.join(CA_CERT), args.out.join(CA_CERT_DER), args.out.join(CA_KEY)];
    // Refuse before writing anything, so a refused run leaves no half CA.
    if !args.force {
        if let Some(p) = files.iter().find(|p| p.exists()) {
            return Err(PkiError::Exists { path: p.clone() });
        }
    }
    out.public(&files[0], cert.pem().as_bytes())?;
    out.public(&files[1], cert.der())?;
    out.private_key(&files[2], Zeroizing::new(key.serialize_pem()).as_bytes())?;
    Ok(files.to_vec())
}

/// A CA folder loaded for signing.
pub struct Ca {
    /// `DIR/cacert.pem`.
    pub cert_path: PathBuf,
    /// The issuer (name, key identifier, key).
    pub issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Loads `DIR/cacert.pem` and `DIR/cakey.pem` (mode-checked) and checks
    /// that they belong together and that the certificate is a CA.
    pub fn load(dir: &Path) -> Result<Ca, PkiError> {
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let cert_der = load_certificate(&cert_path)?;
        let loaded = load_private_key(&key_path)?;
        let key = KeyPair::try_from(loaded.pkcs8_der())
            .map_err(|e| PkiError::UnsupportedKey { path: key_path.clone(), what: e.to_string() })?;
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| PkiError::format(&cert_path, "an X.509 certificate", e.to_string()))?;
        if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::format(
                &key_path,
                "the private key of cacert.pem",
                format!("a key that does not match {}", cert_path.display()),
            ));
        }
        if !x509.is_ca() {
            return Err(PkiError::format(
                &cert_path,
                "a CA certificate (basicConstraints CA:TRUE)",
                "a host certificate",
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .map_err(PkiError::rcgen(format!("reading {}", cert_path.display())))?;
        Ok(Ca { cert_path, issuer })
    }
}
