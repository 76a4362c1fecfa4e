//! Discovery: the `*.so` files of the module directories.

use std::path::{Path, PathBuf};

/// Every regular `*.so` file (or symlink to one) directly in `dirs`: each directory's files sorted by name, the
/// directories in the order given. A missing directory is skipped (logged at debug); other read errors are logged.
pub(crate) fn find_modules(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::debug!("module directory {} does not exist", dir.display());
                continue;
            }
            Err(e) => {
                log::warn!("cannot read module directory {}: {e}", dir.display());
                continue;
            }
        };
        let mut here: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "so") && path.is_file())
            .map(|path| absolute(&path))
            .collect();
        here.sort();
        found.extend(here);
    }
    found
}

/// `path` made absolute against the current directory (the loader and the host want absolute paths).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    }
}

/// The socket of the host of the `index`-th discovered module: `<run_dir>/<file stem>.sock`, or
/// `<run_dir>/<file stem>.<index>.sock` when an earlier module has the same stem (the same name in both
/// directories).
pub(crate) fn socket_for(run_dir: &Path, modules: &[PathBuf], index: usize) -> PathBuf {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mine = stem(&modules[index]);
    if modules[..index].iter().any(|p| stem(p) == mine) {
        run_dir.join(format!("{mine}.{index}.sock"))
    } else {
        run_dir.join(format!("{mine}.sock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_find_modules_sorted_both_dirs() {
        let base = std::env::temp_dir().join(format!("osconfig-discovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (a, b) = (base.join("a"), base.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        for f in ["z.so", "m.so", "readme.txt", "x.so.1"] {
            std::fs::write(a.join(f), b"").unwrap();
        }
        std::fs::create_dir(a.join("dir.so")).unwrap();
        std::fs::write(b.join("c.so"), b"").unwrap();
        let found = find_modules(&[a.clone(), base.join("missing"), b.clone()]);
        assert_eq!(found, vec![a.join("m.so"), a.join("z.so"), b.join("c.so")]);
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn test_socket_for_disambiguates_stems() {
        let modules = vec![PathBuf::from("/a/x.so"), PathBuf::from("/b/y.so"), PathBuf::from("/b/x.so")];
        let run = Path::new("/run/m");
        assert_eq!(socket_for(run, &modules, 0), run.join("x.sock"));
        assert_eq!(socket_for(run, &modules, 1), run.join("y.sock"));
        assert_eq!(socket_for(run, &modules, 2), run.join("x.2.sock"));
    }
}
