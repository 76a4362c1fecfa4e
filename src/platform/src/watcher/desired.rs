//! Reading the desired (DC) file safely, and turning it into objects.
//!
//! The file configures the device as root, so it is honoured only when it is a regular file owned by the
//! platform's user (root on a device), not writable by group or others, opened without following a symbolic link,
//! and at most [`MAX_DESIRED_BYTES`] (sshd's `StrictModes` is the model). A file readable by group or others is
//! honoured and its mode tightened to 0600 (logged). Then the whole document must be an object of objects, and
//! every object must agree with its module's MIM: otherwise the whole file is refused and nothing is applied.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use osconfig_mim::Catalog;
use osconfig_rest::{parse_desired_document, DesiredObject};

/// The largest desired file honoured.
pub const MAX_DESIRED_BYTES: u64 = 4 * 1024 * 1024;

/// Mode bits of the desired file that make it refused (writable by group or others).
const UNSAFE_WRITE_BITS: u32 = 0o022;
/// Mode bits of the desired file that are removed when present (readable or executable by group or others).
const LOOSE_BITS: u32 = 0o077;

/// What reading the file gave.
#[derive(Debug)]
pub enum Loaded {
    /// There is no file.
    Absent,
    /// The file is refused as a whole: why, in one line.
    Refused(String),
    /// The file's bytes.
    Bytes(Vec<u8>),
}

/// Reads `path` as the desired file of a platform running as `owner`.
pub fn read(path: &Path, owner: u32) -> Loaded {
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Absent,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Loaded::Refused("it is a symbolic link (only a regular file is honoured)".into())
        }
        Err(e) => return Loaded::Refused(format!("cannot open it: {e}")),
    };
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(e) => return Loaded::Refused(format!("cannot stat it: {e}")),
    };
    if !meta.file_type().is_file() {
        return Loaded::Refused("it is not a regular file".into());
    }
    if meta.uid() != owner {
        return Loaded::Refused(format!("it is owned by uid {}, not by uid {owner} (chown it)", meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & UNSAFE_WRITE_BITS != 0 {
        return Loaded::Refused(format!("it is writable by group or others (mode {mode:04o}; chmod go-w it)"));
    }
    if meta.len() > MAX_DESIRED_BYTES {
        return Loaded::Refused(format!("it is {} bytes, over the limit of {MAX_DESIRED_BYTES}", meta.len()));
    }
    if mode & LOOSE_BITS != 0 {
        let tight = mode & !LOOSE_BITS;
        match file.set_permissions(std::fs::Permissions::from_mode(tight)) {
            Ok(()) => log::warn!("{}: mode {mode:04o} was loosened; set to {tight:04o}", path.display()),
            Err(e) => log::warn!("{}: mode {mode:04o} is loosened and cannot be fixed: {e}", path.display()),
        }
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = (&mut file).take(MAX_DESIRED_BYTES + 1).read_to_end(&mut bytes) {
        return Loaded::Refused(format!("cannot read it: {e}"));
    }
    if bytes.len() as u64 > MAX_DESIRED_BYTES {
        return Loaded::Refused(format!("it grew over the limit of {MAX_DESIRED_BYTES} bytes while read"));
    }
    Loaded::Bytes(bytes)
}

/// The document's objects in order, or why it is refused as a whole (not JSON, with the byte offset; not an
/// object of objects, naming the component; against a MIM, naming component, object and setting).
pub fn parse(bytes: &[u8], catalog: &Catalog) -> Result<Vec<DesiredObject>, String> {
    let objects = parse_desired_document(bytes).map_err(|e| e.to_string())?;
    let violations: Vec<String> = objects
        .iter()
        .filter_map(|o| catalog.check_desired(&o.component_name, &o.object_name, o.payload.get().as_bytes()).err())
        .map(|v| v.to_string())
        .collect();
    match violations.as_slice() {
        [] => Ok(objects),
        [one] => Err(format!("against the MIM: {one}")),
        [first, rest @ ..] => Err(format!("against the MIM: {first} (and {} more)", rest.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-desired-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, bytes: &[u8], mode: u32) {
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn me() -> u32 {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    fn refused(loaded: Loaded) -> String {
        match loaded {
            Loaded::Refused(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn test_read_accepts_private_file_and_tightens_readable_one() {
        let dir = temp("ok");
        let path = dir.join("d.json");
        write(&path, b"{}", 0o600);
        assert!(matches!(read(&path, me()), Loaded::Bytes(b) if b == b"{}"));
        write(&path, b"{}", 0o644);
        assert!(matches!(read(&path, me()), Loaded::Bytes(_)));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(matches!(read(&dir.join("none.json"), me()), Loaded::Absent));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_read_refuses_unsafe_files() {
        let dir = temp("unsafe");
        let path = dir.join("d.json");
        write(&path, b"{}", 0o664);
        assert!(refused(read(&path, me())).contains("writable by group or others (mode 0664"));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o664, "a refused file is left alone");
        write(&path, b"{}", 0o600);
        assert!(refused(read(&path, me().wrapping_add(1))).contains("owned by uid"));
        let link = dir.join("link.json");
        symlink(&path, &link).unwrap();
        assert!(refused(read(&link, me())).contains("symbolic link"));
        std::fs::create_dir(dir.join("sub.json")).unwrap();
        assert!(refused(read(&dir.join("sub.json"), me())).contains("not a regular file"));
        let big = dir.join("big.json");
        write(&big, &vec![b' '; MAX_DESIRED_BYTES as usize + 1], 0o600);
        assert!(refused(read(&big, me())).contains("over the limit"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_parse_checks_shape_and_mim() {
        let mut catalog = Catalog::default();
        let mim = r#"{"name":"M","type":"mimModel","contents":[{"name":"HostName","type":"mimComponent","contents":[
            {"name":"desiredName","type":"mimObject","desired":true,"schema":"string"}]}]}"#;
        catalog.add(osconfig_mim::Mim::parse(mim).unwrap());
        let objects = parse(br#"{"HostName":{"desiredName":"box"},"Other":{"x":1}}"#, &catalog).unwrap();
        assert_eq!(objects.len(), 2);
        assert!(parse(b"{\"HostName\":", &catalog).unwrap_err().contains("at byte"));
        assert!(parse(br#"{"HostName":5}"#, &catalog).unwrap_err().contains("\"HostName\""));
        let err = parse(br#"{"HostName":{"desiredName":5}}"#, &catalog).unwrap_err();
        assert!(err.contains("HostName.desiredName"), "{err}");
    }
}
