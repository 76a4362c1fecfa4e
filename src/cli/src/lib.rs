//! # osconfig-cli: `osconfigctl`, the OSConfig command line tool
//!
//! Today one subcommand, `osconfigctl test`, the module test-recipe runner of spec section 6 (the reference's
//! `moduletest`); MPI subcommands will join it (one file each under [`commands`]).
//!
//! ```text
//! osconfigctl test <recipe.json>... [--bin <dir>] [--host <osconfig-modulehost>] [--root <dir>]
//!                  [--call-timeout <secs>] [--command-timeout <secs>] [--check] [--verbose]
//! osconfigctl --help | --version
//! ```
//!
//! ## Recipes
//! A recipe is a JSON array of steps; `//` and `/* */` comments are allowed outside strings. Steps:
//! - `{"Action":"LoadModule","Module":"hostname.so"}`: load from `--bin` (default `/usr/lib/osconfig`; `x.so`
//!   also finds cargo's `libx.so`), `MmiGetInfo` (validated), `MmiOpen("osconfigctl", 0)`.
//!   `{"Action":"UnloadModule"}`: `MmiClose` and unload.
//! - `{"ObjectType":"Reported","ComponentName":c,"ObjectName":o,"Payload":v?,"ExpectedResult":n?}`: `MmiGet`;
//!   the status must be `ExpectedResult` (default 0) and, if given, the payload semantically equal to `v`
//!   (`"PASS*"` / `"^PASS*"` are prefix patterns; see [`recipe::compare`]).
//! - `{"ObjectType":"Desired",...,"Payload":v | "Json":"<raw text>","PayloadSizeBytes":n?,"ExpectedResult":n?}`:
//!   `MmiSet` with `v` serialized compactly, or the raw `Json` text as is (even if invalid), cut to
//!   `PayloadSizeBytes`. Strict: a wrong status fails the step (the reference passes failing Desired steps).
//! - `{"RunCommand":"<shell>","ExpectedResult":n?}`: `/bin/sh -c`, the exit code must match.
//! - Any step: `"WaitSeconds": s` sleeps first; `"AbortOnFailure": true` (our extension) skips the rest of the
//!   recipe when the step fails (a guard before steps that would touch the real machine).
//!
//! A step of unknown shape or with unknown keys fails with the reason; nothing is skipped silently. A recipe that
//! is not valid JSON counts as one failure, reported as `file:line:column: message`.
//!
//! ## Backends
//! In-process ([`target::inprocess`], the default) or one `osconfig-modulehost` process per module (`--host`,
//! [`target::host`]), both behind [`target::Target`].
//!
//! ## Environment
//! `--root <dir>` exports `OSCONFIG_ROOT=<dir>` and `OSCONFIG_STATE_DIR=<dir>/var/lib/osconfig` before anything is
//! loaded, so modules (in-process or in hosts) and `RunCommand` steps see the same scratch root. Everything else
//! passes through: set `OSCONFIG_REBOOT_COMMAND` / `OSCONFIG_SHUTDOWN_COMMAND` in the environment of
//! `osconfigctl` to test CommandRunner's reboot and shutdown actions safely.
//!
//! ## Output and exit code
//! One line per step (`PASS`/`FAIL`/`SKIP`, the step, its recipe line, the reason), a count per recipe, and last
//! the summary `N passed, N failed, N skipped, N total`. Exit code 0 when nothing failed, 1 otherwise, 2 for usage
//! errors.
//!
//! ## Example
//! ```no_run
//! use osconfig_cli::recipe::{parse::parse_str, report::Reporter, run::Runner};
//! use osconfig_cli::target::inprocess::InProcess;
//! let recipe = parse_str(r#"[
//!     {"Action": "LoadModule", "Module": "hostname.so"},   // comments are fine
//!     {"ObjectType": "Reported", "ComponentName": "HostName", "ObjectName": "name"},
//!     {"Action": "UnloadModule"}
//! ]"#, "example.json".as_ref())?;
//! let mut backend = InProcess::new(std::time::Duration::from_secs(60));
//! let mut report = Reporter::new(std::io::stdout(), false);
//! let tally = Runner::new(&mut backend, "/usr/lib/osconfig").run(&recipe, &mut report);
//! assert_eq!(tally.failed, 0);
//! # Ok::<(), osconfig_cli::recipe::parse::ParseError>(())
//! ```
//!
//! ## Limits
//! - In-process, a module that crashes ends `osconfigctl` (use `--host`); one that hangs is abandoned after
//!   `--call-timeout` and every later call to it fails.
//! - Through a module host, a `Json` payload that is not valid JSON cannot be sent (the REST body is JSON): the
//!   step gets `EINVAL` (22) locally, what the SDK answers in-process.
//! - `RunCommand` steps run in their own process group, killed after `--command-timeout` (default 600 s); output a
//!   background child writes after the shell exited is not collected.
#![deny(missing_docs)]

pub mod commands;
pub mod recipe;
pub mod target;

/// The top-level help text.
pub const USAGE: &str = "\
usage: osconfigctl <command> [arguments]

commands:
  test <recipe.json>...   run module test recipes (see `osconfigctl test --help`)

  -h, --help              this text
  -V, --version           print the version
";
