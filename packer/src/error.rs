//! The packer's one error type: which file, what is wrong with it, and where.

use std::fmt;
use std::path::{Path, PathBuf};

/// A failure tied to a file.
///
/// Displays as `FILE: WHAT (at WHERE)`, for example
/// `x.bundle: executable SHA-256 mismatch: ... (at bytes 0..1234)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file the problem is in (or, for a failed run, the program that was run).
    pub file: PathBuf,
    /// What is wrong.
    pub what: String,
    /// Where in the file, when that is known: a byte range, a metadata line and column.
    pub at: Option<String>,
}

impl Error {
    /// A problem with `file`.
    pub fn new(file: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            what: what.into(),
            at: None,
        }
    }

    /// The same problem, located.
    pub fn at(mut self, at: impl Into<String>) -> Self {
        self.at = Some(at.into());
        self
    }

    /// An I/O failure while doing `action` (`"cannot read"`, `"cannot write"`, ...).
    pub fn io(file: impl AsRef<Path>, action: &str, error: &std::io::Error) -> Self {
        Self::new(file, format!("{action}: {error}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)?;
        if let Some(at) = &self.at {
            write!(f, " (at {at})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_what_and_where() {
        let e = Error::new("b.bundle", "bad magic").at("bytes 56..64");
        assert_eq!(e.to_string(), "b.bundle: bad magic (at bytes 56..64)");
        assert_eq!(Error::new("b", "x").to_string(), "b: x");
    }
}
