//! # CommandRunner: the OSConfig module that runs commands, reboots and shuts down on request
//!
//! A cdylib exporting the MMI (`libcommandrunner.so`, installed as `/usr/lib/osconfig/commandrunner.so`).
//! GetInfo: `CommandRunner` 2.0, Lifetime 1 (keep loaded), UserAccount 0; one component, `CommandRunner`.
//! The model is `mim/commandrunner.json` beside this crate (same names, types and enum values as the reference).
//!
//! ## Objects
//! | object | kind | value |
//! |---|---|---|
//! | `commandArguments` | desired | `{commandId: string, arguments: string, timeout: int seconds (0 = none), singleLineTextResult: bool, action: 0..5}` |
//! | `commandStatus` | reported | `{commandId: string, resultCode: int, textResult: string, currentState: 0..5}` |
//!
//! Actions: 0 `none` (accepted, nothing run or recorded), 1 `reboot`, 2 `shutdown` (run the command line from env
//! `OSCONFIG_REBOOT_COMMAND` / `OSCONFIG_SHUTDOWN_COMMAND`, default `shutdown -r now` / `shutdown -h now`, as a command
//! of its own), 3 `runCommand` (`/bin/sh -c <arguments>`), 4 `refreshCommandStatus` (report that command),
//! 5 `cancelCommand`. States: 0 unknown, 1 running, 2 succeeded, 3 failed, 4 timedOut, 5 canceled.
//!
//! ## Behaviour
//! - `MmiSet` returns at once; a worker thread runs the command in its own process group, stdin `/dev/null`,
//!   stdout and stderr captured into one buffer (arrival order). Exit 0 gives state 2, any other exit state 3 with
//!   the exit code as resultCode (128 + signal when killed by a signal we did not send; the errno when `/bin/sh`
//!   cannot be started).
//! - Timeout: the whole process group gets SIGTERM, then SIGKILL 2 s later; resultCode 62, state 4.
//! - Cancel of a running command: the same group kill; resultCode 125, state 5, reported at once. Cancelling a
//!   command that already ended is accepted and changes nothing (it becomes the reported command); an unknown
//!   commandId gives `EINVAL`.
//! - Refresh with an unknown commandId gives `EINVAL`.
//! - `commandStatus` reports the most recent command, or the one named by the last refresh or cancel; before any
//!   command it is `{"commandId":"","resultCode":0,"textResult":"","currentState":0}`.
//! - Idempotence: a payload equal to the client's last accepted one is a no-op. A reboot/shutdown/runCommand whose
//!   commandId is already in the history with the same arguments is not run again (so re-applied desired state never
//!   repeats a reboot); the same commandId with different fields gives `EINVAL`.
//! - Output: at most the first 64 KiB are kept ([`capture::MAX_OUTPUT_BYTES`]); the rest is read and dropped.
//!   `textResult` is cut (at a character boundary) so the whole serialized `commandStatus` fits the session's
//!   `maxPayloadSizeBytes` (0 = unlimited); `singleLineTextResult` replaces `\n` and `\r` by spaces.
//! - History: the last 10 commands per client name (from `MmiOpen`), shared by all sessions of that client in the
//!   process (running commands are never dropped; when all 10 run, a new one gets `EBUSY`).
//! - Validation: a non-object payload, wrong field types, an unknown action, a negative timeout, an empty commandId
//!   (allowed only with action 0), empty `arguments` for runCommand, and unknown components or objects give
//!   `EINVAL` with an error log line. Refresh and cancel payloads need only `commandId` and `action`; absent fields
//!   default to `""`, 0 and false; unknown fields are ignored.
//! - `MmiClose` never waits for commands: they go on and their result is recorded for the client (a client such
//!   as `osconfigctl` closes its session right after starting a command).
//! - Bounds of `commandArguments` (named constants in [`arguments`]): `commandId` at most
//!   [`arguments::MAX_COMMAND_ID_BYTES`] (256) bytes and `arguments` at most [`arguments::MAX_ARGUMENTS_BYTES`]
//!   (16 KiB), beyond them `E2BIG` (7); `timeout` at most [`arguments::MAX_TIMEOUT_SECONDS`] (30 days), beyond it
//!   `EINVAL`. `action` is 0..5 and `singleLineTextResult` a boolean (`EINVAL` otherwise).
//!
//! ## Processes: who stops a command
//! Every command runs in a process group of its own (the shell leads it). The whole group is stopped:
//! - on timeout and on cancel: SIGTERM, SIGKILL [`process::KILL_GRACE`] (2 s) later;
//! - when the module stops, i.e. when the process that loaded it exits (`exit(3)`, which is also how a module
//!   host ends after SIGTERM from the platform, on platform stop and on SIGHUP): the library's `.fini_array`
//!   entry stops every running group (SIGTERM, SIGKILL [`process::EXIT_GRACE`] (100 ms) later, all within
//!   [`engine::STOP_WAIT`] (300 ms)) and records the commands as interrupted (failed, resultCode -1). Once a
//!   command has run, the library pins itself in memory (`RTLD_NODELETE`): an `MmiClose` of every session and a
//!   `dlclose` do not stop the commands (their threads run the library's code); a later load in the same process
//!   gets the same copy back, commands and all;
//! - after a crash (the process killed, e.g. SIGKILL, so no exit code ran): running groups are recorded in a
//!   state file of their own, one per process (see [`groups`]: `<state base>/commandrunner-groups/`, beside the
//!   old history store, not in the cache file, which every process shares and a reset removes). At the first
//!   `MmiOpen` of the next load, the groups of a process that is gone are killed (SIGKILL) if their shell still
//!   runs, checked by the pid's start time (field 22 of `/proc/<pid>/stat`) and the boot id, so a reused pid is
//!   never hit.
//!
//! What a finished command leaves running on purpose in the background (`nohup x &`, a daemon it starts) is left
//! alone: once the shell has exited, its group is no longer signalled by anyone. `PR_SET_PDEATHSIG` is not used: it
//! would reach only the shell, never its children.
//!
//! ## Persistence: `<root>/etc/osconfig/osconfig_commandrunner.cache`
//! The histories live where the reference agent keeps them, in one file for all clients (root from env
//! `OSCONFIG_ROOT`, default `/`), mode 0600, replaced atomically at each change (temporary file in the same
//! directory, fsync, rename, fsync of the directory). The layout is the reference's (client name to an array of
//! `{commandId, resultCode, currentState}`, oldest first) plus keys of ours the reference ignores (`textResult`,
//! `arguments`, `reported`): see [`cache`]. So a device upgraded from the reference agent keeps its history (its
//! file is read as is and only rewritten when a history changes), and the file stays readable by the reference.
//! - A client's history is loaded at its first `MmiOpen`. A command that was running when the process ended is
//!   reported as failed, resultCode -1, textResult `"interrupted: the module stopped while the command was running"`.
//! - Reset: removing the file starts every client over. A loaded module notices at the next `MmiOpen` or `MmiSet`
//!   of any client (not at `MmiGet`, which is polled): the histories the file no longer holds, running commands
//!   included (their processes go on untracked), and the last payloads are forgotten; so the same request runs
//!   again. A new load of the module simply finds no file.
//! - A file that is not a regular file, larger than [`cache::MAX_CACHE_BYTES`], not JSON or not of the layout is
//!   renamed to `osconfig_commandrunner.cache.corrupt` with an error log line; the histories start empty and the
//!   module works on.
//! - Commands recorded by the reference have no request stored: re-applying a reboot, shutdown or runCommand with
//!   such a commandId does not run it again (as in the reference) and records the request.
//! - The last accepted payload is not saved: after a restart the saved history alone recognises a re-applied
//!   request (a re-applied refresh or cancel changes nothing that matters).
//! - Migration: the per-client files of earlier releases (`<state base>/commandrunner/`, see [`legacy`]) are read
//!   once: adopted into the cache file when it does not hold the client, then deleted (deleted unread when it does),
//!   so a reset can never bring them back.
//! - Several processes may load the module (platform, module host, test tools): each writes only its own clients'
//!   entries and keeps the others as it read them. There is no lock between processes: two writes in the same
//!   instant can lose one of them, and one process per client name is assumed.
//!
//! ## Environment
//! `OSCONFIG_REBOOT_COMMAND`, `OSCONFIG_SHUTDOWN_COMMAND` (read at each request), and through osconfig-storage
//! `OSCONFIG_ROOT` (the cache file's root) and `OSCONFIG_STATE_DIR` (the group records, and the old history to
//! migrate); both read once, at the first `MmiOpen` of the process or of a fresh load of the library.
//!
//! ## Limits
//! - A command's background children that keep its output open are waited for 0.5 s after the shell exits; output
//!   they write later is not reported. Their reader threads live on until the pipe closes (the library stays
//!   pinned, see above).
//! - A command that moves itself out of its process group (`setsid`) escapes every stop.
//! - A process killed by the watchdog of a module host (`_exit`, module code hung) runs no exit code: its commands
//!   are killed by the next load of the module, not at once.
//! - Deduplication by commandId covers the 10 kept commands (and the last payload): a reboot request re-applied
//!   after 10 newer commands of the same client would run again.
//! - Saved `textResult`s are cut to [`cache::MAX_SAVED_TEXT_BYTES`] of JSON text; a whole file over
//!   [`cache::MAX_CACHE_BYTES`] is not written (error log line).
//! - The file is read with a check that it is a regular file; a FIFO swapped in between that check and the open
//!   (only root can, in `/etc/osconfig`) would block the read.
//! - Signals are sent with `kill(2)` (libc); the library is pinned with `dladdr` + `dlopen(RTLD_NOLOAD |
//!   RTLD_NODELETE)`. These and the `.fini_array` entry are the crate's only unsafe code.
//!
//! ## Example (the Rust side)
//! ```no_run
//! use commandrunner::CommandRunner;
//! use osconfig_mmi::Module;
//! use serde_json::json;
//! let mut session = CommandRunner::open("example", 0).unwrap();
//! session
//!     .set("CommandRunner", "commandArguments", &json!({"commandId": "1", "arguments": "uname -a", "action": 3}))
//!     .unwrap();
//! let status = session.get("CommandRunner", "commandStatus").unwrap();
//! assert_eq!(status["commandId"], "1");
//! ```
#![deny(missing_docs)]

pub mod arguments;
pub mod cache;
pub mod capture;
pub mod engine;
pub mod groups;
pub mod history;
pub mod legacy;
mod module;
pub mod power;
pub mod process;
pub mod status;

pub use module::{CommandRunner, COMPONENT, DESIRED_OBJECT, REPORTED_OBJECT};

osconfig_mmi::export_module!(CommandRunner);

/// Run by the dynamic loader when the process exits (`exit(3)`, also when `main` returns), or at `dlclose` if no
/// command ever ran (a library that started one stays mapped until exit): stops the running commands.
extern "C" fn stop_commands_at_exit() {
    // Nothing may unwind into the loader.
    let _ = std::panic::catch_unwind(engine::stop_global);
}

/// The `.fini_array` entry of [`stop_commands_at_exit`].
#[used]
#[link_section = ".fini_array"]
static STOP_COMMANDS_AT_EXIT: extern "C" fn() = stop_commands_at_exit;
