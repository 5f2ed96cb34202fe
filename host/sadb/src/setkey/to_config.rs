//! From a parsed `add` statement to the ESP engine's [`SaConfig`].

use esprit_esp::{Mode, Protocol, SaConfig, Transform, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
use zeroize::Zeroizing;

use super::{AuthAlg, EncAlg, SaSpec, Span};
use crate::decider::{IpsecMode, IpsecProto, Spi};

/// Why an `add` statement does not make an engine SA (the parser already
/// rejects most of these; this guards hand-built `SaSpec`s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{span}: SA {spi:#x}: {what}")]
pub struct ToConfigError {
    pub span: Span,
    pub spi: Spi,
    pub what: String,
}

impl SaSpec {
    /// The engine configuration for this SA. `-m any` (or no `-m`) means
    /// transport, as in Linux; no `-r` means the engine's default window.
    pub fn to_sa_config(&self) -> Result<SaConfig, ToConfigError> {
        let err = |what: String| ToConfigError { span: self.span, spi: self.spi, what };
        let empty = || Zeroizing::new(Vec::new());
        let auth = self.auth.as_ref().map(|(AuthAlg::Hmac(i), k)| (*i, k.clone()));
        let (protocol, transform, enc_key, auth_key) = match (self.proto, &self.enc, auth) {
            (IpsecProto::Ah, None, Some((i, k))) => (Protocol::Ah, Transform::Ah(i), empty(), k),
            (IpsecProto::Esp, Some((EncAlg::Aead(a), k)), None) => {
                (Protocol::Esp, Transform::Aead(*a), k.clone(), empty())
            }
            (IpsecProto::Esp, Some((EncAlg::Cbc(c), k)), Some((i, ak))) => {
                (Protocol::Esp, Transform::CbcHmac(*c, i), k.clone(), ak)
            }
            (IpsecProto::Esp, Some((EncAlg::Null, _)), Some((i, ak))) => {
                (Protocol::Esp, Transform::NullHmac(i), empty(), ak)
            }
            _ => return Err(err("this combination of protocol, -E and -A is not supported".into())),
        };
        let replay_window = self.replay.unwrap_or(DEFAULT_REPLAY_WINDOW);
        if replay_window > MAX_REPLAY_WINDOW {
            return Err(err(format!(
                "replay window {replay_window} is larger than the maximum {MAX_REPLAY_WINDOW} packets"
            )));
        }
        Ok(SaConfig {
            spi: self.spi,
            protocol,
            mode: match self.mode {
                Some(IpsecMode::Tunnel) => Mode::Tunnel,
                Some(IpsecMode::Transport) | None => Mode::Transport,
            },
            src: self.src,
            dst: self.dst,
            transform,
            enc_key,
            auth_key,
            esn: self.esn,
            replay_window,
            tfc_padding: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_str, Statement};
    use super::*;
    use esprit_crypto::{AeadAlg, CipherAlg, IntegAlg};

    fn spec(text: &str) -> SaSpec {
        match parse_str("t", text).unwrap().pop() {
            Some(Statement::Add(s)) => s,
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn every_transform_maps() {
        let k20 = "0x0102030405060708090a0b0c0d0e0f1011121314";
        let k32 = format!("0x{}", "22".repeat(32));
        let c = spec(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -m tunnel -r 64 -esn -E aes-gcm-16 {k20};"))
            .to_sa_config()
            .unwrap();
        assert_eq!((c.protocol, c.mode, c.transform), (Protocol::Esp, Mode::Tunnel, Transform::Aead(AeadAlg::Aes128Gcm16)));
        assert_eq!((c.enc_key.len(), c.auth_key.len(), c.esn, c.replay_window), (20, 0, true, 64));
        let c = spec(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E aes-cbc {k32} -A hmac-sha256 {k32};")).to_sa_config().unwrap();
        assert_eq!(c.transform, Transform::CbcHmac(CipherAlg::Aes256Cbc, IntegAlg::HmacSha256_128));
        assert_eq!((c.mode, c.replay_window, c.esn), (Mode::Transport, DEFAULT_REPLAY_WINDOW, false));
        let c = spec(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -E null -A hmac-sha256 {k32};")).to_sa_config().unwrap();
        assert_eq!((c.transform, c.enc_key.len(), c.auth_key.len()), (Transform::NullHmac(IntegAlg::HmacSha256_128), 0, 32));
        let c = spec(&format!("add 1.1.1.1 2.2.2.2 ah 0x300 -A hmac-sha256 {k32};")).to_sa_config().unwrap();
        assert_eq!((c.protocol, c.transform), (Protocol::Ah, Transform::Ah(IntegAlg::HmacSha256_128)));
        let c = spec(&format!("add 1.1.1.1 2.2.2.2 esp 0x300 -r 0 -E chacha20-poly1305 0x{};", "33".repeat(36)))
            .to_sa_config()
            .unwrap();
        assert_eq!((c.transform, c.replay_window), (Transform::Aead(AeadAlg::ChaCha20Poly1305), 0));
    }

    #[test]
    fn oversized_replay_window_is_refused() {
        let e = spec("add 1.1.1.1 2.2.2.2 esp 0x300 -r 4000000000 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;")
            .to_sa_config()
            .unwrap_err();
        assert_eq!(e.to_string(), format!("1:1: SA 0x300: replay window 4000000000 is larger than the maximum {MAX_REPLAY_WINDOW} packets"));
    }

    #[test]
    fn hand_built_spec_without_keys_is_refused() {
        let mut s = spec("add 1.1.1.1 2.2.2.2 ah 0x300 -A hmac-sha256 0x0000000000000000000000000000000000000000000000000000000000000000;");
        s.auth = None;
        assert!(s.to_sa_config().is_err());
    }

    #[test]
    fn seed_sas_build_engine_sas() {
        for st in parse_str("seed", super::super::tests::SEED_FIXED).unwrap() {
            if let Statement::Add(s) = st {
                let cfg = s.to_sa_config().unwrap();
                esprit_esp::Sa::new(cfg, esprit_crypto::default_provider()).unwrap();
            }
        }
    }
}
