//! End-to-end load and abuse tests of the platform: 64 concurrent keep-alive clients with 1,000 requests each and
//! zero errors; file descriptors and RSS that do not grow across 10,000 requests; garbage, a huge body, half a
//! request and a stall, none of which disturbs other clients.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{exchange, expected_response, reference_request, status_of, Options, Platform};
use serde_json::json;

/// One client: opens a session and sends `requests` calls (sets and gets checked against each other).
fn client_run(platform_socket: std::path::PathBuf, id: usize, requests: usize) -> Result<(), String> {
    let mut client = osconfig_rest::MpiClient::new(&platform_socket).with_timeout(Duration::from_secs(60));
    let session = client.open(&format!("load-{id}"), 0).map_err(|e| format!("open: {e}"))?;
    for i in 0..requests {
        match i % 4 {
            0 => {
                let value = (id * 100_000 + i).to_string();
                client
                    .set(&session, "SampleComponent", "desiredIntegerObject", value.as_bytes())
                    .map_err(|e| format!("set {i}: {e}"))?;
            }
            1 => {
                let got = client
                    .get(&session, "SampleComponent", "reportedIntegerObject")
                    .map_err(|e| format!("get {i}: {e}"))?;
                let want = (id * 100_000 + i - 1).to_string();
                if got != want.as_bytes() {
                    return Err(format!(
                        "client {id} request {i}: {} instead of {want}",
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
            2 => {
                let value = format!("\"c{id}-{i}\"");
                client
                    .set(&session, "SampleComponent", "desiredStringObject", value.as_bytes())
                    .map_err(|e| format!("set {i}: {e}"))?;
            }
            _ => {
                let got = client
                    .get(&session, "SampleComponent", "reportedStringObject")
                    .map_err(|e| format!("get {i}: {e}"))?;
                let want = format!("\"c{id}-{}\"", i - 1);
                if got != want.as_bytes() {
                    return Err(format!(
                        "client {id} request {i}: {} instead of {want}",
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
        }
    }
    client.close(&session).map_err(|e| format!("close: {e}"))
}

fn concurrent_clients(in_process: bool) {
    let platform = Platform::start(
        if in_process { "load64-inproc" } else { "load64-host" },
        Options { modules: vec!["fixture"], in_process, ..Options::default() },
    );
    let start = Instant::now();
    let clients: Vec<_> = (0..64)
        .map(|id| {
            let socket = platform.socket.clone();
            thread::spawn(move || client_run(socket, id, 1000))
        })
        .collect();
    let errors: Vec<String> = clients.into_iter().filter_map(|c| c.join().unwrap().err()).collect();
    let took = start.elapsed();
    assert!(errors.is_empty(), "{} clients failed, first: {}", errors.len(), errors[0]);
    eprintln!(
        "64 x 1000 requests ({}): {took:?}, {:.0}/s",
        if in_process { "in-process" } else { "host" },
        64000.0 / took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(240), "64,000 requests took {took:?}");
}

#[test]
fn test_64_clients_1000_requests_through_host() {
    concurrent_clients(false);
}

#[test]
fn test_64_clients_1000_requests_in_process() {
    concurrent_clients(true);
}

/// A mix of calls: keep-alive gets and sets, a new connection per request (as the reference client does), session
/// open and close, errors.
fn mixed_requests(platform: &Platform, count: usize) {
    let mut keep = platform.client();
    let session = keep.open("fd-rss", 0).unwrap();
    let quoted = serde_json::to_string(&session).unwrap();
    for i in 0..count {
        match i % 10 {
            0 => {
                let s = keep.open("short", 0).unwrap();
                keep.close(&s).unwrap();
            }
            1 => {
                let body =
                    format!(r#"{{ "ClientSession": {quoted}, "ComponentName": "Fixture", "ObjectName": "echo" }}"#);
                assert_eq!(status_of(&exchange(&platform.socket, &reference_request("MpiGet", body.as_bytes()))), 200);
            }
            2 => {
                let _ = keep.get(&session, "Nope", "x").unwrap_err();
            }
            3 => {
                keep.set_desired(&session, br#"{"Fixture":{"echo":[1,2,3]}}"#).unwrap();
            }
            4 => {
                keep.get_reported(&session).unwrap();
            }
            _ => {
                keep.set(&session, "Fixture", "echo", format!("{i}").as_bytes()).unwrap();
                keep.get(&session, "Fixture", "echo").unwrap();
            }
        }
    }
    keep.close(&session).unwrap();
}

fn fds_and_rss_stable(in_process: bool) {
    let platform = Platform::start(
        if in_process { "leak-inproc" } else { "leak-host" },
        Options {
            modules: vec!["fixture", "deviceinfo"],
            in_process,
            config: Some(
                json!({"Reported": [{"ComponentName": "Fixture", "ObjectName": "echo"}, {"ComponentName": "DeviceInfo", "ObjectName": "osName"}]}),
            ),
            ..Options::default()
        },
    );
    mixed_requests(&platform, 2000);
    thread::sleep(Duration::from_millis(200));
    let (fds, rss) = (platform.fd_count(), platform.rss_kib());
    mixed_requests(&platform, 10_000);
    thread::sleep(Duration::from_millis(200));
    let (fds_after, rss_after) = (platform.fd_count(), platform.rss_kib());
    eprintln!("fds {fds} -> {fds_after}, RSS {rss} KiB -> {rss_after} KiB");
    assert!(fds_after <= fds + 1, "descriptors grew from {fds} to {fds_after}");
    assert!(rss_after <= rss + 512, "RSS grew from {rss} KiB to {rss_after} KiB");
}

#[test]
fn test_fds_and_rss_stable_over_10000_requests_through_host() {
    fds_and_rss_stable(false);
}

#[test]
fn test_fds_and_rss_stable_over_10000_requests_in_process() {
    fds_and_rss_stable(true);
}

/// Reads whatever comes until the peer closes or `limit` passes.
fn read_until_close(stream: &mut UnixStream, limit: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => return (out, false),
        }
    }
}

fn assert_still_serving(platform: &Platform) {
    let start = Instant::now();
    let mut client = platform.client();
    let s = client.open("still", 0).unwrap();
    client.set(&s, "Fixture", "echo", b"1").unwrap();
    assert_eq!(client.get(&s, "Fixture", "echo").unwrap(), b"1");
    client.close(&s).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "served in {:?}", start.elapsed());
}

#[test]
fn test_garbage_huge_body_half_request_and_stall() {
    let platform = Platform::start("abuse", Options { modules: vec!["fixture"], ..Options::default() });
    // The baseline is the platform at work: its socket accepts while the modules are still being identified, and
    // its connection to the module's host exists from the first call on.
    assert_still_serving(&platform);
    let baseline_fds = platform.fd_count();

    // Garbage: a 400 and the connection closes.
    let mut garbage = UnixStream::connect(&platform.socket).unwrap();
    garbage.write_all(b"\x16\x03\x01\x00\xa5garbage that is not http\r\n\r\n").unwrap();
    let (answer, closed) = read_until_close(&mut garbage, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 400, "{}", String::from_utf8_lossy(&answer));
    assert!(closed);

    // A huge declared body: 413 at once, without waiting for the body.
    let mut huge = UnixStream::connect(&platform.socket).unwrap();
    huge.write_all(b"POST /MpiSet/ HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n{").unwrap();
    let (answer, closed) = read_until_close(&mut huge, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 413, "{}", String::from_utf8_lossy(&answer));
    assert!(closed);

    // A huge body actually sent (8 MiB): refused, the platform unharmed.
    let mut big = UnixStream::connect(&platform.socket).unwrap();
    let payload = vec![b'x'; 8 << 20];
    let _ = big.write_all(format!("POST /MpiSet/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n", payload.len()).as_bytes());
    let _ = big.write_all(&payload);
    let (answer, _) = read_until_close(&mut big, Duration::from_secs(5));
    assert_eq!(status_of(&answer), 413);

    // Many half requests that stall (head cut, body cut): other clients are served meanwhile.
    let stalled: Vec<UnixStream> = (0..40)
        .map(|i| {
            let mut s = UnixStream::connect(&platform.socket).unwrap();
            let part: &[u8] = match i % 3 {
                0 => b"POST /MpiOpen/ HTTP/1.1\r\nContent-Len",
                1 => b"POST /MpiOpen/ HTTP/1.1\r\nContent-Length: 60\r\n\r\n{\"ClientName\":",
                _ => b"",
            };
            s.write_all(part).unwrap();
            s
        })
        .collect();
    assert_still_serving(&platform);

    // A stalled request is answered 408 and closed after the server's read timeout.
    let mut one = stalled.into_iter().nth(1).unwrap();
    let (answer, closed) = read_until_close(&mut one, Duration::from_secs(20));
    assert_eq!(status_of(&answer), 408, "{}", String::from_utf8_lossy(&answer));
    assert!(closed);

    // A client that vanishes mid-request or before its answer.
    for _ in 0..20 {
        let mut s = UnixStream::connect(&platform.socket).unwrap();
        s.write_all(&reference_request("MpiOpen", br#"{"ClientName":"gone","MaxPayloadSizeBytes":0}"#)).unwrap();
        drop(s);
    }
    assert_still_serving(&platform);

    // Every abusive connection is closed now: descriptors are back to the baseline.
    let deadline = Instant::now() + Duration::from_secs(5);
    while platform.fd_count() > baseline_fds + 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(platform.fd_count() <= baseline_fds + 1, "fds {} vs {baseline_fds}", platform.fd_count());

    // Exact bytes still right after all that.
    let answer = exchange(&platform.socket, &reference_request("MpiNope", b""));
    assert_eq!(answer, expected_response("404 Not Found", b""));
}
