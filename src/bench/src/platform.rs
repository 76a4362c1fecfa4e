//! Platform scenarios: `MpiGet` through `osconfig-platform` (module in-process and in a module host, kept-alive and
//! one connection per request), throughput with 1, 8 and 64 clients, memory, and the time to the first answer.
//!
//! They need the release build of the workspace: `osconfig-platform`, `osconfig-modulehost` and the module
//! libraries are looked up in [`Context::bin_dir`]. Each run stages a temporary device tree.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use osconfig_http::oneshot;
use osconfig_rest::MpiClient;
use serde_json::json;

use crate::child::{ChildServer, Role, FLOOR_MESSAGE};
use crate::memory::Memory;
use crate::mmi::{memory_kib, module_path, MODULES};
use crate::reference::ReferencePlatform;
use crate::scenarios::{measure, Context, Figure};

const PLATFORM: &str = "osconfig-platform";
const CLIENT: &str = "osconfig-bench";

/// Where the modules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Each module in its own module host (the default).
    Isolated,
    /// Every module loaded into the platform (`InProcessModules`).
    InProcess,
}

/// The executable the platform starts its module hosts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostBinary {
    /// The standalone `osconfig-modulehost` binary.
    Standalone,
    /// The platform's own multi-call executable through a link named `osconfig-modulehost`, as installed.
    MultiCall,
}

/// A platform process on a staged temporary root; stopped and cleaned up on drop.
pub struct Platform {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    started: Instant,
}

impl Platform {
    /// Stages a root with the four modules (or none) and starts the platform on it, without waiting.
    fn spawn(ctx: &Context, mode: Mode, with_modules: bool, tag: &str) -> io::Result<Platform> {
        let in_process: Vec<&str> = match mode {
            Mode::InProcess => vec!["DeviceInfo", "HostName", "CommandRunner", "Configuration"],
            Mode::Isolated => vec![],
        };
        let config = json!({"LoggingLevel": 3, "InProcessModules": in_process});
        Platform::spawn_with(ctx, if with_modules { MODULES } else { &[] }, &config, tag, HostBinary::Standalone)
    }

