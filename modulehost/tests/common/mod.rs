//! Helpers for the module host's end-to-end tests: finding the host and module binaries, temp dirs, starting and
//! stopping a host process, raw HTTP over its socket.
//!
//! How the module `.so` files are found (`module_so("fixture")` = `libfixture.so`):
//! 1. `$OSCONFIG_TEST_MODULES_DIR/lib<name>.so` when that variable is set;
//! 2. the newer of `target/<profile>/lib<name>.so` and `target/<profile>/deps/lib<name>.so` of this test run
//!    (`target/<profile>` is the parent of the test executable's `deps` dir): present after `cargo build
//!    --workspace` or `cargo test --workspace`;
//! 3. otherwise the test runs `$CARGO build -p osconfig-module-fixture -p osconfig-deviceinfo -p osconfig-hostname
//!    -p osconfig-commandrunner --target-dir $CARGO_TARGET_TMPDIR/modules-build` once per test binary (serialized
//!    by a `OnceLock`). The separate target dir has its own build lock: the outer `cargo test` holds the lock of
//!    the main one. That first build takes a while on a small machine.
//!
//! Beware that (2) can find a module built by an older `cargo build`: run `cargo build --workspace` first or set
//! `OSCONFIG_TEST_MODULES_DIR` when testing changed modules.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use osconfig_mpi::MmiClient;

/// The crates whose cdylibs the tests use, by lib name.
const MODULE_CRATES: [(&str, &str); 4] = [
    ("fixture", "osconfig-module-fixture"),
    ("deviceinfo", "osconfig-deviceinfo"),
    ("hostname", "osconfig-hostname"),
    ("commandrunner", "osconfig-commandrunner"),
];

/// The host binary cargo built for these tests.
pub fn host_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_osconfig-modulehost"))
}

/// `target/<profile>/`: the parent of the `deps` dir that holds this test executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The most recently modified `file` in `dirs` (after `cargo build` and `cargo test` both ran, one copy may be
/// older than the other).
fn find_in(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(file))
        .filter_map(|p| Some((fs::metadata(&p).ok().filter(|m| m.is_file())?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
}

/// The absolute path of `lib<name>.so` (see the module docs for where it comes from).
pub fn module_so(name: &str) -> PathBuf {
    let file = format!("lib{name}.so");
    if let Some(dir) = std::env::var_os("OSCONFIG_TEST_MODULES_DIR") {
        return PathBuf::from(dir).join(file);
    }
    let profile = profile_dir();
    if let Some(found) = find_in(&[profile.clone(), profile.join("deps")], &file) {
        return fs::canonicalize(found).unwrap();
    }
    let built = built_modules_dir();
    let so = built.join(&file);
    assert!(so.is_file(), "{} was not built", so.display());
    so
}

/// Builds every module crate once into a private target dir; returns its `debug` dir.
fn built_modules_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("modules-build");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        for (_, krate) in MODULE_CRATES {
            cmd.args(["-p", krate]);
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(out.status.success(), "building the modules failed:\n{}", String::from_utf8_lossy(&out.stderr));
        fs::canonicalize(target.join("debug")).unwrap()
    })
}

/// A fresh, empty directory under the system temp dir, unique per process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("osconfig-modulehost-{tag}-{}-{n}-{nanos}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
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

/// Runs the host to completion (for start-up failures): exit status and stderr.
pub fn run_host(args: &[&std::ffi::OsStr], timeout: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(host_bin())
        .args(args)
        .env("OSCONFIG_ROOT", Path::new(env!("CARGO_TARGET_TMPDIR")).join("osconfig-root"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("host did not exit within {timeout:?}");
    });
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stdout, stderr)
}

/// Waits for a child up to `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// A running host process on a socket in its own temp dir; killed and cleaned up on drop.
#[derive(Debug)]
pub struct Host {
    pub child: Child,
    pub dir: PathBuf,
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
        let child = cmd.spawn().unwrap();
        let mut host = Host { child, dir, socket, stderr_path };
        host.wait_ready();
        host
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
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
        // SAFETY: kill with a live child's pid and a valid signal number.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Sends `signal` and waits for the exit; returns the status and how long it took.
    pub fn stop(&mut self, signal: i32, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        self.signal(signal);
        let status = wait_timeout(&mut self.child, timeout)
            .unwrap_or_else(|| panic!("host did not exit within {timeout:?}:\n{}", self.stderr()));
        (status, start.elapsed())
    }

    /// Waits for the host to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_timeout(&mut self.child, timeout).unwrap_or_else(|| panic!("host still running:\n{}", self.stderr()))
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

impl Drop for Host {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
