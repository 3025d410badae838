//! An input file held in memory, so that diagnostics can quote it.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Span};

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum Unreadable {
    Io(std::io::Error),
    /// Not UTF-8: the file as far as it could be decoded, and where it stopped.
    NotUtf8 {
        lossy: SourceFile,
        diagnostic: Box<Diagnostic>,
    },
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// Reads a file that must be UTF-8. Invalid bytes are reported at their line and column,
    /// like any other mistake in the file.
    pub fn read(path: &Path) -> Result<SourceFile, Unreadable> {
        let bytes = std::fs::read(path).map_err(Unreadable::Io)?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile {
                path: path.to_path_buf(),
                text,
            }),
            Err(err) => Err(not_utf8(path, err)),
        }
    }

    pub fn display_path(&self) -> String {
        self.path.display().to_string()
    }

    pub fn render(&self, diagnostic: &Diagnostic, color: bool) -> String {
        diagnostic.render(&self.display_path(), &self.text, color)
    }
}

fn not_utf8(path: &Path, err: std::string::FromUtf8Error) -> Unreadable {
    let valid_up_to = err.utf8_error().valid_up_to();
    let bytes = err.into_bytes();
    // The valid prefix is text we can quote; the caret goes just after it.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let prefix = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
    let line = prefix.matches('\n').count() + 1;
    let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let column = prefix[line_start..].chars().count() + 1;
    let bad = bytes[valid_up_to];
    let diagnostic = Diagnostic::error(
        Span::new(prefix.len(), 1, line, column),
        format!("the file is not valid UTF-8 (byte 0x{bad:02x} at offset {valid_up_to})"),
    )
    .label("invalid byte here")
    .expected("a UTF-8 text file");
    let lossy_file = SourceFile {
        path: path.to_path_buf(),
        text,
    };
    Unreadable::NotUtf8 {
        lossy: lossy_file,
        diagnostic: Box::new(diagnostic),
    }
}
