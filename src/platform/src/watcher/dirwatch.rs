//! inotify on the directory of one file (the desired file), so that both editors that write in place
//! (`IN_CLOSE_WRITE`) and tools that rename a new file into place (`IN_MOVED_TO`) are seen, as are removal
//! (`IN_DELETE`, `IN_MOVED_FROM`) and mode changes (`IN_ATTRIB`: a refused file made safe).
//!
//! When the directory does not exist (or is removed or renamed away), the nearest existing ancestor is watched for
//! the creation of the next path component instead, and the directory's watch is re-armed when it appears: no
//! polling, the watch survives the directory being removed and re-created.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// Size of the buffer events are read into (many events per read; an event is 16 bytes plus its name).
const EVENT_BUFFER_BYTES: usize = 4096;

/// What is watched now.
#[derive(Debug)]
enum Target {
    /// The file's own directory.
    Dir(WatchDescriptor),
    /// An ancestor (the directory is missing): waiting for it to appear.
    Ancestor(WatchDescriptor),
    /// Nothing could be watched (an error was logged); re-armed on the next [`DirWatch::arm`].
    Nothing,
}

/// The watch.
#[derive(Debug)]
pub struct DirWatch {
    inotify: Inotify,
    dir: PathBuf,
    name: OsString,
    target: Target,
    buffer: Vec<u8>,
    /// Whether the last [`DirWatch::read`] saw the file complete: written and closed, or renamed into place.
    complete: bool,
}

impl DirWatch {
    /// A watch for `file` (not armed yet: call [`DirWatch::arm`]).
    pub fn new(file: &Path) -> io::Result<DirWatch> {
        let dir = file.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        let name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        Ok(DirWatch {
            inotify: Inotify::init()?,
            dir,
            name,
            target: Target::Nothing,
            buffer: vec![0; EVENT_BUFFER_BYTES],
            complete: false,
        })
    }

    /// The inotify descriptor (non-blocking, close-on-exec), for the caller's poll.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    /// The directory watched for the file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the last [`DirWatch::read`] saw the file complete (closed after writing, or renamed into place):
    /// it can be read at once, without waiting for more events.
    pub fn saw_complete(&self) -> bool {
        self.complete
    }

    /// Whether the file's directory itself is watched (else an ancestor, waiting for it).
    pub fn watching_dir(&self) -> bool {
        matches!(self.target, Target::Dir(_))
    }

    /// Watches the directory if it exists, else its nearest existing ancestor. Whether the directory itself is
    /// watched now.
    pub fn arm(&mut self) -> bool {
        self.disarm();
        let dir_mask = WatchMask::CLOSE_WRITE
            | WatchMask::MOVED_TO
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::ATTRIB
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR;
        match self.inotify.watches().add(&self.dir, dir_mask) {
            Ok(wd) => {
                self.target = Target::Dir(wd);
                return true;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(e) => {
                log::error!("cannot watch {}: {e}", self.dir.display());
                return false;
            }
        }
        let ancestor_mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR;
        let mut ancestor = self.dir.parent();
        while let Some(dir) = ancestor {
            match self.inotify.watches().add(dir, ancestor_mask) {
                Ok(wd) => {
                    self.target = Target::Ancestor(wd);
                    return false;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => {
                    ancestor = dir.parent();
                }
                Err(e) => {
                    log::error!("cannot watch {}: {e}", dir.display());
                    return false;
                }
            }
        }
        false
    }

    fn disarm(&mut self) {
        if let Target::Dir(wd) | Target::Ancestor(wd) = std::mem::replace(&mut self.target, Target::Nothing) {
            // The watch may already be gone (its directory was removed): nothing to do then.
            let _ = self.inotify.watches().remove(wd);
        }
    }

    /// Reads every pending event. Whether the file may have changed (it changed, was removed, its directory
    /// appeared or went away, or events were lost); the watch re-arms itself when its directory comes or goes.
    pub fn read(&mut self) -> bool {
        self.complete = false;
        let mut changed = false;
        let mut rearm = false;
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("reading inotify events of {}: {e}", self.dir.display());
                    break;
                }
            };
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    changed = true;
                    continue;
                }
                match &self.target {
                    Target::Dir(wd) if *wd == event.wd => {
                        if event.mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
                            rearm = true;
                            changed = true;
                        } else if event.name.is_some_and(|n| n == self.name.as_os_str()) {
                            changed = true;
                            self.complete |= event.mask.intersects(EventMask::CLOSE_WRITE | EventMask::MOVED_TO);
                        }
                    }
                    Target::Ancestor(wd) if *wd == event.wd => {
                        // Anything created under the ancestor may be the next component of the path (or the
                        // ancestor itself went away): look again.
                        rearm = true;
                    }
                    _ => {}
                }
            }
        }
        if rearm {
            let was_dir = self.watching_dir();
            let is_dir = self.arm();
            // The directory appeared (it may already hold the file) or went away (the file with it).
            changed |= is_dir || was_dir;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-dirwatch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Reads until `read` reports a change (at most 2 s).
    fn changed(w: &mut DirWatch) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if w.read() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn test_read_sees_write_rename_remove_and_ignores_others() {
        let dir = temp("events");
        let file = dir.join("d.json");
        let mut w = DirWatch::new(&file).unwrap();
        assert!(w.arm());
        std::fs::write(dir.join("other.json"), b"{}").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!w.read(), "another file's event");
        std::fs::write(&file, b"{}").unwrap();
        assert!(changed(&mut w), "written in place");
        std::fs::write(dir.join("new.tmp"), b"{}").unwrap();
        std::fs::rename(dir.join("new.tmp"), &file).unwrap();
        assert!(changed(&mut w), "renamed into place");
        std::fs::remove_file(&file).unwrap();
        assert!(changed(&mut w), "removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_arm_survives_directory_removed_and_recreated() {
        let base = temp("recreate");
        let dir = base.join("etc/osconfig");
        let file = dir.join("d.json");
        let mut w = DirWatch::new(&file).unwrap();
        assert!(!w.arm(), "missing directory: an ancestor is watched");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(changed(&mut w), "the directory appeared");
        assert!(w.watching_dir());
        std::fs::remove_dir_all(base.join("etc")).unwrap();
        assert!(changed(&mut w), "the directory went away");
        assert!(!w.watching_dir());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&file, b"{}").unwrap();
        assert!(changed(&mut w), "re-created with the file");
        assert!(w.watching_dir());
        std::fs::write(&file, b"{\"A\":{}}").unwrap();
        assert!(changed(&mut w), "written after re-creation");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
