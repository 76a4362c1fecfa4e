//! Names of the errno values modules answer with, for messages: `22 EINVAL (invalid argument)`.

/// The symbolic name of an errno value modules use (Linux numbering), if it is one we know.
pub fn name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        28 => "ENOSPC",
        38 => "ENOSYS",
        61 => "ENODATA",
        62 => "ETIME",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        125 => "ECANCELED",
        _ => return None,
    })
}

/// `22 EINVAL (invalid argument)`; unknown numbers get the C library's text only.
pub fn describe(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_lowercase();
    match name(errno) {
        Some(name) => format!("{errno} {name} ({text})"),
        None => format!("{errno} ({text})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_name_known_and_unknown() {
        assert_eq!(name(22), Some("EINVAL"));
        assert_eq!(name(1), Some("EPERM"));
        assert_eq!(name(61), Some("ENODATA"));
        assert_eq!(name(9999), None);
    }

    #[test]
    fn test_describe_names_and_explains() {
        assert_eq!(describe(22), "22 EINVAL (invalid argument)");
        assert_eq!(describe(7), "7 E2BIG (argument list too long)");
        assert!(describe(9999).starts_with("9999 ("), "{}", describe(9999));
    }
}
