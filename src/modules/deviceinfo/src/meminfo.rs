//! `/proc/meminfo` parsing: total and free memory in kB.

/// Memory sizes in kB as the kernel reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total_kb: u64,
    /// `MemFree`.
    pub free_kb: u64,
}

/// Parses the text of `/proc/meminfo`; a missing or malformed line gives 0.
pub fn parse(text: &str) -> MemInfo {
    let value = |key: &str| -> u64 {
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .and_then(|(_, v)| kilobytes(v))
            .unwrap_or(0)
    };
    MemInfo { total_kb: value("MemTotal"), free_kb: value("MemFree") }
}

/// `"  16384 kB"` as 16384 (the kernel always writes kB; a bare number is taken as kB too).
fn kilobytes(value: &str) -> Option<u64> {
    let mut words = value.split_whitespace();
    let number = words.next()?.parse().ok()?;
    match words.next() {
        None | Some("kB") => Some(number),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_typical() {
        let text = "MemTotal:       24684084 kB\nMemFree:        24445976 kB\nMemAvailable:   24400908 kB\n";
        assert_eq!(parse(text), MemInfo { total_kb: 24684084, free_kb: 24445976 });
    }

    #[test]
    fn test_parse_missing_and_malformed() {
        assert_eq!(parse(""), MemInfo::default());
        let m = parse("MemTotal: lots kB\nMemFree: 12 MB\n");
        assert_eq!(m, MemInfo::default());
    }

    #[test]
    fn test_parse_does_not_confuse_prefixes() {
        let m = parse("MemFreeish: 1 kB\nMemFree: 2 kB\nMemTotal: 3\n");
        assert_eq!(m, MemInfo { total_kb: 3, free_kb: 2 });
    }
}
