//! Tests that need an environment of their own run in a child process: the test binary runs itself again.
//!
//! Why: a module `.so` loaded with dlopen has its own copy of std, with its own environment lock, and reads
//! `OSCONFIG_ROOT` and friends through it. `std::env::set_var` in a test, while the harness's other threads (or the
//! module's) may read the environment, is a data race that no lock covers. So tests never call it: the variables
//! are set on the `Command` of a child process that runs only the test that needs them.
//!
//! How: [`in_child`] in the parent makes a [`TempRoot`] and starts
//! `<this test binary> --exact <test> --nocapture --test-threads=1` with the variables the test asks for,
//! [`CHILD_TEST_ENV`]` = <test>` and [`CHILD_DIR_ENV`]` = <root>`; it checks that the child ran exactly that one test
//! and passed, shows the child's output (on failure, or with `--nocapture`), removes the root and returns `None`.
//! In the child, the same call returns `Some(root)` and the test's body runs:
//!
//! ```no_run
//! #[test]
//! fn test_module_through_c_abi() {
//!     let Some(root) = osconfig_testkit::in_child("test_module_through_c_abi", |root| {
//!         vec![("OSCONFIG_ROOT", root.into())]
//!     }) else {
//!         return;
//!     };
//!     // Only in the child, whose OSCONFIG_ROOT is `root`: load the module, plant files under `root`, ...
//! }
//! ```
//!
//! [`ChildTest`] is the same with more control: a test that runs several phases in turn (each a child process,
//! with a phase variable of its own), or whose child is expected to die.
//!
//! A test binary cross-built for ARM runs under QEMU user mode (cargo's runner); its child runs through the program
//! [`RUNNER_ENV`] names, which `cross/test` sets to the same emulator.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::TempRoot;

/// Set in a child started by [`ChildTest`]: the name of the test it runs.
pub const CHILD_TEST_ENV: &str = "OSCONFIG_TESTKIT_CHILD_TEST";

/// The program (and its first arguments, separated by spaces) that runs a test binary built for another machine,
/// e.g. `qemu-aarch64-static -L /usr/aarch64-linux-gnu`: cargo runs the test binary itself through its target's
/// runner, but a child the test starts would not be (without binfmt_misc), so `cross/test` sets this for the child.
pub const RUNNER_ENV: &str = "OSCONFIG_TESTKIT_RUNNER";

/// [`RUNNER_ENV`] split into the program and its arguments, when set and not empty.
fn runner() -> Option<(String, Vec<String>)> {
    let value = std::env::var(RUNNER_ENV).ok()?;
    let mut words = value.split_whitespace().map(str::to_string);
    let program = words.next()?;
    Some((program, words.collect()))
}

/// Set in a child started by [`in_child`]: the test's temporary root.
pub const CHILD_DIR_ENV: &str = "OSCONFIG_TESTKIT_CHILD_DIR";

/// `true` in the child process [`ChildTest`] started for `test`.
pub fn is_child_test(test: &str) -> bool {
    std::env::var_os(CHILD_TEST_ENV).is_some_and(|name| name == test)
}

/// Runs the body of `test` in a child process whose environment has `env(root)` (see the module docs); `None` in
/// the parent once the child passed (panics with its output when it did not), `Some(root)` in the child.
///
/// `test` is the test's name as the harness lists it (the function name for a test at the top of an integration
/// test file). The root is a [`TempRoot`] of the parent, removed after the child ends.
pub fn in_child(test: &str, env: impl FnOnce(&Path) -> Vec<(&'static str, OsString)>) -> Option<PathBuf> {
    if is_child_test(test) {
        let root = std::env::var_os(CHILD_DIR_ENV).unwrap_or_else(|| panic!("{CHILD_DIR_ENV} is not set"));
        return Some(PathBuf::from(root));
    }
    let root = TempRoot::new(test);
    let mut child = ChildTest::new(test).env(CHILD_DIR_ENV, root.path());
    for (key, value) in env(root.path()) {
        child = child.env(key, value);
    }
    child.run().assert_passed();
    None
}

/// A run of one test of this test binary in a child process, with variables set on its `Command`.
#[derive(Debug)]
pub struct ChildTest {
    test: String,
    command: Command,
}

/// What a [`ChildTest`] did.
#[derive(Debug)]
pub struct ChildTestRun {
    /// The test's name.
    pub test: String,
    /// The child's exit status.
    pub status: ExitStatus,
    /// Its stdout then its stderr.
    pub output: String,
}

impl ChildTest {
    /// `<this test binary> --exact <test> --nocapture --test-threads=1`, with [`CHILD_TEST_ENV`] set to `test`.
    pub fn new(test: &str) -> ChildTest {
        let exe = std::env::current_exe().expect("the test executable's path");
        let mut command = match runner() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(CHILD_TEST_ENV, test);
        ChildTest { test: test.to_string(), command }
    }

    /// Sets `key` in the child's environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> ChildTest {
        self.command.env(key, value);
        self
    }

    /// Removes `key` from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> ChildTest {
        self.command.env_remove(key);
        self
    }

    /// Runs the child to its end; panics unless the harness started exactly this one test (a misspelt name runs
    /// nothing and would pass). The output is shown on stderr (captured by the harness like the test's own).
    pub fn run(mut self) -> ChildTestRun {
        let out = self.command.output().unwrap_or_else(|e| panic!("cannot run the child for {}: {e}", self.test));
        let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        eprint!("--- child process for {}:\n{output}--- end of child\n", self.test);
        assert!(
            output.contains("running 1 test"),
            "the child did not run exactly the test {} ({}):\n{output}",
            self.test,
            out.status
        );
        ChildTestRun { test: self.test, status: out.status, output }
    }
}

impl ChildTestRun {
    /// Panics with the child's output unless it passed.
    pub fn assert_passed(&self) {
        assert!(
            self.status.success() && self.output.contains("1 passed"),
            "{} failed in its child process ({}):\n{}",
            self.test,
            self.status,
            self.output
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child side reads its variable from the environment it was started with.
    #[test]
    fn test_in_child_runs_body_with_env() {
        let Some(root) = in_child("child_test::tests::test_in_child_runs_body_with_env", |root| {
            vec![("OSCONFIG_TESTKIT_UNIT", root.join("x").into())]
        }) else {
            return;
        };
        assert!(root.is_dir());
        assert_eq!(std::env::var_os("OSCONFIG_TESTKIT_UNIT"), Some(root.join("x").into()));
    }

    #[test]
    #[should_panic(expected = "did not run exactly the test")]
    fn test_child_test_misspelt_name_panics() {
        ChildTest::new("no_such_test").run();
    }

    #[test]
    fn test_child_test_failure_is_reported() {
        if is_child_test("child_test::tests::test_child_test_failure_is_reported") {
            panic!("failing on purpose in the child");
        }
        let run = ChildTest::new("child_test::tests::test_child_test_failure_is_reported").run();
        assert!(!run.status.success());
        assert!(run.output.contains("failing on purpose"), "{}", run.output);
    }
}
