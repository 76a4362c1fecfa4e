//! Helpers for the osconfigctl end-to-end tests: the built binaries and modules, temp dirs, running osconfigctl.
//!
//! Modules: the dev-dependencies make `cargo test -p osconfig-cli` build the module cdylibs into
//! `target/<profile>/deps/` (`cargo build` puts them in `target/<profile>/`); the newer copy is used. The module host
//! binary is `target/<profile>/osconfig-modulehost` (built by `cargo test --workspace`); when it or a module is
//! missing, the test runs `$CARGO build -p <crate>` into the same target dir once (serialized; cargo does not hold
//! the build lock while tests run).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The module cdylibs the recipes use: (lib name, crate).
pub const MODULES: [(&str, &str); 5] = [
    ("deviceinfo", "osconfig-deviceinfo"),
    ("hostname", "osconfig-hostname"),
    ("commandrunner", "osconfig-commandrunner"),
    ("configuration", "osconfig-configuration"),
    ("fixture", "osconfig-module-fixture"),
];

/// The environment the CommandRunner recipe expects (see tests/recipes/commandrunner.json).
pub const REBOOT_COMMAND: &str = "echo reboot >> \"$OSCONFIG_ROOT/power.log\"";
/// See [`REBOOT_COMMAND`].
pub const SHUTDOWN_COMMAND: &str = "echo shutdown >> \"$OSCONFIG_ROOT/power.log\"";

/// The osconfigctl binary under test.
pub fn osconfigctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_osconfigctl"))
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

/// `target/<profile>/`: the parent of the `deps` dir that holds this test executable.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The newest existing `file` in `dirs`.
fn newest(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(file))
        .filter_map(|p| Some((fs::metadata(&p).ok().filter(|m| m.is_file())?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
}

/// `cargo build -p <krate>` into this test run's target dir and profile (once per crate, serialized).
fn cargo_build(krate: &str) {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|k| k == krate) {
        return;
    }
    let profile = profile_dir();
    let name = profile.file_name().unwrap().to_string_lossy().into_owned();
    let cargo_profile = if name == "debug" { "dev".to_string() } else { name };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    eprintln!("note: building {krate} for the osconfigctl tests");
    let mut child = Command::new(cargo)
        .args(["build", "-p", krate, "--profile", &cargo_profile, "--target-dir"])
        .arg(profile.parent().unwrap())
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo build -p {krate} took more than 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "cargo build -p {krate} failed: {status}");
    built.push(krate.to_string());
}

/// The absolute path of the built `lib<name>.so`.
pub fn module_so(name: &str, krate: &str) -> PathBuf {
    let file = format!("lib{name}.so");
    let profile = profile_dir();
    let dirs = [profile.clone(), profile.join("deps")];
    if let Some(found) = newest(&dirs, &file) {
        return found.canonicalize().unwrap();
    }
    cargo_build(krate);
    newest(&dirs, &file).unwrap_or_else(|| panic!("{file} was not built")).canonicalize().unwrap()
}

/// The built `osconfig-modulehost` binary.
pub fn modulehost() -> PathBuf {
    let path = profile_dir().join("osconfig-modulehost");
    if !path.is_file() {
        cargo_build("osconfig-modulehost");
    }
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory named after `tag`, this process and a counter.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfigctl-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A module directory holding symlinks to the built modules with cargo's names (`libhostname.so`, ...), plus
/// `sample.so` for the fixture (the reference SampleTests recipe loads that name).
pub fn module_dir() -> TempDir {
    let dir = TempDir::new("bin");
    for (name, krate) in MODULES {
        let so = module_so(name, krate);
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
/// `OSCONFIG_ROOT` / `OSCONFIG_STATE_DIR`: `--root` sets them when given; otherwise the root is a scratch folder
/// under cargo's test temp dir, so the modules' log files never land in the machine's `/var/log`.
pub fn run(args: &[&std::ffi::OsStr]) -> Run {
    let mut command = Command::new(osconfigctl());
    command
        .args(args)
        .env("OSCONFIG_REBOOT_COMMAND", REBOOT_COMMAND)
        .env("OSCONFIG_SHUTDOWN_COMMAND", SHUTDOWN_COMMAND)
        .env_remove("OSCONFIG_ROOT")
        .env_remove("OSCONFIG_STATE_DIR");
    if !args.iter().any(|a| *a == "--root") {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("osconfigctl-root-{}", std::process::id()));
        fs::create_dir_all(&scratch).unwrap();
        command.env("OSCONFIG_ROOT", scratch);
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
