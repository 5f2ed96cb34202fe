//! Errors of the setkey.conf parser: `file:line:col: what was expected, found what`.

use std::fmt;

/// Where a token or statement starts (1-based line and column, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A setkey.conf file could not be read or parsed. Loading is all-or-nothing:
/// an error means no statement of the file is returned.
#[derive(Debug, thiserror::Error)]
pub enum SetkeyError {
    /// `file:line:col: message`, the message saying what was expected and what was found.
    #[error("{file}:{span}: {message}")]
    Syntax { file: String, span: Span, message: String },
    /// The file could not be read.
    #[error("{file}: {error}")]
    Io {
        file: String,
        // In the message, not a `source`: a `{:#}` chain would print it twice.
        error: std::io::Error,
    },
}

impl SetkeyError {
    pub fn syntax(file: &str, span: Span, message: impl Into<String>) -> Self {
        SetkeyError::Syntax { file: file.to_string(), span, message: message.into() }
    }

    /// Where the error is, if it is a syntax error.
    pub fn span(&self) -> Option<Span> {
        match self {
            SetkeyError::Syntax { span, .. } => Some(*span),
            SetkeyError::Io { .. } => None,
        }
    }
}
