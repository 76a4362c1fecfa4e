//! Comments in recipe files: `//` to the end of the line and `/* ... */`, anywhere outside JSON strings.
//!
//! [`strip_comments`] replaces every comment byte with a space and keeps the newlines, so a byte offset, line or
//! column in the stripped text is the same position in the original file (serde_json's error positions stay
//! right). Comment markers inside JSON strings (`"http://x"`, `"/* not a comment */"`) are left alone; escapes
//! (`\"`, `\\`) are followed so a quote inside a string does not end it. Block comments do not nest: the first
//! `*/` ends one, as in C.

use std::fmt;

/// A `/*` comment that is never closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnterminatedComment {
    /// 1-based line of the opening `/*`.
    pub line: usize,
    /// 1-based column (in bytes) of the opening `/*`.
    pub column: usize,
}

impl fmt::Display for UnterminatedComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "comment opened at line {} column {} is never closed", self.line, self.column)
    }
}

impl std::error::Error for UnterminatedComment {}

/// Where the lexer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// JSON text outside strings.
    Code,
    /// Inside a JSON string.
    Str,
    /// Inside a JSON string, right after a backslash.
    StrEscape,
    /// Inside `// ...` (until the newline).
    LineComment,
    /// Inside `/* ... */`; the offset of the `/*`.
    BlockComment(usize),
}

/// The text with every comment replaced by spaces (newlines kept), or the position of an unclosed `/*`.
pub fn strip_comments(text: &str) -> Result<String, UnterminatedComment> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut state = State::Code;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Code => match (b, next) {
                (b'"', _) => state = State::Str,
                (b'/', Some(b'/')) => {
                    blank(&mut out, i, i + 2);
                    state = State::LineComment;
                    i += 1;
                }
                (b'/', Some(b'*')) => {
                    blank(&mut out, i, i + 2);
                    state = State::BlockComment(i);
                    i += 1;
                }
                _ => {}
            },
            State::Str => match b {
                b'\\' => state = State::StrEscape,
                b'"' => state = State::Code,
                _ => {}
            },
            State::StrEscape => state = State::Str,
            State::LineComment => {
                if b == b'\n' {
                    state = State::Code;
                } else {
                    out[i] = b' ';
                }
            }
            State::BlockComment(_) => {
                if b == b'*' && next == Some(b'/') {
                    blank(&mut out, i, i + 2);
                    state = State::Code;
                    i += 1;
                } else if b != b'\n' {
                    out[i] = b' ';
                }
            }
        }
        i += 1;
    }
    if let State::BlockComment(start) = state {
        let (line, column) = line_column(text, start);
        return Err(UnterminatedComment { line, column });
    }
    // Only whole comments were replaced, each byte by an ASCII space, so the result is still UTF-8.
    Ok(String::from_utf8(out).expect("blanking whole comments keeps UTF-8 valid"))
}

/// Replace `out[from..to]` with spaces, keeping newlines.
fn blank(out: &mut [u8], from: usize, to: usize) {
    for b in &mut out[from..to] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// 1-based line and byte column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

/// Byte offsets where the elements of the top-level JSON array start, for naming a step's line in messages.
/// `text` must be comment-free (see [`strip_comments`]); anything that is not an array gives an empty list.
pub fn top_level_elements(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_element = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expect_element && !b.is_ascii_whitespace() {
            expect_element = false;
            if b != b']' {
                starts.push(i);
            }
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if depth == 0 && b == b'{' {
                    return Vec::new();
                }
                depth += 1;
                if depth == 1 {
                    expect_element = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_element = true,
            _ => {}
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_strip_comments_line_and_block() {
        let text = "[ // first\n  1, /* two */ 2\n]";
        let out = strip_comments(text).unwrap();
        assert_eq!(out, "[         \n  1,           2\n]");
        assert_eq!(out.len(), text.len());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([1, 2]));
    }

    #[test]
    fn test_strip_comments_markers_inside_strings_stay() {
        let text = r#"["http://example.com", "/* not a comment */", "a\"//b", "end\\"] // real"#;
        let out = strip_comments(text).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!(["http://example.com", "/* not a comment */", "a\"//b", "end\\"]));
    }

    #[test]
    fn test_strip_comments_block_keeps_newlines_and_positions() {
        let text = "[\n/* one\n two\n*/ 3, x]";
        let out = strip_comments(text).unwrap();
        assert_eq!(out.lines().count(), text.lines().count());
        let err = serde_json::from_str::<serde_json::Value>(&out).unwrap_err();
        // `x` is on line 4, column 7 of the original text.
        assert_eq!((err.line(), err.column()), (4, 7));
    }

    #[test]
    fn test_strip_comments_nested_looking_block_ends_at_first_close() {
        let out = strip_comments("[1 /* a /* b */ , 2 */]").unwrap();
        assert_eq!(out, format!("[1{}, 2 */]", " ".repeat(14)));
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_err());
        // Markers inside comments do not open anything.
        let out = strip_comments("[1, // x /* y\n 2 /* // z */]").unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([1, 2]));
    }

    #[test]
    fn test_strip_comments_unterminated_block_reports_position() {
        assert_eq!(strip_comments("[1,\n  /* open"), Err(UnterminatedComment { line: 2, column: 3 }));
        assert_eq!(strip_comments("[1] /*/"), Err(UnterminatedComment { line: 1, column: 5 }));
    }

    #[test]
    fn test_strip_comments_lone_slash_and_comment_at_end() {
        assert_eq!(strip_comments("[1/2]").unwrap(), "[1/2]");
        assert_eq!(strip_comments("[1]//").unwrap(), "[1]  ");
        assert_eq!(strip_comments("[1]/**/").unwrap(), "[1]    ");
    }

    #[test]
    fn test_strip_comments_utf8_in_comments_and_strings() {
        let text = "[\"é/*ü\" /* ünïcode ✓ */, 1 // ☃\n]";
        let out = strip_comments(text).unwrap();
        assert_eq!(out.len(), text.len());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!(["é/*ü", 1]));
    }

    #[test]
    fn test_line_column_positions() {
        let text = "ab\ncd\n\nef";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (2, 2));
        assert_eq!(line_column(text, 7), (4, 1));
    }

    #[test]
    fn test_top_level_elements_offsets() {
        let text = "[ {\"a\": [1, 2]},\n  {\"b\": \"x,]\"} , 3 ]";
        let starts = top_level_elements(text);
        assert_eq!(starts.len(), 3);
        assert_eq!(&text[starts[0]..starts[0] + 1], "{");
        assert_eq!(&text[starts[1]..starts[1] + 5], "{\"b\":");
        assert_eq!(&text[starts[2]..starts[2] + 1], "3");
        assert!(top_level_elements("[]").is_empty());
        assert!(top_level_elements("{\"a\": [1]}").is_empty());
    }
}
