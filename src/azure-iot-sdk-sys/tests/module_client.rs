//! The binding against the real SDK (this test binary links all of it): init, clients from connection strings,
//! options, reported patches in flight, destroy, refused input; and a real connection attempt that fails (no hub on
//! 127.0.0.1:8883 or one that refuses these credentials), which must come back as an `Event::Connection` down.

use std::process::Command;
use std::time::{Duration, Instant};

use azure_iot_sdk_sys::{init, openssl_engine_available, Event, ModuleClient, Protocol, MAX_REPORTS_IN_FLIGHT};
use osconfig_testkit::TempRoot;

/// A module identity with a shared access key (the key is random bytes, base64).
const CS_KEY: &str =
    "HostName=hub.example.net;DeviceId=d;ModuleId=m;SharedAccessKey=aGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IGtleSE=";
/// The same identity with a ready-made SAS token instead of a key.
const CS_TOKEN: &str = "HostName=hub.example.net;DeviceId=d;ModuleId=m;SharedAccessSignature=SharedAccessSignature \
                        sr=hub.example.net%2Fdevices%2Fd%2Fmodules%2Fm&sig=dGVzdHNpZ25hdHVyZQ%3D%3D&se=4102444800";
/// An X.509 identity (certificate and key given as options).
const CS_X509: &str = "HostName=hub.example.net;DeviceId=d;ModuleId=m;x509=true";
const MODEL_ID: &str = "dtmi:osconfig:deviceosconfiguration;1";

/// A fresh self-signed certificate and its key (PEM), made with the openssl command in a temporary directory.
fn self_signed() -> (String, String) {
    let dir = TempRoot::new("sdk-x509");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=d"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command runs");
    assert!(status.success(), "openssl made a certificate");
    (std::fs::read_to_string(cert).unwrap(), std::fs::read_to_string(key).unwrap())
}

#[test]
fn init_is_idempotent_and_thread_safe() {
    init().expect("first init");
    init().expect("second init");
    let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(init)).collect();
    for t in threads {
        t.join().unwrap().expect("init from another thread");
    }
}

