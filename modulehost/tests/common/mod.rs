//! Helpers for the module host's end-to-end tests: starting and stopping a host process, raw HTTP over its socket.
//!
//! The host binary and the module `.so` files come from `osconfig_testkit::artifacts()` (built once per test
//! process into this test's target dir); temporary roots are `osconfig_testkit::TempRoot`s and host processes are
//! held by `osconfig_testkit::ChildGuard`s.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use osconfig_rest::MmiClient;
use osconfig_testkit::{artifacts, ChildGuard, TempRoot};

/// The host binary.
pub fn host_bin() -> PathBuf {
    artifacts().modulehost()
}

/// The absolute path of the built `lib<name>.so`.
pub fn module_so(name: &str) -> PathBuf {
    artifacts().module(name)
}

/// A fresh, empty directory under the system temp dir, removed on drop.
pub fn temp_dir(tag: &str) -> TempRoot {
    TempRoot::new(&format!("host-{tag}"))
}

/// Compiles `tests/c/broken_module.c` with one `-D` flag into `<dir>/<out>`.
pub fn broken_module(define: &str, dir: &Path, out: &str) -> PathBuf {
    let path = dir.join(out);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/broken_module.c");
    let output = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"])
        .arg(format!("-D{define}"))
        .arg(&source)
        .arg("-o")
        .arg(&path)
        .output()
        .expect("cannot run cc");
    assert!(output.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&output.stderr));
    path
}

/// Runs the host to completion (for start-up failures), with a scratch `OSCONFIG_ROOT`: exit status, stdout, stderr.
pub fn run_host(args: &[&std::ffi::OsStr], timeout: Duration) -> (ExitStatus, String, String) {
    let root = temp_dir("run");
    let mut child = ChildGuard::spawn(
        Command::new(host_bin())
            .args(args)
            .env("OSCONFIG_ROOT", root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let status = child.wait_timeout(timeout).unwrap_or_else(|| panic!("host did not exit within {timeout:?}"));
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.child_mut().stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.child_mut().stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stdout, stderr)
}

/// How a host process is started.
#[derive(Debug, Default)]
pub struct HostOptions {
    /// Extra arguments after `--module` and `--socket`.
    pub args: Vec<String>,
    /// Environment variables to set.
    pub env: Vec<(String, PathBuf)>,
    /// Run the host process itself as this uid (via `Command::uid`).
    pub run_as: Option<u32>,
}

/// A running host process on a socket in its own temp dir; killed and cleaned up on drop (the guard is declared
/// first: the process goes before its folder).
#[derive(Debug)]
pub struct Host {
    child: ChildGuard,
    pub dir: TempRoot,
    pub socket: PathBuf,
    stderr_path: PathBuf,
}

impl Host {
    /// Starts a host for `lib<name>.so` and waits until its socket answers.
    pub fn start(name: &str) -> Host {
        Host::start_with(&module_so(name), HostOptions::default())
    }

    /// Starts a host for the module at `module` with options; waits until its socket answers.
    pub fn start_with(module: &Path, options: HostOptions) -> Host {
        let dir = temp_dir("host");
        let socket = dir.join("run/module.sock");
        let stderr_path = dir.join("host.stderr");
        let stderr = fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(host_bin());
        cmd.arg("--module").arg(module).arg("--socket").arg(&socket).args(&options.args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        cmd.env("OSCONFIG_LOG_LEVEL", "debug").env_remove("RUST_BACKTRACE");
        // Log files under the host's temp dir, not /var/log; module lines on stderr too (the tests read it).
        cmd.env("OSCONFIG_ROOT", &dir).env("OSCONFIG_LOG_STDERR", "1");
        for (key, value) in &options.env {
            cmd.env(key, value);
        }
        if let Some(uid) = options.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(uid);
        }
        let child = ChildGuard::spawn(&mut cmd).unwrap();
        let mut host = Host { child, dir, socket, stderr_path };
        host.wait_ready();
        host
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait() {
                panic!("host exited with {status} before serving:\n{}", self.stderr());
            }
            assert!(Instant::now() < deadline, "host did not start:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the host wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A client with a short timeout.
    pub fn client(&self) -> MmiClient {
        MmiClient::new(&self.socket).with_timeout(Duration::from_secs(10))
    }

    /// The host's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal to the host.
    pub fn signal(&self, signal: i32) {
        assert!(self.child.signal(signal), "kill({}, {signal})", self.pid());
    }

    /// Sends `signal` and waits for the exit; returns the status and how long it took.
    pub fn stop(&mut self, signal: i32, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        self.signal(signal);
        let status = self
            .child
            .wait_timeout(timeout)
            .unwrap_or_else(|| panic!("host did not exit within {timeout:?}:\n{}", self.stderr()));
        (status, start.elapsed())
    }

    /// Waits for the host to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.child.wait_timeout(timeout).unwrap_or_else(|| panic!("host still running:\n{}", self.stderr()))
    }

    /// Sends one request on a new connection (no `Connection: close`, so the answer is exactly what a keep-alive
    /// client gets) and returns the response's exact bytes.
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .expect("no Content-Length")
                    .parse()
                    .unwrap();
                if buf.len() >= end + 4 + len {
                    buf.truncate(end + 4 + len);
                    return buf;
                }
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed early: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Status code and body of a raw POST.
    pub fn post(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        split(&self.raw("POST", path, body))
    }
}

/// Status code and body of raw response bytes.
pub fn split(response: &[u8]) -> (u16, Vec<u8>) {
    let status = std::str::from_utf8(&response[9..12]).unwrap().parse().unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (status, response[end + 4..].to_vec())
}

/// The signal that ended a process, if any.
pub fn signal_of(status: ExitStatus) -> Option<i32> {
    status.signal()
}
