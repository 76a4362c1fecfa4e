//! Atomic file replacement.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counter that makes temporary file names unique within the process (the pid makes them unique across processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many temporary names to try when a name is taken (e.g. left over by a crashed process with a reused pid).
const TEMP_ATTEMPTS: u32 = 16;

/// Write `data` to `path` atomically with permission bits `mode` (e.g. `0o600`).
///
/// Steps: a new temporary file `.<name>.tmp.<pid>.<n>` in the same directory (created exclusively), `write_all`,
/// `chmod mode` (so the umask does not matter), `fsync`, `rename` over `path`, `fsync` of the directory. A reader sees
/// the old or the new file, never a partial one. On any error before the rename the temporary file is removed; an
/// error from the final directory `fsync` is returned although the new content is already in place.
///
/// The directory must exist. Errors keep the kind of the failure and name the step and path.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("writing {}: path has no file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp_path, file) = create_temp(&dir, &name.to_string_lossy(), mode)?;
    if let Err(e) = fill_and_rename(file, &tmp_path, path, data, mode) {
        // Best effort: after a failed rename the temp file still exists; remove it so no litter is left.
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Create a fresh temporary file next to the target.
fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..TEMP_ATTEMPTS {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_path = dir.join(format!(".{name}.tmp.{pid}.{n}"));
        match OpenOptions::new().write(true).create_new(true).mode(mode & 0o7777).open(&tmp_path) {
            Ok(f) => return Ok((tmp_path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(context(e, format_args!("creating temporary file {}", tmp_path.display()))),
        }
    }
    let e = last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(context(e, format_args!("creating a temporary file in {}", dir.display())))
}

fn fill_and_rename(mut file: File, tmp: &Path, path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    file.write_all(data).map_err(|e| context(e, format_args!("writing {}", tmp.display())))?;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| context(e, format_args!("setting mode {:o} on {}", mode, tmp.display())))?;
    file.sync_all().map_err(|e| context(e, format_args!("syncing {}", tmp.display())))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| context(e, format_args!("renaming {} to {}", tmp.display(), path.display())))
}

/// `fsync` a directory so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, format_args!("syncing directory {}", dir.display())))
}

/// Wrap an error with the step that failed, keeping its kind.
pub(crate) fn context(e: io::Error, what: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A fresh, empty, uniquely named directory under the system temp dir.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfig-storage-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn test_write_atomic_creates_and_replaces() {
        let dir = temp_dir("replace");
        let p = dir.join("f");
        write_atomic(&p, b"old", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        write_atomic(&p, b"new content", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new content");
        assert_eq!(names_in(&dir), vec!["f".to_string()]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_atomic_sets_mode_despite_umask() {
        let dir = temp_dir("mode");
        let p = dir.join("f");
        write_atomic(&p, b"x", 0o600).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o7777, 0o600);
        write_atomic(&p, b"x", 0o666).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o7777, 0o666);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_atomic_failed_rename_keeps_target_and_removes_temp() {
        let dir = temp_dir("failrename");
        // The target is a non-empty directory: the rename fails after the temp file was written.
        let target = dir.join("t");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"old").unwrap();
        let err = write_atomic(&target, b"new", 0o600).unwrap_err();
        assert!(err.to_string().contains("renaming"), "{err}");
        assert_eq!(names_in(&dir), vec!["t".to_string()]);
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_atomic_missing_dir_is_not_found() {
        let dir = temp_dir("missing");
        let err = write_atomic(&dir.join("nope/f"), b"x", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nope"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_atomic_no_file_name_is_invalid_input() {
        let err = write_atomic(Path::new("/"), b"x", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn test_write_atomic_reader_sees_old_or_new_only() {
        let dir = temp_dir("race");
        let p = dir.join("f");
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 300 * 1024];
        write_atomic(&p, &a, 0o600).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (p, a, b, stop) = (p.clone(), a.clone(), b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !stop.load(Ordering::Relaxed) || reads == 0 {
                    let got = fs::read(&p).unwrap();
                    assert!(got == a || got == b, "torn read of {} bytes", got.len());
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            write_atomic(&p, if i % 2 == 0 { &b } else { &a }, 0o600).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(names_in(&dir), vec!["f".to_string()]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_atomic_concurrent_writers_leave_one_whole_file() {
        let dir = temp_dir("writers");
        let p = dir.join("f");
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        write_atomic(&p, &vec![b'0' + t; 10_000], 0o600).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = fs::read(&p).unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(got.iter().all(|&c| c == got[0]));
        assert_eq!(names_in(&dir), vec!["f".to_string()]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
