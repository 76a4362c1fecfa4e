//! The reported `hosts` value: the hosts file condensed to one line.

/// Condenses the text of a hosts file the way the reference module reports it: comments (from `#` to the end of
/// the line) and blank lines are dropped, each remaining line's fields are joined by one space, and the lines are
/// joined by `;`. Example: `"127.0.0.1 localhost;::1 localhost ip6-localhost"`. An empty file gives `""`.
///
/// The reference keeps a comment that follows an entry on the same line and keeps tabs; we drop the former and
/// turn the latter into one space, so that the value is exactly what `desiredHosts` accepts back.
pub fn condense(text: &str) -> String {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;

    #[test]
    fn test_condense_debian_default() {
        let text =
            "127.0.0.1\tlocalhost\n127.0.1.1\tdev1\n\n# The following lines are desirable for IPv6 capable hosts\n\
                    ::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n";
        assert_eq!(
            condense(text),
            "127.0.0.1 localhost;127.0.1.1 dev1;::1 localhost ip6-localhost ip6-loopback;ff02::1 ip6-allnodes"
        );
    }

    #[test]
    fn test_condense_inline_comment_and_crlf() {
        assert_eq!(condense("10.0.0.1 a   b # lab box\r\n   \r\n#only\n"), "10.0.0.1 a b");
    }

    #[test]
    fn test_condense_empty() {
        assert_eq!(condense(""), "");
        assert_eq!(condense("# nothing\n\n"), "");
    }

    #[test]
    fn test_condense_round_trips_desired_hosts() {
        let desired = "127.0.0.1 localhost;10.0.0.5 dev1.lan dev1";
        assert_eq!(condense(&validate::desired_hosts(desired).unwrap()), desired);
    }
}
