//! End-to-end tests of the HTTP layer: a real server on a real Unix socket, real client bytes.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use osconfig_testkit::TempRoot;

use osconfig_http::{
    oneshot, Client, ClientError, Limits, Method, Request, Responder, Response, Server, ServerHandle, SocketOptions,
    StatusCode,
};

/// A server running on its own thread in a private temporary directory; stopped and cleaned up on drop.
struct TestServer {
    socket: PathBuf,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
    /// Removed after the drop has stopped the server.
    _dir: TempRoot,
}

impl TestServer {
    fn start<H: osconfig_http::Handler>(name: &str, limits: Limits, handler: H) -> TestServer {
        let dir = TempRoot::new(&format!("http-{name}"));
        let socket = dir.join("run/api.sock");
        let server =
            Server::bind(&socket, SocketOptions::default()).unwrap().with_limits(limits).with_server_header("OSConfig");
        let handle = server.handle();
        let thread = thread::spawn(move || server.run(handler).unwrap());
        TestServer { socket, handle, thread: Some(thread), _dir: dir }
    }

    fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream
    }

    fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An MPI-shaped handler: answers at once from the route, body and peer.
fn router(request: Request, responder: Responder) {
    let response = match (&request.method, request.route()) {
        (Method::Post, "/MpiOpen") => Response::ok(&b"\"F835511C-92A1-B162-49D1-3E550BDF3159\""[..]),
        (Method::Post, "/echo") => Response::ok(request.body),
        (Method::Get, "/peer") => {
            Response::ok(format!("{{\"pid\":{},\"uid\":{}}}", request.peer.pid, request.peer.uid).into_bytes())
        }
        (Method::Post, "/fail") => Response::new(StatusCode::InternalServerError).with_body(&b"\"22\""[..]),
        (Method::Post, "/drop") => return drop(responder),
        (_, "/MpiOpen" | "/echo" | "/fail") => Response::new(StatusCode::MethodNotAllowed),
        _ => Response::new(StatusCode::NotFound),
    };
    responder.respond(response);
}

/// Reads until the server closes the connection.
fn read_to_close(stream: &mut UnixStream) -> String {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads exactly one response with a Content-Length.
fn read_one(stream: &mut UnixStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-head: {}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf.clone()).unwrap();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).expect("content-length").trim().parse().unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    buf.extend_from_slice(&body);
    String::from_utf8(buf).unwrap()
}

fn status_of(text: &str) -> &str {
    &text[9..12]
}

const REFERENCE_OPEN: &[u8] = b"POST /MpiOpen/ HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 55\r\n\r\n{\"ClientName\":\"Azure OSConfig\",\"MaxPayloadSizeBytes\":0}";

#[test]
fn test_reference_client_bytes_get_exact_answer() {
    let server = TestServer::start("reference", Limits::default(), router);
    let mut stream = server.connect();
    stream.write_all(REFERENCE_OPEN).unwrap();
    assert_eq!(
        read_one(&mut stream),
        "HTTP/1.1 200 OK\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n\"F835511C-92A1-B162-49D1-3E550BDF3159\""
    );
}

