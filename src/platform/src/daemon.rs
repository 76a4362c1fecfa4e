//! Start-up, the running daemon and shutdown: wires the configuration, logging, the MPI server, the orchestrator
//! and the signal thread together.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osconfig_http::{Server, SocketOptions};
use osconfig_logging::{level_from_osconfig, LogConfig, LogHandle, SyslogMode};

use crate::args::Args;
use crate::auth::Authorizer;
use crate::config::{self, Config};
use crate::error::{StartError, EXIT_OK};
use crate::lock::RootLock;
use crate::manager::ManagerSettings;
use crate::notify::Notifier;
use crate::orchestrator::Orchestrator;
use crate::paths::Paths;
use crate::routes::MpiHandler;
use crate::shared::Shared;
use crate::watcher::{self, Watcher, WatcherConfig};
use osconfig_http::signals::{self, Signal};

/// Mode of `<root>/run/osconfig` and of the module hosts' socket directory.
pub const RUN_DIR_MODE: u32 = 0o700;
/// Mode of the MPI socket.
pub const SOCKET_MODE: u32 = 0o660;
/// How long a stop (SIGTERM, SIGINT) waits for the loop to end (closing sessions, stopping hosts) before the
/// process exits anyway (the loop may be inside an in-process module's call that hangs).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// The Modules Manager's settings for `config`.
pub fn manager_settings(paths: &Paths, host_binary: &Path, config: &Config) -> ManagerSettings {
    ManagerSettings {
        module_dirs: paths.module_dirs.clone(),
        host_binary: host_binary.to_path_buf(),
        run_dir: paths.modules_run_dir.clone(),
        state_dir: paths.state_dir.clone(),
        root: paths.root.clone(),
        call_timeout: config.module_call_timeout,
        crash_limit: config.module_crash_limit,
        crash_window: config.module_crash_window,
        restart_backoff: Duration::from_millis(100),
        idle_unload: config.module_idle_unload,
        in_process: config.in_process_modules.clone(),
    }
}

/// The log file size for `config` (`MaxLogSize`, times `MaxLogSizeDebugMultiplier` at `LoggingLevel` 7).
fn log_size(config: &Config) -> u64 {
    if config.logging_level >= 7 {
        config.max_log_size.saturating_mul(config.max_log_size_debug_multiplier)
    } else {
        config.max_log_size
    }
}

/// Reads the configuration at start-up: an invalid file gives the defaults (there is nothing older to keep).
fn initial_config(path: &Path) -> (Config, Vec<String>) {
    match config::load(path) {
        Ok(loaded) => (loaded.config, loaded.warnings),
        Err(e) => (Config::default(), vec![format!("{}: {e}; using the defaults", path.display())]),
    }
}

