//! `esprit pki newreq`: a new key and certificate signing request (PKCS#10,
//! RFC 2986) for a host, like CA.pl -newreq but with the key never encrypted.

use std::path::PathBuf;

use rcgen::CertificateParams;
use zeroize::Zeroizing;

use super::error::PkiError;
use super::output::{ensure_dir, host_file, host_stem, Output};
use super::params::{cn_name, parse_san, san_from_cn, HostArgs};

/// `esprit pki newreq`.
#[derive(Debug, clap::Args)]
pub struct NewreqArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Also write the request as DER (HOST_req.der).
    #[arg(long)]
    pub der: bool,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Writes HOST_req.pem and HOST_key.pem; returns the files written.
pub fn newreq(args: &NewreqArgs) -> Result<Vec<PathBuf>, PkiError> {
    let stem = host_stem(args.host.name.as_deref().unwrap_or(&args.host.cn))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = cn_name(&args.host.cn);
    params.subject_alt_names.extend(san_from_cn(&args.host.cn));
    for s in &args.host.san {
        let san = parse_san(s)?;
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let key = args.host.key_type.generate()?;
    let csr = params.serialize_request(&key).map_err(PkiError::rcgen("building the request"))?;
    let pem = csr.pem().map_err(PkiError::rcgen("encoding the request"))?;

    ensure_dir(&args.host.out)?;
    let out = Output { force: args.force };
    let req_path = host_file(&args.host.out, stem, "req.pem");
    let key_path = host_file(&args.host.out, stem, "key.pem");
    out.private_key(&key_path, Zeroizing::new(key.serialize_pem()).as_bytes())?;
    out.public(&req_path, pem.as_bytes())?;
    let mut files = vec![req_path, key_path];
    if args.der {
        let der_path = host_file(&args.host.out, stem, "req.der");
        out.public(&der_path, csr.der())?;
        files.push(der_path);
    }
    Ok(files)
}
