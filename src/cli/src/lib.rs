//! # osconfig-cli: `osconfigctl`, the OSConfig command line tool
//!
//! Two jobs, one subcommand each (one file each under [`commands`]):
//! - **An MPI client of a running `osconfig-platform`**, for people and scripts: `get`, `set`, `desired`,
//!   `reported`, and our extension endpoints `modules` and `status` (shared code in [`client`]).
//! - **The module test-recipe runner** of spec section 6 (the reference's `moduletest`): `test`.
//!
//! ```text
//! osconfigctl get <Component> <object>          MpiGet: one object's value
//! osconfigctl set <Component> <object> <json|-> MpiSet: one desired object (MIM-checked first)
//! osconfigctl desired <file|->                  MpiSetDesired: a whole desired document (MIM-checked first)
//! osconfigctl reported                          MpiGetReported: the reported document
//! osconfigctl modules                           GET /PlatformModules: the modules, as a table
//! osconfigctl status                            GET /PlatformStatus: version, uptime, sessions, watcher
//!     common options: [--socket <path>] [--root <dir>] [--json] [--timeout <secs>]
//! osconfigctl test <recipe.json>... [--bin <dir>] [--host <osconfig-modulehost>] [--root <dir>]
//!                  [--call-timeout <secs>] [--command-timeout <secs>] [--check] [--verbose]
//! osconfigctl --help | --version | <command> --help
//! ```
//!
//! ## The MPI subcommands
//! Each call runs in its own session, `MpiOpen("osconfigctl", 0)` ... `MpiClose`, through
//! [`osconfig_rest::MpiClient`]; the session is closed also when the call fails.
//! - `--socket <path>`: the MPI socket, default `<root>/run/osconfig/mpid.sock`. `--root <dir>` (default `/`) is
//!   the device root: the default socket and the installed MIMs, `<root>/usr/lib/osconfig/mim/<module>.json`,
//!   are found under it.
//! - Output: pretty JSON or a table for people; `--json` prints compact JSON on stdout, exactly as the module or
//!   platform sent it (`get`, `reported`, `modules`, `status`), or `{"component":..,"object":..,"result":"ok"}`
//!   (`set`) and `{"objects":N,"result":"ok"}` (`desired`). Errors always go to stderr, one message saying what
//!   to do, and stdout stays empty.
//! - `--timeout <secs>` bounds each call (default 30 s).
//! - `set` and `desired` validate the JSON locally (a desired document's error names its byte offset) and check
//!   every object against the installed MIMs (a MIM that cannot be read is skipped with a warning); a violation
//!   is quoted (all of them for `desired`) and nothing is sent. The platform answers a violation it finds itself
//!   with errno 22, like a module's EINVAL.
//! - When a call answers EINVAL (22), `osconfigctl` asks `/PlatformModules` which components the platform
//!   serves, to tell an unknown component (`unknown component X (the platform serves: A, B, ...)`) from an
//!   unknown object or a refused value.
//!
//! Exit codes ([`client::error`]):
//!
//! - **0** ok.
//! - **1** the call failed: the module's errno, named (`errno 22 EINVAL (invalid argument)`), an unknown
//!   component, an unexpected answer.
//! - **2** usage error or invalid input: bad JSON, not a desired document, a MIM violation, an unreadable file.
//! - **3** the platform is not running at the socket (`platform not running at <socket> (start
//!   osconfig-platform, or pass --socket/--root)`) or did not answer in time.
//! - **4** permission denied: the platform refused the caller (403) or the socket cannot be opened (`run as root
//!   or join a group listed in MpiAllowedGroups`).
//!
//! ```no_run
//! // What `osconfigctl get DeviceInfo osName --json` does:
//! use osconfig_cli::client::{connection::Connection, options::CommonArgs};
//! let args = CommonArgs::parse(&["DeviceInfo".into(), "osName".into(), "--json".into()])?;
//! let mut platform = Connection::new(args.socket_path(), args.timeout);
//! let value =
//!     platform.in_session("MpiGet DeviceInfo.osName", |mpi, session| mpi.get(session, "DeviceInfo", "osName"))?;
//! println!("{}", String::from_utf8_lossy(&value));   // e.g. "Ubuntu"
//! # Ok::<(), osconfig_cli::client::error::CtlError>(())
//! ```
//!
//! `osconfigctl test` is described below.
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
//! - `modules` and `status` need a platform with our extension endpoints (an answer 404 says so); they are read
//!   with one request each over a new connection, outside [`osconfig_rest::MpiClient`] (see
//!   [`client::extension`]).
//! - A session is closed on every return path, but not when `osconfigctl` is killed during a call: the platform
//!   closes it after `MpiSessionIdleTimeoutSeconds`.
//! - A value printed for people is re-indented by `serde_json`: numbers may be written differently (`2.50` as
//!   `2.5`); `--json` prints the exact text.
//! - In-process, a module that crashes ends `osconfigctl` (use `--host`); one that hangs is abandoned after
//!   `--call-timeout` and every later call to it fails.
//! - Through a module host, a `Json` payload that is not valid JSON cannot be sent (the REST body is JSON): the
//!   step gets `EINVAL` (22) locally, what the SDK answers in-process.
//! - `RunCommand` steps run in their own process group, killed after `--command-timeout` (default 600 s); output a
//!   background child writes after the shell exited is not collected.
#![deny(missing_docs)]

pub mod client;
pub mod commands;
pub mod program;
pub mod recipe;
pub mod target;

/// The top-level help text.
pub const USAGE: &str = "\
usage: osconfigctl <command> [arguments]

commands (each with --help):
  get <Component> <object>           print one object's value (MpiGet)
  set <Component> <object> <json|->  set one desired object (MpiSet), checked against the installed MIMs
  desired <file|->                   send a desired document {\"Component\":{\"object\":value}} (MpiSetDesired)
  reported                           print the reported document (MpiGetReported)
  modules                            list the platform's modules (GET /PlatformModules)
  status                             show the platform's state (GET /PlatformStatus)
  test <recipe.json>...              run module test recipes

options of get, set, desired, reported, modules and status:
  --socket <path>  --root <dir>  --json  --timeout <secs>   (see `osconfigctl get --help`)

exit codes: 0 ok; 1 the call failed; 2 usage or invalid input; 3 platform not running; 4 permission denied

  -h, --help              this text
  -V, --version           print the version
";
