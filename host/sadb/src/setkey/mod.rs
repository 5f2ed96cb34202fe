//! The setkey.conf format of ipsec-tools (setkey(8)), accepted verbatim, as
//! plain data: [`parse_file`] / [`parse_str`] return a `Vec<Statement>` or an
//! error `file:line:col: what was expected, found what`. Loading is
//! all-or-nothing: one bad statement and nothing is returned.
//!
//! # Accepted syntax
//! ```text
//! # comment to end of line; statements span lines and end with ';'
//! flush;
//! spdflush;
//! add SRC DST esp|ah SPI [-m transport|tunnel|any] [-r N] [-u ID] [-f PADOPT]
//!     [-lh SECS] [-ls SECS] [-bh BYTES] [-bs BYTES] [-ph PKTS] [-ps PKTS] [-esn]
//!     -E ENCALG KEY [-A AUTHALG KEY] ;
//! add SRC DST ah SPI [options] -A AUTHALG KEY ;
//! spdadd SRC[/PLEN][[PORT]] DST[/PLEN][[PORT]] UPPERSPEC -P in|out|fwd
//!     [prio N | prio low|def|high [+|-N]] ipsec|none|discard REQUEST... ;
//! ```
//! * REQUEST is `esp|ah/transport|tunnel/[A-B]/[default|use|require|unique[:ID]]`;
//!   tunnel mode needs `A-B` (the outer source and destination as written, so
//!   for an `in` policy A is the remote gateway). The level defaults to `default`.
//! * UPPERSPEC is `any|tcp|udp|icmp|icmp6|ipv6-icmp|gre|esp|ah|sctp|NUMBER`;
//!   `icmp`/`icmp6` may be followed by `TYPE[,CODE]`, stored in the source and
//!   destination port fields (RFC 4301 §4.4.1.1).
//! * Keys are `0x` followed by hex digits or a double-quoted string.
//! * Encryption algorithms (`-E`): `aes-gcm-16` (RFC 4106; the key carries the
//!   4-byte salt as in Linux `rfc4106(gcm(aes))`: 20 bytes for AES-128, 36 for
//!   AES-256; AES-192 is not supported), `chacha20-poly1305` (RFC 7634: 32-byte
//!   key + 4-byte salt = 36), `rijndael-cbc` / `aes-cbc` (RFC 3602: 16 or 32
//!   bytes), `null` (RFC 2410, no key or `""`). AEADs take no `-A`; `aes-cbc`
//!   and `null` need one.
//! * Integrity algorithms (`-A`): `hmac-sha256`, `hmac-sha384`, `hmac-sha512`
//!   (RFC 4868, keys of 32/48/64 bytes, ICVs truncated to half).
//! * Priorities as ipsec-tools' libipsec computes them: the stored value is
//!   the Linux kernel's (a lower value wins); `def` is 2^31, `high` 2^30, `low`
//!   3·2^30; `prio N` is `def − N` (a larger N is more important), `prio -N`
//!   is `def + N`, `prio high +N` is `high − N`, `prio low -N` is `low + N`.
//!   A policy without `prio` gets `def`.
//! * `-f` (padding / cyclic-sequence options) is accepted and ignored with a
//!   warning (see [`parse_str_with_warnings`]).
//! * `-lh`/`-ls` (hard/soft lifetime in seconds) and `-bh`/`-bs` (in bytes) are
//!   setkey's own.
//!
//! # esprit extensions
//! * `-esn`: the SA uses 64-bit extended sequence numbers (RFC 4303 §2.2.1).
//! * `-r N`: the anti-replay window in **packets** (setkey documents its `-r`
//!   in bytes; esprit counts packets). `-r 0` disables the replay check.
//!   Without `-r` the engine's default applies.
//! * `-ph`/`-ps PKTS`: hard/soft lifetime in packets.

mod alg;
mod error;
mod lexer;
mod parse;
mod to_config;

use std::net::IpAddr;
use std::path::Path;

use zeroize::Zeroizing;

pub use alg::{AuthAlg, EncAlg};
pub use error::{SetkeyError, Span};
pub use to_config::ToConfigError;

use crate::decider::{Direction, IpsecMode, IpsecProto, Spi, Verdict};
use crate::lifetime::Lifetimes;
use crate::selector::Selector;

/// One setkey.conf statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `flush;` — remove all SAs.
    Flush,
    /// `spdflush;` — remove all policies.
    SpdFlush,
    /// `add ...;` — one SA.
    Add(SaSpec),
    /// `spdadd ...;` — one policy.
    SpdAdd(PolicySpec),
}

/// An SA from an `add` statement. Keys are zeroized on drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaSpec {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: IpsecProto,
    pub spi: Spi,
    /// `None` = `-m any` or no `-m` (setkey's default).
    pub mode: Option<IpsecMode>,
    /// Encryption algorithm and key (for AEADs: key || 4-byte salt).
    pub enc: Option<(EncAlg, Zeroizing<Vec<u8>>)>,
    pub auth: Option<(AuthAlg, Zeroizing<Vec<u8>>)>,
    /// Replay window in packets (`-r`); `None` = engine default.
    pub replay: Option<u32>,
    /// `-esn`.
    pub esn: bool,
    /// `-u ID` (reqid), matched by `unique:ID` requests.
    pub reqid: Option<u32>,
    pub lifetimes: Lifetimes,
    /// Where the statement starts.
    pub span: Span,
}

/// A policy from an `spdadd` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub selector: Selector,
    pub dir: Direction,
    /// Linux priority: lower wins.
    pub priority: u32,
    /// `none` → Bypass, `discard` → Discard, `ipsec REQ...` → Protect.
    pub action: Verdict,
    pub span: Span,
}

/// Something accepted but ignored, e.g. `-f random-pad`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub span: Span,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: warning: {}", self.file, self.span, self.message)
    }
}

/// Linux's default policy priority (`prio def`).
pub const PRIORITY_DEFAULT: u32 = 0x8000_0000;
/// `prio high`.
pub const PRIORITY_HIGH: u32 = 0x4000_0000;
/// `prio low`.
pub const PRIORITY_LOW: u32 = 0xC000_0000;

/// Reads and parses a setkey.conf file; errors name the file as given.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Vec<Statement>, SetkeyError> {
    parse_file_with_warnings(path).map(|(s, _)| s)
}

/// [`parse_file`], also returning the warnings.
pub fn parse_file_with_warnings(
    path: impl AsRef<Path>,
) -> Result<(Vec<Statement>, Vec<Warning>), SetkeyError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| SetkeyError::Io { file: name.clone(), error: source })?;
    let text = Zeroizing::new(text);
    parse_str_with_warnings(&name, &text)
}

/// Parses setkey.conf text; `name` is used in error messages.
pub fn parse_str(name: &str, text: &str) -> Result<Vec<Statement>, SetkeyError> {
    parse_str_with_warnings(name, text).map(|(s, _)| s)
}

/// [`parse_str`], also returning the warnings.
pub fn parse_str_with_warnings(
    name: &str,
    text: &str,
) -> Result<(Vec<Statement>, Vec<Warning>), SetkeyError> {
    parse::Parser::new(name, text)?.statements()
}

#[cfg(test)]
pub(crate) mod tests;
