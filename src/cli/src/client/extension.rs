//! The platform's two read-only extension endpoints, `GET /PlatformModules` and `GET /PlatformStatus` (no body,
//! no session), and the module list's shape.
//!
//! [`osconfig_mpi::MpiClient`] speaks only the six MPI calls, so [`get`] sends these two requests itself: one
//! request per connection (`Connection: close`), the answer read up to its `Content-Length`, at most
//! [`MAX_ANSWER_BYTES`]. It is meant to go once `MpiClient` can send them.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::client::connection::io_error;
use crate::client::error::CtlError;

/// The route of the module list.
pub const MODULES_ROUTE: &str = "/PlatformModules";
/// The route of the platform's status.
pub const STATUS_ROUTE: &str = "/PlatformStatus";
/// The largest answer (head and body) accepted from an extension endpoint.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// `GET <route>` on the platform at `socket`: the body of a 200 answer.
pub fn get(socket: &Path, route: &str, timeout: Duration) -> Result<Vec<u8>, CtlError> {
    let unreachable = |reason: String| CtlError::Unreachable { socket: socket.to_path_buf(), reason };
    let mut stream = UnixStream::connect(socket).map_err(|e| io_error(socket, &e))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| io_error(socket, &e))?;
    let request = format!(
        "GET {route} HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: osconfigctl\r\nAccept: */*\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| io_error(socket, &e))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, body) = loop {
        if let Some(parsed) = parse_answer(&answer).map_err(|what| unreachable(format!("GET {route}: {what}")))? {
            break parsed;
        }
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(unreachable(format!("GET {route}: answer larger than {MAX_ANSWER_BYTES} bytes")));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(unreachable(format!("GET {route}: the platform closed the connection before answering")))
            }
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(socket, &e)),
        }
    };
    match status {
        200 => Ok(body),
        403 => Err(CtlError::PermissionDenied),
        404 => Err(CtlError::Failed(format!(
            "the platform at {} does not serve {route} (an osconfig-platform without this extension?)",
            socket.display()
        ))),
        other => Err(CtlError::Failed(format!("GET {route}: the platform answered status {other}"))),
    }
}

/// A whole answer's status and body, `None` while more bytes are needed, or what is wrong with it.
fn parse_answer(bytes: &[u8]) -> Result<Option<(u16, Vec<u8>)>, &'static str> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or("malformed status line")?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().map_err(|_| "malformed content-length")?);
            }
        }
    }
    let length = length.ok_or("response without content-length")?;
    if length > MAX_ANSWER_BYTES {
        return Err("response body too large");
    }
    let body = &bytes[end + 4..];
    Ok((body.len() >= length).then(|| (status, body[..length].to_vec())))
}

/// One element of the `/PlatformModules` answer; fields the platform leaves out are `None`/empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleSummary {
    /// `name`.
    pub name: String,
    /// `path`.
    pub path: String,
    /// `version`, e.g. `3.0.0.0`.
    pub version: String,
    /// `components`.
    pub components: Vec<String>,
    /// `lifetime`: 0 undefined, 1 keep loaded, 2 short-lived.
    pub lifetime: Option<i64>,
    /// `inProcess`.
    pub in_process: bool,
    /// `hostPid` (`null` when no host runs).
    pub host_pid: Option<i64>,
    /// `state`: `running`, `idle`, `restarting` or `quarantined`.
    pub state: String,
    /// `crashes`.
    pub crashes: Option<i64>,
    /// `mim`: whether the module's MIM is installed.
    pub mim: bool,
}

impl ModuleSummary {
    /// Parses the `/PlatformModules` answer: a JSON array of module objects.
    pub fn parse_list(body: &[u8]) -> Result<Vec<ModuleSummary>, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Array(items) = value else {
            return Err("not a JSON array".to_string());
        };
        Ok(items.iter().map(ModuleSummary::from_value).collect())
    }

    fn from_value(v: &Value) -> ModuleSummary {
        let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        ModuleSummary {
            name: text("name"),
            path: text("path"),
            version: text("version"),
            components: v
                .get("components")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            lifetime: v.get("lifetime").and_then(Value::as_i64),
            in_process: v.get("inProcess").and_then(Value::as_bool).unwrap_or(false),
            host_pid: v.get("hostPid").and_then(Value::as_i64),
            state: text("state"),
            crashes: v.get("crashes").and_then(Value::as_i64),
            mim: v.get("mim").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn test_parse_answer_whole_partial_and_bad() {
        let whole = b"HTTP/1.1 200 OK\r\nServer: OSConfig\r\ncontent-length: 2\r\n\r\n[]";
        assert_eq!(parse_answer(whole).unwrap(), Some((200, b"[]".to_vec())));
        assert_eq!(parse_answer(&whole[..whole.len() - 1]).unwrap(), None);
        assert_eq!(parse_answer(b"HTTP/1.1 404 Not Found\r\n").unwrap(), None);
        assert_eq!(parse_answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap(), Some((404, vec![])));
        assert!(parse_answer(b"SPDY 200\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n").is_err());
    }

    #[test]
    fn test_parse_list_fields_and_missing_fields() {
        let body = br#"[{"name":"DeviceInfo","path":"/usr/lib/osconfig/deviceinfo.so","version":"3.0.0.0",
            "components":["DeviceInfo"],"lifetime":2,"inProcess":false,"hostPid":1234,"state":"running",
            "crashes":0,"mim":true},{"name":"X"}]"#;
        let list = ModuleSummary::parse_list(body).unwrap();
        assert_eq!(list[0].components, ["DeviceInfo"]);
        assert_eq!((list[0].lifetime, list[0].host_pid, list[0].crashes), (Some(2), Some(1234), Some(0)));
        assert!(list[0].mim && !list[0].in_process);
        assert_eq!(list[1], ModuleSummary { name: "X".into(), ..ModuleSummary::default() });
        assert!(ModuleSummary::parse_list(b"{}").is_err());
        assert!(ModuleSummary::parse_list(b"[").is_err());
    }

    fn serve_once(answer: &'static [u8]) -> (std::path::PathBuf, std::thread::JoinHandle<String>) {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfigctl-ext-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("s.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).unwrap();
                request.extend_from_slice(&chunk[..n]);
            }
            for piece in answer.chunks(7) {
                stream.write_all(piece).unwrap();
            }
            let _ = std::fs::remove_dir_all(&dir);
            String::from_utf8(request).unwrap()
        });
        (socket, server)
    }

    #[test]
    fn test_get_sends_a_get_and_reads_the_body_in_pieces() {
        let (socket, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[{\"a\":1}]");
        let body = get(&socket, MODULES_ROUTE, Duration::from_secs(5)).unwrap();
        assert_eq!(body, b"[{\"a\":1}]");
        assert!(server.join().unwrap().starts_with("GET /PlatformModules HTTP/1.1\r\n"));
    }

    #[test]
    fn test_get_maps_403_and_404() {
        let (socket, server) = serve_once(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(get(&socket, STATUS_ROUTE, Duration::from_secs(5)), Err(CtlError::PermissionDenied)));
        server.join().unwrap();
        let (socket, server) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        match get(&socket, STATUS_ROUTE, Duration::from_secs(5)) {
            Err(CtlError::Failed(text)) => assert!(text.contains("does not serve /PlatformStatus"), "{text}"),
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
    }

    #[test]
    fn test_get_without_platform_is_not_running() {
        let result = get(Path::new("/nonexistent/osconfigctl.sock"), STATUS_ROUTE, Duration::from_secs(1));
        assert!(matches!(result, Err(CtlError::NotRunning(_))));
    }
}
