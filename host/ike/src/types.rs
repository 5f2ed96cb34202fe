//! Protocol numbers of IKEv2 (RFC 7296 §3, IANA "IKEv2 Parameters"), as
//! newtypes and constants named after the RFC.
use std::fmt;

/// The 4-byte SPI of a CHILD_SA (an ESP or AH SA, RFC 7296 §3.3.1), shared
/// with the engine and the SAD.
pub use esprit_wire::Spi;
use esprit_wire::IpsecProtocol;

/// An 8-byte IKE SA SPI (RFC 7296 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IkeSpi(pub [u8; 8]);

impl IkeSpi {
    pub const ZERO: IkeSpi = IkeSpi([0; 8]);
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Exchange types (RFC 7296 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    IkeSaInit,
    IkeAuth,
    CreateChildSa,
    Informational,
    Other(u8),
}

impl ExchangeType {
    pub fn from_u8(v: u8) -> Self {
        match v {
            34 => ExchangeType::IkeSaInit,
            35 => ExchangeType::IkeAuth,
            36 => ExchangeType::CreateChildSa,
            37 => ExchangeType::Informational,
            o => ExchangeType::Other(o),
        }
    }
    pub fn to_u8(self) -> u8 {
        match self {
            ExchangeType::IkeSaInit => 34,
            ExchangeType::IkeAuth => 35,
            ExchangeType::CreateChildSa => 36,
            ExchangeType::Informational => 37,
            ExchangeType::Other(o) => o,
        }
    }
}

/// Payload type numbers (RFC 7296 §3.2, RFC 7383 §2.5).
pub mod payload_type {
    pub const NONE: u8 = 0;
    pub const SA: u8 = 33;
    pub const KE: u8 = 34;
    pub const IDI: u8 = 35;
    pub const IDR: u8 = 36;
    pub const CERT: u8 = 37;
    pub const CERTREQ: u8 = 38;
    pub const AUTH: u8 = 39;
    pub const NONCE: u8 = 40;
    pub const NOTIFY: u8 = 41;
    pub const DELETE: u8 = 42;
    pub const VENDOR: u8 = 43;
    pub const TSI: u8 = 44;
    pub const TSR: u8 = 45;
    pub const SK: u8 = 46;
    pub const CP: u8 = 47;
    pub const EAP: u8 = 48;
    pub const SKF: u8 = 53;
}

/// Security protocol identifiers (RFC 7296 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolId {
    Ike,
    Ah,
    Esp,
}

impl ProtocolId {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(ProtocolId::Ike),
            2 => Some(ProtocolId::Ah),
            3 => Some(ProtocolId::Esp),
            _ => None,
        }
    }
    pub fn to_u8(self) -> u8 {
        match self {
            ProtocolId::Ike => 1,
            ProtocolId::Ah => 2,
            ProtocolId::Esp => 3,
        }
    }

    /// The IPsec protocol of a CHILD_SA negotiated with this id; `None` for
    /// [`ProtocolId::Ike`], which names the IKE SA itself.
    pub fn ipsec(self) -> Option<IpsecProtocol> {
        match self {
            ProtocolId::Ike => None,
            ProtocolId::Ah => Some(IpsecProtocol::Ah),
            ProtocolId::Esp => Some(IpsecProtocol::Esp),
        }
    }
}

impl From<IpsecProtocol> for ProtocolId {
    fn from(p: IpsecProtocol) -> ProtocolId {
        match p {
            IpsecProtocol::Ah => ProtocolId::Ah,
            IpsecProtocol::Esp => ProtocolId::Esp,
        }
    }
}

/// Transform type numbers (RFC 7296 §3.3.2).
pub mod transform_type {
    pub const ENCR: u8 = 1;
    pub const PRF: u8 = 2;
    pub const INTEG: u8 = 3;
    pub const DH: u8 = 4;
    pub const ESN: u8 = 5;
}

/// Transform IDs we implement (IANA IKEv2 registries).
pub mod transform_id {
    pub const ENCR_AES_CBC: u16 = 12;
    pub const ENCR_AES_GCM_16: u16 = 20;
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;
    pub const PRF_HMAC_SHA2_256: u16 = 5;
    pub const PRF_HMAC_SHA2_384: u16 = 6;
    pub const PRF_HMAC_SHA2_512: u16 = 7;
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
    pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
    pub const AUTH_HMAC_SHA2_512_256: u16 = 14;
    pub const MODP_2048: u16 = 14;
    pub const ECP_256: u16 = 19;
    pub const CURVE25519: u16 = 31;
    pub const NO_ESN: u16 = 0;
    pub const ESN: u16 = 1;
    /// Key Length transform attribute (TV format, RFC 7296 §3.3.5).
    pub const ATTR_KEY_LENGTH: u16 = 14;
}