#[test]
fn a_client_from_a_shared_access_key_takes_its_options_and_is_destroyed() {
    let mut client = ModuleClient::from_connection_string(CS_KEY, Protocol::Mqtt).expect("client");
    client.set_model_id(MODEL_ID).expect("model id");
    let pem = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_else(|_| self_signed().0);
    client.set_trusted_certs(&pem).expect("trusted certificates");
    client.set_keep_alive(60).expect("keep-alive");
    client.set_retry_policy_none().expect("retry policy");
    client.subscribe_twin().expect("twin callback");
    client.get_twin().expect("twin request");
    client.send_reported(br#"{"Settings":{"__t":"c","x":1}}"#, 1).expect("reported patch");
    let mut events = Vec::new();
    client.drain_events(&mut events);
    assert!(events.is_empty(), "nothing happens before do_work: {events:?}");
    // The SDK takes the model id once per client.
    let again = client.set_model_id(MODEL_ID).expect_err("a second model id");
    assert_eq!(again.operation(), "IoTHubModuleClient_LL_SetOption(model_id)");
    assert_eq!(again.detail(), "IOTHUB_CLIENT_ERROR");
    drop(client); // Destroy answers the pending report (status 0) into the queue, freed afterwards
}

#[test]
fn a_client_from_a_sas_token_over_websocket() {
    let mut client = ModuleClient::from_connection_string(CS_TOKEN, Protocol::MqttWebSocket).expect("client");
    client.set_model_id(MODEL_ID).expect("model id");
    client.subscribe_twin().expect("twin callback");
}

#[test]
fn an_x509_client_takes_a_certificate_and_a_sas_client_refuses_one() {
    let (cert, key) = self_signed();
    let mut x509 = ModuleClient::from_connection_string(CS_X509, Protocol::Mqtt).expect("x509 client");
    x509.set_x509(&cert, &key).expect("certificate and key");
    let mut sas = ModuleClient::from_connection_string(CS_KEY, Protocol::Mqtt).expect("SAS client");
    let e = sas.set_x509(&cert, &key).expect_err("a certificate for a SAS identity");
    assert_eq!(e.detail(), "IOTHUB_CLIENT_INVALID_ARG", "{e}");
    assert!(e.to_string().starts_with("IoTHubModuleClient_LL_SetOption(x509certificate): "), "{e}");
}

#[test]
fn an_x509_client_takes_a_certificate_with_an_engine_key_and_a_sas_client_refuses_one() {
    let (cert, _) = self_signed();
    let mut x509 = ModuleClient::from_connection_string(CS_X509, Protocol::Mqtt).expect("x509 client");
    x509.set_x509_engine(&cert, "pkcs11", "pkcs11:object=device;type=private").expect("engine, key type, cert, key id");
    // The tlsio keeps one certificate per client: a second one is refused, naming the option.
    let e = x509.set_x509_engine(&cert, "pkcs11", "other").expect_err("a second certificate");
    assert!(e.to_string().starts_with("IoTHubModuleClient_LL_SetOption(x509certificate): "), "{e}");
    let mut sas = ModuleClient::from_connection_string(CS_KEY, Protocol::Mqtt).expect("SAS client");
    let e = sas.set_x509_engine(&cert, "pkcs11", "k").expect_err("a certificate for a SAS identity");
    assert_eq!(e.detail(), "IOTHUB_CLIENT_INVALID_ARG", "{e}");
    let mut x509 = ModuleClient::from_connection_string(CS_X509, Protocol::Mqtt).expect("x509 client");
    let e = x509.set_x509_engine(&cert, "pkcs11", "k\0").expect_err("a NUL byte in the key id");
    assert!(e.detail().contains("NUL"), "{e}");
    let e = x509.set_x509_engine(&cert, "pk\0cs11", "k").expect_err("a NUL byte in the engine id");
    assert!(e.detail().contains("NUL"), "{e}");
}

#[test]
fn engines_are_found_by_id_or_not() {
    assert!(openssl_engine_available("dynamic"), "OpenSSL's built-in dynamic engine");
    assert!(!openssl_engine_available("osconfig-no-such-engine"), "an engine that does not exist");
    assert!(!openssl_engine_available("dyn\0amic"), "a NUL byte");
}

#[test]
fn malformed_connection_strings_are_refused_with_an_error() {
    for cs in [
        "",
        "not a connection string",
        "HostName=hub.example.net;DeviceId=d;ModuleId=m", // no credential
        "DeviceId=d;ModuleId=m;SharedAccessKey=aGVsbG8=", // no host
        "HostName=localhost;DeviceId=d;ModuleId=m;SharedAccessKey=aGVsbG8=", // host name without a dot
    ] {
        let e = ModuleClient::from_connection_string(cs, Protocol::Mqtt).expect_err(cs);
        assert_eq!(e.operation(), "IoTHubModuleClient_LL_CreateFromConnectionString", "{cs}");
        assert!(!e.to_string().contains("aGVsbG8"), "the secret stays out of the message: {e}");
    }
    let e = ModuleClient::from_connection_string("HostName=a.b;DeviceId=d\0;ModuleId=m", Protocol::Mqtt)
        .expect_err("a NUL byte");
    assert!(e.detail().contains("NUL"), "{e}");
}

#[test]
fn bad_arguments_get_errors_and_change_nothing() {
    let mut client = ModuleClient::from_connection_string(CS_KEY, Protocol::Mqtt).expect("client");
    assert!(client.send_reported(b"", 1).is_err(), "an empty patch");
    assert!(client.set_model_id("a\0b").is_err(), "a NUL byte in the model id");
    assert!(client.set_keep_alive(u32::MAX).is_err(), "a keep-alive beyond an int");
    client.set_model_id(MODEL_ID).expect("the model id is still unset after the refused one");
}

#[test]
fn reported_patches_in_flight_are_bounded() {
    let mut client = ModuleClient::from_connection_string(CS_KEY, Protocol::Mqtt).expect("client");
    for token in 0..MAX_REPORTS_IN_FLIGHT as u64 {
        client.send_reported(br#"{"a":1}"#, token).expect("a patch within the bound");
    }
    let e = client.send_reported(br#"{"a":1}"#, 99).expect_err("one patch too many");
    assert!(e.detail().contains(&MAX_REPORTS_IN_FLIGHT.to_string()), "{e}");
    // Dropping the client answers all of them (status 0) into the queue, then frees it.
}

#[test]
fn a_failed_connection_comes_back_as_an_event() {
    // 127.0.0.1:8883 either has no listener or a broker that does not know this identity or its CA: the connection
    // fails either way, and with no retry policy the SDK says so once.
    let cs = "HostName=127.0.0.1;DeviceId=d;ModuleId=m;SharedAccessKey=aGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IGtleSE=";
    let mut client = ModuleClient::from_connection_string(cs, Protocol::Mqtt).expect("client");
    client.set_retry_policy_none().expect("retry policy");
    client.subscribe_twin().expect("twin callback");
    client.send_reported(br#"{"a":1}"#, 5).expect("a patch to send once connected");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        client.do_work();
        client.drain_events(&mut events);
        if events.iter().any(|e| matches!(e, Event::Connection { .. })) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let connection = events.iter().find(|e| matches!(e, Event::Connection { .. })).expect("a connection event");
    match connection {
        Event::Connection { up, reason } => {
            assert!(!up, "{events:?}");
            assert!(reason.starts_with("IOTHUB_CLIENT_CONNECTION_"), "the SDK's reason: {reason}");
        }
        _ => unreachable!(),
    }
    assert!(
        !events.iter().any(|e| matches!(e, Event::ReportedDone { status: 204, .. })),
        "no hub accepted the patch: {events:?}"
    );
}
