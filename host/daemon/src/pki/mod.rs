//! `esprit pki`: a small CA for IKE certificates, one command per step of the
//! seed's OpenSSL CA.pl workflow (newreq, sign, decrypt, rename, install),
//! plus the loaders the daemon uses for `cert =` and `key =` files.
//!
//! | CA.pl step            | esprit                                      |
//! |-----------------------|---------------------------------------------|
//! | CA.pl -newca          | `esprit pki ca --out DIR`                   |
//! | CA.pl -newreq         | `esprit pki newreq --cn HOST --out DIR`     |
//! | CA.pl -sign           | `esprit pki sign --ca DIR --req R --out C`  |
//! | openssl rsa; chmod 400| `esprit pki decrypt --in KEY` (a check)     |
//! | mv / install          | file names HOST_cert.pem, HOST_key.pem      |
//! | all of the above      | `esprit pki issue --ca DIR --cn HOST --out D`|

pub mod ca;
pub mod decrypt;
pub mod error;
pub mod issue;
pub mod key_file;
pub mod key_type;
pub mod output;
pub mod params;
pub mod req;
pub mod show;
pub mod sign;

pub use error::PkiError;
#[allow(unused_imports)] // the IKE code's entry points
pub use key_file::{load_certificate, load_private_key, LoadedKey, SignatureScheme};

use std::path::PathBuf;

/// `esprit pki ...`.
#[derive(Debug, clap::Subcommand)]
pub enum PkiCmd {
    /// Create a CA: DIR/cacert.pem (+ cacert.der) and DIR/cakey.pem (mode 0400).
    Ca(ca::CaArgs),
    /// New host key and signing request: DIR/HOST_req.pem and DIR/HOST_key.pem (mode 0400).
    Newreq(req::NewreqArgs),
    /// Sign a request with a CA folder; keeps the request's subject and SANs.
    Sign(sign::SignArgs),
    /// Key + certificate for a host in one step: DIR/HOST_cert.pem, DIR/HOST_key.pem, DIR/cacert.pem.
    Issue(issue::IssueArgs),
    /// Check that a key is unencrypted and owner-only (esprit never encrypts keys);
    /// --out rewrites an older EC/RSA PEM key as PKCS#8.
    Decrypt(decrypt::DecryptArgs),
    /// Print a certificate's or request's subject, issuer, SANs, validity and key type;
    /// --key loads a private key as the daemon would.
    Show(show::ShowArgs),
}

/// Runs one `esprit pki` command, printing what it wrote.
pub fn run(cmd: PkiCmd) -> Result<(), PkiError> {
    let wrote = |files: Vec<PathBuf>| {
        for f in files {
            println!("wrote {}", f.display());
        }
    };
    match cmd {
        PkiCmd::Ca(a) => wrote(ca::create(&a)?),
        PkiCmd::Newreq(a) => wrote(req::newreq(&a)?),
        PkiCmd::Sign(a) => wrote(vec![sign::sign(&a)?]),
        PkiCmd::Issue(a) => wrote(issue::issue(&a)?),
        PkiCmd::Decrypt(a) => print!("{}", decrypt::decrypt(&a)?),
        PkiCmd::Show(a) => print!("{}", show::show(&a)?),
    }
    Ok(())
}
