//! `esprit pki sign`: sign a PKCS#10 request with a CA folder, like CA.pl
//! -sign. The request's subject and subjectAltNames are kept; everything else
//! (CA flag, key usage, validity, serial) is the CA's choice.

use std::path::{Path, PathBuf};

use rcgen::CertificateSigningRequestParams;
use x509_parser::pem::Pem;

use super::ca::Ca;
use super::error::PkiError;
use super::key_file::is_pem;
use super::output::Output;
use super::params::{make_host_params, ValidityArgs};

/// Default host certificate lifetime (days).
pub const HOST_DAYS: u32 = 365;

/// `esprit pki sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// CA folder (cacert.pem, cakey.pem) made by `esprit pki ca`.
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// The request (PEM or DER), e.g. HOST_req.pem.
    #[arg(long, value_name = "FILE")]
    pub req: PathBuf,
    /// The certificate to write, e.g. HOST_cert.pem.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub validity: ValidityArgs,
    /// Write the certificate as DER instead of PEM.
    #[arg(long)]
    pub der: bool,
    /// Leave out extendedKeyUsage (default: serverAuth + clientAuth, which
    /// Windows and macOS IKEv2 clients want).
    #[arg(long)]
    pub no_eku: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Signs the request; returns the file written.
pub fn sign(args: &SignArgs) -> Result<PathBuf, PkiError> {
    let ca = Ca::load(&args.ca)?;
    let validity = args.validity.resolve(HOST_DAYS)?;
    let mut csr = read_request(&args.req)?;
    make_host_params(&mut csr.params, validity, !args.no_eku)?;
    let cert = csr.signed_by(&ca.issuer).map_err(PkiError::rcgen("signing the certificate"))?;
    let out = Output { force: args.force };
    if args.der {
        out.public(&args.out, cert.der())?;
    } else {
        out.public(&args.out, cert.pem().as_bytes())?;
    }
    Ok(args.out.clone())
}

const EXPECTED: &str = "a PKCS#10 certificate request (PEM `CERTIFICATE REQUEST` or DER)";

/// Reads and verifies a PKCS#10 request (PEM `CERTIFICATE REQUEST` or DER).
pub fn read_request(path: &Path) -> Result<CertificateSigningRequestParams, PkiError> {
    let der = read_request_der(path)?;
    request_params(path, &der)
}

/// The DER of a request file (PEM `CERTIFICATE REQUEST` or DER), unchecked.
pub fn read_request_der(path: &Path) -> Result<Vec<u8>, PkiError> {
    let bytes = std::fs::read(path).map_err(|e| PkiError::io(path, e))?;
    let der = if is_pem(&bytes) {
        let mut labels = Vec::new();
        let mut found = None;
        for block in Pem::iter_from_buffer(&bytes) {
            let block = block.map_err(|e| PkiError::format(path, EXPECTED, format!("broken PEM ({e})")))?;
            if block.label == "CERTIFICATE REQUEST" || block.label == "NEW CERTIFICATE REQUEST" {
                found = Some(block.contents);
                break;
            }
            labels.push(format!("`{}`", block.label));
        }
        found.ok_or_else(|| PkiError::format(path, EXPECTED, format!("PEM block(s) {}", labels.join(", "))))?
    } else {
        bytes
    };
    Ok(der)
}

/// Parses a request and verifies its self-signature (RFC 2986 §3).
pub fn request_params(path: &Path, der: &[u8]) -> Result<CertificateSigningRequestParams, PkiError> {
    CertificateSigningRequestParams::from_der(&der.into()).map_err(|e| {
        let found = match e {
            rcgen::Error::InvalidCertificationRequestSignature => "a request whose signature does not verify".to_string(),
            rcgen::Error::UnsupportedExtension => {
                "a request with an extension esprit does not copy (only subjectAltName, keyUsage, extendedKeyUsage, basicConstraints)".to_string()
            }
            other => format!("a request that does not parse ({other})"),
        };
        PkiError::format(path, EXPECTED, found)
    })
}
