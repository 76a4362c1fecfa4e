//! Feeds arbitrary text to the recipe parser of `osconfigctl test` (comments stripped, JSON parsed, steps built).
//! It must not panic; stripping comments keeps the length and every newline (so positions stay true), and each
//! step's line is a line of the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use osconfig_cli::recipe::comments::{line_column, strip_comments, top_level_elements};
use osconfig_cli::recipe::parse::parse_str;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(stripped) = strip_comments(text) {
        assert_eq!(stripped.len(), text.len());
        assert!(stripped.bytes().zip(text.bytes()).all(|(s, t)| (s == b'\n') == (t == b'\n')));
        for offset in top_level_elements(&stripped) {
            assert!(offset < stripped.len());
            let (line, column) = line_column(text, offset);
            assert!(line >= 1 && column >= 1);
        }
    }
    if let Ok(recipe) = parse_str(text, Path::new("fuzz.json")) {
        let lines = text.lines().count().max(1);
        for step in &recipe.steps {
            assert!(step.line <= lines + 1, "step line {} of {lines}", step.line);
        }
    }
});
