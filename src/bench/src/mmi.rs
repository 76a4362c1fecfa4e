//! Module scenarios: `MmiGet` in-process and through a module host, host memory, and binary sizes.
//!
//! They need the release build of the workspace (`cargo build --release --workspace`): the module host and the
//! module libraries are looked up in [`Context::bin_dir`].

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use osconfig_mmi::loader::Library;
use osconfig_modulehost::process::{HostCommand, HostProcess};
use serde_json::json;

use crate::child::{ChildServer, Role};
use crate::memory::Memory;
use crate::scenarios::{measure, Context, Figure};

/// The modules whose host memory and size are recorded.
pub const MODULES: &[&str] = &["deviceinfo", "hostname", "commandrunner", "configuration"];
const HOST: &str = "osconfig-modulehost";
const CLIENT: &str = "osconfig-bench";
/// How long a module host may take to listen on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `<dir>/lib<name>.so` as cargo names it, or `<dir>/<name>.so` as installed.
pub fn module_path(ctx: &Context, name: &str) -> io::Result<PathBuf> {
    let candidates = [ctx.bin_dir.join(format!("lib{name}.so")), ctx.bin_dir.join(format!("{name}.so"))];
    let found = candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("module {name} not in {} (run cargo build --release --workspace)", ctx.bin_dir.display()),
        )
    })?;
    std::fs::canonicalize(found)
}

fn host_path(ctx: &Context) -> io::Result<PathBuf> {
    let path = ctx.bin_dir.join(HOST);
    if path.is_file() {
        std::fs::canonicalize(path)
    } else {
        Err(io::Error::new(io::ErrorKind::NotFound, format!("{HOST} not in {}", ctx.bin_dir.display())))
    }
}

/// A module host process (started as the platform starts its hosts: [`HostCommand`]) on a socket in a private
/// directory; killed and cleaned up on drop.
struct Host {
    process: HostProcess,
    dir: PathBuf,
}

impl Host {
    fn start(ctx: &Context, module: &str) -> io::Result<Host> {
        let dir = std::env::temp_dir().join(format!("osconfig-bench-host-{}-{module}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root"))?;
        let mut process = HostCommand::new(host_path(ctx)?, module_path(ctx, module)?, dir.join("run/module.sock"))
            .root(dir.join("root"))
            .env("OSCONFIG_LOG_LEVEL", "error")
            .spawn()?;
        process.wait_ready(Instant::now() + START_TIMEOUT).map_err(|e| io::Error::other(format!("{HOST}: {e}")))?;
        Ok(Host { process, dir })
    }
}

/// Resident memory of a process in KiB: `(VmRSS, RssAnon)`; the second is its private memory (heap, stacks).
pub fn memory_kib(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok((field("VmRSS:")?, field("RssAnon:")?))
}

impl Drop for Host {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mmi_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// `MmiGet(DeviceInfo, osName)` through the loader, in this process.
pub fn get_inprocess(ctx: &Context) -> io::Result<Figure> {
    // The module resolves its paths and its log file under OSCONFIG_ROOT: a scratch root, never the machine's.
    let root = std::env::temp_dir().join(format!("osconfig-bench-inprocess-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    std::env::set_var("OSCONFIG_ROOT", &root);
    let library = Library::load(module_path(ctx, "deviceinfo")?).map_err(mmi_error)?;
    let session = library.open(CLIENT, 0).map_err(|e| mmi_error(format!("{e:?}")))?;
    let latency = measure(ctx.effort.kept, || {
        session.get("DeviceInfo", "osName").map(drop).map_err(|e| mmi_error(format!("{e:?}")))
    })?;
    drop(session);
    library.unload().map_err(mmi_error)?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(Figure::Latency(latency))
}

/// `MmiGet(DeviceInfo, osName)` through a module host, over a kept-alive connection.
pub fn get_via_host(ctx: &Context) -> io::Result<Figure> {
    let host = Host::start(ctx, "deviceinfo")?;
    let mut client = host.process.client();
    let session = client.open(CLIENT, 0).map_err(mmi_error)?;
    let latency =
        measure(ctx.effort.kept, || client.get(&session, "DeviceInfo", "osName").map(drop).map_err(mmi_error))?;
    Ok(Figure::Latency(latency))
}

/// Resident memory of a module host per module, after GetInfo, MmiOpen and one MmiGet of a reported object, with
/// the baseline measured in the same run: an idle process (this program, bound to a socket, doing nothing). On
/// glibc an idle process is already about 2 MiB resident, nearly all of it shared library pages; `*_over_idle_kib`
/// is what the host and its module add, `*_anon_kib` their anonymous memory. `*_pss_kib` and `*_uss_kib` (see
/// [`Memory`]) are what a device pays and what the host alone holds; `idle_pss_kib` and `idle_uss_kib` are theirs
/// for the idle process.
pub fn host_rss(ctx: &Context) -> io::Result<Figure> {
    let idle = ChildServer::start(Role::Idle)?;
    let (idle_rss, idle_anon) = memory_kib(idle.pid())?;
    let idle_memory = Memory::of(idle.pid())?;
    drop(idle);
    let first_reported = |module: &str| match module {
        "deviceinfo" => ("DeviceInfo", "osName"),
        "hostname" => ("HostName", "name"),
        "commandrunner" => ("CommandRunner", "commandStatus"),
        _ => ("Configuration", "modelVersion"),
    };
    let mut values =
        vec![("idle_rss_kib".to_string(), json!(idle_rss)), ("idle_anon_kib".to_string(), json!(idle_anon))];
    values.push(("idle_pss_kib".to_string(), json!(idle_memory.pss)));
    values.push(("idle_uss_kib".to_string(), json!(idle_memory.uss)));
    for module in MODULES {
        let host = Host::start(ctx, module)?;
        let mut client = host.process.client();
        client.get_info(CLIENT).map_err(mmi_error)?;
        let session = client.open(CLIENT, 0).map_err(mmi_error)?;
        let (component, object) = first_reported(module);
        client.get(&session, component, object).map_err(mmi_error)?;
        let (rss, anon) = memory_kib(host.process.id())?;
        values.push((format!("{module}_rss_kib"), json!(rss)));
        values.push((format!("{module}_anon_kib"), json!(anon)));
        values.push((format!("{module}_rss_over_idle_kib"), json!(rss.saturating_sub(idle_rss))));
        let memory = Memory::of(host.process.id())?;
        values.push((format!("{module}_pss_kib"), json!(memory.pss)));
        values.push((format!("{module}_uss_kib"), json!(memory.uss)));
    }
    Ok(Figure::Values(values))
}

/// Sizes in bytes of the (stripped, release) module host and module libraries.
pub fn sizes(ctx: &Context) -> io::Result<Figure> {
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len());
    let mut values = vec![(format!("{HOST}_bytes"), json!(size(&host_path(ctx)?)?))];
    for module in MODULES {
        values.push((format!("{module}_so_bytes"), json!(size(&module_path(ctx, module)?)?)));
    }
    Ok(Figure::Values(values))
}
