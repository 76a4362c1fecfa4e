//! Shared helpers of the end-to-end tests: build the binaries and modules, start the real `osconfig-platform` in a
//! temporary root, talk to it over its MPI socket (typed client and raw bytes), stop it.
//!
//! Binaries: the first call of [`built`] in a test process runs `$CARGO build -p osconfig-platform
//! -p osconfig-modulehost -p <every module crate>` into the test's own target dir and profile (a no-op when up to
//! date; cargo does not hold the build lock while tests run), so the tests never run a stale binary. The binaries
//! are then `target/<profile>/osconfig-platform` and `osconfig-modulehost`, the modules
//! `target/<profile>/lib<name>.so`.
//!
//! A [`Platform`] copies the modules it is given to `<root>/usr/lib/osconfig/<name>.so`, writes
//! `<root>/etc/osconfig/osconfig.json`, starts `osconfig-platform --root <root> --foreground --modulehost <host>`
//! (stderr to `<root>/platform.stderr`), and waits for `<root>/run/osconfig/mpid.sock` to answer. Dropping it stops
//! the platform (SIGTERM, then SIGKILL after 3 s) and removes the root.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use osconfig_mpi::MpiClient;
use serde_json::Value;

/// Our modules: (library name, crate, `MmiGetInfo` name).
pub const MODULES: [(&str, &str, &str); 5] = [
    ("deviceinfo", "osconfig-deviceinfo", "DeviceInfo"),
    ("hostname", "osconfig-hostname", "HostName"),
    ("configuration", "osconfig-configuration", "Configuration"),
    ("commandrunner", "osconfig-commandrunner", "CommandRunner"),
    ("fixture", "osconfig-module-fixture", "Fixture"),
];

/// Where the built binaries and modules are.
#[derive(Debug)]
pub struct Built {
    /// `target/<profile>`.
    pub dir: PathBuf,
}

impl Built {
    /// `target/<profile>/osconfig-platform`.
    pub fn platform(&self) -> PathBuf {
        self.dir.join("osconfig-platform")
    }

    /// `target/<profile>/osconfig-modulehost`.
    pub fn modulehost(&self) -> PathBuf {
        self.dir.join("osconfig-modulehost")
    }

    /// `target/<profile>/osconfigctl`.
    pub fn osconfigctl(&self) -> PathBuf {
        self.dir.join("osconfigctl")
    }

    /// `target/<profile>/osconfig`: the IoT Hub agent.
    pub fn agent(&self) -> PathBuf {
        self.dir.join("osconfig")
    }

    /// `target/<profile>/lib<name>.so`.
    pub fn module(&self, name: &str) -> PathBuf {
        self.dir.join(format!("lib{name}.so"))
    }
}

/// Builds (once per test process) and returns where the binaries are.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let mut command = Command::new(cargo);
        command.arg("build").arg("--quiet").env("CARGO_TARGET_DIR", &target_dir);
        command.current_dir(env!("CARGO_MANIFEST_DIR"));
        match profile.as_str() {
            "debug" => {}
            "release" => {
                command.arg("--release");
            }
            other => {
                command.args(["--profile", other]);
            }
        }
        for krate in ["osconfig-platform", "osconfig-modulehost", "osconfig-cli", "osconfig-agent"]
            .into_iter()
            .chain(MODULES.iter().map(|m| m.1))
        {
            command.args(["-p", krate]);
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the platform, host, agent and modules failed: {status}");
        Built { dir: profile_dir }
    })
}

/// How to start a platform.
#[derive(Debug, Clone)]
pub struct Options {
    /// Library names of the modules to install (see [`MODULES`]).
    pub modules: Vec<&'static str>,
    /// The `osconfig.json` to write (`None`: no file).
    pub config: Option<Value>,
    /// Load every installed module in-process (adds their names to `InProcessModules`).
    pub in_process: bool,
    /// Raw bytes written as `osconfig.json` instead of `config` (for invalid files).
    pub raw_config: Option<&'static [u8]>,
    /// Install the MIMs of our modules (`<root>/usr/lib/osconfig/mim/<name>.json`), as the install step does.
    pub mims: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            modules: MODULES.iter().map(|m| m.0).collect(),
            config: Some(serde_json::json!({})),
            in_process: false,
            raw_config: None,
            mims: false,
        }
    }
}

/// A running platform in its own temporary root.
#[derive(Debug)]
pub struct Platform {
    /// The root directory.
    pub root: PathBuf,
    /// The MPI socket.
    pub socket: PathBuf,
    child: Option<Child>,
}

/// A unique, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("osconfig-e2e-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

impl Platform {
    /// Starts a platform with `options` and waits until its socket answers.
    pub fn start(tag: &str, options: Options) -> Platform {
        let built = built();
        let root = temp_dir(tag);
        let module_dir = root.join("usr/lib/osconfig");
        fs::create_dir_all(&module_dir).unwrap();
        fs::create_dir_all(root.join("etc/osconfig")).unwrap();
        for name in &options.modules {
            fs::copy(built.module(name), module_dir.join(format!("{name}.so"))).unwrap();
        }
        if options.mims {
            install_mims(&root);
        }
        if let Some(mut config) = options.config.clone() {
            if options.in_process {
                let names: Vec<Value> =
                    MODULES.iter().filter(|m| options.modules.contains(&m.0)).map(|m| Value::from(m.2)).collect();
                config["InProcessModules"] = Value::from(names);
            }
            write_config(&root, &config);
        }
        if let Some(raw) = options.raw_config {
            fs::write(root.join("etc/osconfig/osconfig.json"), raw).unwrap();
        }
        let mut platform = Platform { socket: root.join("run/osconfig/mpid.sock"), root, child: None };
        platform.spawn();
        platform
    }

