//! `os-release(5)` parsing: the OS name and version.

use std::fs;
use std::path::{Path, PathBuf};

/// The two files `os-release(5)` names, in lookup order (relative to the root).
pub const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// The OS facts DeviceInfo reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `NAME`, e.g. "Debian GNU/Linux".
    pub name: String,
    /// `VERSION_ID`, or `VERSION` when there is no `VERSION_ID`.
    pub version: String,
}

/// Reads the first existing os-release file. `resolve` maps an absolute device path to the file to open (the SDK's
/// root). A missing or unreadable file gives empty values.
pub fn read(resolve: &dyn Fn(&str) -> PathBuf) -> OsRelease {
    OS_RELEASE_FILES.iter().map(|p| resolve(p)).find_map(|path| read_file(&path)).unwrap_or_default()
}

fn read_file(path: &Path) -> Option<OsRelease> {
    fs::read_to_string(path).ok().map(|text| parse(&text))
}

/// Parses the text of an os-release file.
pub fn parse(text: &str) -> OsRelease {
    let mut name = None;
    let mut version_id = None;
    let mut version = None;
    for (key, value) in text.lines().filter_map(parse_line) {
        match key {
            "NAME" => name = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "VERSION" => version = Some(value),
            _ => {}
        }
    }
    OsRelease {
        name: name.unwrap_or_default(),
        version: version_id.filter(|v| !v.is_empty()).or(version).unwrap_or_default(),
    }
}

/// One `KEY=value` assignment; `None` for blank lines, comments and malformed lines.
fn parse_line(line: &str) -> Option<(&str, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (key, raw) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((key, unquote(raw.trim())))
}

/// Removes shell-style quotes: `"..."` (with `\` escapes) or `'...'`; an unquoted value is taken as is.
fn unquote(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some('"') => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    (_, c) => {
                        out.push(c);
                        escaped = false;
                    }
                }
            }
            out
        }
        Some('\'') => chars.take_while(|&c| c != '\'').collect(),
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plant, resolver, temp_root};

    #[test]
    fn test_parse_debian_quoted() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
                    VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n";
        let os = parse(text);
        assert_eq!(os.name, "Debian GNU/Linux");
        assert_eq!(os.version, "12");
    }

    #[test]
    fn test_parse_unquoted_and_single_quotes() {
        let os = parse("NAME=Poky\nVERSION_ID='4.0.1'\n");
        assert_eq!(os.name, "Poky");
        assert_eq!(os.version, "4.0.1");
    }

    #[test]
    fn test_parse_falls_back_to_version() {
        let os = parse("NAME=\"Arch Linux\"\nVERSION=\"rolling\"\n");
        assert_eq!(os.version, "rolling");
        let os = parse("NAME=x\nVERSION_ID=\"\"\nVERSION=\"2 (two)\"\n");
        assert_eq!(os.version, "2 (two)");
    }

    #[test]
    fn test_parse_escapes_comments_and_garbage() {
        let text = "# comment\n\n  NAME=\"My \\\"quoted\\\" OS\"  \nnot a line\n=x\nBAD KEY=1\n";
        let os = parse(text);
        assert_eq!(os.name, "My \"quoted\" OS");
        assert_eq!(os.version, "");
    }

    #[test]
    fn test_parse_empty() {
        assert_eq!(parse(""), OsRelease::default());
    }

    #[test]
    fn test_read_prefers_etc_then_usr_lib() {
        let dir = temp_root("osrel");
        plant(&dir, "/usr/lib/os-release", b"NAME=Lib\nVERSION_ID=1\n");
        let resolve = resolver(&dir);
        assert_eq!(read(&resolve).name, "Lib");
        plant(&dir, "/etc/os-release", b"NAME=Etc\nVERSION_ID=2\n");
        assert_eq!(read(&resolve).name, "Etc");
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(&resolve), OsRelease::default());
    }
}
