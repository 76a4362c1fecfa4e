//! Reading a recipe file: comments stripped, JSON parsed, each element turned into a [`Step`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::recipe::comments::{line_column, strip_comments, top_level_elements, UnterminatedComment};
use crate::recipe::step::{kind_of, Step};

/// A parsed recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// The file it came from (as given on the command line).
    pub path: PathBuf,
    /// The steps, in order. Steps with a wrong shape are [`crate::recipe::step::StepKind::Invalid`].
    pub steps: Vec<Step>,
}

/// Why a recipe file cannot be used at all. Every variant names the file; positions are 1-based. The `Display`
/// text is complete (it includes the cause's message): print it rather than the whole `source()` chain.
#[derive(Debug)]
pub enum ParseError {
    /// The file cannot be read.
    Read {
        /// The recipe file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A `/*` comment is never closed.
    Comment {
        /// The recipe file.
        path: PathBuf,
        /// Where the comment starts.
        source: UnterminatedComment,
    },
    /// The text (without comments) is not valid JSON.
    Json {
        /// The recipe file.
        path: PathBuf,
        /// serde_json's error (its line and column are positions in the original file).
        source: serde_json::Error,
    },
    /// The document is valid JSON but not an array of steps.
    NotArray {
        /// The recipe file.
        path: PathBuf,
        /// The JSON type found instead.
        found: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Read { path, source } => write!(f, "{}: cannot read the recipe: {source}", path.display()),
            ParseError::Comment { path, source } => {
                write!(f, "{}:{}:{}: unterminated /* comment", path.display(), source.line, source.column)
            }
            ParseError::Json { path, source } => {
                write!(f, "{}:{}:{}: invalid JSON: {}", path.display(), source.line(), source.column(), message(source))
            }
            ParseError::NotArray { path, found } => {
                write!(f, "{}: a recipe must be a JSON array of steps, found {found}", path.display())
            }
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseError::Read { source, .. } => Some(source),
            ParseError::Comment { source, .. } => Some(source),
            ParseError::Json { source, .. } => Some(source),
            ParseError::NotArray { .. } => None,
        }
    }
}

/// serde_json's message without its " at line L column C" tail (the position is printed in front).
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&tail).unwrap_or(&text).to_string()
}

/// Reads and parses a recipe file.
pub fn parse_file(path: &Path) -> Result<Recipe, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|source| ParseError::Read { path: path.to_path_buf(), source })?;
    parse_str(&text, path)
}

/// Parses recipe text; `path` is used in messages only.
pub fn parse_str(text: &str, path: &Path) -> Result<Recipe, ParseError> {
    let stripped = strip_comments(text).map_err(|source| ParseError::Comment { path: path.to_path_buf(), source })?;
    let value: Value =
        serde_json::from_str(&stripped).map_err(|source| ParseError::Json { path: path.to_path_buf(), source })?;
    let Value::Array(items) = value else {
        return Err(ParseError::NotArray { path: path.to_path_buf(), found: kind_of(&value) });
    };
    let starts = top_level_elements(&stripped);
    let steps = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let line = starts.get(i).map_or(0, |&offset| line_column(text, offset).0);
            Step::from_value(i + 1, line, item)
        })
        .collect();
    Ok(Recipe { path: path.to_path_buf(), steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::step::StepKind;

    fn parse(text: &str) -> Result<Recipe, ParseError> {
        parse_str(text, Path::new("r.json"))
    }

    #[test]
    fn test_parse_str_steps_with_lines() {
        let text =
            "[\n  // load\n  {\"Action\": \"LoadModule\", \"Module\": \"x.so\"},\n  /* read */ {\"ObjectType\": \
                    \"Reported\", \"ComponentName\": \"C\", \"ObjectName\": \"o\"},\n  {\"Bogus\": 1}\n]\n";
        let recipe = parse(text).unwrap();
        assert_eq!(recipe.steps.len(), 3);
        assert_eq!(recipe.steps.iter().map(|s| s.line).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(recipe.steps.iter().map(|s| s.number).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(matches!(recipe.steps[2].kind, StepKind::Invalid { .. }));
    }

    #[test]
    fn test_parse_str_invalid_json_names_file_line_column() {
        let err = parse("[\n  {\"Action\": \"UnloadModule\"}\n  {\"Action\": \"UnloadModule\"}\n]").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("r.json:3:3: invalid JSON: expected `,` or `]`"), "{text}");
    }

    #[test]
    fn test_parse_str_unterminated_comment_and_not_array() {
        assert_eq!(parse("[ /* x\n").unwrap_err().to_string(), "r.json:1:3: unterminated /* comment");
        assert_eq!(
            parse("{\"Action\": \"UnloadModule\"}").unwrap_err().to_string(),
            "r.json: a recipe must be a JSON array of steps, found an object"
        );
        assert!(matches!(parse("").unwrap_err(), ParseError::Json { .. }));
    }

    #[test]
    fn test_parse_file_missing_file() {
        let err = parse_file(Path::new("/nonexistent/recipe.json")).unwrap_err();
        assert!(matches!(err, ParseError::Read { .. }));
        assert!(std::error::Error::source(&err).is_some());
    }
}
