//! Shared helpers of the end-to-end tests: start the real `osconfig-platform` in a temporary root, talk to it over
//! its MPI socket (typed client and raw bytes), stop it.
//!
//! Binaries and modules come from `osconfig_testkit::artifacts()` (the first [`Platform`] of a test process builds
//! every package of `osconfig_testkit::CRATES` in one `cargo build` into the test's own target dir and profile, a
//! no-op when up to date), temporary roots are `osconfig_testkit::TempRoot`s and processes are held by
//! `osconfig_testkit::ChildGuard`s; the marker helpers for processes a module starts are testkit's too.
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
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use osconfig_rest::MpiClient;
pub use osconfig_testkit::{artifacts, MODULES};
use osconfig_testkit::{wait_processes_with, ChildGuard, TempRoot, CRATES};
use serde_json::Value;

/// How long a stopping platform gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

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
            modules: MODULES.iter().map(|m| m.lib).collect(),
            config: Some(serde_json::json!({})),
            in_process: false,
            raw_config: None,
            mims: false,
        }
    }
}

/// A running platform in its own temporary root; dropping it stops the platform (SIGTERM, SIGKILL after
/// [`STOP_GRACE`]) and then removes the root.
#[derive(Debug)]
pub struct Platform {
    /// The root directory.
    pub root: PathBuf,
    /// The MPI socket.
    pub socket: PathBuf,
    child: Option<ChildGuard>,
    _temp: TempRoot,
}

/// A unique, empty directory under the system temp dir, removed on drop.
pub fn temp_dir(tag: &str) -> TempRoot {
    TempRoot::new(&format!("e2e-{tag}"))
}

impl Platform {
    /// Starts a platform with `options` and waits until its socket answers.
    pub fn start(tag: &str, options: Options) -> Platform {
        let built = artifacts();
        built.prepare(&CRATES);
        let temp = temp_dir(tag);
        let root = temp.path().to_path_buf();
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
                    MODULES.iter().filter(|m| options.modules.contains(&m.lib)).map(|m| Value::from(m.name)).collect();
                config["InProcessModules"] = Value::from(names);
            }
            write_config(&root, &config);
        }
        if let Some(raw) = options.raw_config {
            fs::write(root.join("etc/osconfig/osconfig.json"), raw).unwrap();
        }
        let mut platform = Platform { socket: root.join("run/osconfig/mpid.sock"), root, child: None, _temp: temp };
        platform.spawn();
        platform
    }

    fn spawn(&mut self) {
        let built = artifacts();
        let stderr = fs::File::create(self.root.join("platform.stderr")).unwrap();
        let child = ChildGuard::spawn(
            Command::new(built.platform())
                .arg("--root")
                .arg(&self.root)
                .arg("--foreground")
                .arg("--modulehost")
                .arg(built.modulehost())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr),
        )
        .expect("start osconfig-platform");
        self.child = Some(child.with_grace(STOP_GRACE));
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
            if let Some(status) = self.child.as_mut().and_then(ChildGuard::try_wait) {
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
        let sent = self.child.as_ref().expect("running").signal(signal);
        assert!(sent, "kill({}, {signal})", self.pid());
    }

    /// Waits for the platform to exit (at most `limit`); its status, or `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.wait_timeout(limit)?;
        self.child = None;
        Some(status)
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
        // The platform stops before its root goes.
        self.child.take();
    }
}

/// Copies our modules' MIMs from their crates to `<root>/usr/lib/osconfig/mim/<name>.json`.
pub fn install_mims(root: &Path) {
    let dir = root.join("usr/lib/osconfig/mim");
    fs::create_dir_all(&dir).unwrap();
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/modules");
    for name in MODULES.iter().map(|m| m.lib).filter(|&lib| lib != "fixture") {
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

/// Waits until at least one process carries `needle` (at most 10 s).
pub fn wait_process_with(needle: &str) {
    wait_processes_with(needle, 1, Duration::from_secs(10));
}
