//! Warnings of an import: one line per item of the old configuration that
//! esprit cannot carry over as it is, printed as
//! `warning: racoon.conf:LINE: what happened and what to do`.

use std::fmt;

/// Where a warning points: a file name as the user gave it and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u32,
}

/// One warning line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `None` for warnings about the command line or files that are absent.
    pub origin: Option<Origin>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "warning: {}:{}: {}", o.file, o.line, self.message),
            None => write!(f, "warning: {}", self.message),
        }
    }
}

/// The warnings collected so far, in the order they were found.
#[derive(Debug, Default)]
pub struct Warnings {
    list: Vec<Warning>,
}

impl Warnings {
    /// A warning about `file:line`.
    pub fn at(&mut self, file: &str, line: u32, message: impl Into<String>) {
        let w = Warning { origin: Some(Origin { file: file.to_string(), line }), message: message.into() };
        if !self.list.contains(&w) {
            self.list.push(w);
        }
    }

    /// A warning that belongs to no line of an input file.
    pub fn general(&mut self, message: impl Into<String>) {
        let w = Warning { origin: None, message: message.into() };
        if !self.list.contains(&w) {
            self.list.push(w);
        }
    }

    /// In reading order: grouped by file (in the order files first warned),
    /// by line within a file; warnings without a line last.
    pub fn iter(&self) -> impl Iterator<Item = &Warning> {
        let mut files: Vec<&str> = Vec::new();
        for o in self.list.iter().filter_map(|w| w.origin.as_ref()) {
            if !files.contains(&o.file.as_str()) {
                files.push(&o.file);
            }
        }
        let key = |w: &Warning| match &w.origin {
            Some(o) => (files.iter().position(|f| *f == o.file).unwrap_or(usize::MAX), o.line),
            None => (usize::MAX, 0),
        };
        let mut sorted: Vec<&Warning> = self.list.iter().collect();
        sorted.sort_by_key(|w| key(w));
        sorted.into_iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}