    fn spawn(&mut self) {
        let built = built();
        let stderr = fs::File::create(self.root.join("platform.stderr")).unwrap();
        let child = Command::new(built.platform())
            .arg("--root")
            .arg(&self.root)
            .arg("--foreground")
            .arg("--modulehost")
            .arg(built.modulehost())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start osconfig-platform");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Stops the platform (SIGTERM, at most 5 s) and starts it again on the same root.
    pub fn restart(&mut self) {
        self.signal(libc::SIGTERM);
        assert!(self.wait_exit(Duration::from_secs(5)).is_some(), "platform did not stop");
        self.spawn();
    }

    /// Starts the platform again on the same root after it stopped.
    pub fn restart_stopped(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// Waits until the socket accepts connections (at most 10 s).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("platform exited at start ({status}): {}", self.stderr_text());
            }
            assert!(Instant::now() < deadline, "platform socket did not appear: {}", self.stderr_text());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The platform's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// A typed MPI client (keep-alive, 30 s timeout).
    pub fn client(&self) -> MpiClient {
        MpiClient::new(&self.socket).with_timeout(Duration::from_secs(30))
    }

    /// Sends `signal` to the platform.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of our own child process.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits for the platform to exit (at most `limit`); its status, or `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The platform's stderr so far (its log lines, `--foreground`).
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(self.root.join("platform.stderr")).unwrap_or_default()
    }

    /// The platform's log file so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.root.join("var/log/osconfig_platform.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (at most `limit`).
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stderr_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Open file descriptors of the platform process.
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// Resident memory of the platform process in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // SAFETY: kill(2) with the pid of our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Copies our modules' MIMs from their crates to `<root>/usr/lib/osconfig/mim/<name>.json`.
pub fn install_mims(root: &Path) {
    let dir = root.join("usr/lib/osconfig/mim");
    fs::create_dir_all(&dir).unwrap();
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/modules");
    for (name, _, _) in MODULES.iter().filter(|m| m.0 != "fixture") {
        let from = modules.join(name).join("mim").join(format!("{name}.json"));
        fs::copy(&from, dir.join(format!("{name}.json"))).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

/// Writes `<root>/etc/osconfig/osconfig.json`.
pub fn write_config(root: &Path, config: &Value) {
    fs::create_dir_all(root.join("etc/osconfig")).unwrap();
    fs::write(root.join("etc/osconfig/osconfig.json"), serde_json::to_vec_pretty(config).unwrap()).unwrap();
}

/// The reference client's exact request bytes for `POST /<name>/` with `body`.
pub fn reference_request(name: &str, body: &[u8]) -> Vec<u8> {
    let mut wire = format!(
        "POST /{name}/ HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(body);
    wire
}

/// The exact bytes of a response we expect: status line, `Server`, `Content-Type`, `Content-Length`, body.
pub fn expected_response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut wire = format!(
        "HTTP/1.1 {status}\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(body);
    wire
}

/// Reads one whole response (head and `Content-Length` body) from `stream`; the raw bytes.
pub fn read_response(stream: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|n| n.trim().parse().unwrap())
                .expect("Content-Length in the response");
            if out.len() >= end + 4 + length {
                out.truncate(end + 4 + length);
                return out;
            }
        }
        let n = stream.read(&mut chunk).expect("read response");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Sends raw bytes on a new connection and reads one response.
pub fn exchange(socket: &Path, wire: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(wire).unwrap();
    read_response(&mut stream)
}

/// The body of a raw response.
pub fn body_of(response: &[u8]) -> &[u8] {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("head end");
    &response[end + 4..]
}

/// The status code of a raw response.
pub fn status_of(response: &[u8]) -> u16 {
    std::str::from_utf8(&response[9..12]).unwrap().parse().unwrap()
}

/// A marker unique to this test process and call, to put in a command line (`sleep 45; : <marker>`).
pub fn unique_marker(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("marker-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// Pids of the live (not zombie) processes whose command line contains `needle`, this process excluded.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until no process carries `needle` (at most `limit`); the pids still carrying it.
pub fn wait_no_process_with(needle: &str, limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_with(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until at least one process carries `needle` (at most 10 s).
pub fn wait_process_with(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(needle).is_empty() {
        assert!(Instant::now() < deadline, "no process with {needle} appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs the process groups of every process carrying `needle` (test clean-up).
pub fn kill_groups_with(needle: &str) {
    for pid in processes_with(needle) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgrp = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(2)?.parse::<i32>().ok());
        if let Some(pgrp) = pgrp.filter(|&g| g > 1) {
            // SAFETY: kill(2) of a process group a test started (found by its unique marker).
            unsafe { libc::kill(-pgrp, libc::SIGKILL) };
        }
    }
}