#[test]
fn test_keep_alive_serves_many_requests_on_one_connection() {
    let server = TestServer::start("keepalive", Limits::default(), router);
    let mut stream = server.connect();
    for i in 0..50 {
        let body = format!("{{\"n\":{i}}}");
        write!(stream, "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let answer = read_one(&mut stream);
        assert!(answer.ends_with(&body), "{answer}");
    }
    let mut client = Client::new(&server.socket);
    for _ in 0..50 {
        assert_eq!(client.post("/echo", b"[1]").unwrap().body, b"[1]");
    }
}

#[test]
fn test_connection_close_is_honoured() {
    let server = TestServer::start("close", Limits::default(), router);
    let mut stream = server.connect();
    stream.write_all(b"POST /echo HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    let text = read_to_close(&mut stream);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with("{}"));
    let answer = oneshot(&server.socket, "POST", "/echo", b"true", Duration::from_secs(5)).unwrap();
    assert_eq!((answer.status, answer.body.as_slice(), answer.keep_alive), (200, &b"true"[..], false));
}

#[test]
fn test_pipelined_requests_answered_in_order_when_answered_late() {
    // The first request is answered 100 ms late by a worker thread; the others at once: order must hold.
    let (tx, rx) = mpsc::channel::<(Responder, Vec<u8>)>();
    thread::spawn(move || {
        for (responder, body) in rx {
            thread::sleep(Duration::from_millis(100));
            responder.respond(Response::ok(body));
        }
    });
    let server = TestServer::start("pipeline", Limits::default(), move |request: Request, responder: Responder| {
        if request.body == b"\"slow\"" {
            tx.send((responder, request.body)).unwrap();
        } else {
            responder.respond(Response::ok(request.body));
        }
    });
    let mut stream = server.connect();
    let mut wire = Vec::new();
    for body in ["\"slow\"", "\"b\"", "\"c\""] {
        wire.extend_from_slice(format!("POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    stream.write_all(&wire).unwrap();
    let bodies: Vec<String> = (0..3).map(|_| read_one(&mut stream)).collect();
    assert!(bodies[0].ends_with("\"slow\""));
    assert!(bodies[1].ends_with("\"b\""));
    assert!(bodies[2].ends_with("\"c\""));
}

#[test]
fn test_handler_on_another_thread_does_not_block_the_loop() {
    // A handler that parks every /park request forever must not stop /echo on other connections.
    let parked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = Arc::clone(&parked);
    let server = TestServer::start("nonblocking", Limits::default(), move |request: Request, responder: Responder| {
        if request.route() == "/park" {
            keep.lock().unwrap().push(responder);
        } else {
            responder.respond(Response::ok(request.body));
        }
    });
    let mut parked_stream = server.connect();
    parked_stream.write_all(b"GET /park HTTP/1.1\r\n\r\n").unwrap();
    let mut client = Client::new(&server.socket).with_timeout(Duration::from_secs(2));
    assert_eq!(client.post("/echo", b"1").unwrap().status, 200);
    // Answering the parked request later still reaches its client.
    thread::sleep(Duration::from_millis(50));
    parked.lock().unwrap().pop().unwrap().respond(Response::ok(&b"\"late\""[..]));
    assert!(read_one(&mut parked_stream).ends_with("\"late\""));
}

#[test]
fn test_dropped_responder_answers_500() {
    let server = TestServer::start("dropped", Limits::default(), router);
    let mut client = Client::new(&server.socket);
    assert_eq!(client.post("/drop", b"{}").unwrap().status, 500);
    assert_eq!(client.post("/echo", b"{}").unwrap().status, 200, "the connection survives");
}

#[test]
fn test_routes_404_405_and_error_bodies() {
    let server = TestServer::start("routes", Limits::default(), router);
    let mut client = Client::new(&server.socket);
    let missing = client.post("/MpiNothing/", b"{}").unwrap();
    assert_eq!((missing.status, missing.body.len()), (404, 0));
    assert_eq!(missing.header("Content-Length"), Some("0"));
    assert_eq!(client.request("GET", "/MpiOpen/", b"").unwrap().status, 405);
    let failed = client.post("/fail", b"{}").unwrap();
    assert_eq!((failed.status, failed.body.as_slice()), (500, &b"\"22\""[..]));
    assert_eq!(failed.header("Server"), Some("OSConfig"));
}

/// Sends raw bytes on a fresh connection and returns everything the server writes before closing.
fn raw_exchange(server: &TestServer, bytes: &[u8]) -> String {
    let mut stream = server.connect();
    stream.write_all(bytes).unwrap();
    read_to_close(&mut stream)
}

#[test]
fn test_bad_requests_get_their_status_and_close() {
    let limits = Limits::default().with_max_head_bytes(1024).with_max_headers(8).with_max_body_bytes(64);
    let server = TestServer::start("bad", limits, router);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x16\x03\x01garbage\r\n\r\n".to_vec(), "400"),
        (b"POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(), "400"),
        (b"POST /echo HTTP/1.1\r\n\r\n".to_vec(), "411"),
        (b"POST /echo HTTP/1.1\r\nContent-Length: 65\r\n\r\n".to_vec(), "413"),
        (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), "501"),
        ([b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 2000], b"\r\n\r\n"].concat(), "431"),
        (
            (0..9)
                .fold(b"GET / HTTP/1.1\r\n".to_vec(), |mut v, i| {
                    v.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
                    v
                })
                .into_iter()
                .chain(*b"\r\n")
                .collect(),
            "431",
        ),
    ];
    for (bytes, status) in cases {
        let text = raw_exchange(&server, &bytes);
        assert_eq!(status_of(&text), status, "{text}");
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("{\"error\":"), "{text}");
    }
    // The server is still fine.
    assert_eq!(Client::new(&server.socket).post("/echo", b"{}").unwrap().status, 200);
}

#[test]
fn test_request_after_a_bad_one_is_not_served() {
    let server = TestServer::start("bad-then-good", Limits::default(), router);
    let text = raw_exchange(&server, b"POST /echo HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(status_of(&text), "411");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
}

#[test]
fn test_body_at_the_limit_is_accepted() {
    let server = TestServer::start("body-limit", Limits::default().with_max_body_bytes(4096), router);
    let body = vec![b'7'; 4096];
    assert_eq!(Client::new(&server.socket).post("/echo", &body).unwrap().body, body);
    let over = Client::new(&server.socket).post("/echo", &[b'7'; 4097]);
    assert_eq!(over.unwrap().status, 413);
}

#[test]
fn test_default_body_limit_takes_a_large_desired_document() {
    let server = TestServer::start("large", Limits::default(), router);
    let body = format!("{{\"Payload\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let answer = Client::new(&server.socket).post("/echo", body.as_bytes()).unwrap();
    assert_eq!(answer.body.len(), body.len());
}

#[test]
fn test_connection_limit_answers_503() {
    let server = TestServer::start("maxconn", Limits::default().with_max_connections(4), router);
    let mut held: Vec<UnixStream> = (0..4).map(|_| server.connect()).collect();
    for stream in &mut held {
        stream.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(status_of(&read_one(stream)), "200");
    }
    let mut extra = server.connect();
    let text = read_to_close(&mut extra);
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
    drop(held.pop());
    // Once one closes, a new connection is served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = server.connect();
        stream.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).unwrap();
        if &buf[9..12] == b"200" {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn test_stalled_client_is_dropped_without_stalling_others() {
    let limits = Limits::default().with_read_timeout(Duration::from_millis(300));
    let server = TestServer::start("slow", limits, router);
    let mut stalled = server.connect();
    stalled.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\"").unwrap();
    let started = Instant::now();
    // Others are served at once meanwhile.
    let mut client = Client::new(&server.socket);
    for _ in 0..20 {
        assert_eq!(client.post("/echo", b"{}").unwrap().status, 200);
    }
    assert!(started.elapsed() < Duration::from_millis(300), "others waited for the stalled client");
    let text = read_to_close(&mut stalled);
    let waited = started.elapsed();
    assert_eq!(status_of(&text), "408", "{text}");
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn test_byte_by_byte_client_within_timeout_is_served() {
    let server = TestServer::start("trickle", Limits::default(), router);
    let mut stream = server.connect();
    for byte in REFERENCE_OPEN {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
    }
    assert!(read_one(&mut stream).starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn test_idle_keep_alive_connection_is_closed_and_client_reconnects() {
    let limits = Limits::default().with_idle_timeout(Duration::from_millis(200));
    let server = TestServer::start("idle", limits, router);
    let mut stream = server.connect();
    let started = Instant::now();
    assert_eq!(read_to_close(&mut stream), "");
    assert!(started.elapsed() >= Duration::from_millis(150));
    let mut client = Client::new(&server.socket);
    assert_eq!(client.post("/echo", b"1").unwrap().status, 200);
    thread::sleep(Duration::from_millis(400));
    // The server closed the idle connection; the client notices and reconnects transparently.
    assert_eq!(client.post("/echo", b"2").unwrap().body, b"2");
}

#[test]
fn test_two_hundred_concurrent_connections() {
    let server = TestServer::start("concurrent", Limits::default(), router);
    let barrier = Arc::new(std::sync::Barrier::new(200));
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let socket = server.socket.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut client = Client::new(&socket).with_timeout(Duration::from_secs(20));
                let body = format!("{{\"client\":{i}}}");
                assert_eq!(client.post("/echo", body.as_bytes()).unwrap().body, body.as_bytes());
                barrier.wait(); // all 200 connections are open at once here
                for _ in 0..20 {
                    assert_eq!(client.post("/echo", body.as_bytes()).unwrap().body, body.as_bytes());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn test_peer_credentials_reach_the_handler() {
    let server = TestServer::start("peer", Limits::default(), router);
    let answer = Client::new(&server.socket).request("GET", "/peer", b"").unwrap();
    let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(value["pid"], std::process::id());
    // SAFETY: getuid has no preconditions.
    assert_eq!(value["uid"], unsafe { libc::getuid() });
}

#[test]
fn test_shutdown_removes_socket_and_refuses_connections() {
    let mut server = TestServer::start("shutdown", Limits::default(), router);
    let mut idle = server.connect();
    server.stop();
    assert!(!server.socket.exists(), "socket file removed");
    // Closed either way: an accepted connection reads end-of-stream, one still in the backlog is reset.
    let mut buf = [0u8; 16];
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)), "open connections are closed");
    assert!(UnixStream::connect(&server.socket).is_err());
}

#[test]
fn test_socket_modes() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start("modes", Limits::default(), router);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(server.socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&server.socket), 0o660);
}

/// A fake server that answers with whatever bytes the test gives, to check the client's limits.
fn fake_server(name: &str, answer: &'static [u8]) -> (TempRoot, PathBuf, thread::JoinHandle<()>) {
    let dir = TempRoot::new(&format!("http-fake-{name}"));
    let path = dir.join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let thread = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(answer);
        thread::sleep(Duration::from_millis(500));
    });
    (dir, path, thread)
}

#[test]
fn test_client_refuses_oversized_or_malformed_answers() {
    let (_dir, path, t) = fake_server("huge", b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n");
    assert!(matches!(Client::new(&path).post("/x", b"{}"), Err(ClientError::TooLarge)));
    t.join().unwrap();
    let (_dir, path, t) = fake_server("garbage", b"SSH-2.0-OpenSSH\r\n\r\n");
    assert!(matches!(Client::new(&path).post("/x", b"{}"), Err(ClientError::Malformed(_))));
    t.join().unwrap();
    let (_dir, path, t) = fake_server("short", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}");
    let err = Client::new(&path).with_timeout(Duration::from_secs(2)).post("/x", b"{}").unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    t.join().unwrap();
}

#[test]
fn test_client_times_out_on_a_silent_server() {
    let (_dir, path, t) = fake_server("silent", b"");
    let started = Instant::now();
    let err = Client::new(&path).with_timeout(Duration::from_millis(200)).post("/x", b"{}").unwrap_err();
    assert!(matches!(err, ClientError::Timeout | ClientError::Closed), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
}

// Hardening: a client that never reads, bodies held back, idle floods, a deleted socket, a stuck write.

/// Writes from `streams` (non-blocking) round after round until no stream takes a byte for `quiet`; bytes written
/// per stream. `next` gives the bytes stream `i` still has to send.
fn write_until_blocked(streams: &mut [UnixStream], wire: &[Vec<u8>], quiet: Duration) -> Vec<usize> {
    let mut written = vec![0usize; streams.len()];
    let mut last_progress = Instant::now();
    while last_progress.elapsed() < quiet {
        let mut progress = false;
        for (i, stream) in streams.iter_mut().enumerate() {
            while written[i] < wire[i].len() {
                match stream.write(&wire[i][written[i]..]) {
                    Ok(n) => {
                        written[i] += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("write: {e}"),
                }
            }
        }
        if progress {
            last_progress = Instant::now();
        } else {
            thread::sleep(Duration::from_millis(20));
        }
        if written.iter().zip(wire).all(|(w, b)| *w == b.len()) {
            break;
        }
    }
    written
}

#[test]
fn test_never_reading_pipeliner_pauses_until_it_reads() {
    const ANSWER: usize = 16 * 1024;
    const REQUESTS: usize = 3000;
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let limits = Limits::default().with_max_output_bytes(128 * 1024);
    let server = TestServer::start("pipeliner", limits, move |_request: Request, responder: Responder| {
        counter.fetch_add(1, Ordering::Relaxed);
        responder.respond(Response::ok(vec![b'x'; ANSWER]));
    });
    let stream = server.connect();
    stream.set_nonblocking(true).unwrap();
    let wire = vec![b"GET /big HTTP/1.1\r\n\r\n".repeat(REQUESTS)];
    let mut streams = [stream];
    let written = write_until_blocked(&mut streams, &wire, Duration::from_millis(300));
    thread::sleep(Duration::from_millis(300));
    let ran_while_not_reading = ran.load(Ordering::Relaxed);
    // Bounded by the output limit, the kernel's socket buffers and the pipeline limit, not by what was sent.
    assert!(
        ran_while_not_reading < 150,
        "{ran_while_not_reading} of {REQUESTS} requests ran for a client that never reads"
    );
    // Once the client reads, every request is answered.
    let [mut stream] = streams;
    stream.set_nonblocking(false).unwrap();
    let rest = write_until_blocked_then_read(&mut stream, &wire[0][written[0]..], REQUESTS);
    assert_eq!(rest, REQUESTS, "every request answered once the client reads");
    assert_eq!(ran.load(Ordering::Relaxed), REQUESTS);
}

/// Sends `rest` from another thread while reading answers here; the number of whole answers read.
fn write_until_blocked_then_read(stream: &mut UnixStream, rest: &[u8], expected: usize) -> usize {
    let mut writer = stream.try_clone().unwrap();
    let rest = rest.to_vec();
    let sender = thread::spawn(move || writer.write_all(&rest).unwrap());
    let mut answers = 0;
    for _ in 0..expected {
        assert_eq!(status_of(&read_one(stream)), "200");
        answers += 1;
    }
    sender.join().unwrap();
    answers
}

#[test]
fn test_withheld_bodies_are_bounded_by_the_shared_budget() {
    const CONNECTIONS: usize = 20;
    const BODY: usize = 2 * 1024 * 1024;
    let limits = Limits::default().with_max_buffered_bytes(1024 * 1024);
    let server = TestServer::start("budget", limits, router);
    let mut streams: Vec<UnixStream> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    for stream in &streams {
        stream.set_nonblocking(true).unwrap();
    }
    // Each request lacks its last body byte.
    let mut wire = format!("POST /echo HTTP/1.1\r\nContent-Length: {BODY}\r\n\r\n").into_bytes();
    wire.resize(wire.len() + BODY - 1, b'x');
    let wires = vec![wire; CONNECTIONS];
    let written: usize = write_until_blocked(&mut streams, &wires, Duration::from_millis(300)).iter().sum();
    // The server holds at most its budget plus a small allowance per connection; the rest sits in the kernel's
    // socket buffers (a few hundred KiB per connection). Without the budget it would have taken all 40 MiB.
    assert!(written < CONNECTIONS * BODY / 2, "the server took {written} bytes of withheld bodies");
    // Small requests are still read and answered meanwhile.
    let mut client = Client::new(&server.socket).with_timeout(Duration::from_secs(5));
    assert_eq!(client.post("/echo", b"{\"small\":1}").unwrap().body, b"{\"small\":1}");
    // Once they go, a big request gets the budget.
    drop(streams);
    let body = vec![b'y'; 3 * 1024 * 1024];
    assert_eq!(client.post("/echo", &body).unwrap().body.len(), body.len());
}

#[test]
fn test_big_requests_wait_for_the_budget_and_are_all_served() {
    let limits = Limits::default().with_max_buffered_bytes(1024 * 1024);
    let server = TestServer::start("budget-queue", limits, router);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let socket = server.socket.clone();
            thread::spawn(move || {
                let body = vec![b'a' + i as u8; 900 * 1024];
                let answer = Client::new(&socket).with_timeout(Duration::from_secs(20)).post("/echo", &body).unwrap();
                assert_eq!(answer.body, body);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn test_full_table_evicts_the_longest_idle_connection() {
    let limits = Limits::default().with_max_connections(4).with_evictable_idle(Duration::from_millis(100));
    let server = TestServer::start("evict", limits, router);
    let mut held: Vec<UnixStream> = Vec::new();
    for _ in 0..4 {
        let mut stream = server.connect();
        stream.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(status_of(&read_one(&mut stream)), "200");
        held.push(stream);
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(150));
    let mut fresh = server.connect();
    fresh.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status_of(&read_one(&mut fresh)), "200", "the new client is served");
    assert_eq!(read_to_close(&mut held[0]), "", "the longest-idle connection was closed");
    held[3].write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status_of(&read_one(&mut held[3])), "200", "the others stay");
}

#[test]
fn test_deleted_or_renamed_socket_is_bound_again() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start("rebind", Limits::default(), router);
    let mut before = server.connect();
    let wait_served = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if let Ok(answer) = Client::new(&server.socket).with_timeout(Duration::from_secs(2)).post("/echo", b"1") {
                assert_eq!(answer.body, b"1");
                break;
            }
            assert!(Instant::now() < deadline, "socket not re-created after {what}");
            thread::sleep(Duration::from_millis(10));
        }
        let mode = std::fs::symlink_metadata(&server.socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "same mode after {what}");
    };
    std::fs::remove_file(&server.socket).unwrap();
    wait_served("deletion");
    std::fs::rename(&server.socket, server.socket.with_file_name("moved.sock")).unwrap();
    wait_served("rename");
    // Connections made before go on.
    before.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status_of(&read_one(&mut before)), "200");
}

#[test]
fn test_client_deadline_bounds_a_write_the_server_never_reads() {
    let dir = TempRoot::new("http-fake-noread");
    let path = dir.join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let holder = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(3));
        drop(stream);
    });
    let (done, result) = mpsc::channel();
    let client_path = path.clone();
    thread::spawn(move || {
        let started = Instant::now();
        let body = vec![b'x'; 8 * 1024 * 1024];
        let outcome = Client::new(&client_path).with_timeout(Duration::from_millis(200)).post("/x", &body);
        let _ = done.send((outcome.map(|r| r.status), started.elapsed()));
    });
    let (outcome, took) = result.recv_timeout(Duration::from_secs(2)).expect("the call outlived its deadline");
    assert!(matches!(outcome, Err(ClientError::Timeout)), "{outcome:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    holder.join().unwrap();
}

