//! Helpers shared by the integration tests: temp dirs, compiling C with `cc`, the fixture module.
//!
//! The fixture module (`libfixture.so`) comes from `osconfig_testkit::artifacts()`, like every built module.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub use osconfig_testkit::TempRoot;

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

/// A fresh, empty directory under the system temp dir, removed on drop (files a test has dlopen'ed may go: the
/// mapping outlives the file).
pub fn temp_dir(tag: &str) -> TempRoot {
    TempRoot::new(&format!("mmi-{tag}"))
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

/// The fixture module's `.so` (from `osconfig_testkit::artifacts`). A test that loads it in this process runs in a
/// child process with `OSCONFIG_ROOT` set (`osconfig_testkit::in_child`): the module's logger reads it through the
/// module's own copy of std and would write `/var/log` without it.
pub fn fixture_so() -> PathBuf {
    osconfig_testkit::artifacts().module("fixture")
}

/// A private copy of the fixture module named `<file>` in a fresh temp dir: dlopen of one path returns one shared
/// instance, so tests that count sessions or keep state load their own copy. Keep the `TempRoot` while using it.
pub fn fixture_copy(tag: &str, file: &str) -> (TempRoot, PathBuf) {
    let dir = temp_dir(tag);
    let path = dir.path().join(file);
    std::fs::copy(fixture_so(), &path).unwrap();
    (dir, path)
}
