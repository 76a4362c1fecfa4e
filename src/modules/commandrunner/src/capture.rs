//! Bounded capture of a child's output streams.

use std::io::{ErrorKind, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most output bytes kept per command (the first bytes; later output is read and dropped so the command never
/// blocks on a full pipe).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Read size of the reader threads.
const CHUNK_BYTES: usize = 8 * 1024;

/// Stack size of a reader thread (it only copies bytes).
const READER_STACK_BYTES: usize = 64 * 1024;

/// Output collected from one or more streams into one buffer, in arrival order, up to a limit.
#[derive(Debug)]
pub struct Capture {
    inner: Mutex<Buffer>,
    closed: Condvar,
}

#[derive(Debug)]
struct Buffer {
    data: Vec<u8>,
    limit: usize,
    dropped: u64,
    open_streams: usize,
}

impl Capture {
    /// A capture keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Arc<Capture> {
        Arc::new(Capture {
            inner: Mutex::new(Buffer { data: Vec::new(), limit, dropped: 0, open_streams: 0 }),
            closed: Condvar::new(),
        })
    }

    /// Drain `stream` on a new thread until end of file. If the thread cannot be started the stream is dropped
    /// (closed), so the writer gets EPIPE rather than blocking.
    pub fn spawn_reader<R: Read + Send + 'static>(self: &Arc<Self>, stream: R) {
        self.lock().open_streams += 1;
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("cmdrunner-out".into())
            .stack_size(READER_STACK_BYTES)
            .spawn(move || me.drain(stream));
        if let Err(e) = spawned {
            log::error!("cannot start an output reader thread: {e}");
            self.close_one();
        }
    }

    fn drain<R: Read>(&self, mut stream: R) {
        let mut chunk = vec![0u8; CHUNK_BYTES];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.append(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("reading command output: {e}");
                    break;
                }
            }
        }
        self.close_one();
    }

    /// Add bytes, keeping at most the limit.
    pub fn append(&self, bytes: &[u8]) {
        let mut b = self.lock();
        let room = b.limit.saturating_sub(b.data.len());
        let keep = room.min(bytes.len());
        b.data.extend_from_slice(&bytes[..keep]);
        b.dropped += (bytes.len() - keep) as u64;
    }

    fn close_one(&self) {
        let mut b = self.lock();
        b.open_streams = b.open_streams.saturating_sub(1);
        drop(b);
        self.closed.notify_all();
    }

    /// Wait until every stream reached end of file, at most `timeout`. Returns whether they all did.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut b = self.lock();
        while b.open_streams > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            b = match self.closed.wait_timeout(b, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// The text so far (invalid UTF-8 replaced) and how many bytes were dropped over the limit.
    pub fn text(&self) -> (String, u64) {
        let b = self.lock();
        (String::from_utf8_lossy(&b.data).into_owned(), b.dropped)
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_append_keeps_first_bytes_up_to_limit() {
        let c = Capture::new(5);
        c.append(b"abc");
        c.append(b"defgh");
        c.append(b"ij");
        assert_eq!(c.text(), ("abcde".to_string(), 5));
    }

    #[test]
    fn test_spawn_reader_drains_large_stream_bounded() {
        let c = Capture::new(1000);
        let data = vec![b'x'; 300_000];
        c.spawn_reader(std::io::Cursor::new(data));
        c.spawn_reader(std::io::Cursor::new(b"".to_vec()));
        assert!(c.wait_closed(Duration::from_secs(5)));
        let (text, dropped) = c.text();
        assert_eq!(text.len(), 1000);
        assert_eq!(dropped, 299_000);
    }

    #[test]
    fn test_wait_closed_times_out_while_open() {
        let c = Capture::new(10);
        c.lock().open_streams = 1;
        assert!(!c.wait_closed(Duration::from_millis(20)));
    }

    #[test]
    fn test_text_replaces_invalid_utf8() {
        let c = Capture::new(10);
        c.append(&[b'a', 0xff, b'b']);
        assert_eq!(c.text().0, "a\u{fffd}b");
    }
}
