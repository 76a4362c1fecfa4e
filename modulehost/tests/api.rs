//! The MMI REST API of a real host process serving the fixture module: round trips, exact bytes, every 400 case,
//! unknown sessions and routes, E2BIG, panics, the session limit.

mod common;

use common::Host;
use osconfig_rest::CallError;
use serde_json::{json, Value};

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(bytes)))
}

#[test]
fn test_fixture_round_trips_through_client() {
    let host = Host::start("fixture");
    let mut client = host.client();

    let info = value(&client.get_info("api-test").unwrap());
    assert_eq!(info["Name"], "Fixture");
    assert_eq!(info["Components"], json!(["SampleComponent", "Fixture"]));
    assert_eq!(info["Lifetime"], 1);

    let session = client.open("api-test", 0).unwrap();
    assert_eq!(session.len(), 36, "{session}");
    let other = client.open("api-test", 0).unwrap();
    assert_ne!(session, other, "ids are unique");

    // Sample MIM: desired mirrored by reported, per session.
    client.set(&session, "SampleComponent", "desiredStringObject", br#""hello""#).unwrap();
    assert_eq!(client.get(&session, "SampleComponent", "reportedStringObject").unwrap(), br#""hello""#);
    assert_eq!(client.get(&other, "SampleComponent", "reportedStringObject").unwrap(), br#""""#);
    client.set(&session, "SampleComponent", "desiredIntegerObject", b"42").unwrap();
    assert_eq!(client.get(&session, "SampleComponent", "reportedIntegerObject").unwrap(), b"42");
    // Invalid against the MIM: the module's EINVAL.
    assert!(matches!(
        client.set(&session, "SampleComponent", "desiredIntegerObject", br#""x""#),
        Err(CallError::Module(22))
    ));

    // Any JSON value travels as Payload (whitespace and all) and comes back as the module reports it.
    client.set(&session, "Fixture", "echo", b" {\"b\" : [1, 2.5, null], \"a\": {}} ").unwrap();
    assert_eq!(value(&client.get(&session, "Fixture", "echo").unwrap()), json!({"b": [1, 2.5, null], "a": {}}));

    // The session's own arguments reach the module.
    let s = value(&client.get(&other, "Fixture", "session").unwrap());
    assert_eq!(s, json!({"clientName": "api-test", "maxPayloadSizeBytes": 0}));
    assert_eq!(value(&client.get(&other, "Fixture", "sessions").unwrap()), json!(2));

    // Module errors pass through as errnos.
    assert!(matches!(client.get(&session, "Fixture", "fail"), Err(CallError::Module(61))));
    assert!(matches!(client.get(&session, "Nope", "x"), Err(CallError::Module(22))));
    assert!(matches!(client.set(&session, "Fixture", "fail", b"1"), Err(CallError::Module(1))));

    // Close: the id stops working; closing again (or an unknown id) is still 200.
    client.close(&session).unwrap();
    assert!(matches!(client.get(&session, "Fixture", "echo"), Err(CallError::Module(22))));
    client.close(&session).unwrap();
    client.close("no-such-session").unwrap();
    assert_eq!(value(&client.get(&other, "Fixture", "sessions").unwrap()), json!(1));

    // MmiOpen returning NULL: the loader's EIO.
    assert!(matches!(client.open("refuse", 0), Err(CallError::Module(5))));
}

#[test]
fn test_exact_response_bytes() {
    let host = Host::start("fixture");
    let open = host.raw("POST", "/MmiOpen/", br#"{"ClientName":"bytes","MaxPayloadSizeBytes":0}"#);
    let (status, id) = common::split(&open);
    assert_eq!(status, 200);
    let expected_open = format!(
        "HTTP/1.1 200 OK\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n{}",
        String::from_utf8_lossy(&id)
    );
    assert_eq!(String::from_utf8_lossy(&open), expected_open);

    let session = String::from_utf8(id).unwrap();
    let get = format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"echo"}}"#);
    assert_eq!(
        host.raw("POST", "/MmiGet/", get.as_bytes()),
        b"HTTP/1.1 200 OK\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n\"\""
    );
    let set = format!(r#"{{"ClientSession":{session},"ComponentName":"Fixture","ObjectName":"echo","Payload":[]}}"#);
    assert_eq!(
        host.raw("POST", "/MmiSet", set.as_bytes()),
        b"HTTP/1.1 200 OK\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
    );
    let unknown = r#"{"ClientSession":"nope","ComponentName":"Fixture","ObjectName":"echo"}"#;
    assert_eq!(
        host.raw("POST", "/MmiGet/", unknown.as_bytes()),
        b"HTTP/1.1 500 Internal Server Error\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n\"22\""
    );
    assert_eq!(
        host.raw("POST", "/MpiOpen/", b"{}"),
        b"HTTP/1.1 404 Not Found\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
    );
    let bad = host.raw("POST", "/MmiClose/", b"{}");
    assert_eq!(
        String::from_utf8_lossy(&bad),
        "HTTP/1.1 400 Bad Request\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 48\r\n\r\n{\"error\":\"request body lacks key ClientSession\"}"
    );
}

#[test]
fn test_every_bad_body_is_400_and_host_stays_up() {
    let host = Host::start("fixture");
    let cases: &[(&str, &str)] = &[
        ("/MmiGetInfo/", "not json"),
        ("/MmiGetInfo/", ""),
        ("/MmiGetInfo/", "[]"),
        ("/MmiGetInfo/", "{}"),
        ("/MmiGetInfo/", r#"{"clientname":"x"}"#),
        ("/MmiGetInfo/", r#"{"ClientName":7}"#),
        ("/MmiOpen/", r#"{"ClientName":"x"}"#),
        ("/MmiOpen/", r#"{"MaxPayloadSizeBytes":0}"#),
        ("/MmiOpen/", r#"{"ClientName":"x","MaxPayloadSizeBytes":-1}"#),
        ("/MmiOpen/", r#"{"ClientName":"x","MaxPayloadSizeBytes":"0"}"#),
        ("/MmiOpen/", r#"{"ClientName":"x","MaxPayloadSizeBytes":1.5}"#),
        ("/MmiOpen/", r#"{"ClientName":"x","MaxPayloadSizeBytes":4294967296}"#),
        ("/MmiOpen/", r#"{"ClientName":false,"MaxPayloadSizeBytes":0}"#),
        ("/MmiClose/", "{}"),
        ("/MmiClose/", r#"{"ClientSession":1}"#),
        ("/MmiSet/", r#"{"ComponentName":"C","ObjectName":"o","Payload":1}"#),
        ("/MmiSet/", r#"{"ClientSession":"s","ObjectName":"o","Payload":1}"#),
        ("/MmiSet/", r#"{"ClientSession":"s","ComponentName":"C","Payload":1}"#),
        ("/MmiSet/", r#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o"}"#),
        ("/MmiSet/", r#"{"ClientSession":"s","ComponentName":["C"],"ObjectName":"o","Payload":1}"#),
        ("/MmiSet/", r#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload":}"#),
        ("/MmiGet/", r#"{"ClientSession":"s","ComponentName":"C"}"#),
        ("/MmiGet/", r#"{"ClientSession":"s","ComponentName":"C","ObjectName":null}"#),
        ("/MmiGet/", r#"{"ClientSession":{},"ComponentName":"C","ObjectName":"o"}"#),
    ];
    for (path, body) in cases {
        let (status, answer) = host.post(path, body.as_bytes());
        assert_eq!(status, 400, "{path} {body}: {}", String::from_utf8_lossy(&answer));
        let error = value(&answer);
        assert!(error["error"].as_str().unwrap().starts_with("request body"), "{error}");
    }
    // Still serving.
    assert_eq!(host.post("/MmiGetInfo", br#"{"ClientName":"x"}"#).0, 200);
}

#[test]
fn test_unknown_session_route_and_method() {
    let host = Host::start("fixture");
    let get =
        br#"{"ClientSession":"F835511C-92A1-B162-49D1-3E550BDF3159","ComponentName":"Fixture","ObjectName":"echo"}"#;
    assert_eq!(host.post("/MmiGet/", get), (500, b"\"22\"".to_vec()));
    let set = br#"{"ClientSession":"","ComponentName":"Fixture","ObjectName":"echo","Payload":1}"#;
    assert_eq!(host.post("/MmiSet/", set), (500, b"\"22\"".to_vec()));
    assert_eq!(host.post("/MmiClose/", br#"{"ClientSession":"nope"}"#), (200, Vec::new()));
    for path in ["/", "/MmiGetinfo/", "/mmiopen/", "/MpiGet/", "/MmiGet/x", "/MmiGet//"] {
        assert_eq!(host.post(path, b"{}"), (404, Vec::new()), "{path}");
    }
    assert_eq!(common::split(&host.raw("GET", "/MmiGetInfo/", b"")), (404, Vec::new()));
    assert_eq!(common::split(&host.raw("PUT", "/MmiOpen/", b"{}")), (404, Vec::new()));
}

#[test]
fn test_payload_limit_gives_e2big() {
    let host = Host::start("fixture");
    let mut client = host.client();
    let small = client.open("limits", 16).unwrap();
    let big = client.open("limits", 0).unwrap();
    // {"clientName":"limits","maxPayloadSizeBytes":16} is longer than 16 bytes.
    assert!(matches!(client.get(&small, "Fixture", "session"), Err(CallError::Module(7))));
    for session in [&small, &big] {
        client.set(session, "Fixture", "bigSize", b"100").unwrap();
    }
    assert!(matches!(client.get(&small, "Fixture", "big"), Err(CallError::Module(7))));
    assert_eq!(client.get(&big, "Fixture", "big").unwrap().len(), 102);
    // Set input over the limit is refused too.
    let long = format!("\"{}\"", "y".repeat(32));
    assert!(matches!(client.set(&small, "Fixture", "echo", long.as_bytes()), Err(CallError::Module(7))));
    client.set(&small, "Fixture", "bigSize", b"5").unwrap();
    assert_eq!(client.get(&small, "Fixture", "big").unwrap(), b"\"xxxxx\"");
}

#[test]
fn test_panic_in_module_is_an_errno_and_host_stays_up() {
    let host = Host::start("fixture");
    let mut client = host.client();
    let session = client.open("panics", 0).unwrap();
    assert!(matches!(client.get(&session, "Fixture", "panic"), Err(CallError::Module(14))));
    assert!(matches!(client.set(&session, "Fixture", "panic", b"1"), Err(CallError::Module(14))));
    assert!(matches!(client.open("panic", 0), Err(CallError::Module(_))));
    assert!(matches!(client.get_info("panic"), Err(CallError::Module(14))));
    client.set(&session, "Fixture", "echo", b"\"after\"").unwrap();
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"after\"");
    assert!(host.stderr().contains("panicked"), "{}", host.stderr());
}

#[test]
fn test_session_limit() {
    let host = Host::start("fixture");
    let mut client = host.client();
    let max = osconfig_modulehost::sessions::MAX_SESSIONS;
    let ids: Vec<String> = (0..max).map(|_| client.open("many", 0).unwrap()).collect();
    assert!(matches!(client.open("many", 0), Err(CallError::Module(16))));
    client.close(&ids[0]).unwrap();
    let again = client.open("many", 0).unwrap();
    assert_eq!(value(&client.get(&again, "Fixture", "sessions").unwrap()), json!(max));
}

#[test]
fn test_concurrent_clients_are_served_one_call_at_a_time() {
    let host = Host::start("fixture");
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let mut client = host.client();
            std::thread::spawn(move || {
                let session = client.open(&format!("client-{n}"), 0).unwrap();
                for i in 0..50 {
                    let payload = json!({"client": n, "i": i}).to_string();
                    client.set(&session, "Fixture", "echo", payload.as_bytes()).unwrap();
                    assert_eq!(value(&client.get(&session, "Fixture", "echo").unwrap()), json!({"client": n, "i": i}));
                }
                client.close(&session).unwrap();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let mut client = host.client();
    let last = client.open("last", 0).unwrap();
    assert_eq!(value(&client.get(&last, "Fixture", "sessions").unwrap()), json!(1));
}
