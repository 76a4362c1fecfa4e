//! # osconfig-modulehost: one OSConfig module behind its own Unix socket
//!
//! `osconfig-modulehost --module <abs path.so> --socket <path> [--user <uid>] [--client-name <s>]` loads one module
//! (a shared library exporting the MMI) and serves the **MMI REST API** on the socket (HTTP/1.1, every call a POST
//! with a JSON body; `modulehost/MMI-REST-API.md` documents every endpoint with real bytes):
//! `/MmiGetInfo/`, `/MmiOpen/`, `/MmiClose/`, `/MmiSet/`, `/MmiGet/`. A module that crashes takes only its host
//! down; the platform restarts hosts and kills one that stops answering.
//!
//! ## What [`run`] does, in order
//! 1. Blocks SIGTERM, SIGINT and SIGHUP and ignores SIGPIPE ([`osconfig_http::signals::block`]).
//! 2. Binds the socket: a missing parent directory is created 0700, the socket is 0660, a stale socket file is
//!    replaced, a live one is an error (exit 4).
//! 3. With `--user <uid>` (not 0) while running as root: `chown`s the socket (and the parent directory when this
//!    host created it) to the uid and its primary group, then drops to them for good: `setgroups([])`, `setgid`,
//!    `setuid`, and checks that `setuid(0)` now fails (any failure: exit 5). Without root, `--user` must name the
//!    current uid.
//! 4. Installs the stop handlers ([`stop`]: no signal thread), then loads the module with `osconfig_mmi::loader`
//!    (absolute path, all six symbols) and checks its `MmiGetInfo` (exit 3 with the reason on stderr).
//! 5. Runs the `osconfig_http` server loop; routing is in [`routes`], and module calls run on the loop's thread
//!    ([`module`] says why). The host runs no thread of its own besides the loop's.
//! 6. On SIGTERM/SIGINT: stops the loop (the socket file is removed), closes every session (`MmiClose`), unloads
//!    the module, exit 0 (through `exit(3)`, so a module's exit hooks run: CommandRunner stops its commands there).
//!    If the module hangs (in a call, in `dlopen` or in the first `MmiGetInfo`), a timer armed by the signal's
//!    handler ends the process with `_exit(6)` after [`STOP_GRACE`] (no exit hook runs while module code may
//!    still be running).
//!
//! ## Sessions
//! `MmiOpen` answers a random id (16 bytes from `getrandom(2)` as `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`); at most
//! [`sessions::MAX_SESSIONS`] are open at once. An unknown id gives `500 "22"` (`MmiClose`: 200).
//!
//! ## Limits and choices
//! - `MmiGetInfo` answers the module's JSON bytes exactly as the module returned them (validated once at start-up;
//!   later answers are forwarded unchecked, since the client name may change them).
//! - `MmiSet`'s `Payload` reaches the module as the exact bytes received.
//! - Module panics become errnos inside the module (the SDK's `catch_unwind`, `EFAULT` = 14); a module that aborts
//!   or segfaults ends the host with that signal.
//! - With `--user` and a socket directory the host did not create (and cannot write once unprivileged), the socket
//!   file stays after exit; the next host removes it as stale.
//!
//! ## Tests
//! `cargo test -p osconfig-modulehost` starts real host processes (`tests/api.rs`: the REST API on the fixture
//! module; `tests/lifecycle.rs`: command line, exit codes, signals, crash, hangs, `--user`; `tests/modules.rs`:
//! DeviceInfo, HostName and CommandRunner under a temporary `OSCONFIG_ROOT`). They need `cc` (for deliberately
//! broken C modules) and get the host and the module `.so` files from `osconfig_testkit::artifacts` (built once
//! into the workspace's target directory when missing). The `--user` tests need root and skip
//! themselves otherwise.
//!
//! ```no_run
//! use osconfig_modulehost::{args::Options, run};
//! let options = Options {
//!     module: "/usr/lib/osconfig/hostname.so".into(),
//!     socket: "/run/osconfig/modules/hostname.sock".into(),
//!     user: None,
//!     client_name: "osconfig-modulehost".into(),
//! };
//! if let Err(e) = run(&options) {
//!     eprintln!("{}", osconfig_modulehost::error::chain(&e));
//!     std::process::exit(e.exit_code());
//! }
//! ```

