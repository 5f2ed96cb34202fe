//! Fuzzes `decapsulate` and `peek_spi` for every transform and mode.
//!
//! Input: byte 0 picks the SA (transform × mode × ESN × family); if its top
//! bit is set, the rest is an inner packet that is first encapsulated and then
//! has one byte (position and value from bytes 1–3) changed, which reaches the
//! crypto, padding and next-header checks; otherwise the rest is fed as an
//! outer packet directly.
//!
//! (Was `host/esp/fuzz`; now `scripts/fuzz decapsulate`.)
use esprit_crypto::{default_provider, AeadAlg, CipherAlg, IntegAlg};
use esprit_esp::{peek_spi, Mode, Sa, SaConfig, Transform};
use std::sync::Mutex;
use zeroize::Zeroizing;

const TRANSFORMS: [Transform; 9] = [
    Transform::Aead(AeadAlg::Aes128Gcm16),
    Transform::Aead(AeadAlg::Aes256Gcm16),
    Transform::Aead(AeadAlg::ChaCha20Poly1305),
    Transform::CbcHmac(CipherAlg::Aes128Cbc, IntegAlg::HmacSha256_128),
    Transform::CbcHmac(CipherAlg::Aes256Cbc, IntegAlg::HmacSha512_256),
    Transform::NullHmac(IntegAlg::HmacSha256_128),
    Transform::Ah(IntegAlg::HmacSha256_128),
    Transform::Ah(IntegAlg::HmacSha384_192),
    Transform::Ah(IntegAlg::HmacSha512_256),
];

fn config(sel: u8) -> SaConfig {
    let t = TRANSFORMS[usize::from(sel & 0x0f) % TRANSFORMS.len()];
    let mode = if sel & 0x10 != 0 { Mode::Tunnel } else { Mode::Transport };
    let esn = sel & 0x20 != 0;
    let v6 = sel & 0x40 != 0;
    let (enc, auth) = t.key_lens();
    let (src, dst) = if v6 {
        ("2001:db8::1".parse().expect("a constant"), "2001:db8::2".parse().expect("a constant"))
    } else {
        ("192.0.2.1".parse().expect("a constant"), "192.0.2.2".parse().expect("a constant"))
    };
    SaConfig {
        spi: esprit_esp::Spi(0x1000),
        protocol: t.protocol(),
        mode,
        src,
        dst,
        transform: t,
        enc_key: Zeroizing::new(vec![0x11; enc]),
        auth_key: Zeroizing::new(vec![0x22; auth]),
        esn,
        replay_window: 64,
        tfc_padding: false,
    }
}

static SAS: Mutex<Vec<(Sa, Sa)>> = Mutex::new(Vec::new());

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let mut sas = SAS.lock().unwrap_or_else(|e| e.into_inner());
    if sas.is_empty() {
        for s in 0..=0x7fu8 {
            let cfg = config(s);
            sas.push((Sa::new(cfg.clone(), default_provider()).expect("a constant"), Sa::new(cfg, default_provider()).expect("a constant")));
        }
    }
    let (tx, rx) = &mut sas[usize::from(sel & 0x7f)];
    let mut out = [0u8; 4096];
    let mut back = [0u8; 4096];
    let _ = peek_spi(rest);
    if sel & 0x80 != 0 && rest.len() > 3 {
        let (ctl, inner) = rest.split_at(3);
        let Ok(enc) = tx.encapsulate(inner, &mut out) else { return };
        let i = usize::from(u16::from_be_bytes([ctl[0], ctl[1]])) % enc.len();
        enc[i] ^= ctl[2];
        let n = enc.len();
        let _ = rx.decapsulate(&out[..n], &mut back);
    } else {
        let _ = rx.decapsulate(rest, &mut back);
    }
}