/// Runs the daemon until SIGTERM/SIGINT. An error is not logged here: `main` logs (or prints) its cause chain once
/// and exits with its [`exit_code`](StartError::exit_code).
pub fn run(args: &Args) -> Result<(), StartError> {
    let started = Instant::now();
    // In-process modules resolve every device path (and their log files) under OSCONFIG_ROOT, read from this
    // process's environment: set it to --root before any thread exists (hosts get it explicitly as well).
    std::env::set_var(osconfig_storage::ROOT_ENV, &args.root);
    // SIGCHLD too: a module host that ends between calls is reaped on that event (no polling timer).
    let mask = signals::block_with_child_exits();
    let paths = Paths::new(&args.root, args.config.as_deref(), args.socket.as_deref());
    let (config, warnings) = initial_config(&paths.config);
    let log = osconfig_logging::init(&LogConfig {
        name: "platform".into(),
        dir: paths.log_dir.clone(),
        level: level_from_osconfig(config.logging_level),
        max_size: log_size(&config),
        syslog: if args.foreground { SyslogMode::Never } else { SyslogMode::Auto },
        stderr: args.foreground,
    })
    .map_err(StartError::Logging)?;
    log::info!("osconfig-platform {} starting, root {}", env!("CARGO_PKG_VERSION"), paths.root.display());
    for warning in &warnings {
        log::warn!("{warning}");
    }
    let host_binary = paths.host_binary(args.modulehost.as_deref());

    make_private_dir(&paths.run_dir)?;
    // One platform per root, before any socket or host is touched: held until the process ends.
    let _root_lock = RootLock::acquire(&paths.run_dir).map_err(StartError::Lock)?;
    make_private_dir(&paths.modules_run_dir)?;
    let options = SocketOptions { dir_mode: RUN_DIR_MODE, socket_mode: SOCKET_MODE };
    let server = Server::bind(&paths.socket, options)
        .map_err(|source| StartError::Socket { path: paths.socket.clone(), source })?
        .with_server_header("OSConfig");
    let handle = server.handle();
    let auth = Arc::new(Mutex::new(Authorizer::from_config(&config)));
    let settings = manager_settings(&paths, &host_binary, &config);
    let (desired, reported) = watcher::files(&paths.root);
    let shared = Shared::new(desired, reported);
    let notifier = Notifier::from_env();
    // The modules are identified here, on the thread that runs the loop (their hosts die with it).
    let (orchestrator, engine) =
        Orchestrator::start(config.clone(), settings, Arc::clone(&shared), &notifier, handle.clone());
    let watcher = Watcher::start(&paths.root, WatcherConfig::from_config(&config), orchestrator.clone(), shared)
        .map_err(StartError::Watcher)?;
    let watcher = Arc::new(Mutex::new(watcher));

    let reloader = Reloader {
        paths: paths.clone(),
        host_binary,
        config,
        log,
        auth: Arc::clone(&auth),
        watcher: Arc::clone(&watcher),
        notifier: notifier.clone(),
    };
    let stopper = orchestrator.clone();
    let (loop_ended, loop_ended_rx) = std::sync::mpsc::channel::<()>();
    let mut reloader = reloader;
    signals::spawn(mask, move |signal| match signal {
        Signal::Reload => reloader.reload(&stopper),
        Signal::ChildExited => stopper.children_exited(),
        Signal::Stop => {
            notifier.stopping();
            watcher.lock().unwrap_or_else(|e| e.into_inner()).stop();
            stopper.stop();
            handle.shutdown();
            // The loop stops between two events; one stuck in an in-process module's call never would.
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = loop_ended_rx.recv_timeout(SHUTDOWN_GRACE) {
                log::warn!("the loop is still busy {} ms after the stop; exiting anyway", SHUTDOWN_GRACE.as_millis());
                std::process::exit(EXIT_OK);
            }
        }
    })
    .map_err(StartError::Signals)?;

    log::info!("listening on {} ({} ms after start)", paths.socket.display(), started.elapsed().as_millis());
    let served = server.run(MpiHandler::new(auth, engine));
    // The loop has ended: the socket is removed, sessions closed, hosts stopped.
    drop(loop_ended);
    served.map_err(StartError::Serve)?;
    log::info!("stopped");
    Ok(())
}

/// Creates `dir` with mode 0700 (missing parents with the default mode); an existing directory keeps its mode
/// (an administrator may have opened it to a group allowed by `MpiAllowedGroups`).
fn make_private_dir(dir: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        return Ok(());
    }
    let create = || -> std::io::Result<()> {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::DirBuilder::new().mode(RUN_DIR_MODE).create(dir)?;
        // The umask may have taken bits away from the mode; the mode asked for is exact.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(RUN_DIR_MODE))
    };
    create().map_err(|source| StartError::RunDir { path: dir.to_path_buf(), source })
}

/// What SIGHUP needs: the current configuration (kept when the file turns out invalid) and what depends on it.
struct Reloader {
    paths: Paths,
    host_binary: PathBuf,
    config: Config,
    log: LogHandle,
    auth: Arc<Mutex<Authorizer>>,
    watcher: Arc<Mutex<Watcher>>,
    notifier: Notifier,
}

impl Reloader {
    fn reload(&mut self, orchestrator: &Orchestrator) {
        self.notifier.reloading();
        match config::load(&self.paths.config) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    log::warn!("{warning}");
                }
                self.config = loaded.config;
                log::info!("configuration {} loaded", self.paths.config.display());
            }
            Err(e) => {
                log::error!("{}: {e}; keeping the previous configuration", self.paths.config.display());
            }
        }
        self.log.set_level(level_from_osconfig(self.config.logging_level));
        self.log.set_max_size(log_size(&self.config));
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = Authorizer::from_config(&self.config);
        orchestrator.reload(self.config.clone(), manager_settings(&self.paths, &self.host_binary, &self.config));
        self.watcher.lock().unwrap_or_else(|e| e.into_inner()).configure(WatcherConfig::from_config(&self.config));
        // The reload is queued behind calls in flight; systemd only needs to know the configuration was taken.
        self.notifier.ready();
    }
}
