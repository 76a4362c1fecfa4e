//! What the tests of osconfig-rs share (a dev-dependency only; never shipped). Every test gets these four things
//! from here and from nowhere else:
//!
//! - **Built binaries and modules**: [`artifacts()`] gives the paths of `osconfig-platform`, `osconfig-modulehost`,
//!   `osconfigctl`, `osconfig` and `lib<module>.so`, each from a `cargo build` of its package run once per test
//!   process into the running test's own target dir and profile. Never stale, never "the newest of two folders", no
//!   private target dirs, no environment variables to point elsewhere. See [`artifacts`](mod@artifacts).
//! - **Temporary roots**: [`TempRoot`], a unique directory under the system temp dir removed on drop. A test writes
//!   nowhere else (the module and daemon paths under `OSCONFIG_ROOT`, sockets, logs, state).
//! - **Child processes**: [`ChildGuard`] stops (SIGTERM, grace, SIGKILL) and reaps a process the test started, on
//!   drop too, optionally with its whole process group.
//! - **An environment of its own**: tests never call `std::env::set_var` (a module loaded with dlopen reads the
//!   environment through its own copy of std, so setting it while other threads run is a data race). A test that
//!   needs `OSCONFIG_ROOT` or another variable set for code in its own process runs its body in a child process of
//!   the test binary with the variables set on the `Command`: [`in_child`], [`ChildTest`]. See
//!   [`child_test`](mod@child_test). Processes started indirectly (a module's commands) are found by a
//!   [`unique_marker`] in their command line ([`processes_with`]) and cleaned up with [`kill_groups_with`].
//!
//! Also [`assert_mim_agrees_with_reference`]: compare one of our MIMs with the reference module's MIM.
//!
//! ```no_run
//! use osconfig_testkit::{artifacts, ChildGuard, TempRoot};
//! use std::process::Command;
//!
//! let root = TempRoot::new("example");
//! let host = ChildGuard::spawn(
//!     Command::new(artifacts().modulehost())
//!         .arg("--module")
//!         .arg(artifacts().module("fixture"))
//!         .arg("--socket")
//!         .arg(root.join("run/module.sock"))
//!         .env("OSCONFIG_ROOT", root.path()),
//! )
//! .unwrap();
//! // ... talk to it; dropping `host` then `root` stops the host and removes the folder.
//! ```
#![deny(missing_docs)]

pub mod artifacts;
mod child_guard;
pub mod child_test;
mod mim;
mod processes;
mod temp_root;

pub use artifacts::{artifacts, Artifacts, ModuleCrate, CRATES, MODULES};
pub use child_guard::ChildGuard;
pub use child_test::{in_child, is_child_test, ChildTest, ChildTestRun};
pub use mim::{assert_mim_agrees_with_reference, mim_objects, reference_mim, shared_dir};
pub use processes::{kill_groups_with, processes_with, unique_marker, wait_no_process_with, wait_processes_with};
pub use temp_root::{TempRoot, KEEP_ROOTS_ENV, MAX_TAG_CHARS};