#![deny(missing_docs)]

pub mod args;
pub mod error;
pub mod malloc;
pub mod module;
pub mod privileges;
pub mod process;
pub mod program;
pub mod reply;
pub mod routes;
pub mod sessions;
pub mod stop;

use std::path::Path;

use osconfig_http::signals;
use osconfig_http::{Server, SocketOptions};
use osconfig_mmi::loader::{Library, LoadedModule};

use crate::args::Options;
use crate::error::HostError;
use crate::module::HostedModule;
use crate::privileges::{Account, HandedOverSocket, PrivilegeError};

pub use stop::STOP_GRACE;

/// The account to switch to, if any: `--user` other than 0 (and other than the current uid when not root).
fn target_account(options: &Options) -> Result<Option<Account>, PrivilegeError> {
    let uid = match options.user {
        None | Some(0) => return Ok(None),
        Some(uid) => uid,
    };
    let euid = privileges::effective_uid();
    if euid == uid {
        return Ok(None);
    }
    if euid != 0 {
        return Err(PrivilegeError::NotRoot { uid: euid });
    }
    Ok(Some(privileges::account(uid)))
}

/// Runs a module host until SIGTERM or SIGINT (see the crate docs for the steps).
pub fn run(options: &Options) -> Result<(), HostError> {
    // SIGTERM/SIGINT are unblocked again once their handlers are installed (step 4).
    let _ = signals::block();
    let account = target_account(options).map_err(HostError::Privileges)?;

    let parent = options.socket.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf);
    let creates_parent = parent.as_ref().is_some_and(|p| !p.exists());
    let server = Server::bind(&options.socket, SocketOptions::default())
        .map_err(|source| HostError::Socket { path: options.socket.clone(), source })?
        .with_server_header("OSConfig");

    // Declared after `server`, so dropped before it: removes the chown-ed socket file on every way out.
    let mut _handed_over = None;
    if let Some(account) = account {
        _handed_over = Some(HandedOverSocket::new(&options.socket, account).map_err(HostError::Privileges)?);
        if let (true, Some(parent)) = (creates_parent, &parent) {
            privileges::hand_over(parent, account).map_err(HostError::Privileges)?;
        }
        privileges::drop_to(account).map_err(HostError::Privileges)?;
    }

    // The stop handlers are installed before any module code runs, so a module that hangs while loading or in its
    // first MmiGetInfo cannot make the host ignore SIGTERM: if the host has not stopped STOP_GRACE after the signal
    // (the loop not yet running, or the main thread stuck in the module), the timer ends the process with exit
    // code 6 (see [`stop`]).
    stop::install(server.handle(), &options.socket).map_err(HostError::Serve)?;

    let library = Library::load(&options.module).map_err(HostError::Module)?;
    let info = library.get_info(&options.client_name).map_err(HostError::Module)?;
    let (major, minor, patch, tweak) = info.version();
    log::info!(
        "loaded {} {major}.{minor}.{patch}.{tweak} ({}) from {}, components {:?}, user account {}",
        info.name,
        info.version_info,
        options.module.display(),
        info.components,
        info.user_account
    );

    let mut module = HostedModule::new(LoadedModule::from_library(library));
    log::info!("serving the MMI on {}", options.socket.display());
    // The handler owns the module: when the loop ends it is dropped, which closes every session and unloads it.
    server.run(move |request, responder| routes::route(request, responder, &mut module)).map_err(HostError::Serve)?;
    log::info!("stopped");
    Ok(())
}
