//! `esprit pki issue`: newreq + sign + the seed's rename/install layout in one
//! step. Writes what a host needs into one folder: HOST_cert.pem,
//! HOST_key.pem (0400) and a copy of the CA's cacert.pem (racoon's
//! `/etc/racoon/certs/` layout; esprit's `cert =` and `key =` take the first
//! two, the x509 auth plugin the CA).

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::ca::{Ca, CA_CERT};
use super::error::PkiError;
use super::output::{ensure_dir, host_file, host_stem, Output};
use super::params::{host_params, HostArgs, ValidityArgs};
use super::sign::HOST_DAYS;

/// `esprit pki issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// CA folder (cacert.pem, cakey.pem) made by `esprit pki ca`.
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub validity: ValidityArgs,
    /// Also write HOST_cert.der.
    #[arg(long)]
    pub der: bool,
    /// Leave out extendedKeyUsage (default: serverAuth + clientAuth).
    #[arg(long)]
    pub no_eku: bool,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Issues the key and certificate; returns the files written.
pub fn issue(args: &IssueArgs) -> Result<Vec<PathBuf>, PkiError> {
    let stem = host_stem(args.host.name.as_deref().unwrap_or(&args.host.cn))?;
    let ca = Ca::load(&args.ca)?;
    let validity = args.validity.resolve(HOST_DAYS)?;
    let params = host_params(&args.host.cn, &args.host.san, validity, !args.no_eku)?;
    let key = args.host.key_type.generate()?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(PkiError::rcgen("signing the certificate"))?;

    ensure_dir(&args.host.out)?;
    let out = Output { force: args.force };
    let cert_path = host_file(&args.host.out, stem, "cert.pem");
    let key_path = host_file(&args.host.out, stem, "key.pem");
    let ca_copy = args.host.out.join(CA_CERT);
    if !args.force {
        if let Some(p) = [&cert_path, &key_path].into_iter().find(|p| p.exists()) {
            return Err(PkiError::Exists { path: p.clone() });
        }
    }
    let ca_pem = std::fs::read(&ca.cert_path).map_err(|e| PkiError::io(&ca.cert_path, e))?;
    out.public(&ca_copy, &ca_pem)?;
    out.private_key(&key_path, Zeroizing::new(key.serialize_pem()).as_bytes())?;
    out.public(&cert_path, cert.pem().as_bytes())?;
    let mut files = vec![cert_path, key_path, ca_copy];
    if args.der {
        let der_path = host_file(&args.host.out, stem, "cert.der");
        out.public(&der_path, cert.der())?;
        files.push(der_path);
    }
    Ok(files)
}
