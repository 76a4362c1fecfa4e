//! `MmiClient` against a scripted server on a real Unix socket: the bytes it sends, and how it reads every kind of
//! answer (including ones a correct host never gives).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use osconfig_http::{ClientError, Request, Responder, Response, Server, SocketOptions, StatusCode};
use osconfig_rest::{CallError, MmiClient, SetRequest};
use osconfig_testkit::TempRoot;

/// A socket path in a fresh temporary root (keep the root while using it).
fn temp_socket(tag: &str) -> (TempRoot, PathBuf) {
    let dir = TempRoot::new(&format!("mpi-{tag}"));
    let socket = dir.join("host.sock");
    (dir, socket)
}

/// A server that answers each request with the response `script` returns for it (`None`: never answer), and
/// reports every request it saw.
fn serve(
    tag: &str,
    script: impl Fn(&Request) -> Option<Response> + Send + 'static,
) -> (TempRoot, PathBuf, mpsc::Receiver<Request>, osconfig_http::ServerHandle) {
    let (dir, socket) = temp_socket(tag);
    let server = Server::bind(&socket, SocketOptions::default()).unwrap().with_server_header("OSConfig");
    let handle = server.handle();
    let (seen_tx, seen_rx) = mpsc::channel();
    let mut parked: Vec<Responder> = Vec::new();
    std::thread::spawn(move || {
        server
            .run(move |request: Request, responder: Responder| {
                let answer = script(&request);
                let _ = seen_tx.send(request);
                match answer {
                    Some(response) => responder.respond(response),
                    None => parked.push(responder),
                }
            })
            .unwrap();
    });
    (dir, socket, seen_rx, handle)
}

#[test]
fn test_client_sends_reference_bodies_and_reads_answers() {
    let (_dir, socket, seen, handle) = serve("bodies", |request| {
        Some(match request.route() {
            "/MmiGetInfo" => Response::ok(&br#"{"Name":"X"}"#[..]),
            "/MmiOpen" => Response::ok(&br#""S-1""#[..]),
            "/MmiGet" => Response::ok(&b"[1,2]"[..]),
            _ => Response::ok(Vec::new()),
        })
    });
    let mut client = MmiClient::new(&socket).with_timeout(Duration::from_secs(5));
    assert_eq!(client.get_info("me").unwrap(), br#"{"Name":"X"}"#);
    assert_eq!(client.open("me", 7).unwrap(), "S-1");
    client.set("S-1", "C", "o", b" {\"a\" : 1.50} ").unwrap();
    assert_eq!(client.get("S-1", "C", "o").unwrap(), b"[1,2]");
    client.close("S-1").unwrap();

    let requests: Vec<Request> = seen.try_iter().collect();
    let bodies: Vec<(String, String)> =
        requests.iter().map(|r| (r.path.clone(), String::from_utf8(r.body.clone()).unwrap())).collect();
    assert_eq!(
        bodies,
        [
            ("/MmiGetInfo/".to_string(), r#"{"ClientName":"me"}"#.to_string()),
            ("/MmiOpen/".into(), r#"{"ClientName":"me","MaxPayloadSizeBytes":7}"#.into()),
            (
                "/MmiSet/".into(),
                r#"{"ClientSession":"S-1","ComponentName":"C","ObjectName":"o","Payload": {"a" : 1.50} }"#.into()
            ),
            ("/MmiGet/".into(), r#"{"ClientSession":"S-1","ComponentName":"C","ObjectName":"o"}"#.into()),
            ("/MmiClose/".into(), r#"{"ClientSession":"S-1"}"#.into()),
        ]
    );
    // The payload arrives exactly as given and parses back to the same raw text.
    let set = SetRequest::from_body(&requests[2].body).unwrap();
    assert_eq!(set.payload.get(), r#"{"a" : 1.50}"#);
    // One kept-alive connection for all five calls.
    assert!(requests.iter().all(|r| r.keep_alive));
    handle.shutdown();
}

#[test]
fn test_client_maps_statuses_to_errors() {
    let (_dir, socket, _seen, handle) = serve("statuses", |request| {
        let body = std::str::from_utf8(&request.body).unwrap();
        Some(if body.contains("bad") {
            Response::new(StatusCode::BadRequest)
        } else if body.contains("errno") {
            Response::new(StatusCode::InternalServerError).with_body(&b"\"22\""[..])
        } else if body.contains("opaque") {
            Response::new(StatusCode::InternalServerError).with_body(&b"{\"error\":\"x\"}"[..])
        } else if body.contains("busy") {
            Response::new(StatusCode::ServiceUnavailable)
        } else if request.route() == "/MmiOpen" {
            Response::ok(&b"42"[..])
        } else {
            Response::new(StatusCode::NotFound)
        })
    });
    let mut client = MmiClient::new(&socket).with_timeout(Duration::from_secs(5));
    assert!(matches!(client.get("bad", "C", "o"), Err(CallError::BadRequest)));
    assert!(matches!(client.get("errno", "C", "o"), Err(CallError::Module(22))));
    assert!(matches!(client.get("opaque", "C", "o"), Err(CallError::Protocol(_))));
    assert!(matches!(client.get("busy", "C", "o"), Err(CallError::Protocol(_))));
    assert!(matches!(client.close("x"), Err(CallError::NotFound)));
    let err = client.open("me", 0).unwrap_err();
    assert!(matches!(err, CallError::Protocol(ref text) if text.contains("not a session id")), "{err:?}");
    handle.shutdown();
}

#[test]
fn test_client_timeout_and_missing_socket_are_transport_errors() {
    let (_dir, socket, _seen, handle) = serve("timeout", |_| None);
    let mut client = MmiClient::new(&socket).with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = client.get("s", "C", "o").unwrap_err();
    assert!(matches!(err, CallError::Transport(ClientError::Timeout)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    handle.shutdown();

    let (_absent, path) = temp_socket("absent");
    let mut gone = MmiClient::new(path);
    assert!(matches!(gone.get_info("me"), Err(CallError::Transport(ClientError::Io(_)))));
}
