//! The certificate code of the `x509-auth` plugin (`plugins/x509-auth`),
//! compiled natively so the fuzzers reach it: the plugin's own source files
//! are included by path, and the few WIT items they use are stubbed here.
//! The plugin crate itself is a wasm32-wasip2 cdylib whose `lib.rs` is the
//! WIT glue, so it cannot be a dependency of a native crate.
//!
//! The stubbed host `crypto.verify` accepts any non-empty signature: a
//! fuzzer cannot forge signatures, and this way it reaches every check
//! that comes after one (validity, CA flags, keyUsage, chain walking).
#![deny(unsafe_code)]
#![allow(dead_code)]

#[path = "../../../../plugins/x509-auth/src/algid.rs"]
pub mod algid;
#[path = "../../../../plugins/x509-auth/src/chain.rs"]
pub mod chain;
#[path = "../../../../plugins/x509-auth/src/ext.rs"]
pub mod ext;
#[path = "../../../../plugins/x509-auth/src/idcheck.rs"]
pub mod idcheck;
#[path = "../../../../plugins/psk-auth/src/ids.rs"]
pub mod ids;
#[path = "../../../../plugins/x509-auth/src/name.rs"]
pub mod name;

/// The WIT address type (`esprit:plugin/types.ip-address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpAddress {
    Ipv4((u8, u8, u8, u8)),
    Ipv6((u16, u16, u16, u16, u16, u16, u16, u16)),
}

/// The WIT identity type (`esprit:plugin/types.identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    IpAddr(IpAddress),
    Fqdn(String),
    Rfc822(String),
    DerAsn1Dn(Vec<u8>),
    KeyId(Vec<u8>),
    Null,
}

/// Stand-ins for the WIT imports the included files use.
pub mod esprit {
    pub mod plugin {
        pub mod crypto {
            /// `esprit:plugin/crypto.signature-scheme`.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub enum SignatureScheme {
                EcdsaP256Sha256,
                EcdsaP384Sha384,
                Ed25519,
                RsaPssSha256,
                RsaPkcs1Sha256,
                RsaPkcs1Sha384,
                RsaPkcs1Sha512,
            }

            /// `crypto.verify`, stubbed: any non-empty signature verifies
            /// (see the crate documentation).
            pub fn verify(_scheme: SignatureScheme, _public_key: &[u8], _message: &[u8], signature: &[u8]) -> bool {
                !signature.is_empty()
            }
        }
    }
}
