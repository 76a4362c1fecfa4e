//! # osconfig-platform: the OSConfig platform daemon
//!
//! `osconfig-platform` serves the **MPI** (the REST API the agent and other management authorities call) on a Unix
//! socket and runs the modules through the **Modules Manager** ([`manager`]), one call at a time through the
//! **Orchestrator** ([`orchestrator`]), which checks desired payloads against the modules' MIMs first. With
//! `LocalManagement` 1 the **Watcher** ([`watcher`]) applies `<root>/etc/osconfig/osconfig_desired.json` when it
//! changes and keeps `<root>/etc/osconfig/osconfig_reported.json` up to date, as an in-process MPI client
//! ([`local`]). Under systemd (`Type=notify`) it sends `READY=1` once the modules are identified and `WATCHDOG=1`
//! while the orchestrator is within its job's time budget ([`watchdog`]).
//!
//! ## Command line ([`args`])
//! ```text
//! osconfig-platform [--root <dir>] [--config <file>] [--socket <path>] [--modulehost <path>] [--foreground]
//! osconfig-platform --version | --help
//! ```
//! Every device path is resolved under `--root` (default `/`, see [`paths`]): the configuration
//! `<root>/etc/osconfig/osconfig.json`, the socket `<root>/run/osconfig/mpid.sock` (directory 0700, socket 0660),
//! modules in `<root>/usr/lib/osconfig` and `<root>/usr/local/lib/osconfig`, host sockets in
//! `<root>/run/osconfig/modules`, the manager's state in `<root>/var/lib/osconfig/platform`, the log
//! `<root>/var/log/osconfig_platform.log`. `--foreground` copies log lines to stderr (and turns syslog off); the
//! process never forks.
//!
//! Exit codes ([`error`]): 0 stopped by SIGTERM/SIGINT (or `--help`, `--version`); 2 bad command line; 3 another
//! platform runs on the same root (it holds `<root>/run/osconfig/platform.lock`, see [`lock`]; the log names its
//! pid), or the MPI socket (or its directory) cannot be created; 4 another start-up failure. A start-up failure is
//! logged once with its causes, `cannot listen on <socket>: <why>; exiting` (on stderr when logging itself failed).
//!
//! One platform per root: the lock is taken before any socket or host is touched, so a second instance — with
//! another `--socket`, or after the MPI socket was deleted — never takes over the first one's module hosts. A
//! socket file is removed only when nothing answers on it (the MPI socket and the module hosts' sockets alike).
//!
//! Signals: SIGTERM and SIGINT stop within one second (queued requests are dropped, sessions closed, hosts stopped,
//! the socket removed; if a module call is still running after [`daemon::SHUTDOWN_GRACE`] the process exits
//! anyway). SIGHUP reloads `osconfig.json` (an invalid file keeps the previous configuration) and makes the manager
//! rediscover modules and clear quarantines.
//!
//! ## The MPI
//! Byte-compatible with the reference client (spec section 3): `POST /<Name>/` or `/<Name>`, `GET` also for
//! `MpiGet` and `MpiGetReported`, keep-alive or one request per connection. Answers carry `Server: OSConfig`,
//! `Content-Type: application/json` and `Content-Length`. 400 for a bad body, with `{"error":"<why>"}` (e.g.
//! `request body lacks key ObjectName`; reference clients read only the status), 404 (empty body) for
//! anything else, 403 (empty body) for a caller that is not allowed ([`auth`]: uid 0, `MpiAllowedUids`,
//! `MpiAllowedGroups`; the check never blocks: group memberships are resolved when the configuration is loaded),
//! 503 (empty body) when [`queue::MAX_QUEUED_REQUESTS`] (4096) requests or [`queue::MAX_QUEUED_BYTES`] (64 MiB)
//! of bodies already wait for the orchestrator, 500 with `"<errno>"` for a failed call (`"22"`: unknown session,
//! component or object; `"131"`: the module is quarantined, see [`manager`]). Every answer is built in
//! [`answers`]. See [`orchestrator`] for what each call answers and [`queue`] for the ordering rules (duplicates
//! merged by hash, `Priorities`).
//!
//! Two read-only extensions of ours, `/PlatformModules` and `/PlatformStatus` ([`status`]), serve `osconfigctl
//! modules` and `osconfigctl status`; reference clients never call them.
//!
//! Sessions ([`sessions`]): ids are 128 random bits (`getrandom`), at most [`sessions::MAX_SESSIONS`] (1024) open
//! (plus [`sessions::ROOT_RESERVE`], 64, for root), at most [`sessions::MAX_SESSIONS_PER_UID`] (256) for one
//! non-root uid. A caller at its bound gets room by closing the least recently used session it may displace if
//! that one is unused for `MpiSessionReclaimIdleSeconds` (default [`sessions::DEFAULT_RECLAIM_IDLE`], 300 s), else
//! 500 `"24"`. A session unused for `MpiSessionIdleTimeoutSeconds` (default 3600 s) is closed, since a client may
//! vanish without `MpiClose`. Module hosts admit as many MMI sessions (1088) as the platform has MPI sessions.
//!
//! ## Configuration
//! [`config`]; every key is described in `CONFIGURATION.md` beside this crate's `Cargo.toml`.
//!
//! ## Example
//! ```no_run
//! // A test or a demo: a temporary root, modules copied to <root>/usr/lib/osconfig/<name>.so.
//! let mut platform = std::process::Command::new("osconfig-platform")
//!     .args(["--root", "/tmp/demo-root", "--foreground"])
//!     .spawn()?;
//! let mut mpi = osconfig_rest::MpiClient::new("/tmp/demo-root/run/osconfig/mpid.sock");
//! let session = mpi.open("demo", 0).expect("open");
//! # let _ = session;
//! # platform.kill()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Limits
//! One module call runs at a time, platform-wide: a slow module delays every client's calls (bounded by
//! `ModuleCallTimeoutSeconds`; the MPI loop keeps reading and queueing meanwhile). An in-process module runs on the
//! MPI loop's thread itself: it has no deadline, and while it runs nothing else is served. Priorities are strict: a steady stream of
//! high-priority calls delays unlisted components indefinitely. The 1024-session limit is shared by every allowed
//! non-root caller (root has 64 more in reserve; one non-root uid at most 256). A change of group membership for
//! `MpiAllowedGroups` takes effect at the next `SIGHUP`. A refused uid is logged at most once per
//! [`routes::REFUSAL_LOG_PERIOD`]. The socket directory is 0700 root, so callers allowed by `MpiAllowedUids` /
//! `MpiAllowedGroups` also need access to it (give `<root>/run/osconfig` a group or mode that lets them in).

#![deny(missing_docs)]

pub mod answers;
pub mod args;
pub mod auth;
pub mod config;
pub mod daemon;
pub mod error;
pub mod local;
pub mod lock;
pub mod manager;
pub mod notify;
pub mod orchestrator;
pub mod paths;
pub mod queue;
pub mod routes;
pub mod sessions;
pub mod shared;
pub mod status;
pub mod watchdog;
pub mod watcher;
