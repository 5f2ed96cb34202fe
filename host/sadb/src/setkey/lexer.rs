//! Tokens of setkey.conf: words, double-quoted strings and `;`, with the
//! line and column where each starts. `#` starts a comment that runs to the
//! end of the line (outside quoted strings).

use super::error::{SetkeyError, Span};

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of characters without whitespace, `;`, `"` or `#`.
    Word(String),
    /// A double-quoted string (the quotes removed; no escapes, as in setkey).
    Quoted(String),
    /// The statement terminator.
    Semi,
}

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    /// How the token is shown in an error message (`found '...'`).
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => format!("'{w}'"),
            TokenKind::Quoted(s) => format!("the string \"{s}\""),
            TokenKind::Semi => "';'".to_string(),
        }
    }

    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Splits `text` into tokens. The only lexical error is an unterminated string.
pub fn tokenize(file: &str, text: &str) -> Result<Vec<Token>, SetkeyError> {
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut col = 1u32;
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let mut word_span = Span { line, col };

    fn flush(out: &mut Vec<Token>, word: &mut String, span: Span) {
        if !word.is_empty() {
            out.push(Token { kind: TokenKind::Word(std::mem::take(word)), span });
        }
    }

    while let Some(c) = chars.next() {
        let here = Span { line, col };
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        match c {
            c if c.is_whitespace() => flush(&mut out, &mut word, word_span),
            ';' => {
                flush(&mut out, &mut word, word_span);
                out.push(Token { kind: TokenKind::Semi, span: here });
            }
            '#' => {
                flush(&mut out, &mut word, word_span);
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                    col += 1;
                }
            }
            '"' => {
                flush(&mut out, &mut word, word_span);
                let mut s = String::new();
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                        col = 1;
                    } else {
                        col += 1;
                    }
                    if n == '"' {
                        closed = true;
                        break;
                    }
                    s.push(n);
                }
                if !closed {
                    return Err(SetkeyError::syntax(
                        file,
                        here,
                        "expected a closing '\"' for this string, found end of file",
                    ));
                }
                out.push(Token { kind: TokenKind::Quoted(s), span: here });
            }
            c => {
                if word.is_empty() {
                    word_span = here;
                }
                word.push(c);
            }
        }
    }
    flush(&mut out, &mut word, word_span);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, u32, u32)> {
        tokenize("t", text)
            .unwrap()
            .into_iter()
            .map(|t| {
                let s = match t.kind {
                    TokenKind::Word(w) => w,
                    TokenKind::Quoted(q) => format!("\"{q}\""),
                    TokenKind::Semi => ";".into(),
                };
                (s, t.span.line, t.span.col)
            })
            .collect()
    }

    #[test]
    fn words_semis_comments_and_positions() {
        let t = words("flush; # all\n  spdflush ;\n\"a b\"x;");
        assert_eq!(
            t,
            vec![
                ("flush".into(), 1, 1),
                (";".into(), 1, 6),
                ("spdflush".into(), 2, 3),
                (";".into(), 2, 12),
                ("\"a b\"".into(), 3, 1),
                ("x".into(), 3, 6),
                (";".into(), 3, 7),
            ]
        );
    }

    #[test]
    fn hash_inside_string_is_not_a_comment() {
        let t = words("\"#k\";");
        assert_eq!(t[0].0, "\"#k\"");
    }

    #[test]
    fn unterminated_string_is_an_error() {
        let e = tokenize("f.conf", "add \"abc\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.conf:1:5: expected a closing '\"' for this string, found end of file"
        );
    }
}
