//! The built binaries and modules the tests run, from one `cargo build` per test process.
//!
//! The first call of [`artifacts`] in a test process runs
//! `$CARGO build --profile <this test's profile> --target-dir <this test's target dir> -p <every crate of CRATES>`
//! on the workspace manifest, and later calls return the same paths. The target dir and profile are those of the
//! running test executable (`<target>/[<triple>/]<profile>/deps/<test>`, from `std::env::current_exe()`), so the
//! binaries are `<target>/<profile>/osconfig-platform` and the modules `<target>/<profile>/lib<name>.so`: the files
//! `cargo build` writes, never a copy in `deps/` and never "the newer of two".
//!
//! - **Never stale**: cargo rebuilds whatever changed since the last build (and does nothing, in about a second,
//!   when all is fresh), so a test always runs the binaries of the tree it was built from.
//! - **Always the same set**: every crate of [`CRATES`] is built in one invocation, whatever the test needs, so
//!   cargo unifies features the same way in every test process and two test binaries never rebuild a module in
//!   turn (the whole set takes about 35 s from scratch on the 2-core development machine).
//! - **Concurrent test processes**: cargo's lock on the target dir serializes builds into it; `cargo test` does not
//!   hold that lock while the tests run, so the nested build never waits on its parent.
//! - A failed build panics in every test that asks, with cargo's exit status (its messages are on stderr); the
//!   build is not retried in the same process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A module crate of the workspace: the library file it builds and the name its `MmiGetInfo` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleCrate {
    /// The library name: cargo builds `lib<lib>.so`.
    pub lib: &'static str,
    /// The package name (`cargo build -p <package>`).
    pub package: &'static str,
    /// The module's `Name` in `MmiGetInfo`.
    pub name: &'static str,
}

/// Every module crate of the workspace.
pub const MODULES: [ModuleCrate; 5] = [
    ModuleCrate { lib: "deviceinfo", package: "osconfig-deviceinfo", name: "DeviceInfo" },
    ModuleCrate { lib: "hostname", package: "osconfig-hostname", name: "HostName" },
    ModuleCrate { lib: "configuration", package: "osconfig-configuration", name: "Configuration" },
    ModuleCrate { lib: "commandrunner", package: "osconfig-commandrunner", name: "CommandRunner" },
    ModuleCrate { lib: "fixture", package: "osconfig-module-fixture", name: "Fixture" },
];

/// The packages [`artifacts`] builds: the daemons and tools, then every module crate.
pub const CRATES: [&str; 9] = [
    "osconfig-platform",
    "osconfig-modulehost",
    "osconfig-cli",
    "osconfig-agent",
    MODULES[0].package,
    MODULES[1].package,
    MODULES[2].package,
    MODULES[3].package,
    MODULES[4].package,
];

/// Where the built binaries and modules are (see the module docs).
#[derive(Debug)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// `<target>/<profile>`: the folder holding every built binary and module.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `osconfig-platform`.
    pub fn platform(&self) -> PathBuf {
        self.file("osconfig-platform")
    }

    /// `osconfig-modulehost`.
    pub fn modulehost(&self) -> PathBuf {
        self.file("osconfig-modulehost")
    }

    /// `osconfigctl`.
    pub fn osconfigctl(&self) -> PathBuf {
        self.file("osconfigctl")
    }

    /// `osconfig`: the IoT Hub agent.
    pub fn agent(&self) -> PathBuf {
        self.file("osconfig")
    }

    /// `lib<lib>.so` of a module crate (`lib` as in [`ModuleCrate::lib`], e.g. `deviceinfo`).
    pub fn module(&self, lib: &str) -> PathBuf {
        self.file(&format!("lib{lib}.so"))
    }

    /// `<dir>/<name>`; panics when cargo did not build it (not a product of [`CRATES`]).
    fn file(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        assert!(path.is_file(), "{} was not built (is it a product of testkit's CRATES?)", path.display());
        path
    }
}

/// Builds the binaries and modules once per test process and returns where they are (see the module docs).
pub fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(artifacts) => artifacts,
        Err(e) => panic!("{e}"),
    }
}

/// Where this test executable was built: the target dir, the `--target` triple if any, and the profile's folder.
struct Layout {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

fn layout() -> Result<Layout, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the test executable's path: {e}"))?;
    let deps = exe.parent().filter(|d| d.file_name().is_some_and(|n| n == "deps"));
    let profile_dir = deps
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in <target>/<profile>/deps (not run by cargo test?)", exe.display()))?;
    let above = profile_dir.parent().ok_or("the profile folder has no parent")?;
    // Cargo keeps `.rustc_info.json` (and newer versions `CACHEDIR.TAG`) in the target dir itself; with
    // `--target <triple>` the profile folder is one level further down.
    let is_target_dir = |dir: &Path| dir.join(".rustc_info.json").is_file() || dir.join("CACHEDIR.TAG").is_file();
    let cross = !is_target_dir(above) && above.parent().is_some_and(is_target_dir);
    let (target_dir, triple) = if cross {
        (above.parent().unwrap_or(above), above.file_name().map(|t| t.to_string_lossy().into_owned()))
    } else {
        (above, None)
    };
    Ok(Layout { target_dir: target_dir.to_path_buf(), triple, profile_dir: profile_dir.to_path_buf() })
}

fn build() -> Result<Artifacts, String> {
    let layout = layout()?;
    let folder = layout.profile_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The `dev` and `test` profiles build into `debug`, `release` and `bench` into `release`.
    let profile = if folder == "debug" { "dev".to_string() } else { folder };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--profile", &profile, "--manifest-path"]).arg(&manifest);
    command.arg("--target-dir").arg(&layout.target_dir);
    if let Some(triple) = &layout.triple {
        command.args(["--target", triple]);
    }
    for package in CRATES {
        command.args(["-p", package]);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let status = command.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of the tests' binaries and modules failed ({status}): {command:?}"));
    }
    Ok(Artifacts { dir: layout.profile_dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_layout_finds_this_test_executable_profile() {
        let layout = layout().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(exe.parent().unwrap().parent().unwrap(), layout.profile_dir);
        assert_eq!(layout.target_dir, layout.profile_dir.parent().unwrap(), "not cross-compiled");
        assert_eq!(layout.triple, None);
    }

    #[test]
    fn test_crates_list_every_module() {
        for module in MODULES {
            assert!(CRATES.contains(&module.package), "{}", module.package);
        }
    }

    #[test]
    #[should_panic(expected = "was not built")]
    fn test_file_missing_panics_clearly() {
        Artifacts { dir: std::env::temp_dir() }.module("no-such-module");
    }
}
