//! Helpers shared by the integration tests: temp dirs, compiling C with `cc`, building the fixture module.
//!
//! How the tests find the fixture module (`libfixture.so`): they run
//! `$CARGO build -p osconfig-module-fixture --manifest-path <workspace>/Cargo.toml --target-dir
//! $CARGO_TARGET_TMPDIR/fixture-build` once per test binary. The separate target dir has its own build lock, so
//! this nested cargo never waits on the outer `cargo test` (which holds the lock of the main target dir), and it
//! works from a clean clone, with `cargo test -p osconfig-mmi` alone, and under `cargo test --workspace`.
//! Set `OSCONFIG_FIXTURE_SO=/abs/path/libfixture.so` to skip the build and use a prebuilt module.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `include/` with `Mmi.h`.
pub fn include_dir() -> PathBuf {
    workspace_root().join("include")
}

/// `tests/c/<name>`.
pub fn c_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(name)
}

/// A fresh, empty directory under the system temp dir, unique per process and call; removed on drop (files a
/// test has dlopen'ed may go: the mapping outlives the file).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("osconfig-mmi-{tag}-{}-{n}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const C_FLAGS: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"];

/// Compile `tests/c/<source>` into the shared library `<dir>/<out>` against `include/Mmi.h`, with `-D` defines.
pub fn cc_shared(source: &str, defines: &[&str], dir: &Path, out: &str) -> PathBuf {
    let path = dir.join(out);
    let mut cmd = Command::new("cc");
    cmd.args(C_FLAGS).args(["-Wmissing-prototypes", "-shared", "-fPIC", "-I"]).arg(include_dir());
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    cmd.arg(c_source(source)).arg("-o").arg(&path);
    run(&mut cmd);
    path
}

/// Compile `tests/c/<source>` into the program `<dir>/<out>` (linked with `-ldl`).
pub fn cc_program(source: &str, dir: &Path, out: &str) -> PathBuf {
    let path = dir.join(out);
    let mut cmd = Command::new("cc");
    cmd.args(C_FLAGS).arg("-I").arg(include_dir()).arg(c_source(source)).arg("-o").arg(&path).arg("-ldl");
    run(&mut cmd);
    path
}

/// The fixture module's `.so`, built once per test binary (see the module docs).
///
/// The first call also points `OSCONFIG_ROOT` at a scratch root under cargo's test dir, so modules loaded by the
/// tests (and their children) write their log files there instead of `/var/log`.
pub fn fixture_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("osconfig-root");
        std::fs::create_dir_all(&root).unwrap();
        std::env::set_var("OSCONFIG_ROOT", root);
        if let Some(p) = std::env::var_os("OSCONFIG_FIXTURE_SO") {
            return PathBuf::from(p);
        }
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixture-build");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        run(Command::new(cargo)
            .args(["build", "--quiet", "-p", "osconfig-module-fixture", "--manifest-path"])
            .arg(workspace_root().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target));
        let so = target.join("debug/libfixture.so");
        assert!(so.is_file(), "{} was not built", so.display());
        std::fs::canonicalize(so).unwrap()
    })
}

/// A private copy of the fixture module named `<file>` in a fresh temp dir: dlopen of one path returns one shared
/// instance, so tests that count sessions or keep state load their own copy. Keep the `TempDir` while using it.
pub fn fixture_copy(tag: &str, file: &str) -> (TempDir, PathBuf) {
    let dir = temp_dir(tag);
    let path = dir.path().join(file);
    std::fs::copy(fixture_so(), &path).unwrap();
    (dir, path)
}