/// Notify message types (RFC 7296 §3.10.1 and later RFCs).
pub mod notify {
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    pub const INVALID_IKE_SPI: u16 = 4;
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    pub const INVALID_SYNTAX: u16 = 7;
    pub const INVALID_MESSAGE_ID: u16 = 9;
    pub const INVALID_SPI: u16 = 11;
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    pub const AUTHENTICATION_FAILED: u16 = 24;
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    pub const FAILED_CP_REQUIRED: u16 = 37;
    pub const TS_UNACCEPTABLE: u16 = 38;
    pub const INVALID_SELECTORS: u16 = 39;
    pub const TEMPORARY_FAILURE: u16 = 43;
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
    pub const INITIAL_CONTACT: u16 = 16384;
    pub const SET_WINDOW_SIZE: u16 = 16385;
    pub const ADDITIONAL_TS_POSSIBLE: u16 = 16386;
    pub const IPCOMP_SUPPORTED: u16 = 16387;
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    pub const COOKIE: u16 = 16390;
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    pub const REKEY_SA: u16 = 16393;
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: u16 = 16394;
    pub const NON_FIRST_FRAGMENTS_ALSO: u16 = 16395;
    pub const MOBIKE_SUPPORTED: u16 = 16396;
    pub const IKEV2_FRAGMENTATION_SUPPORTED: u16 = 16430;
    pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;

    /// A readable name for logs.
    pub fn name(t: u16) -> String {
        let s = match t {
            UNSUPPORTED_CRITICAL_PAYLOAD => "UNSUPPORTED_CRITICAL_PAYLOAD",
            INVALID_IKE_SPI => "INVALID_IKE_SPI",
            INVALID_MAJOR_VERSION => "INVALID_MAJOR_VERSION",
            INVALID_SYNTAX => "INVALID_SYNTAX",
            INVALID_MESSAGE_ID => "INVALID_MESSAGE_ID",
            INVALID_SPI => "INVALID_SPI",
            NO_PROPOSAL_CHOSEN => "NO_PROPOSAL_CHOSEN",
            INVALID_KE_PAYLOAD => "INVALID_KE_PAYLOAD",
            AUTHENTICATION_FAILED => "AUTHENTICATION_FAILED",
            SINGLE_PAIR_REQUIRED => "SINGLE_PAIR_REQUIRED",
            NO_ADDITIONAL_SAS => "NO_ADDITIONAL_SAS",
            INTERNAL_ADDRESS_FAILURE => "INTERNAL_ADDRESS_FAILURE",
            FAILED_CP_REQUIRED => "FAILED_CP_REQUIRED",
            TS_UNACCEPTABLE => "TS_UNACCEPTABLE",
            INVALID_SELECTORS => "INVALID_SELECTORS",
            TEMPORARY_FAILURE => "TEMPORARY_FAILURE",
            CHILD_SA_NOT_FOUND => "CHILD_SA_NOT_FOUND",
            INITIAL_CONTACT => "INITIAL_CONTACT",
            NAT_DETECTION_SOURCE_IP => "NAT_DETECTION_SOURCE_IP",
            NAT_DETECTION_DESTINATION_IP => "NAT_DETECTION_DESTINATION_IP",
            COOKIE => "COOKIE",
            USE_TRANSPORT_MODE => "USE_TRANSPORT_MODE",
            REKEY_SA => "REKEY_SA",
            IKEV2_FRAGMENTATION_SUPPORTED => "IKEV2_FRAGMENTATION_SUPPORTED",
            SIGNATURE_HASH_ALGORITHMS => "SIGNATURE_HASH_ALGORITHMS",
            other => return format!("notify {other}"),
        };
        s.to_string()
    }

    /// Error notifies are below 16384 (RFC 7296 §3.10.1).
    pub fn is_error(t: u16) -> bool {
        t < 16384
    }
}

/// Authentication methods (RFC 7296 §3.8, RFC 7427, RFC 7619).
pub mod auth_method {
    pub const RSA_SIG: u8 = 1;
    pub const SHARED_KEY_MIC: u8 = 2;
    pub const DSS_SIG: u8 = 3;
    pub const ECDSA_SHA256_P256: u8 = 9;
    pub const NULL: u8 = 13;
    pub const DIGITAL_SIGNATURE: u8 = 14;
}

/// Header flags (RFC 7296 §3.1).
pub mod flags {
    pub const INITIATOR: u8 = 0x08;
    pub const VERSION: u8 = 0x10;
    pub const RESPONSE: u8 = 0x20;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ids_map_to_ipsec_protocols_and_back() {
        for p in [IpsecProtocol::Esp, IpsecProtocol::Ah] {
            assert_eq!(ProtocolId::from(p).ipsec(), Some(p));
        }
        assert_eq!(ProtocolId::Ike.ipsec(), None);
        assert_eq!((ProtocolId::from(IpsecProtocol::Ah).to_u8(), ProtocolId::from(IpsecProtocol::Esp).to_u8()), (2, 3));
    }
}
