//! Noticing that a server's socket file went away: an inotify watch on the socket's *directory* (so a rename away
//! is seen as well as a deletion), read without blocking from the server's own `mio` poll.

use std::ffi::OsString;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchMask};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Size of the buffer inotify events are read into: room for many events with a file name each.
const EVENT_BUFFER_BYTES: usize = 4096;

/// An inotify watch on the directory of one socket file.
#[derive(Debug)]
pub(crate) struct SocketWatch {
    inotify: Inotify,
    dir: PathBuf,
    name: OsString,
    buffer: Vec<u8>,
}

impl SocketWatch {
    /// Watches the directory of `path` (opened `CLOEXEC | NONBLOCK`) and registers it with `registry` as `token`.
    pub(crate) fn new(path: &Path, registry: &Registry, token: Token) -> io::Result<SocketWatch> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let inotify = Inotify::init()?;
        let watch = SocketWatch { inotify, dir, name, buffer: vec![0u8; EVENT_BUFFER_BYTES] };
        watch.add()?;
        registry.register(&mut SourceFd(&watch.inotify.as_raw_fd()), token, Interest::READABLE)?;
        Ok(watch)
    }

    fn add(&self) -> io::Result<()> {
        let mask = WatchMask::DELETE | WatchMask::MOVED_FROM | WatchMask::DELETE_SELF | WatchMask::MOVE_SELF;
        self.inotify.watches().add(&self.dir, mask).map(drop)
    }

    /// Watches the directory again (after it was re-created); the old watch, if any, stays harmless.
    pub(crate) fn rewatch(&self) -> io::Result<()> {
        self.add()
    }

    /// Reads every pending event; whether one may mean the socket file is gone: it was deleted or renamed away,
    /// its directory was, or events were lost. The caller checks the file itself.
    pub(crate) fn socket_maybe_gone(&mut self) -> bool {
        let mut maybe_gone = false;
        loop {
            match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => {
                    let mut any = false;
                    for event in events {
                        any = true;
                        let about_socket = event.name.is_some_and(|name| name == self.name.as_os_str());
                        let dir_gone = event.mask.intersects(
                            EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED | EventMask::Q_OVERFLOW,
                        );
                        if about_socket || dir_gone {
                            maybe_gone = true;
                        }
                    }
                    if !any {
                        return maybe_gone;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return maybe_gone,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("cannot read socket directory events of {}: {e}", self.dir.display());
                    return maybe_gone;
                }
            }
        }
    }
}
