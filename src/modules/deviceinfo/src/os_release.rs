//! `os-release(5)` parsing: the OS name and version.
//!
//! `osName` is what the reference agent reports: the first word of `PRETTY_NAME` ("Debian" for
//! `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`, "Ubuntu", "Poky" on Yocto), else the first word of `ID` when
//! `PRETTY_NAME` is absent or blank, else `""`. Values are unquoted the shell way first (the reference blanks the
//! quote characters out instead; for well-formed files both give the same word).
//!
//! `osVersion` is `VERSION_ID`, else `VERSION`. Here the reference is wrong and is not followed: it greps `VERSION=`,
//! which also matches `VERSION_ID=` and `VERSION_CODENAME=` lines, and cuts the joined text at the first `=` and the
//! first space, so on Debian 12 it reports `""`; we report `"12"`.
//!
//! Files: `/etc/os-release`, else `/usr/lib/os-release` as `os-release(5)` says (the reference reads only
//! `/etc/os-release` and reports nothing without it).

use std::fs;
use std::path::{Path, PathBuf};

/// The two files `os-release(5)` names, in lookup order (relative to the root).
pub const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// The OS facts DeviceInfo reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// The first word of `PRETTY_NAME`, else of `ID`, e.g. "Debian".
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
    let mut pretty_name = None;
    let mut id = None;
    let mut version_id = None;
    let mut version = None;
    for (key, value) in text.lines().filter_map(parse_line) {
        match key {
            "PRETTY_NAME" => pretty_name = Some(value),
            "ID" => id = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "VERSION" => version = Some(value),
            _ => {}
        }
    }
    let first_word = |v: Option<String>| v.as_deref().and_then(|v| v.split_whitespace().next()).map(str::to_string);
    OsRelease {
        name: first_word(pretty_name).or_else(|| first_word(id)).unwrap_or_default(),
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
        assert_eq!(os.name, "Debian");
        assert_eq!(os.version, "12");
    }

    #[test]
    fn test_parse_name_first_word_of_pretty_name() {
        let ubuntu = "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n\
                      VERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nID=ubuntu\nID_LIKE=debian\n";
        assert_eq!(parse(ubuntu), OsRelease { name: "Ubuntu".into(), version: "22.04".into() });
        let poky = "ID=poky\nNAME=\"Poky (Yocto Project Reference Distro)\"\nVERSION=\"5.0.3 (scarthgap)\"\n\
                    VERSION_ID=5.0.3\nPRETTY_NAME=\"Poky (Yocto Project Reference Distro) 5.0.3 (scarthgap)\"\n";
        assert_eq!(parse(poky), OsRelease { name: "Poky".into(), version: "5.0.3".into() });
        // Unquoted and single-quoted values, blanks inside the quotes.
        assert_eq!(parse("PRETTY_NAME=Alpine\n").name, "Alpine");
        assert_eq!(parse("PRETTY_NAME='  Fedora Linux 40'\n").name, "Fedora");
    }

    #[test]
    fn test_parse_name_falls_back_to_id() {
        // VERSION_ID before ID, as the reference's `grep ID=` would trip on: ours takes the ID line.
        let os = parse("NAME=\"Some Linux\"\nVERSION_ID=7\nID=\"somelinux\"\nID_LIKE=\"rhel fedora\"\n");
        assert_eq!(os, OsRelease { name: "somelinux".into(), version: "7".into() });
        assert_eq!(parse("PRETTY_NAME=\"\"\nID=blank\n").name, "blank");
        assert_eq!(parse("PRETTY_NAME=\"   \"\nID=spaces\n").name, "spaces");
        assert_eq!(parse("NAME=OnlyName\n").name, "");
    }

    #[test]
    fn test_parse_unquoted_and_single_quotes() {
        let os = parse("ID=poky\nVERSION_ID='4.0.1'\n");
        assert_eq!(os.name, "poky");
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
        let text = "# comment\n\n  PRETTY_NAME=\"\\\"My\\\" quoted OS\"  \nnot a line\n=x\nBAD KEY=1\n";
        let os = parse(text);
        assert_eq!(os.name, "\"My\"");
        assert_eq!(os.version, "");
    }

    #[test]
    fn test_parse_empty() {
        assert_eq!(parse(""), OsRelease::default());
    }

    #[test]
    fn test_read_name_from_planted_distribution_files() {
        let dir = temp_root("distros");
        let resolve = resolver(&dir);
        let cases: [(&[u8], &str, &str); 4] = [
            (
                b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n\
                  VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
                "Debian",
                "12",
            ),
            (
                b"PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nVERSION=\"24.04 LTS (Noble Numbat)\"\n\
                  ID=ubuntu\nID_LIKE=debian\n",
                "Ubuntu",
                "24.04",
            ),
            (
                b"ID=poky\nNAME=\"Poky (Yocto Project Reference Distro)\"\nVERSION=\"4.0.18 (kirkstone)\"\n\
                  VERSION_ID=4.0.18\nPRETTY_NAME=\"Poky (Yocto Project Reference Distro) 4.0.18 (kirkstone)\"\n",
                "Poky",
                "4.0.18",
            ),
            (b"NAME=\"Tiny Linux\"\nVERSION_ID=3.1\nID=tiny\n", "tiny", "3.1"),
        ];
        for (text, name, version) in cases {
            plant(&dir, "/etc/os-release", text);
            assert_eq!(read(&resolve), OsRelease { name: name.into(), version: version.into() });
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_read_prefers_etc_then_usr_lib() {
        let dir = temp_root("osrel");
        plant(&dir, "/usr/lib/os-release", b"PRETTY_NAME=\"Lib OS 1\"\nVERSION_ID=1\n");
        let resolve = resolver(&dir);
        assert_eq!(read(&resolve).name, "Lib");
        plant(&dir, "/etc/os-release", b"ID=etc\nVERSION_ID=2\n");
        assert_eq!(read(&resolve).name, "etc");
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(&resolve), OsRelease::default());
    }
}
