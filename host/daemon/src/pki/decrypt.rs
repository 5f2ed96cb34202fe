//! `esprit pki decrypt`: the seed's step 3 (`openssl rsa -in newkey.pem -out
//! newkey.pem; chmod 400`). esprit writes keys unencrypted with mode 0400, so
//! for its own keys this is a check; an older `EC PRIVATE KEY` / `RSA PRIVATE
//! KEY` file can be rewritten as PKCS#8 with `--out`. Encrypted keys are
//! refused with the openssl command that decrypts them.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::error::PkiError;
use super::key_file::load_private_key;
use super::output::Output;

/// `esprit pki decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The private key file.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Write the key as unencrypted PKCS#8 PEM (mode 0400) here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long)]
    pub force: bool,
}

/// Checks (and optionally rewrites) the key; returns what to print.
pub fn decrypt(args: &DecryptArgs) -> Result<String, PkiError> {
    let key = load_private_key(&args.input)?;
    let mut msg =
        format!("{}\nnothing to decrypt: the key is not encrypted and only its owner can read it\n", key.summary());
    if let Some(out) = &args.out {
        let kp = rcgen::KeyPair::try_from(key.pkcs8_der())
            .map_err(|e| PkiError::UnsupportedKey { path: args.input.clone(), what: e.to_string() })?;
        let pem = Zeroizing::new(kp.serialize_pem());
        Output { force: args.force }.private_key(out, pem.as_bytes())?;
        msg.push_str(&format!("wrote {} (unencrypted PKCS#8 PEM, mode 0400)\n", out.display()));
    }
    Ok(msg)
}
