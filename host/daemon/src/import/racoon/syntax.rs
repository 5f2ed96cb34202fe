//! The shape of racoon.conf (racoon.conf(5)) without its meaning: a list of
//! statements, each a run of words that ends with `;` or with a `{ ... }`
//! block of further statements. `#` starts a comment to the end of the line;
//! double-quoted strings keep their spaces; `,` separates list items
//! (`encryption_algorithm aes, 3des;`). A `;` after a closing `}` is allowed
//! (some configurations write `};`).
//!
//! Knowing only the shape lets the importer skip statements it does not
//! know with a warning instead of failing: the block structure tells where
//! an unknown statement ends.

use super::RacoonError;

/// Where a token starts (1-based line and column, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// One word of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Written in double quotes (a file name or an identifier value).
    pub quoted: bool,
    /// A `,` follows this word (the next word continues a list).
    pub comma_after: bool,
    pub pos: Pos,
}

/// A statement: its words and, for `remote ... { }` and the like, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub words: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
    pub pos: Pos,
}

impl Stmt {
    /// The statement's keyword (its first word).
    pub fn keyword(&self) -> &str {
        self.words.first().map(|w| w.text.as_str()).unwrap_or("")
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String, bool),
    Semi,
    Open,
    Close,
    Comma,
}

fn describe(t: Option<&(Tok, Pos)>) -> String {
    match t {
        None => "end of file".into(),
        Some((Tok::Word(w, true), _)) => format!("\"{w}\""),
        Some((Tok::Word(w, false), _)) => format!("'{w}'"),
        Some((Tok::Semi, _)) => "';'".into(),
        Some((Tok::Open, _)) => "'{'".into(),
        Some((Tok::Close, _)) => "'}'".into(),
        Some((Tok::Comma, _)) => "','".into(),
    }
}

fn tokenize(file: &str, text: &str) -> Result<Vec<(Tok, Pos)>, RacoonError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1u32, 1u32);
    let next = |chars: &mut std::iter::Peekable<std::str::Chars>, line: &mut u32, col: &mut u32| {
        let c = chars.next();
        if c == Some('\n') {
            *line += 1;
            *col = 1;
        } else if c.is_some() {
            *col += 1;
        }
        c
    };
    while let Some(&c) = chars.peek() {
        let pos = Pos { line, col };
        match c {
            c if c.is_whitespace() => {
                next(&mut chars, &mut line, &mut col);
            }
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    next(&mut chars, &mut line, &mut col);
                }
            }
            ';' | '{' | '}' | ',' => {
                next(&mut chars, &mut line, &mut col);
                out.push((
                    match c {
                        ';' => Tok::Semi,
                        '{' => Tok::Open,
                        '}' => Tok::Close,
                        _ => Tok::Comma,
                    },
                    pos,
                ));
            }
            '"' => {
                next(&mut chars, &mut line, &mut col);
                let mut s = String::new();
                loop {
                    match next(&mut chars, &mut line, &mut col) {
                        Some('"') => break,
                        Some('\n') | None => {
                            return Err(RacoonError::syntax(file, pos, "expected a closing '\"' for the string started here, found the end of the line"));
                        }
                        Some(c) => s.push(c),
                    }
                }
                out.push((Tok::Word(s, true), pos));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '{' | '}' | ',' | '"' | '#') {
                        break;
                    }
                    s.push(c);
                    next(&mut chars, &mut line, &mut col);
                }
                out.push((Tok::Word(s, false), pos));
            }
        }
    }
    Ok(out)
}

/// Parses racoon.conf text into statements; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Stmt>, RacoonError> {
    let toks = tokenize(file, text)?;
    let mut i = 0;
    let stmts = block(file, &toks, &mut i, None)?;
    Ok(stmts)
}

/// Statements up to the `}` that closes the block opened at `open` (or to the
/// end of the file at the top level).
fn block(file: &str, toks: &[(Tok, Pos)], i: &mut usize, open: Option<Pos>) -> Result<Vec<Stmt>, RacoonError> {
    let mut stmts = Vec::new();
    loop {
        match toks.get(*i) {
            None => {
                return match open {
                    None => Ok(stmts),
                    Some(p) => Err(RacoonError::syntax(
                        file,
                        toks.last().map(|t| t.1).unwrap_or(p),
                        format!("expected '}}' to close the block opened at line {}, found end of file", p.line),
                    )),
                };
            }
            Some((Tok::Close, p)) => {
                if open.is_none() {
                    return Err(RacoonError::syntax(file, *p, "expected a statement, found '}' without an opening '{'"));
                }
                *i += 1;
                return Ok(stmts);
            }
            Some((Tok::Semi, _)) => *i += 1, // an empty statement
            Some((Tok::Word(..), p)) => {
                let pos = *p;
                stmts.push(statement(file, toks, i, pos)?);
            }
            Some(t @ (Tok::Open | Tok::Comma, p)) => {
                return Err(RacoonError::syntax(file, *p, format!("expected a statement keyword, found {}", describe(Some(t)))));
            }
        }
    }
}

fn statement(file: &str, toks: &[(Tok, Pos)], i: &mut usize, pos: Pos) -> Result<Stmt, RacoonError> {
    let mut words: Vec<Word> = Vec::new();
    loop {
        let t = toks.get(*i);
        match t {
            Some((Tok::Word(w, q), p)) => {
                words.push(Word { text: w.clone(), quoted: *q, comma_after: false, pos: *p });
                *i += 1;
            }
            Some((Tok::Comma, p)) => {
                let last = words.last_mut().filter(|w| !w.comma_after);
                let Some(last) = last else {
                    return Err(RacoonError::syntax(file, *p, "expected a value before ','"));
                };
                last.comma_after = true;
                *i += 1;
                if !matches!(toks.get(*i), Some((Tok::Word(..), _))) {
                    return Err(RacoonError::syntax(
                        file,
                        toks.get(*i).map(|t| t.1).unwrap_or(*p),
                        format!("expected another list item after ',', found {}", describe(toks.get(*i))),
                    ));
                }
            }
            Some((Tok::Semi, _)) => {
                *i += 1;
                return Ok(Stmt { words, block: None, pos });
            }
            Some((Tok::Open, p)) => {
                let open = *p;
                *i += 1;
                let inner = block(file, toks, i, Some(open))?;
                if matches!(toks.get(*i), Some((Tok::Semi, _))) {
                    *i += 1;
                }
                return Ok(Stmt { words, block: Some(inner), pos });
            }
            Some((Tok::Close, _)) | None => {
                let at = t.map(|t| t.1).or_else(|| words.last().map(|w| Pos { line: w.pos.line, col: w.pos.col + w.text.chars().count() as u32 }));
                return Err(RacoonError::syntax(
                    file,
                    at.unwrap_or(pos),
                    format!("expected ';' to end the `{}` statement that starts at line {}, found {}", words.first().map(|w| w.text.as_str()).unwrap_or(""), pos.line, describe(t)),
                ));
            }
        }
    }
}
