//! Validation of the desired objects: host names (RFC 1123) and `desiredHosts` entries.

use std::net::{IpAddr, Ipv6Addr};

/// Longest host name (RFC 1123 / RFC 1035, without the trailing dot).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (the part between dots).
pub const MAX_LABEL_LEN: usize = 63;

/// Checks a host name: dot-separated labels of 1..=63 ASCII letters, digits and hyphens, no label starting or ending
/// with a hyphen, 253 characters at most. Returns the reason when invalid.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("host name longer than {MAX_NAME_LEN} characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(format!("label '{label}' must have 1 to {MAX_LABEL_LEN} characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("label '{label}' may only have letters, digits and '-'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label '{label}' starts or ends with '-'"));
        }
    }
    Ok(())
}

/// Longest name the kernel accepts (`HOST_NAME_MAX`): `desiredName` is set with `sethostname(2)`.
pub const MAX_KERNEL_NAME_LEN: usize = 64;

/// Validates a `desiredName` value (surrounding white space is ignored) and returns the name to apply: a host
/// name as [`check_hostname`] says, and at most 64 characters, the kernel's limit.
pub fn desired_name(value: &str) -> Result<&str, String> {
    let name = value.trim();
    check_hostname(name)?;
    if name.len() > MAX_KERNEL_NAME_LEN {
        return Err(format!("host name longer than the kernel's {MAX_KERNEL_NAME_LEN} characters"));
    }
    Ok(name)
}

/// Checks the address column of a hosts line: an IPv4 or IPv6 address; an IPv6 link-local address may carry a
/// `%zone` suffix (`fe80::1%eth0`).
pub fn check_address(address: &str) -> Result<(), String> {
    let (ip, zone) = match address.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (address, None),
    };
    match (ip.parse::<IpAddr>(), zone) {
        (Ok(_), None) => Ok(()),
        (Ok(IpAddr::V6(v6)), Some(zone)) if is_link_local(&v6) && valid_zone(zone) => Ok(()),
        _ => Err(format!("'{address}' is not an IP address")),
    }
}

