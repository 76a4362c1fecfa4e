//! Servers the benchmark runs in a second process (this same executable, started with a hidden role argument), so
//! every round trip crosses a process boundary as it does on a device.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use osconfig_http::{Request, Responder, Response, Server, SocketOptions};

/// Size of each message of the raw floor, both ways.
pub const FLOOR_MESSAGE: usize = 256;

/// The body the HTTP server answers: about what `MpiGet` of `DeviceInfo.osName` returns.
pub const HTTP_ANSWER: &[u8] = b"\"Debian GNU/Linux\"";

/// A role this executable can play as a child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Echo 256-byte messages on kept connections (the raw floor).
    Floor,
    /// Echo one 256-byte message per connection, then close (the floor of connect+send+receive).
    ConnectFloor,
    /// The HTTP layer answering every request with [`HTTP_ANSWER`].
    Http,
    /// Bind the socket and do nothing: the memory of an idle process, the baseline of memory figures.
    Idle,
    /// Bind the socket, then keep every core busy with `SCHED_IDLE` threads (`--busy`): the cores never sleep, so
    /// wake-up latency of idle cores (large on virtual machines) stays out of the figures, and any real thread that
    /// wakes preempts a spinner at once.
    Spin,
}

impl Role {
    /// The hidden argument naming this role.
    pub fn flag(self) -> &'static str {
        match self {
            Role::Floor => "--serve-floor",
            Role::ConnectFloor => "--serve-connect-floor",
            Role::Http => "--serve-http",
            Role::Idle => "--serve-idle",
            Role::Spin => "--serve-spin",
        }
    }

    /// The role a hidden argument names.
    pub fn from_flag(flag: &str) -> Option<Role> {
        [Role::Floor, Role::ConnectFloor, Role::Http, Role::Idle, Role::Spin].into_iter().find(|r| r.flag() == flag)
    }

    /// Serves forever on `socket` (the parent kills the process).
    pub fn serve(self, socket: &Path) -> io::Result<()> {
        match self {
            Role::Floor => serve_floor(UnixListener::bind(socket)?, true),
            Role::ConnectFloor => serve_floor(UnixListener::bind(socket)?, false),
            Role::Idle => {
                let _listener = UnixListener::bind(socket)?;
                loop {
                    std::thread::park();
                }
            }
            Role::Spin => {
                let _listener = UnixListener::bind(socket)?;
                // SAFETY: nice has no memory-safety preconditions.
                unsafe { libc::nice(19) };
                let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
                let spinners: Vec<_> = (0..cores)
                    .map(|_| {
                        std::thread::spawn(|| loop {
                            std::hint::spin_loop();
                        })
                    })
                    .collect();
                for spinner in spinners {
                    let _ = spinner.join();
                }
                Ok(())
            }
            Role::Http => {
                let server = Server::bind(socket, SocketOptions::default())?.with_server_header("OSConfig");
                server.run(|_request: Request, responder: Responder| responder.respond(Response::ok(HTTP_ANSWER)))
            }
        }
    }
}

/// Echoes 256-byte messages. Kept connections get a thread each (the benchmark opens one); one-shot connections are
/// served inline, one after another, so the floor carries no thread start-up cost.
fn serve_floor(listener: UnixListener, keep: bool) -> io::Result<()> {
    fn echo(mut stream: UnixStream, keep: bool) {
        let mut buf = [0u8; FLOOR_MESSAGE];
        while stream.read_exact(&mut buf).is_ok() && stream.write_all(&buf).is_ok() && keep {}
    }
    for stream in listener.incoming() {
        let stream = stream?;
        if keep {
            std::thread::spawn(move || echo(stream, true));
        } else {
            echo(stream, false);
        }
    }
    Ok(())
}

/// A child process serving one role on a socket in a private directory; killed and cleaned up on drop.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl ChildServer {
    /// Starts this executable in `role` and waits until its socket answers.
    pub fn start(role: Role) -> io::Result<ChildServer> {
        let dir = std::env::temp_dir().join(format!("osconfig-bench-{}-{:?}", std::process::id(), role));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("bench.sock");
        let child =
            Command::new(std::env::current_exe()?).arg(role.flag()).arg(&socket).stdin(Stdio::null()).spawn()?;
        let server = ChildServer { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&server.socket).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "benchmark server did not start"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The socket the child serves on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops `child` the way a device stops a daemon: SIGTERM, up to 2 s to exit, then SIGKILL; reaps it.
pub fn stop_gracefully(child: &mut Child) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child, not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}
