//! Why a MIM could not be read or parsed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::MAX_DEPTH;

/// Why [`Mim::parse`](crate::Mim::parse) or [`Mim::load`](crate::Mim::load) failed.
///
/// `Display` is one lowercase line that says what is wrong and where: the file (when loaded from one), then the place
/// in the model as `Component.object.setting` (or `contents[i]` before a name is known), then the fault.
#[derive(Debug)]
pub enum MimError {
    /// The file could not be read; the cause is in `source()`.
    Read {
        /// The MIM file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The text is not JSON.
    NotJson {
        /// The MIM file, when loaded from one.
        file: Option<PathBuf>,
        /// Where and why, e.g. `line 1, column 5: expected value`.
        detail: String,
    },
    /// The JSON is not a MIM: a member is missing or of the wrong kind, a schema type is unknown, a name repeats.
    Invalid {
        /// The MIM file, when loaded from one.
        file: Option<PathBuf>,
        /// Where in the model, e.g. `CommandRunner.commandArguments.action.enumValues[2]`.
        at: String,
        /// What is wrong there.
        what: String,
    },
    /// Schemas nest deeper than [`MAX_DEPTH`] levels.
    TooDeep {
        /// The MIM file, when loaded from one.
        file: Option<PathBuf>,
        /// The schema one level too deep.
        at: String,
    },
}

impl MimError {
    /// The MIM file the error is about, when the MIM was loaded from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            MimError::Read { path, .. } => Some(path),
            MimError::NotJson { file, .. } | MimError::Invalid { file, .. } | MimError::TooDeep { file, .. } => {
                file.as_deref()
            }
        }
    }

    /// An [`Invalid`](MimError::Invalid) error not yet tied to a file.
    pub(crate) fn invalid(at: &str, what: impl Into<String>) -> MimError {
        MimError::Invalid { file: None, at: at.to_string(), what: what.into() }
    }

    /// The same error, naming the file it came from.
    pub(crate) fn in_file(mut self, path: &Path) -> MimError {
        match &mut self {
            MimError::Read { .. } => {}
            MimError::NotJson { file, .. } | MimError::Invalid { file, .. } | MimError::TooDeep { file, .. } => {
                *file = Some(path.to_path_buf());
            }
        }
        self
    }
}

impl fmt::Display for MimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let MimError::Read { path, .. } = self {
            return write!(f, "cannot read MIM file {}", path.display());
        }
        if let Some(file) = self.file() {
            write!(f, "{}: ", file.display())?;
        }
        match self {
            MimError::Read { .. } => Ok(()),
            MimError::NotJson { detail, .. } => write!(f, "the MIM is not JSON ({detail})"),
            MimError::Invalid { at, what, .. } => write!(f, "{at}: {what}"),
            MimError::TooDeep { at, .. } => write!(f, "{at}: schemas nest deeper than {MAX_DEPTH} levels"),
        }
    }
}

impl std::error::Error for MimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MimError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn test_display_read_names_file_and_keeps_cause() {
        let e = MimError::Read { path: "/m/x.json".into(), source: io::Error::from(io::ErrorKind::NotFound) };
        assert_eq!(e.to_string(), "cannot read MIM file /m/x.json");
        assert!(e.source().is_some());
        assert_eq!(e.file(), Some(Path::new("/m/x.json")));
    }

    #[test]
    fn test_display_invalid_with_and_without_file() {
        let e = MimError::invalid("HostName.desiredName", "\"desired\" must be a boolean");
        assert_eq!(e.to_string(), "HostName.desiredName: \"desired\" must be a boolean");
        assert!(e.file().is_none());
        let e = e.in_file(Path::new("/m/hostname.json"));
        assert_eq!(e.to_string(), "/m/hostname.json: HostName.desiredName: \"desired\" must be a boolean");
        assert!(e.source().is_none());
    }

    #[test]
    fn test_display_not_json_and_too_deep() {
        let e = MimError::NotJson { file: None, detail: "line 1, column 1: expected value".into() };
        assert_eq!(e.to_string(), "the MIM is not JSON (line 1, column 1: expected value)");
        let e = MimError::TooDeep { file: Some("/x.json".into()), at: "A.b".into() };
        assert_eq!(e.to_string(), format!("/x.json: A.b: schemas nest deeper than {MAX_DEPTH} levels"));
    }
}