    /// Stages a root with `modules` (file stems, as in [`MODULES`]) and `config` as its `osconfig.json`, and
    /// starts the platform on it, without waiting.
    fn spawn_with(
        ctx: &Context,
        modules: &[&str],
        config: &serde_json::Value,
        tag: &str,
        host: HostBinary,
    ) -> io::Result<Platform> {
        let dir = std::env::temp_dir().join(format!("osconfig-bench-platform-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spawned = Platform::stage(ctx, &dir, modules, config, host).and_then(|(platform, host)| {
            let started = Instant::now();
            let child = Command::new(&platform)
                .arg("--root")
                .arg(&dir)
                .arg("--modulehost")
                .arg(host)
                .env("OSCONFIG_LOG_LEVEL", "error")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            Ok((child, started))
        });
        match spawned {
            Ok((child, started)) => Ok(Platform { child, socket: dir.join("run/osconfig/mpid.sock"), dir, started }),
            Err(e) => {
                // Nothing runs on the staged root (a module or binary was missing): no leftover folder.
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Stages the device tree under `dir`: the modules, `osconfig.json` and, for the multi-call layout, the host's
    /// link; returns the platform's executable and the host executable to pass to it.
    fn stage(
        ctx: &Context,
        dir: &std::path::Path,
        modules: &[&str],
        config: &serde_json::Value,
        host: HostBinary,
    ) -> io::Result<(PathBuf, PathBuf)> {
        let modules_dir = dir.join("usr/lib/osconfig");
        std::fs::create_dir_all(&modules_dir)?;
        std::fs::create_dir_all(dir.join("etc/osconfig"))?;
        for module in modules {
            std::fs::copy(module_path(ctx, module)?, modules_dir.join(format!("{module}.so")))?;
        }
        std::fs::write(dir.join("etc/osconfig/osconfig.json"), config.to_string())?;
        let platform = std::fs::canonicalize(ctx.bin_dir.join(PLATFORM))?;
        let host = match host {
            HostBinary::Standalone => std::fs::canonicalize(ctx.bin_dir.join("osconfig-modulehost"))?,
            HostBinary::MultiCall => {
                // As installed: a link named osconfig-modulehost to the platform's executable (it picks its role
                // by that name), so the hosts map the platform's own file pages.
                let link = dir.join("usr/lib/osconfig-bin/osconfig-modulehost");
                std::fs::create_dir_all(dir.join("usr/lib/osconfig-bin"))?;
                std::os::unix::fs::symlink(&platform, &link)?;
                link
            }
        };
        Ok((platform, host))
    }

    /// Starts the platform and waits until it answers `MpiOpen`.
    fn start(ctx: &Context, mode: Mode, with_modules: bool, tag: &str) -> io::Result<Platform> {
        let mut platform = Platform::spawn(ctx, mode, with_modules, tag)?;
        platform.first_answer()?;
        Ok(platform)
    }

    /// Starts the platform with `modules` and `config` on a staged root and waits until it answers `MpiOpen`.
    pub fn start_with(ctx: &Context, modules: &[&str], config: &serde_json::Value, tag: &str) -> io::Result<Platform> {
        let mut platform = Platform::spawn_with(ctx, modules, config, tag, HostBinary::Standalone)?;
        platform.first_answer()?;
        Ok(platform)
    }

    /// The staged root the platform runs on (`--root`).
    pub fn root(&self) -> &std::path::Path {
        &self.dir
    }

    /// Polls until one `MpiOpen` and one `MpiGet` of `DeviceInfo.osName` (when modules are staged) are answered;
    /// returns the time since the process was started.
    fn first_answer(&mut self) -> io::Result<Duration> {
        let deadline = self.started + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("{PLATFORM} exited: {status}")));
            }
            let mut client = MpiClient::new(&self.socket).with_timeout(Duration::from_secs(5));
            if let Ok(session) = client.open(CLIENT, 0) {
                let _ = client.get(&session, "DeviceInfo", "osName");
                let _ = client.close(&session);
                return Ok(self.started.elapsed());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{PLATFORM} did not answer")));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The process ids of the platform's module hosts: the processes whose parent it is (`/proc/<pid>/stat`).
    fn hosts(&self) -> Vec<u32> {
        let parent = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                // The fields after the command name (which may hold spaces) start with the state, then the ppid.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
                ppid.and_then(|p| p.parse::<u32>().ok()) == Some(parent)
            })
            .collect()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        crate::child::stop_gracefully(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mpi_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn get_kept(ctx: &Context, mode: Mode, tag: &str) -> io::Result<Figure> {
    let platform = Platform::start(ctx, mode, true, tag)?;
    let mut client = MpiClient::new(&platform.socket);
    let session = client.open(CLIENT, 0).map_err(mpi_error)?;
    let latency =
        measure(ctx.effort.kept, || client.get(&session, "DeviceInfo", "osName").map(drop).map_err(mpi_error))?;
    Ok(Figure::Latency(latency))
}

fn get_oneshot(ctx: &Context, mode: Mode, tag: &str) -> io::Result<Figure> {
    let platform = Platform::start(ctx, mode, true, tag)?;
    let session = MpiClient::new(&platform.socket).open(CLIENT, 0).map_err(mpi_error)?;
    let body = format!(r#"{{"ClientSession":"{session}","ComponentName":"DeviceInfo","ObjectName":"osName"}}"#);
    let latency = measure(ctx.effort.oneshot, || {
        let answer = oneshot(&platform.socket, "POST", "/MpiGet/", body.as_bytes(), Duration::from_secs(10))
            .map_err(mpi_error)?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(io::Error::other(format!("MpiGet answered {}", answer.status)))
        }
    })?;
    Ok(Figure::Latency(latency))
}

/// `MpiGet(DeviceInfo.osName)` through the platform, kept-alive, the module in a host.
pub fn mpi_get_host(ctx: &Context) -> io::Result<Figure> {
    get_kept(ctx, Mode::Isolated, "host")
}

/// `MpiGet(DeviceInfo.osName)` through the platform, kept-alive, the module in-process.
pub fn mpi_get_inprocess(ctx: &Context) -> io::Result<Figure> {
    get_kept(ctx, Mode::InProcess, "inprocess")
}

/// `MpiGet(DeviceInfo.osName)` through the platform, one connection per request, the module in a host.
pub fn mpi_get_host_oneshot(ctx: &Context) -> io::Result<Figure> {
    get_oneshot(ctx, Mode::Isolated, "host-oneshot")
}

/// `MpiGet(DeviceInfo.osName)` through the platform, one connection per request, the module in-process.
pub fn mpi_get_inprocess_oneshot(ctx: &Context) -> io::Result<Figure> {
    get_oneshot(ctx, Mode::InProcess, "inprocess-oneshot")
}

/// Requests per second of `clients` kept-alive clients each sending `total / clients` requests at once.
fn rate(
    clients: usize,
    total: usize,
    request: impl Fn(usize) -> io::Result<Box<dyn FnMut() -> io::Result<()> + Send>>,
) -> io::Result<f64> {
    let per_client = (total / clients).max(1);
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut threads = Vec::new();
    for i in 0..clients {
        let mut op = request(i)?;
        let barrier = Arc::clone(&barrier);
        threads.push(std::thread::spawn(move || -> io::Result<()> {
            barrier.wait();
            for _ in 0..per_client {
                op()?;
            }
            Ok(())
        }));
    }
    barrier.wait();
    let start = Instant::now();
    for thread in threads {
        thread.join().map_err(|_| io::Error::other("client thread panicked"))??;
    }
    Ok((per_client * clients) as f64 / start.elapsed().as_secs_f64())
}

/// Throughput of `MpiGet(DeviceInfo.osName)` with 1, 8 and 64 concurrent kept-alive clients, modules in-process
/// and in hosts, with the baseline from the same run: the raw floor's rate (one client, 256-byte echo).
pub fn mpi_throughput(ctx: &Context) -> io::Result<Figure> {
    let total = ctx.effort.kept;
    let floor = ChildServer::start(Role::Floor)?;
    let floor_rps = rate(1, total, |_| {
        let mut stream = std::os::unix::net::UnixStream::connect(floor.socket())?;
        let mut message = [b'x'; FLOOR_MESSAGE];
        Ok(Box::new(move || {
            use std::io::{Read, Write};
            stream.write_all(&message)?;
            stream.read_exact(&mut message)
        }))
    })?;
    drop(floor);
    let mut values = vec![("floor_1_client_rps".to_string(), json!(floor_rps.round()))];
    for (mode, name) in [(Mode::InProcess, "inprocess"), (Mode::Isolated, "host")] {
        let platform = Platform::start(ctx, mode, true, &format!("rate-{name}"))?;
        for clients in [1usize, 8, 64] {
            let rps = rate(clients, total, |_| {
                let mut client = MpiClient::new(&platform.socket).with_timeout(Duration::from_secs(30));
                let session = client.open(CLIENT, 0).map_err(mpi_error)?;
                Ok(Box::new(move || client.get(&session, "DeviceInfo", "osName").map(drop).map_err(mpi_error)))
            })?;
            values.push((format!("{name}_{clients}_clients_rps"), json!(rps.round())));
            values.push((format!("{name}_{clients}_clients_ratio"), json!((rps / floor_rps * 100.0).round() / 100.0)));
        }
    }
    Ok(Figure::Values(values))
}

/// Resident memory of the platform: with no modules, with the four modules in-process, and with the four in hosts
/// (the platform plus its hosts), each after one `MpiGet` per module; the baseline is an idle process measured in
/// the same run.
pub fn platform_rss(ctx: &Context) -> io::Result<Figure> {
    let idle = ChildServer::start(Role::Idle)?;
    let (idle_rss, _) = memory_kib(idle.pid())?;
    drop(idle);
    let mut values = vec![("idle_rss_kib".to_string(), json!(idle_rss))];
    let touch_all = |platform: &Platform| -> io::Result<()> {
        let mut client = MpiClient::new(&platform.socket);
        let session = client.open(CLIENT, 0).map_err(mpi_error)?;
        for (component, object) in [
            ("DeviceInfo", "osName"),
            ("HostName", "name"),
            ("CommandRunner", "commandStatus"),
            ("Configuration", "modelVersion"),
        ] {
            client.get(&session, component, object).map_err(mpi_error)?;
        }
        Ok(())
    };
    let empty = Platform::start(ctx, Mode::Isolated, false, "rss-empty")?;
    values.push(("platform_no_modules_rss_kib".into(), json!(memory_kib(empty.child.id())?.0)));
    drop(empty);
    let inprocess = Platform::start(ctx, Mode::InProcess, true, "rss-inprocess")?;
    touch_all(&inprocess)?;
    values.push(("platform_inprocess_rss_kib".into(), json!(memory_kib(inprocess.child.id())?.0)));
    drop(inprocess);
    let isolated = Platform::start(ctx, Mode::Isolated, true, "rss-isolated")?;
    touch_all(&isolated)?;
    let platform_rss = memory_kib(isolated.child.id())?.0;
    let hosts = isolated.hosts();
    let hosts_rss: u64 = hosts.iter().filter_map(|pid| memory_kib(*pid).ok()).map(|m| m.0).sum();
    values.push(("platform_isolated_rss_kib".into(), json!(platform_rss)));
    values.push(("hosts".into(), json!(hosts.len())));
    values.push(("platform_isolated_with_hosts_rss_kib".into(), json!(platform_rss + hosts_rss)));
    Ok(Figure::Values(values))
}

/// The modules of the memory comparison with the reference: the reference platform loads them in-process (its only
/// mode) and measured 3,039-3,127 KiB PSS after one `MpiGet` each on this machine (issue 11); `--reference`
/// measures it in the same run.
pub const REFERENCE_SET: &[(&str, &str, &str)] = &[
    ("deviceinfo", "DeviceInfo", "osName"),
    ("commandrunner", "CommandRunner", "commandStatus"),
    ("configuration", "Configuration", "modelVersion"),
];

/// PSS and USS (see [`Memory`]) of the platform with [`REFERENCE_SET`] after one `MpiGet` each: each module in its
/// own host, started from the standalone host binary (`hosts_*`) and from the multi-call executable as installed
/// (`multicall_*`), and all three in-process (`inprocess_*`); per process and in total (`*_total_pss_kib`: the
/// platform plus its hosts, what the device pays). Baseline: an idle process in the same run (`idle_*`). With
/// `--reference`, the reference platform with the same three modules (in-process, its only mode) after the same
/// calls (`reference_platform_*`), and each layout's total PSS over it (`*_total_pss_over_reference`).
pub fn platform_pss(ctx: &Context) -> io::Result<Figure> {
    let idle = ChildServer::start(Role::Idle)?;
    let mut values = Memory::of(idle.pid())?.values("idle");
    drop(idle);
    let modules: Vec<&str> = REFERENCE_SET.iter().map(|m| m.0).collect();
    let mut totals = Vec::new();
    let layouts = [
        ("hosts", HostBinary::Standalone, json!([])),
        ("multicall", HostBinary::MultiCall, json!([])),
        ("inprocess", HostBinary::Standalone, json!(REFERENCE_SET.iter().map(|m| m.1).collect::<Vec<_>>())),
    ];
    for (layout, host, in_process) in layouts {
        let config = json!({"LoggingLevel": 3, "InProcessModules": in_process});
        let mut platform = Platform::spawn_with(ctx, &modules, &config, &format!("pss-{layout}"), host)?;
        platform.first_answer()?;
        let mut client = MpiClient::new(&platform.socket);
        let session = client.open(CLIENT, 0).map_err(mpi_error)?;
        for (_, component, object) in REFERENCE_SET {
            client.get(&session, component, object).map_err(mpi_error)?;
        }
        client.close(&session).map_err(mpi_error)?;
        // Wait until the platform runs as many hosts as the layout has (a platform may start a host for a moment
        // before it settles); measure what is there after the deadline either way (`*_hosts` says how many).
        let expected = if in_process.as_array().map_or(0, Vec::len) == 0 { modules.len() } else { 0 };
        let deadline = Instant::now() + Duration::from_secs(5);
        while platform.hosts().len() != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let own = Memory::of(platform.child.id())?;
        let (mut total_pss, mut total_uss) = (own.pss, own.uss);
        values.extend(own.values(&format!("{layout}_platform")));
        // Children that exited (zombies have no memory to read) are not hosts.
        let hosts: Vec<(u32, Memory)> =
            platform.hosts().into_iter().filter_map(|pid| Some((pid, Memory::of(pid).ok()?))).collect();
        for (pid, memory) in &hosts {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
            let module = modules
                .iter()
                .find(|m| cmdline.split(|b| *b == 0).any(|arg| arg.ends_with(format!("/{m}.so").as_bytes())))
                .ok_or_else(|| io::Error::other(format!("host {pid} runs none of {modules:?}")))?;
            values.extend(memory.values(&format!("{layout}_{module}_host")));
            total_pss += memory.pss;
            total_uss += memory.uss;
        }
        values.push((format!("{layout}_hosts"), json!(hosts.len())));
        values.push((format!("{layout}_total_pss_kib"), json!(total_pss)));
        values.push((format!("{layout}_total_uss_kib"), json!(total_uss)));
        totals.push((layout, total_pss));
    }
    if let Some(build) = &ctx.reference {
        let reference = ReferencePlatform::start(build, &modules, "pss")?;
        let mut client = reference.client();
        let session = client.open(CLIENT, 0).map_err(mpi_error)?;
        for (_, component, object) in REFERENCE_SET {
            client.get(&session, component, object).map_err(mpi_error)?;
        }
        client.close(&session).map_err(mpi_error)?;
        let memory = Memory::of(reference.pid())?;
        values.extend(memory.values("reference_platform"));
        for (layout, total_pss) in totals {
            let ratio = total_pss as f64 / memory.pss as f64;
            values.push((format!("{layout}_total_pss_over_reference"), json!((ratio * 100.0).round() / 100.0)));
        }
    }
    Ok(Figure::Values(values))
}

/// Time from starting the platform to its first answered `MpiGet` with four modules in hosts and in-process
/// (median of five starts), against the same for a process that only answers a socket (the floor of starting).
pub fn first_answer(ctx: &Context) -> io::Result<Figure> {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2] * 100.0).round() / 100.0
    };
    let mut floor = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let server = ChildServer::start(Role::Floor)?;
        floor.push(start.elapsed().as_secs_f64() * 1e3);
        drop(server);
    }
    let mut values = vec![("process_start_floor_ms".to_string(), json!(median(floor)))];
    for (mode, name) in [(Mode::Isolated, "host"), (Mode::InProcess, "inprocess")] {
        let mut times = Vec::new();
        for run in 0..5 {
            let mut platform = Platform::spawn(ctx, mode, true, &format!("first-{name}-{run}"))?;
            times.push(platform.first_answer()?.as_secs_f64() * 1e3);
        }
        values.push((format!("{name}_first_answer_ms"), json!(median(times))));
    }
    Ok(Figure::Values(values))
}
