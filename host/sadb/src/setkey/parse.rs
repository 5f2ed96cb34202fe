//! The statement grammar over the tokens of [`super::lexer`].

use std::net::IpAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use super::alg::{self, AuthAlg, EncAlg};
use super::error::{SetkeyError, Span};
use super::lexer::{tokenize, Token, TokenKind};
use super::{PolicySpec, SaSpec, Statement, Warning, PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW};
use crate::decider::{Direction, IpsecMode, IpsecProto, Level, SaRequest, Spi, Verdict};
use crate::lifetime::Lifetimes;
use crate::selector::{IpPrefix, Selector};

const ADDR_PREFIX_HINT: &str =
    "an IPv4 or IPv6 address like 192.168.0.0/24 or 2001:db8::/32";
const ADDR_HINT: &str = "an IPv4 or IPv6 address like 192.168.0.1 or 2001:db8::1";

type R<T> = Result<T, SetkeyError>;

pub struct Parser<'a> {
    file: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    eof: Span,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    pub fn new(file: &'a str, text: &str) -> R<Self> {
        let tokens = tokenize(file, text)?;
        let line = text.matches('\n').count() as u32 + 1;
        let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
        Ok(Parser { file, tokens, pos: 0, eof: Span { line, col }, warnings: Vec::new() })
    }

    pub fn statements(mut self) -> R<(Vec<Statement>, Vec<Warning>)> {
        let mut out = Vec::new();
        while let Some(tok) = self.next() {
            let st = match tok.word() {
                Some("flush") => {
                    self.expect_semi()?;
                    Statement::Flush
                }
                Some("spdflush") => {
                    self.expect_semi()?;
                    Statement::SpdFlush
                }
                Some("add") => Statement::Add(self.add(tok.span)?),
                Some("spdadd") => Statement::SpdAdd(self.spdadd(tok.span)?),
                _ => {
                    return Err(self.err_at(
                        &tok,
                        "expected a statement (add, spdadd, flush or spdflush)",
                    ))
                }
            };
            out.push(st);
        }
        Ok((out, self.warnings))
    }

    // ---- token helpers -------------------------------------------------

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn err_at(&self, tok: &Token, expected: &str) -> SetkeyError {
        SetkeyError::syntax(self.file, tok.span, format!("{expected}, found {}", tok.describe()))
    }

    fn err_eof(&self, expected: &str) -> SetkeyError {
        SetkeyError::syntax(self.file, self.eof, format!("{expected}, found end of file"))
    }

    /// The next token, which must exist.
    fn need(&mut self, expected: &str) -> R<Token> {
        self.next().ok_or_else(|| self.err_eof(expected))
    }

    /// The next token, which must be a word.
    fn word(&mut self, expected: &str) -> R<(String, Token)> {
        let t = self.need(expected)?;
        match &t.kind {
            TokenKind::Word(w) => Ok((w.clone(), t)),
            _ => Err(self.err_at(&t, expected)),
        }
    }

    fn expect_semi(&mut self) -> R<()> {
        let t = self.need("expected ';'")?;
        match t.kind {
            TokenKind::Semi => Ok(()),
            _ => Err(self.err_at(&t, "expected ';'")),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, expected: &str) -> R<T> {
        let (w, t) = self.word(expected)?;
        parse_num(&w).ok_or_else(|| self.err_at(&t, expected))
    }

    // ---- add -----------------------------------------------------------

    fn add(&mut self, span: Span) -> R<SaSpec> {
        let src = self.host_addr()?;
        let dst = self.host_addr()?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(SetkeyError::syntax(
                self.file,
                span,
                format!("expected source and destination of the same address family, found {src} and {dst}"),
            ));
        }
        let (w, t) = self.word("expected esp or ah")?;
        let proto = match w.as_str() {
            "esp" => IpsecProto::Esp,
            "ah" => IpsecProto::Ah,
            _ => return Err(self.err_at(&t, "expected esp or ah")),
        };
        let spi_hint = "expected an SPI (a number from 256 to 4294967295, decimal or 0x hex)";
        let (w, t) = self.word(spi_hint)?;
        let spi = match parse_num::<u32>(&w) {
            Some(s) if s >= 256 => Spi(s),
            _ => return Err(self.err_at(&t, spi_hint)),
        };

        let mut sa = SaSpec {
            src,
            dst,
            proto,
            spi,
            mode: None,
            enc: None,
            auth: None,
            replay: None,
            esn: false,
            reqid: None,
            lifetimes: Lifetimes::default(),
            span,
        };
        let opt_hint = "expected an option (-m, -r, -u, -f, -lh, -ls, -bh, -bs, -ph, -ps, -esn, -E, -A) or ';'";
        let mut auth_tok: Option<Token> = None;
        let semi = loop {
            let t = self.need(opt_hint)?;
            let w = match &t.kind {
                TokenKind::Semi => break t,
                TokenKind::Word(w) => w.clone(),
                TokenKind::Quoted(_) => return Err(self.err_at(&t, opt_hint)),
            };
            match w.as_str() {
                "-m" => {
                    let hint = "expected a mode: transport, tunnel or any";
                    let (m, mt) = self.word(hint)?;
                    sa.mode = match m.as_str() {
                        "transport" => Some(IpsecMode::Transport),
                        "tunnel" => Some(IpsecMode::Tunnel),
                        "any" => None,
                        _ => return Err(self.err_at(&mt, hint)),
                    };
                }
                "-r" => {
                    sa.replay = Some(self.number("expected a replay window size in packets")?)
                }
                "-u" => sa.reqid = Some(self.number("expected a request id (a number)")?),
                "-f" => {
                    let (f, ft) = self.word("expected a padding option after -f")?;
                    self.warnings.push(Warning {
                        file: self.file.to_string(),
                        span: ft.span,
                        message: format!("'-f {f}' is ignored: esprit pads as RFC 4303 §2.4 says"),
                    });
                }
                "-lh" | "-ls" => {
                    let secs: u64 = self.number("expected a lifetime in seconds")?;
                    let l = if w == "-lh" { &mut sa.lifetimes.hard } else { &mut sa.lifetimes.soft };
                    l.time = Some(Duration::from_secs(secs));
                }
                "-bh" | "-bs" => {
                    let b: u64 = self.number("expected a lifetime in bytes")?;
                    let l = if w == "-bh" { &mut sa.lifetimes.hard } else { &mut sa.lifetimes.soft };
                    l.bytes = Some(b);
                }
                "-ph" | "-ps" => {
                    let p: u64 = self.number("expected a lifetime in packets")?;
                    let l = if w == "-ph" { &mut sa.lifetimes.hard } else { &mut sa.lifetimes.soft };
                    l.packets = Some(p);
                }
                "-esn" => sa.esn = true,
                "-E" => {
                    if proto == IpsecProto::Ah {
                        return Err(self.err_at(&t, "expected -A ALG KEY (an ah SA has no encryption)"));
                    }
                    if sa.enc.is_some() {
                        return Err(self.err_at(&t, "expected one -E per SA"));
                    }
                    sa.enc = Some(self.enc_alg()?);
                }
                "-A" => {
                    if sa.auth.is_some() {
                        return Err(self.err_at(&t, "expected one -A per SA"));
                    }
                    sa.auth = Some(self.auth_alg()?);
                    auth_tok = Some(t);
                }
                "-C" => {
                    return Err(self.err_at(&t, "expected an option other than -C (IPComp is not supported)"))
                }
                _ => return Err(self.err_at(&t, opt_hint)),
            }
        };
        self.check_sa(&sa, &semi, auth_tok.as_ref())?;
        Ok(sa)
    }

    /// Combinations of -E and -A that make an SA.
    fn check_sa(&self, sa: &SaSpec, semi: &Token, auth_tok: Option<&Token>) -> R<()> {
        match (sa.proto, &sa.enc, &sa.auth) {
            (IpsecProto::Ah, _, None) => Err(self.err_at(semi, "expected -A ALG KEY for an ah SA")),
            (IpsecProto::Esp, None, _) => {
                Err(self.err_at(semi, "expected -E ALG KEY for an esp SA"))
            }
            (IpsecProto::Esp, Some((e, _)), Some(_)) if e.is_aead() => Err(self.err_at(
                auth_tok.unwrap_or(semi),
                "expected no -A with an AEAD (aes-gcm-16 and chacha20-poly1305 authenticate themselves)",
            )),
            (IpsecProto::Esp, Some((e, _)), None) if !e.is_aead() => Err(self.err_at(
                semi,
                "expected -A ALG KEY (rijndael-cbc, aes-cbc and null need an integrity algorithm)",
            )),
            _ => Ok(()),
        }
    }

    fn enc_alg(&mut self) -> R<(EncAlg, Zeroizing<Vec<u8>>)> {
        let hint = format!("expected an encryption algorithm ({})", alg::ENC_NAMES);
        let (name, nt) = self.word(&hint)?;
        if !alg::is_enc_name(&name) {
            return Err(self.err_at(&nt, &hint));
        }
        // `-E null` takes no key in setkey; accept an optional `""`.
        let key = if name == "null" {
            match self.peek().map(|t| &t.kind) {
                Some(TokenKind::Quoted(_)) => self.key(&name)?.0,
                Some(TokenKind::Word(w)) if w.starts_with("0x") => self.key(&name)?.0,
                _ => Zeroizing::new(Vec::new()),
            }
        } else {
            let (k, kt) = self.key(&name)?;
            if let Err(e) = alg::enc_from(&name, k.len()) {
                let msg = e.unwrap_or_else(|| hint.clone());
                return Err(SetkeyError::syntax(
                    self.file,
                    kt.span,
                    format!("{msg}, found {} bytes", k.len()),
                ));
            }
            k
        };
        match alg::enc_from(&name, key.len()) {
            Ok(a) => Ok((a, key)),
            Err(e) => Err(SetkeyError::syntax(
                self.file,
                nt.span,
                format!("{}, found {} bytes", e.unwrap_or(hint), key.len()),
            )),
        }
    }

    fn auth_alg(&mut self) -> R<(AuthAlg, Zeroizing<Vec<u8>>)> {
        let hint = format!("expected an integrity algorithm ({})", alg::AUTH_NAMES);
        let (name, nt) = self.word(&hint)?;
        let a = alg::auth_from(&name).ok_or_else(|| self.err_at(&nt, &hint))?;
        let (k, kt) = self.key(&name)?;
        let want = a.integ().key_len();
        if k.len() != want {
            return Err(SetkeyError::syntax(
                self.file,
                kt.span,
                format!("expected a {want}-byte key for {name}, found {} bytes", k.len()),
            ));
        }
        Ok((a, k))
    }

    /// A key: `0x` hex digits or a quoted string.
    fn key(&mut self, alg: &str) -> R<(Zeroizing<Vec<u8>>, Token)> {
        let hint = format!("expected a key for {alg} (0x followed by hex digits, or a \"quoted string\")");
        let t = self.need(&hint)?;
        let key = match &t.kind {
            TokenKind::Quoted(s) => Zeroizing::new(s.as_bytes().to_vec()),
            TokenKind::Word(w) => match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                Some(h) => match decode_hex(h) {
                    Some(k) => k,
                    None => {
                        // Do not echo key material into logs.
                        return Err(SetkeyError::syntax(
                            self.file,
                            t.span,
                            format!("{hint}, found a word that is not an even number of hex digits"),
                        ));
                    }
                },
                None => return Err(self.err_at(&t, &hint)),
            },
            TokenKind::Semi => return Err(self.err_at(&t, &hint)),
        };
        Ok((key, t))
    }

    fn host_addr(&mut self) -> R<IpAddr> {
        let (w, t) = self.word(&format!("expected {ADDR_HINT}"))?;
        w.parse().map_err(|_| self.err_at(&t, &format!("expected {ADDR_HINT}")))
    }

    // ---- spdadd --------------------------------------------------------

    fn spdadd(&mut self, span: Span) -> R<PolicySpec> {
        let (src, src_port) = self.prefix_port()?;
        let (dst, dst_port) = self.prefix_port()?;
        if src.addr().is_ipv4() != dst.addr().is_ipv4() {
            return Err(SetkeyError::syntax(
                self.file,
                span,
                format!("expected source and destination of the same address family, found {src} and {dst}"),
            ));
        }
        let mut selector = Selector { src, dst, proto: None, src_port, dst_port };
        self.upperspec(&mut selector)?;

        let (p, pt) = self.word("expected -P")?;
        if p != "-P" {
            return Err(self.err_at(&pt, "expected -P"));
        }
        let dir_hint = "expected a direction: in, out or fwd";
        let (d, dt) = self.word(dir_hint)?;
        let dir = match d.as_str() {
            "in" => Direction::In,
            "out" => Direction::Out,
            "fwd" => Direction::Fwd,
            _ => return Err(self.err_at(&dt, dir_hint)),
        };
        let mut priority = PRIORITY_DEFAULT;
        let act_hint = "expected an action: ipsec, none or discard (or prio N before it)";
        let (mut a, mut at) = self.word(act_hint)?;
        if a == "prio" || a == "priority" {
            priority = self.priority()?;
            (a, at) = self.word("expected an action: ipsec, none or discard")?;
        }
        let action = match a.as_str() {
            "none" => {
                self.expect_semi()?;
                Verdict::Bypass
            }
            "discard" => {
                self.expect_semi()?;
                Verdict::Discard
            }
            "ipsec" => Verdict::Protect(self.requests()?),
            _ => return Err(self.err_at(&at, act_hint)),
        };
        Ok(PolicySpec { selector, dir, priority, action, span })
    }

    /// `ADDR[/PLEN][[PORT]]`.
    fn prefix_port(&mut self) -> R<(IpPrefix, Option<u16>)> {
        let hint = format!("expected {ADDR_PREFIX_HINT}");
        let (w, t) = self.word(&hint)?;
        let bad = |s: &Self| s.err_at(&t, &hint);
        let (addr_part, port) = match w.find('[') {
            Some(i) => {
                let inner = w[i + 1..].strip_suffix(']').ok_or_else(|| {
                    self.err_at(&t, "expected a port in brackets like 10.0.0.0/8[443] or [any]")
                })?;
                let port = if inner == "any" {
                    None
                } else {
                    Some(inner.parse::<u16>().map_err(|_| {
                        self.err_at(&t, "expected a port number (0-65535) or 'any' in brackets")
                    })?)
                };
                (&w[..i], port)
            }
            None => (w.as_str(), None),
        };
        let (a, len) = match addr_part.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad(self))?)),
            None => (addr_part, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad(self))?;
        let prefix = match len {
            Some(l) => IpPrefix::new(addr, l).map_err(|e| {
                SetkeyError::syntax(
                    self.file,
                    t.span,
                    format!("expected {ADDR_PREFIX_HINT} ({e}), found '{w}'"),
                )
            })?,
            None => IpPrefix::host(addr),
        };
        Ok((prefix, port))
    }

    fn upperspec(&mut self, sel: &mut Selector) -> R<()> {
        let hint = "expected an upper-layer protocol (any, tcp, udp, icmp, icmp6 or a number)";
        let (w, t) = self.word(hint)?;
        let proto = match w.as_str() {
            "any" => None,
            "icmp" => Some(1),
            "tcp" => Some(6),
            "udp" => Some(17),
            "gre" => Some(47),
            "esp" => Some(50),
            "ah" => Some(51),
            "icmp6" | "ipv6-icmp" => Some(58),
            "sctp" => Some(132),
            n => Some(parse_num::<u8>(n).ok_or_else(|| self.err_at(&t, hint))?),
        };
        sel.proto = proto;
        if matches!(proto, Some(1) | Some(58)) {
            // Optional `TYPE[,CODE]` (RFC 4301 §4.4.1.1: carried in the port fields).
            if let Some(Token { kind: TokenKind::Word(tc), .. }) = self.peek() {
                if tc.starts_with(|c: char| c.is_ascii_digit()) {
                    let (tc, tt) = self.word(hint)?;
                    let ic = "expected an ICMP TYPE or TYPE,CODE (numbers 0-255)";
                    let (ty, code) = match tc.split_once(',') {
                        Some((a, b)) => (a, Some(b)),
                        None => (tc.as_str(), None),
                    };
                    let ty: u8 = ty.parse().map_err(|_| self.err_at(&tt, ic))?;
                    let code = match code {
                        Some(c) => Some(c.parse::<u8>().map_err(|_| self.err_at(&tt, ic))?),
                        None => None,
                    };
                    sel.src_port = Some(ty as u16);
                    sel.dst_port = code.map(u16::from);
                }
            }
        }
        Ok(())
    }

    /// ipsec-tools' priority grammar (libipsec policy_parse.y), where a
    /// larger user-facing number means "more important" and the stored value
    /// is the kernel's (lower wins):
    /// `prio N` → def − N; `prio -N` → def + N; `prio low|def|high` → base;
    /// `prio BASE +N` → base − N; `prio BASE -N` → base + N.
    fn priority(&mut self) -> R<u32> {
        let hint = "expected a priority: a number, or low, def or high with an optional +N or -N";
        let (w, t) = self.word(hint)?;
        let range = "expected a priority that stays within 0..=4294967295";
        let apply = |s: &Self, base: u32, up: bool, off: u64, at: &Token| -> R<u32> {
            let v = if up { i64::from(base) - off as i64 } else { i64::from(base) + off as i64 };
            u32::try_from(v).map_err(|_| s.err_at(at, range))
        };
        let base = match w.as_str() {
            "low" => PRIORITY_LOW,
            "def" | "default" => PRIORITY_DEFAULT,
            "high" => PRIORITY_HIGH,
            "-" => {
                let (n, nt) = self.word(hint)?;
                let off = parse_num::<u32>(&n).ok_or_else(|| self.err_at(&nt, hint))?;
                return apply(self, PRIORITY_DEFAULT, false, u64::from(off), &nt);
            }
            n => {
                let (neg, digits) = match n.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, n),
                };
                let off = parse_num::<u32>(digits).ok_or_else(|| self.err_at(&t, hint))?;
                return apply(self, PRIORITY_DEFAULT, !neg, u64::from(off), &t);
            }
        };
        let sign_word = match self.peek() {
            Some(Token { kind: TokenKind::Word(s), .. }) if s.starts_with(['+', '-']) => s.clone(),
            _ => return Ok(base),
        };
        let st = self.need(hint)?;
        let (up, rest) = (sign_word.starts_with('+'), &sign_word[1..]);
        let (off, at): (u32, Token) = if rest.is_empty() {
            let (n, nt) = self.word("expected a priority offset (a number)")?;
            let off = parse_num(&n).ok_or_else(|| self.err_at(&nt, "expected a priority offset (a number)"))?;
            (off, nt)
        } else {
            (parse_num(rest).ok_or_else(|| self.err_at(&st, hint))?, st)
        };
        apply(self, base, up, u64::from(off), &at)
    }

    /// Requests up to and including the `;`.
    fn requests(&mut self) -> R<Vec<SaRequest>> {
        let hint = "expected a request like esp/transport//require or esp/tunnel/192.0.2.1-192.0.2.2/require";
        let mut out = Vec::new();
        loop {
            let h = if out.is_empty() { hint } else { "expected another request or ';'" };
            let t = self.need(h)?;
            let w = match &t.kind {
                TokenKind::Semi if !out.is_empty() => return Ok(out),
                TokenKind::Word(w) => w.clone(),
                _ => return Err(self.err_at(&t, h)),
            };
            out.push(self.request(&w, &t, h)?);
        }
    }

    fn request(&self, w: &str, t: &Token, hint: &str) -> R<SaRequest> {
        let parts: Vec<&str> = w.split('/').collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err(self.err_at(t, hint));
        }
        let proto = match parts[0] {
            "esp" => IpsecProto::Esp,
            "ah" => IpsecProto::Ah,
            _ => return Err(self.err_at(t, "expected a request starting with esp/ or ah/")),
        };
        let mode = match parts[1] {
            "transport" => IpsecMode::Transport,
            "tunnel" => IpsecMode::Tunnel,
            _ => return Err(self.err_at(t, "expected transport or tunnel as the request's mode")),
        };
        let endpoints = parts.get(2).copied().unwrap_or("");
        let tunnel = if endpoints.is_empty() {
            None
        } else {
            let bad = || {
                self.err_at(t, "expected tunnel endpoints like 192.0.2.1-192.0.2.2 in the request")
            };
            let (a, b) = endpoints.split_once('-').ok_or_else(bad)?;
            let a: IpAddr = a.parse().map_err(|_| bad())?;
            let b: IpAddr = b.parse().map_err(|_| bad())?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(bad());
            }
            Some((a, b))
        };
        match (mode, tunnel) {
            (IpsecMode::Tunnel, None) => {
                return Err(self.err_at(
                    t,
                    "expected tunnel endpoints in a tunnel request, like esp/tunnel/192.0.2.1-192.0.2.2/require",
                ))
            }
            (IpsecMode::Transport, Some(_)) => {
                return Err(self.err_at(t, "expected no endpoints in a transport request (esp/transport//require)"))
            }
            _ => {}
        }
        let lvl_hint = "expected a level: default, use, require or unique[:ID]";
        let level = match parts.get(3).copied().unwrap_or("") {
            "" | "default" => Level::Default,
            "use" => Level::Use,
            "require" => Level::Require,
            "unique" => Level::Unique(0),
            l => match l.strip_prefix("unique:").and_then(parse_num::<u32>) {
                Some(id) => Level::Unique(id),
                None => return Err(self.err_at(t, lvl_hint)),
            },
        };
        Ok(SaRequest { proto, mode, tunnel, level })
    }
}

/// A decimal or `0x` hexadecimal number.
fn parse_num<T: std::str::FromStr>(w: &str) -> Option<T> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        let v = u64::from_str_radix(h, 16).ok()?;
        v.to_string().parse().ok()
    } else if w.starts_with(|c: char| c.is_ascii_digit()) {
        w.parse().ok()
    } else {
        None
    }
}

fn decode_hex(h: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b = h.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Zeroizing::new(Vec::with_capacity(b.len() / 2));
    for pair in b.chunks_exact(2) {
        out.push(nib(pair[0])? << 4 | nib(pair[1])?);
    }
    Some(out)
}