fn is_link_local(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

fn valid_zone(zone: &str) -> bool {
    !zone.is_empty() && zone.len() <= 15 && zone.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Longest accepted `desiredHosts` value, in bytes (the hosts file is reported back in every reported document).
pub const MAX_HOSTS_BYTES: usize = 32 * 1024;

/// Most entries accepted in `desiredHosts`.
pub const MAX_HOSTS_ENTRIES: usize = 256;

/// Checks the size of a `desiredHosts` value: at most [`MAX_HOSTS_BYTES`] bytes and [`MAX_HOSTS_ENTRIES`] non-empty
/// entries (the module answers `E2BIG` beyond). Returns the reason when over.
pub fn check_hosts_size(value: &str) -> Result<(), String> {
    if value.len() > MAX_HOSTS_BYTES {
        return Err(format!("{} bytes, more than the limit of {MAX_HOSTS_BYTES}", value.len()));
    }
    let entries = value.split([';', '\n']).filter(|e| !e.trim().is_empty()).count();
    if entries > MAX_HOSTS_ENTRIES {
        return Err(format!("{entries} entries, more than the limit of {MAX_HOSTS_ENTRIES}"));
    }
    Ok(())
}

/// Validates a `desiredHosts` value and returns the `/etc/hosts` text to write.
///
/// The value is a list of entries separated by `;` (a newline separates entries too), each "address name [alias...]" separated by white space. Empty
/// entries (`"a;;b"`, a trailing `;`) are skipped; the address must be an IP address and every name a valid host
/// name. A value with no entry at all is rejected (it would empty the hosts file and break `localhost`). The text
/// written has one entry per line, fields separated by one space, and a final newline.
pub fn desired_hosts(value: &str) -> Result<String, String> {
    let mut text = String::new();
    for entry in value.split([';', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let mut fields = entry.split_whitespace();
        let address = fields.next().unwrap_or_default();
        check_address(address)?;
        let names: Vec<&str> = fields.collect();
        if names.is_empty() {
            return Err(format!("entry '{entry}' has no host name"));
        }
        for name in &names {
            check_hostname(name).map_err(|reason| format!("entry '{entry}': {reason}"))?;
        }
        text.push_str(address);
        for name in names {
            text.push(' ');
            text.push_str(name);
        }
        text.push('\n');
    }
    if text.is_empty() {
        return Err("no hosts entry (refusing to empty the hosts file)".into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_check_hosts_size_bounds() {
        let entries = |n: usize| vec!["10.0.0.1 h"; n].join(";");
        assert_eq!(check_hosts_size(&entries(MAX_HOSTS_ENTRIES)), Ok(()));
        assert!(check_hosts_size(&entries(MAX_HOSTS_ENTRIES + 1)).unwrap_err().contains("entries"));
        assert!(check_hosts_size(&" ".repeat(MAX_HOSTS_BYTES + 1)).unwrap_err().contains("bytes"));
        assert_eq!(check_hosts_size(&format!("10.0.0.1 h;{}", ";".repeat(1000))), Ok(()));
    }

    #[test]
    fn test_check_hostname_valid() {
        for name in ["a", "device-01", "Device01", "my.device.example.com", "0", "xn--bcher-kva", "1-2"] {
            assert_eq!(check_hostname(name), Ok(()), "{name}");
        }
        let label = "a".repeat(63);
        assert_eq!(check_hostname(&label), Ok(()));
        let long = [label.as_str(); 3].join(".") + "." + &"b".repeat(61); // 63*3 + 3 + 61 = 253
        assert_eq!(long.len(), 253);
        assert_eq!(check_hostname(&long), Ok(()));
    }

    #[test]
    fn test_check_hostname_invalid() {
        let long_label = "a".repeat(64);
        let too_long = vec!["a".repeat(63); 4].join(".");
        for name in [
            "",
            "-lead",
            "trail-",
            "a..b",
            ".a",
            "a.",
            "under_score",
            "sp ace",
            "semi;colon",
            "quote'",
            "ünï",
            "a.-b",
            long_label.as_str(),
            too_long.as_str(),
        ] {
            assert!(check_hostname(name).is_err(), "{name:?} should be invalid");
        }
    }

    #[test]
    fn test_desired_name_trims() {
        assert_eq!(desired_name("  dev1 \n"), Ok("dev1"));
        assert!(desired_name("   ").is_err());
    }

    #[test]
    fn test_desired_name_kernel_limit() {
        let name = format!("{}.{}", "a".repeat(40), "b".repeat(23)); // 64
        assert_eq!(desired_name(&name), Ok(name.as_str()));
        let name = format!("{}.{}", "a".repeat(40), "b".repeat(24)); // 65: a valid DNS name, too long for the kernel
        assert_eq!(check_hostname(&name), Ok(()));
        assert!(desired_name(&name).is_err());
    }

    #[test]
    fn test_check_address_cases() {
        for ok in
            ["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "ff02::2", "2001:db8::42", "fe80::1%eth0", "::ffff:1.2.3.4"]
        {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        for bad in
            ["", "256.0.0.1", "1.2.3", "localhost", "::g", "10.0.0.1%eth0", "fe80::1%", "fe80::1%a b", "1.2.3.4/24"]
        {
            assert!(check_address(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn test_desired_hosts_normalizes() {
        let text =
            desired_hosts(" 127.0.0.1   localhost ; ;::1\tip6-localhost ip6-loopback;10.0.0.5 dev1.lan dev1;").unwrap();
        assert_eq!(text, "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n10.0.0.5 dev1.lan dev1\n");
        assert_eq!(desired_hosts("127.0.0.1 a\r\n10.0.0.1 b\n").unwrap(), "127.0.0.1 a\n10.0.0.1 b\n");
    }

    #[test]
    fn test_desired_hosts_rejects() {
        for bad in [
            "",
            " ; ;",
            "127.0.0.1",
            "localhost 127.0.0.1",
            "127.0.0.1 local_host",
            "127.0.0.1 localhost # comment",
            "127.0.0.1 localhost;300.1.1.1 x",
        ] {
            assert!(desired_hosts(bad).is_err(), "{bad:?} should be invalid");
        }
    }
}