/// A handler that refuses every connection while `refuse` is set.
struct Gate {
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl osconfig_http::Handler for Gate {
    fn handle(&mut self, request: Request, responder: Responder) {
        router(request, responder)
    }

    fn admits(&mut self, _peer: &osconfig_http::PeerCred) -> bool {
        !self.refuse.load(Ordering::Relaxed)
    }
}

#[test]
fn test_refused_peers_take_no_slot() {
    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let server =
        TestServer::start("admits", Limits::default().with_max_connections(4), Gate { refuse: Arc::clone(&refuse) });
    let mut refused: Vec<UnixStream> = (0..20).map(|_| server.connect()).collect();
    for stream in &mut refused {
        stream.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
    }
    for stream in &mut refused {
        let text = read_to_close(stream);
        assert_eq!(status_of(&text), "403", "{text}");
    }
    refuse.store(false, Ordering::Relaxed);
    let mut stream = server.connect();
    stream.write_all(b"GET /peer HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status_of(&read_one(&mut stream)), "200", "20 refused connections held no slot of 4");
}

/// `voluntary_ctxt_switches` of this process's thread named `name` (its wake-ups from sleep).
fn wakeups_of_thread(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if status.lines().any(|l| l.strip_prefix("Name:").is_some_and(|n| n.trim() == name)) {
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok());
        }
    }
    None
}

