//! The built binaries and modules the tests run, from `cargo build` into the running test's own target dir.
//!
//! A path asked of [`artifacts`] (say [`Artifacts::module`]`("deviceinfo")`) first runs, once per test process and
//! package, `$CARGO build --profile <this test's profile> --target-dir <this test's target dir> -p <its package>` on
//! the workspace manifest; [`Artifacts::prepare`] builds several packages in one invocation (the end-to-end tests
//! prepare every one of [`CRATES`]). The target dir and profile are those of the running test executable
//! (`<target>/[<triple>/]<profile>/deps/<test>`, from `std::env::current_exe()`), so the binaries are
//! `<target>/<profile>/osconfig-platform` and the modules `<target>/<profile>/lib<name>.so`: the files `cargo build`
//! writes, never a copy in `deps/` and never "the newer of two".
//!
//! - **Never stale**: cargo rebuilds whatever changed since the last build (and does nothing, in well under a
//!   second, when all is fresh), so a test always runs the binaries of the tree it was built from.
//! - **Only what the test uses**: a module's tests do not build (or fail with) the platform. The workspace has no
//!   cargo features of its own and takes shared dependencies from `[workspace.dependencies]`, so a package built
//!   alone is the very one built with the others (cargo reports it fresh either way).
//! - **Concurrent test processes**: cargo's lock on the target dir serializes builds into it; `cargo test` does not
//!   hold that lock while the tests run, so the nested build never waits on its parent. Within a process, one build
//!   runs at a time.
//! - A failed build panics in every test that asks for that package, with cargo's exit status (its messages are on
//!   stderr); it is not retried in the same process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

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

/// Every package whose binaries or modules the tests run: the daemons and tools, then every module crate.
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

/// Where the built binaries and modules are; each is built when first asked for (see the module docs).
#[derive(Debug)]
pub struct Artifacts {
    layout: Layout,
    /// The outcome of this process's build of each package.
    built: Mutex<HashMap<&'static str, Result<(), String>>>,
}

impl Artifacts {
    /// `<target>/<profile>`: the folder holding every built binary and module.
    pub fn dir(&self) -> &Path {
        &self.layout.profile_dir
    }

    /// `osconfig-platform`.
    pub fn platform(&self) -> PathBuf {
        self.file("osconfig-platform", "osconfig-platform")
    }

    /// `osconfig-modulehost`.
    pub fn modulehost(&self) -> PathBuf {
        self.file("osconfig-modulehost", "osconfig-modulehost")
    }

    /// `osconfigctl`.
    pub fn osconfigctl(&self) -> PathBuf {
        self.file("osconfig-cli", "osconfigctl")
    }

    /// `osconfig`: the IoT Hub agent.
    pub fn agent(&self) -> PathBuf {
        self.file("osconfig-agent", "osconfig")
    }

    /// `lib<lib>.so` of a module crate (`lib` as in [`ModuleCrate::lib`], e.g. `deviceinfo`).
    pub fn module(&self, lib: &str) -> PathBuf {
        let module =
            MODULES.iter().find(|m| m.lib == lib).unwrap_or_else(|| panic!("no module crate builds lib{lib}.so"));
        self.file(module.package, &format!("lib{lib}.so"))
    }

    /// Builds those of `packages` this process has not built yet, in one cargo invocation; panics when that fails.
    pub fn prepare(&self, packages: &[&'static str]) {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        let missing: Vec<&'static str> = packages.iter().copied().filter(|p| !built.contains_key(p)).collect();
        if !missing.is_empty() {
            let outcome = build(&self.layout, &missing);
            for package in missing {
                built.insert(package, outcome.clone());
            }
        }
        for package in packages {
            if let Some(Err(e)) = built.get(package) {
                panic!("{e}");
            }
        }
    }

    /// `<dir>/<name>`, once `package` is built; panics when the build failed or did not make the file.
    fn file(&self, package: &'static str, name: &str) -> PathBuf {
        self.prepare(&[package]);
        let path = self.dir().join(name);
        assert!(path.is_file(), "cargo build -p {package} did not make {}", path.display());
        path
    }
}

/// A cargo configuration file the nested build passes with `--config` when the tests are cross-compiled (set by
/// `cross/test` to `cross/config.toml`, which it gives its own cargo the same way).
pub const CARGO_CONFIG_ENV: &str = "OSCONFIG_TESTKIT_CARGO_CONFIG";

/// Where this test's binaries and modules are built (see the module docs); builds nothing by itself.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        let layout = layout().unwrap_or_else(|e| panic!("{e}"));
        Artifacts { layout, built: Mutex::new(HashMap::new()) }
    })
}

/// Where this test executable was built: the target dir, the `--target` triple if any, and the profile's folder.
#[derive(Debug)]
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
    // With `--target <triple>` the profile folder is one level further down, in a folder named for the triple this
    // code was compiled for (known from the build script; `CACHEDIR.TAG` is in that folder too, so it cannot tell).
    let cross = above.file_name().is_some_and(|name| name == env!("OSCONFIG_TESTKIT_TARGET"));
    let (target_dir, triple) = if cross {
        (above.parent().unwrap_or(above), above.file_name().map(|t| t.to_string_lossy().into_owned()))
    } else {
        (above, None)
    };
    Ok(Layout { target_dir: target_dir.to_path_buf(), triple, profile_dir: profile_dir.to_path_buf() })
}

/// `cargo build -p <each of packages>` into the test's target dir and profile.
fn build(layout: &Layout, packages: &[&str]) -> Result<(), String> {
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
        // The cross-compiling configuration the outer cargo had on its command line (linker, runner, flags):
        // without it this build would link with the build machine's `cc`.
        if let Some(config) = std::env::var_os(CARGO_CONFIG_ENV) {
            command.arg("--config").arg(config);
        }
    }
    for package in packages {
        command.args(["-p", package]);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let status = command.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build for the tests failed ({status}): {command:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_layout_finds_this_test_executable_profile() {
        let layout = layout().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(exe.parent().unwrap().parent().unwrap(), layout.profile_dir);
        let above = layout.profile_dir.parent().unwrap();
        if std::env::var_os(crate::child_test::RUNNER_ENV).is_some() {
            // cross/test: `<target dir>/<triple>/<profile>`.
            assert_eq!(layout.triple.as_deref(), Some(env!("OSCONFIG_TESTKIT_TARGET")));
            assert_eq!(layout.target_dir, above.parent().unwrap());
        } else {
            assert_eq!(layout.target_dir, above, "not cross-compiled");
            assert_eq!(layout.triple, None);
        }
    }

    #[test]
    fn test_crates_list_every_module() {
        for module in MODULES {
            assert!(CRATES.contains(&module.package), "{}", module.package);
        }
    }

    #[test]
    #[should_panic(expected = "no module crate builds libno-such-module.so")]
    fn test_module_unknown_panics_clearly() {
        artifacts().module("no-such-module");
    }

    #[test]
    fn test_prepare_failure_is_remembered_and_reported() {
        let artifacts = artifacts();
        let first = std::panic::catch_unwind(|| artifacts.prepare(&["osconfig-no-such-package"]));
        let again = std::panic::catch_unwind(|| artifacts.prepare(&["osconfig-no-such-package"]));
        assert!(first.is_err() && again.is_err());
    }
}
