//! End-to-end tests of the platform's MPI: every endpoint over the real socket, with our real modules run through
//! module hosts and in-process, the reference client's exact request bytes and our exact response bytes,
//! `MpiGetReported` against the `Reported` list, sessions, priorities and duplicate merging.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{body_of, exchange, expected_response, reference_request, status_of, Options, Platform};
use osconfig_rest::{CallError, MpiClient};
use serde_json::{json, Value};

fn reported_config() -> Value {
    json!({
        "Reported": [
            {"ComponentName": "DeviceInfo", "ObjectName": "osName"},
            {"ComponentName": "Fixture", "ObjectName": "echo"},
            {"ComponentName": "DeviceInfo", "ObjectName": "kernelName"},
            {"ComponentName": "NoSuchComponent", "ObjectName": "x"},
            {"ComponentName": "Fixture", "ObjectName": "fail"},
            {"ComponentName": "HostName", "ObjectName": "name"}
        ]
    })
}

/// Opens a session with the reference client's bytes; the session id body (quotes included).
fn reference_open(platform: &Platform) -> Vec<u8> {
    let answer = exchange(
        &platform.socket,
        &reference_request("MpiOpen", br#"{ "ClientName": "Azure OSConfig 5;1.0.5.2026", "MaxPayloadSizeBytes": 0 }"#),
    );
    let body = body_of(&answer).to_vec();
    assert_eq!(answer, expected_response("200 OK", &body));
    assert_eq!(body.len(), 38, "{}", String::from_utf8_lossy(&body));
    let id: String = serde_json::from_slice(&body).unwrap();
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{id}");
    body
}

fn every_endpoint_byte_exact(platform: &Platform) {
    let socket = &platform.socket;
    let session = reference_open(platform);
    let session = String::from_utf8(session).unwrap();

    // MpiSet: the reference client splices the MpiOpen body (quotes included) into later bodies.
    let set = format!(
        r#"{{ "ClientSession": {session}, "ComponentName": "Fixture", "ObjectName": "echo", "Payload": {{"a": [1, 2.5, "x"]}} }}"#
    );
    assert_eq!(exchange(socket, &reference_request("MpiSet", set.as_bytes())), expected_response("200 OK", b""));

    // MpiGet: the module's value, raw.
    let get = format!(r#"{{ "ClientSession": {session}, "ComponentName": "Fixture", "ObjectName": "echo" }}"#);
    let answer = exchange(socket, &reference_request("MpiGet", get.as_bytes()));
    let value: Value = serde_json::from_slice(body_of(&answer)).unwrap();
    assert_eq!(value, json!({"a": [1, 2.5, "x"]}));
    assert_eq!(answer, expected_response("200 OK", body_of(&answer)));

    let os_name = format!(r#"{{ "ClientSession": {session}, "ComponentName": "DeviceInfo", "ObjectName": "osName" }}"#);
    let answer = exchange(socket, &reference_request("MpiGet", os_name.as_bytes()));
    assert_eq!(status_of(&answer), 200, "{}", String::from_utf8_lossy(&answer));
    assert!(serde_json::from_slice::<Value>(body_of(&answer)).unwrap().is_string());

    // Unknown component, object, session: 500 "22".
    let error_22 = expected_response("500 Internal Server Error", b"\"22\"");
    let unknown_component =
        format!(r#"{{ "ClientSession": {session}, "ComponentName": "Nope", "ObjectName": "echo", "Payload": 1 }}"#);
    assert_eq!(exchange(socket, &reference_request("MpiSet", unknown_component.as_bytes())), error_22);
    let unknown_object =
        format!(r#"{{ "ClientSession": {session}, "ComponentName": "DeviceInfo", "ObjectName": "nope" }}"#);
    assert_eq!(exchange(socket, &reference_request("MpiGet", unknown_object.as_bytes())), error_22);
    let unknown_session = r#"{ "ClientSession": "00000000-0000-0000-0000-000000000000", "ComponentName": "DeviceInfo", "ObjectName": "osName" }"#;
    assert_eq!(exchange(socket, &reference_request("MpiGet", unknown_session.as_bytes())), error_22);

    // A module's own errno comes back as is (Fixture.fail: ENODATA 61).
    let fail = format!(r#"{{ "ClientSession": {session}, "ComponentName": "Fixture", "ObjectName": "fail" }}"#);
    assert_eq!(
        exchange(socket, &reference_request("MpiGet", fail.as_bytes())),
        expected_response("500 Internal Server Error", b"\"61\"")
    );

    // MpiSetDesired: every object in document order, continues after a failure, answers the first failure's errno.
    let desired = format!(
        r#"{{ "ClientSession": {session}, "Payload": {{"Fixture": {{"echo": "first", "big": 1, "fail": 2}}, "SampleComponent": {{"desiredStringObject": "applied after the failures"}}, "Nope": {{"x": 1}}}} }}"#
    );
    assert_eq!(
        exchange(socket, &reference_request("MpiSetDesired", desired.as_bytes())),
        expected_response("500 Internal Server Error", b"\"1\""),
        "first failure: Fixture.big refuses MmiSet with EPERM"
    );
    let mut client = platform.client();
    let plain: String = serde_json::from_str(&session).unwrap();
    assert_eq!(client.get(&plain, "Fixture", "echo").unwrap(), b"\"first\"");
    assert_eq!(
        client.get(&plain, "SampleComponent", "reportedStringObject").unwrap(),
        b"\"applied after the failures\""
    );
    let good_desired =
        format!(r#"{{ "ClientSession": {session}, "Payload": {{"Fixture": {{"echo": {{"k": true}}}}}} }}"#);
    assert_eq!(
        exchange(socket, &reference_request("MpiSetDesired", good_desired.as_bytes())),
        expected_response("200 OK", b"")
    );

    // MpiGetReported: the Reported list in order, grouped by component, failed entries left out.
    let reported = format!(r#"{{ "ClientSession": {session} }}"#);
    let answer = exchange(socket, &reference_request("MpiGetReported", reported.as_bytes()));
    assert_eq!(answer, expected_response("200 OK", body_of(&answer)));
    let text = String::from_utf8(body_of(&answer).to_vec()).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut expected = serde_json::Map::new();
    let os_name: Value = serde_json::from_slice(&client.get(&plain, "DeviceInfo", "osName").unwrap()).unwrap();
    let kernel: Value = serde_json::from_slice(&client.get(&plain, "DeviceInfo", "kernelName").unwrap()).unwrap();
    let host: Value = serde_json::from_slice(&client.get(&plain, "HostName", "name").unwrap()).unwrap();
    expected.insert("DeviceInfo".into(), json!({"osName": os_name, "kernelName": kernel}));
    expected.insert("Fixture".into(), json!({"echo": {"k": true}}));
    expected.insert("HostName".into(), json!({"name": host}));
    assert_eq!(document, Value::Object(expected));
    let order: Vec<usize> = ["\"DeviceInfo\"", "\"osName\"", "\"kernelName\"", "\"Fixture\"", "\"HostName\""]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "document order: {text}");
    assert!(!text.contains("NoSuchComponent") && !text.contains("\"fail\""), "{text}");

    // GET is accepted for the two read calls, the path without its trailing slash too.
    for wire in [
        format!("GET /MpiGet HTTP/1.1\r\nContent-Length: {}\r\n\r\n{get}", get.len()),
        format!("GET /MpiGetReported/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n{reported}", reported.len()),
        format!("POST /MpiGet HTTP/1.1\r\nHOST: x\r\ncontent-length: {}\r\n\r\n{get}", get.len()),
    ] {
        assert_eq!(status_of(&exchange(socket, wire.as_bytes())), 200, "{wire}");
    }

    // 404 with an empty body for anything else; 400 for bad fields, its body saying why (`{"error":"..."}`: reference
    // clients read only the status and Content-Length).
    let not_found = expected_response("404 Not Found", b"");
    for wire in [
        reference_request("MpiNope", b"{}"),
        reference_request("mpiopen", b"{}"),
        format!("GET /MpiSet/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n{set}", set.len()).into_bytes(),
        format!("PUT /MpiGet/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n{get}", get.len()).into_bytes(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ] {
        assert_eq!(exchange(socket, &wire), not_found, "{}", String::from_utf8_lossy(&wire));
    }
    for (name, body) in [
        ("MpiOpen", &br#"{"ClientName":"x"}"#[..]),
        ("MpiOpen", br#"{"ClientName":"x","MaxPayloadSizeBytes":-1}"#),
        ("MpiOpen", b"not json"),
        ("MpiClose", b"[]"),
        ("MpiSet", br#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o"}"#),
        ("MpiGet", br#"{"ClientSession":1,"ComponentName":"C","ObjectName":"o"}"#),
        ("MpiSetDesired", br#"{"ClientSession":"s","Payload":[]}"#),
        ("MpiSetDesired", br#"{"ClientSession":"s","Payload":{"C":3}}"#),
        ("MpiGetReported", b"{}"),
        ("MpiGetReported", b""),
    ] {
        let answer = exchange(socket, &reference_request(name, body));
        let why: Value = serde_json::from_slice(body_of(&answer)).expect("a JSON body");
        let expected = expected_response("400 Bad Request", body_of(&answer));
        assert_eq!(answer, expected, "{name} {}", String::from_utf8_lossy(body));
        assert!(why["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {why}");
    }

    // MpiClose: 200 empty; the session is gone afterwards; an unknown session is still 200.
    let close = format!(r#"{{ "ClientSession": {session} }}"#);
    assert_eq!(exchange(socket, &reference_request("MpiClose", close.as_bytes())), expected_response("200 OK", b""));
    assert_eq!(exchange(socket, &reference_request("MpiGet", get.as_bytes())), error_22);
    assert_eq!(exchange(socket, &reference_request("MpiClose", close.as_bytes())), expected_response("200 OK", b""));
}

#[test]
fn test_every_endpoint_byte_exact_through_module_hosts() {
    let platform = Platform::start("bytes-host", Options { config: Some(reported_config()), ..Options::default() });
    every_endpoint_byte_exact(&platform);
}

#[test]
fn test_every_endpoint_byte_exact_in_process() {
    let platform = Platform::start(
        "bytes-inproc",
        Options { config: Some(reported_config()), in_process: true, ..Options::default() },
    );
    every_endpoint_byte_exact(&platform);
    assert!(platform.stderr_text().contains("in-process") || platform.stderr_text().contains("in process"));
}

#[test]
fn test_keep_alive_many_requests_on_one_connection() {
    let platform = Platform::start("keepalive", Options::default());
    let mut stream = UnixStream::connect(&platform.socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&reference_request("MpiOpen", br#"{"ClientName":"k","MaxPayloadSizeBytes":0}"#)).unwrap();
    let session = body_of(&common::read_response(&mut stream)).to_vec();
    let session = String::from_utf8(session).unwrap();
    for i in 0..200 {
        let set =
            format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"echo","Payload":{i}}}"#);
        stream.write_all(&reference_request("MpiSet", set.as_bytes())).unwrap();
        assert_eq!(common::read_response(&mut stream), expected_response("200 OK", b""));
        let get = format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"echo"}}"#);
        stream.write_all(&reference_request("MpiGet", get.as_bytes())).unwrap();
        assert_eq!(common::read_response(&mut stream), expected_response("200 OK", i.to_string().as_bytes()));
    }
}

#[test]
fn test_session_ids_unique_and_sessions_separate() {
    let platform = Platform::start("sessions", Options { modules: vec!["fixture"], ..Options::default() });
    let mut client = platform.client();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let id = client.open("many", 0).unwrap();
        assert_eq!(id.len(), 36);
        assert!(ids.insert(id));
    }
    let a = client.open("alpha", 0).unwrap();
    let b = client.open("beta", 123).unwrap();
    let session_a: Value = serde_json::from_slice(&client.get(&a, "Fixture", "session").unwrap()).unwrap();
    let session_b: Value = serde_json::from_slice(&client.get(&b, "Fixture", "session").unwrap()).unwrap();
    assert_eq!(session_a, json!({"clientName": "alpha", "maxPayloadSizeBytes": 0}));
    assert_eq!(session_b, json!({"clientName": "beta", "maxPayloadSizeBytes": 123}));
    client.close(&a).unwrap();
    assert!(matches!(client.get(&a, "Fixture", "echo"), Err(CallError::Platform(22))));
    assert!(client.get(&b, "Fixture", "echo").is_ok());
}

#[test]
fn test_idle_session_reclaimed() {
    let platform = Platform::start(
        "idle-session",
        Options {
            modules: vec!["fixture"],
            config: Some(json!({"MpiSessionIdleTimeoutSeconds": 1})),
            ..Options::default()
        },
    );
    let mut client = platform.client();
    let idle = client.open("vanishes", 0).unwrap();
    let busy = client.open("busy", 0).unwrap();
    client.get(&idle, "Fixture", "echo").unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        client.get(&busy, "Fixture", "echo").unwrap();
        thread::sleep(Duration::from_millis(200));
    }
    assert!(matches!(client.get(&idle, "Fixture", "echo"), Err(CallError::Platform(22))));
    client.get(&busy, "Fixture", "echo").unwrap();
    assert!(platform.wait_log("unused for 1 s; closed", Duration::from_secs(2)), "{}", platform.stderr_text());
}

/// Sends `body` to `endpoint` on its own connection from a thread; the time its answer arrived and its status.
fn timed(socket: &std::path::Path, name: &'static str, body: String) -> thread::JoinHandle<(Instant, u16)> {
    let socket = socket.to_path_buf();
    thread::spawn(move || {
        let answer = exchange(&socket, &reference_request(name, body.as_bytes()));
        (Instant::now(), status_of(&answer))
    })
}

#[test]
fn test_priorities_order_simultaneous_requests() {
    let platform = Platform::start(
        "priorities",
        Options {
            modules: vec!["fixture", "deviceinfo", "hostname"],
            config: Some(json!({"Priorities": ["DeviceInfo", "Fixture"]})),
            ..Options::default()
        },
    );
    let mut client = platform.client();
    let s = client.open("prio", 0).unwrap();
    // Warm both modules up so that start-up time does not blur the order.
    client.get(&s, "HostName", "name").unwrap();
    client.get(&s, "DeviceInfo", "osName").unwrap();
    let session = serde_json::to_string(&s).unwrap();
    let slow = timed(
        &platform.socket,
        "MpiSet",
        format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"slow","Payload":700}}"#),
    );
    thread::sleep(Duration::from_millis(150));
    let low = timed(
        &platform.socket,
        "MpiGet",
        format!(r#"{{"ClientSession":{session},"ComponentName":"HostName","ObjectName":"name"}}"#),
    );
    thread::sleep(Duration::from_millis(100));
    // The high-priority call takes 200 ms itself, so the order shows in the answer times without racing the
    // client threads' clocks: served first, the low one is answered at least ~200 ms after the running call.
    let high = timed(
        &platform.socket,
        "MpiSet",
        format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"slow","Payload":200}}"#),
    );
    let (slow_at, slow_status) = slow.join().unwrap();
    let (low_at, low_status) = low.join().unwrap();
    let (high_at, high_status) = high.join().unwrap();
    assert_eq!((slow_status, low_status, high_status), (200, 200, 200));
    assert!(high_at >= slow_at + Duration::from_millis(150), "the running call finishes first");
    assert!(
        low_at >= slow_at + Duration::from_millis(150),
        "Fixture (listed) was served before HostName (not listed) though it came later"
    );
}

#[test]
fn test_identical_queued_requests_run_once() {
    let platform = Platform::start("merge", Options { modules: vec!["fixture"], ..Options::default() });
    let mut client = platform.client();
    let s = client.open("merge", 0).unwrap();
    let session = serde_json::to_string(&s).unwrap();
    let body = |ms: u32| {
        format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"slow","Payload":{ms}}}"#)
    };
    let start = Instant::now();
    let first = timed(&platform.socket, "MpiSet", body(600));
    thread::sleep(Duration::from_millis(150));
    let twins: Vec<_> = (0..3).map(|_| timed(&platform.socket, "MpiSet", body(500))).collect();
    assert_eq!(first.join().unwrap().1, 200);
    for twin in twins {
        assert_eq!(twin.join().unwrap().1, 200);
    }
    let elapsed = start.elapsed();
    // 600 ms + one 500 ms run = 1.1 s when merged; three runs would take 2.1 s.
    assert!(elapsed < Duration::from_millis(1700), "identical requests were run separately: {elapsed:?}");
}

#[test]
fn test_typed_client_every_call() {
    let platform = Platform::start(
        "typed",
        Options { modules: vec!["fixture", "deviceinfo"], config: Some(reported_config()), ..Options::default() },
    );
    let mut client = MpiClient::new(&platform.socket);
    let s = client.open("typed", 0).unwrap();
    client.set(&s, "Fixture", "echo", b"[true]").unwrap();
    assert_eq!(client.get(&s, "Fixture", "echo").unwrap(), b"[true]");
    client.set_desired(&s, br#"{"Fixture":{"echo":"d"}}"#).unwrap();
    let reported: Value = serde_json::from_slice(&client.get_reported(&s).unwrap()).unwrap();
    assert_eq!(reported["Fixture"], json!({"echo": "d"}));
    assert!(reported["DeviceInfo"]["osName"].is_string());
    assert!(matches!(client.set(&s, "Fixture", "echo", b"{bad"), Err(CallError::BadRequest)));
    assert!(matches!(client.set_desired(&s, br#"{"Fixture":{"fail":1}}"#), Err(CallError::Platform(1))));
    client.close(&s).unwrap();
}

#[test]
fn test_reported_document_with_the_reference_osconfig_json() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/osconfig.default.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("{} not found: skipped", path.display());
        return;
    };
    let config: Value = serde_json::from_str(&text).unwrap();
    let platform = Platform::start("reference-config", Options { config: Some(config.clone()), ..Options::default() });
    let mut client = platform.client();
    let s = client.open("Azure OSConfig", 0).unwrap();
    let text = String::from_utf8(client.get_reported(&s).unwrap()).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    let components: Vec<&str> = document.as_object().unwrap().keys().map(String::as_str).collect();
    // The reference lists CommandRunner, Configuration, DeviceInfo, SecurityBaseline: we have no SecurityBaseline
    // module, so its entries fail and are left out.
    assert_eq!(components, ["CommandRunner", "Configuration", "DeviceInfo"], "{text}");
    for entry in config["Reported"].as_array().unwrap() {
        let (component, object) = (entry["ComponentName"].as_str().unwrap(), entry["ObjectName"].as_str().unwrap());
        if component == "SecurityBaseline" {
            continue;
        }
        let alone: Value = serde_json::from_slice(&client.get(&s, component, object).unwrap()).unwrap();
        let in_document = &document[component][object];
        if component == "DeviceInfo" && object == "freeMemory" {
            assert!(in_document.is_number(), "{component}.{object}");
        } else {
            assert_eq!(in_document, &alone, "{component}.{object}");
        }
    }
    let device_info: Vec<&str> = document["DeviceInfo"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(device_info.first(), Some(&"osName"));
    assert_eq!(device_info.last(), Some(&"osConfigVersion"));
}

/// Modules resolve device paths under the platform's `--root`, in-process as well as in hosts: DeviceInfo reads the
/// root's os-release and HostName writes the root's /etc/hostname (never this machine's).
#[test]
fn test_modules_see_the_root_in_process_and_in_hosts() {
    let machine_hostname = fs::read("/etc/hostname").ok();
    for in_process in [true, false] {
        let options = Options { modules: vec!["deviceinfo", "hostname"], in_process, ..Options::default() };
        let platform = Platform::start("root-seen", options);
        fs::write(
            platform.root.join("etc/os-release"),
            "NAME=\"Root Test OS\"\nPRETTY_NAME=\"Roottest OS 7.1\"\nVERSION_ID=\"7.1\"\n",
        )
        .unwrap();
        let mut client = platform.client();
        let session = client.open("root-test", 0).unwrap();
        assert_eq!(client.get(&session, "DeviceInfo", "osName").unwrap(), br#""Roottest""#, "in_process {in_process}");
        client.set(&session, "HostName", "desiredName", br#""root-test-box""#).unwrap();
        assert_eq!(fs::read_to_string(platform.root.join("etc/hostname")).unwrap(), "root-test-box\n");
        assert_eq!(fs::read("/etc/hostname").ok(), machine_hostname, "the machine's file is untouched");
        assert!(platform.root.join("var/log").is_dir(), "logs go under the root");
    }
}
