//! Helpers for the osconfigctl end-to-end tests: the built binaries and modules, temp dirs, running osconfigctl.
//!
//! `osconfigctl`, the module host and the modules come from `osconfig_testkit::artifacts()` (built once per test
//! process into this test's target dir); temporary directories are `osconfig_testkit::TempRoot`s.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use osconfig_testkit::TempRoot;
use osconfig_testkit::{artifacts, MODULES};

/// The environment the CommandRunner recipe expects (see tests/recipes/commandrunner.json).
pub const REBOOT_COMMAND: &str = "echo reboot >> \"$OSCONFIG_ROOT/power.log\"";
/// See [`REBOOT_COMMAND`].
pub const SHUTDOWN_COMMAND: &str = "echo shutdown >> \"$OSCONFIG_ROOT/power.log\"";

/// The osconfigctl binary under test.
pub fn osconfigctl() -> PathBuf {
    artifacts().osconfigctl()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Our recipes, sorted.
pub fn our_recipes() -> Vec<PathBuf> {
    let mut recipes: Vec<PathBuf> = fs::read_dir(repo_root().join("tests/recipes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    recipes.sort();
    recipes
}

/// The reference recipes (`../shared/reference/recipes` beside the repository), or `None` (with a note) when
/// that folder is absent.
pub fn reference_recipes_dir() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/reference/recipes");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!("note: {} is absent, skipping the reference-recipe checks", dir.display());
        None
    }
}

/// The built `osconfig-modulehost` binary.
pub fn modulehost() -> PathBuf {
    artifacts().modulehost()
}

/// A module directory holding symlinks to the built modules with cargo's names (`libhostname.so`, ...), plus
/// `sample.so` for the fixture (the reference SampleTests recipe loads that name).
pub fn module_dir() -> TempRoot {
    let dir = TempRoot::new("bin");
    for module in MODULES {
        let name = module.lib;
        let so = artifacts().module(name);
        std::os::unix::fs::symlink(&so, dir.path().join(format!("lib{name}.so"))).unwrap();
        if name == "fixture" {
            std::os::unix::fs::symlink(&so, dir.path().join("sample.so")).unwrap();
        }
    }
    dir
}

/// What one osconfigctl run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Run {
    /// The last stdout line (the summary).
    pub fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    /// Everything, for assertion messages.
    pub fn dump(&self) -> String {
        format!("exit code {}\n--- stdout\n{}\n--- stderr (tail)\n{}", self.code, self.stdout, tail(&self.stderr, 4000))
    }
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    &text[start..]
}

/// Runs osconfigctl with `args`, the power-command overrides of the CommandRunner recipe, and a clean
/// `OSCONFIG_ROOT` / `OSCONFIG_STATE_DIR`: `--root` sets them when given; otherwise the root is a temporary root of
/// this run, so the modules' log files never land in the machine's `/var/log`.
pub fn run(args: &[&std::ffi::OsStr]) -> Run {
    let mut command = Command::new(osconfigctl());
    command
        .args(args)
        .env("OSCONFIG_REBOOT_COMMAND", REBOOT_COMMAND)
        .env("OSCONFIG_SHUTDOWN_COMMAND", SHUTDOWN_COMMAND)
        .env_remove("OSCONFIG_ROOT")
        .env_remove("OSCONFIG_STATE_DIR");
    let scratch = TempRoot::new("ctl-root");
    if !args.iter().any(|a| *a == "--root") {
        command.env("OSCONFIG_ROOT", scratch.path());
    }
    let output: Output = command.stdin(Stdio::null()).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `(passed, failed, skipped, total)` from a summary line `N passed, N failed, N skipped, N total`.
pub fn counts(summary: &str) -> (usize, usize, usize, usize) {
    let numbers: Vec<usize> = summary.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    assert_eq!(numbers.len(), 4, "not a summary line: {summary:?}");
    (numbers[0], numbers[1], numbers[2], numbers[3])
}

/// Writes a recipe file into `dir` and returns its path.
pub fn write_recipe(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}