#[test]
fn test_loop_sets_no_timer_once_the_last_connection_is_gone() {
    // A timer exists only while a connection does: after the only client has gone, the loop sleeps through what
    // would have been that connection's idle deadline.
    let dir = TempRoot::new("http-notimer");
    let socket = dir.join("run/api.sock");
    let limits = Limits::default().with_idle_timeout(Duration::from_millis(200));
    let server = Server::bind(&socket, SocketOptions::default()).unwrap().with_limits(limits);
    let handle = server.handle();
    let name = "notimer-loop";
    let thread = thread::Builder::new().name(name.into()).spawn(move || server.run(router).unwrap()).unwrap();
    let mut client = Client::new(&socket);
    assert_eq!(client.post("/echo", b"1").unwrap().status, 200);
    drop(client);
    // Let the loop see the hang-up and retire the connection.
    thread::sleep(Duration::from_millis(100));
    let before = wakeups_of_thread(name).expect("the loop thread");
    thread::sleep(Duration::from_millis(500));
    let after = wakeups_of_thread(name).expect("the loop thread");
    assert_eq!(after, before, "the idle loop woke up with no connection");
    handle.shutdown();
    thread.join().unwrap();
}

#[test]
fn test_shutdown_from_signal_handler_stops_the_loop() {
    // The handler-safe stop (atomics and an eventfd write, nothing logged) ends a loop waiting with no deadline.
    let dir = TempRoot::new("http-sigstop");
    let socket = dir.join("run/api.sock");
    let server = Server::bind(&socket, SocketOptions::default()).unwrap();
    let handle = server.handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let thread = thread::spawn(move || {
        let result = server.run(router);
        let _ = done_tx.send(());
        result
    });
    let mut client = Client::new(&socket);
    assert_eq!(client.post("/echo", b"1").unwrap().status, 200);
    drop(client);
    handle.shutdown_from_signal_handler();
    assert!(done_rx.recv_timeout(Duration::from_secs(10)).is_ok(), "the loop did not stop");
    thread.join().unwrap().unwrap();
}
