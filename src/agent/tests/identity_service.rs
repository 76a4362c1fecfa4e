//! The agent with an Azure Identity Service of the test's own (identityd and keyd on Unix sockets in a temporary
//! directory): the SAS token it builds (HMAC-SHA256 computed here with `openssl`, from a key only the test and its
//! fake keyd hold), its renewal before expiry, and the answers it refuses; an X.509 identity (certificate from
//! certd, private key in an OpenSSL engine named by its key handle): reconnection when certd renews the certificate,
//! and for real over TLS with the key in a SoftHSM token used through the `pkcs11` engine (Debian: `softhsm2`,
//! `libengine-pkcs11-openssl`), `openssl s_server` verifying the client certificate.

mod support;
#[allow(dead_code)]
#[path = "support/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use osconfig_agent::config::Config;
use osconfig_agent::identity::ais::{self, AisError};
use osconfig_agent::identity::encode::{base64_decode, base64_encode, url_encode};
use osconfig_agent::identity::{AisSockets, IdentityOptions};
use osconfig_agent::transport::{ClientCertificate, PrivateKey};
use serde_json::{json, Value};
use support::{wait_for, RunningAgent};

/// The module's shared key (known to the fake keyd and to the test's check only).
const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// HMAC-SHA256 of `message` with [`KEY_HEX`], by the openssl command line.
fn hmac(message: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt", &format!("hexkey:{KEY_HEX}"), "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 32);
    out.stdout
}

/// Reads one request (head and Content-Length body); `None` at end of stream.
fn read_request(reader: &mut BufReader<UnixStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let request_line = line.trim_end().to_string();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((request_line, body))
}

/// A fake AIS service: answers each request with `answer(request line, body)`; records the requests.
struct Service {
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Service {
    fn start(path: PathBuf, answer: impl Fn(&str, &Value) -> (u16, String) + Send + Sync + 'static) -> Service {
        let listener = UnixListener::bind(&path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, answer) = (requests.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (seen, answer) = (seen.clone(), answer.clone());
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    while let Some((line, body)) = read_request(&mut reader) {
                        let body: Value =
                            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
                        seen.lock().unwrap().push((line.clone(), body.clone()));
                        let (status, text) = answer(&line, &body);
                        let wire = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if writer.write_all(wire.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Service { requests }
    }
}

fn temp_dir(tag: &str) -> osconfig_testkit::TempRoot {
    osconfig_testkit::TempRoot::new(&format!("agent-ais-{tag}"))
}

fn sockets(dir: &Path) -> AisSockets {
    AisSockets { identityd: dir.join("identityd.sock"), keyd: dir.join("keyd.sock"), certd: dir.join("certd.sock") }
}

fn identity_answer(auth: Value) -> String {
    json!({"type":"aziot","spec":{"hubName":"myhub.azure-devices.net","gatewayHost":"127.0.0.1","deviceId":"dev 1","moduleId":"osconfig","genId":"1","auth":auth}}).to_string()
}

/// A keyd that signs with [`KEY_HEX`] like the real one (HMAC of the base64-decoded message).
fn keyd(path: PathBuf) -> Service {
    Service::start(path, |line, body| {
        assert_eq!(line, "POST /sign?api-version=2020-09-01 HTTP/1.1");
        assert_eq!(body["keyHandle"], "key-handle-1");
        assert_eq!(body["algorithm"], "HMAC-SHA256");
        let message = base64_decode(body["parameters"]["message"].as_str().unwrap()).unwrap();
        (200, json!({"signature": base64_encode(&hmac(&message))}).to_string())
    })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The token in a connection string, checked: resource, signature over `<sr>\n<se>` with the test's key; its `se`.
fn check_token(connection_string: &str) -> u64 {
    let sr = url_encode("myhub.azure-devices.net/devices/dev 1/modules/osconfig");
    assert!(connection_string.starts_with("HostName=myhub.azure-devices.net;DeviceId=dev 1;ModuleId=osconfig;SharedAccessSignature=SharedAccessSignature sr="), "{connection_string}");
    assert!(connection_string.ends_with(";GatewayHostName=127.0.0.1"), "{connection_string}");
    let token =
        connection_string.split(";SharedAccessSignature=").nth(1).unwrap().split(";GatewayHostName").next().unwrap();
    let fields = token.strip_prefix("SharedAccessSignature ").unwrap();
    let parts: Vec<(&str, &str)> = fields.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
    assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), ["sr", "sig", "se"]);
    assert_eq!(parts[0].1, sr);
    let se: u64 = parts[2].1.parse().unwrap();
    let expected = url_encode(&base64_encode(&hmac(format!("{sr}\n{se}").as_bytes())));
    assert_eq!(parts[1].1, expected, "the signature is HMAC-SHA256(key, \"<sr>\\n<se>\"), URL-encoded base64");
    se
}

#[test]
fn test_agent_connects_with_an_ais_sas_token_and_renews_it_before_expiry() {
    let dir = temp_dir("renew");
    let s = sockets(&dir);
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let is_down = down.clone();
    let identityd = Service::start(s.identityd.clone(), move |line, _| {
        assert_eq!(line, "GET /identities/identity?api-version=2020-09-01 HTTP/1.1");
        if is_down.load(std::sync::atomic::Ordering::SeqCst) {
            return (500, "{\"message\":\"down\"}".into());
        }
        (200, identity_answer(json!({"type":"sas","keyHandle":"key-handle-1"})))
    });
    let keyd = keyd(s.keyd.clone());
    let options = IdentityOptions {
        argument: None,
        file: Some((dir.join("osconfig.conn"), false)),
        environment: None,
        ais: s,
        token_lifetime: Duration::from_secs(4),
        has_client_certificate: false,
        openssl_engine: osconfig_agent::identity::DEFAULT_OPENSSL_ENGINE.into(),
        certificate_check_interval: osconfig_agent::identity::CERTIFICATE_CHECK_INTERVAL,
    };
    let config = Config { iot_hub_management: true, reporting_interval_seconds: 60, ..Config::default() };
    let started = unix_now();
    let agent = RunningAgent::start(dir.join("no-platform.sock"), config, options);
    wait_for("the first connection", || !agent.hub.lock().connects.is_empty());
    let first = agent.hub.lock().connects[0].0.clone();
    let se1 = check_token(&first);
    assert!(se1 >= started + 4 && se1 <= unix_now() + 4, "expiry is now + the lifetime: {se1}");
    // Renewed at 80% of the lifetime (3.2 s): a new client with a new token, before the first one expires.
    wait_for("the renewal", || agent.hub.lock().connects.len() >= 2);
    let renewed_at = unix_now();
    assert!(renewed_at <= se1, "renewed before expiry ({renewed_at} > {se1})");
    let (second, disconnects) = {
        let s = agent.hub.lock();
        (s.connects[1].0.clone(), s.disconnects)
    };
    let se2 = check_token(&second);
    assert!(se2 > se1, "a later expiry: {se2} vs {se1}");
    assert!(disconnects >= 1, "the old client is dropped");
    // The identity service fails at the next renewal: the current connection is kept while renewal is retried.
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let requests = identityd.requests.lock().unwrap().len();
    wait_for("a failed renewal attempt", || identityd.requests.lock().unwrap().len() > requests);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(agent.hub.lock().connects.len(), 2, "no new client without new credentials");
    assert_eq!(agent.hub.lock().disconnects, disconnects, "the working client is kept");
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for("the renewal once the identity service answers", || agent.hub.lock().connects.len() >= 3);
    let third = agent.hub.lock().connects[2].0.clone();
    assert!(check_token(&third) >= se2);
    drop(agent);
    assert!(identityd.requests.lock().unwrap().len() >= 2);
    let signed = keyd.requests.lock().unwrap();
    assert!(signed.len() >= 2);
}

#[test]
fn test_invalid_identity_service_answers_are_refused_clearly() {
    let dir = temp_dir("invalid");
    let s = sockets(&dir);
    let answers: Arc<Mutex<Vec<(u16, String)>>> = Arc::new(Mutex::new(vec![
        (200, json!({"type":"aziot","spec":{"hubName":"h.example","deviceId":"d","auth":{"type":"sas","keyHandle":"k"}}}).to_string()),
        (200, "not json".into()),
        (200, identity_answer(json!({"type":"psk"}))),
        (200, identity_answer(json!({"type":"sas"}))),
        (200, json!({"type":"aziot","spec":{"hubName":"h;x","deviceId":"d","moduleId":"m","auth":{"type":"sas","keyHandle":"k"}}}).to_string()),
        (403, "{\"message\":\"forbidden\"}".into()),
        (200, "x".repeat(ais::MAX_AIS_RESPONSE_BYTES + 1)),
    ]));
    let queue = answers.clone();
    let _identityd = Service::start(s.identityd.clone(), move |_, _| queue.lock().unwrap().remove(0));
    let expected = [
        "moduleId",
        "not JSON",
        "neither sas nor x509",
        "keyHandle is missing",
        "hubName is not a valid",
        "answered 403",
        "",
    ];
    for want in expected {
        let e = ais::get_identity(&s.identityd).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(want), "{text:?} lacks {want:?}");
        if want.is_empty() {
            assert!(matches!(e, AisError::Unreachable(..)), "an oversized answer is refused: {e}");
        }
    }
    let _keyd = Service::start(s.keyd.clone(), |_, _| (200, json!({"signature":"c2hvcnQ="}).to_string()));
    let e = ais::sign(&s.keyd, "k", b"m").unwrap_err();
    assert!(e.to_string().contains("32-byte"), "{e}");
}

/// A certificate PEM as certd answers it (not parsed by the agent; the fake transport never uses it).
fn fake_cert(tag: &str) -> String {
    format!("-----BEGIN CERTIFICATE-----\nMIIB{tag}\n-----END CERTIFICATE-----\n")
}

#[test]
fn test_ais_x509_identity_uses_the_engine_key_and_reconnects_when_certd_renews_the_certificate() {
    let dir = temp_dir("x509");
    let s = sockets(&dir);
    let identityd = Service::start(s.identityd.clone(), |_, _| {
        (200, identity_answer(json!({"type":"x509","certId":"device-cert","keyHandle":"kh-1"})))
    });
    let cert = Arc::new(Mutex::new(Some(fake_cert("first"))));
    let served = cert.clone();
    let certd = Service::start(s.certd.clone(), move |line, _| {
        assert_eq!(line, "GET /certificates/device-cert?api-version=2020-09-01 HTTP/1.1");
        match served.lock().unwrap().clone() {
            Some(pem) => (200, json!({ "pem": pem }).to_string()),
            None => (500, "{\"message\":\"down\"}".into()),
        }
    });
    let options = IdentityOptions {
        argument: None,
        file: None,
        environment: None,
        ais: s,
        token_lifetime: Duration::from_secs(60),
        has_client_certificate: false,
        openssl_engine: "test-engine".into(),
        certificate_check_interval: Duration::from_millis(300),
    };
    let resolved = osconfig_agent::identity::resolve(&options).unwrap();
    assert_eq!(resolved.renew_after, Some(Duration::from_millis(300)));
    let config = Config { iot_hub_management: true, reporting_interval_seconds: 60, ..Config::default() };
    let agent = RunningAgent::start(dir.join("no-platform.sock"), config, options);
    wait_for("the first connection", || !agent.hub.lock().connects.is_empty());
    let expected_key = PrivateKey::Engine { engine: "test-engine".into(), key_id: "kh-1".into() };
    {
        let hub = agent.hub.lock();
        let (cs, settings) = &hub.connects[0];
        assert_eq!(
            cs,
            "HostName=myhub.azure-devices.net;DeviceId=dev 1;ModuleId=osconfig;x509=true;GatewayHostName=127.0.0.1"
        );
        assert_eq!(settings.x509, Some(ClientCertificate { cert_pem: fake_cert("first"), key: expected_key.clone() }));
    }
    // The certificate is read again every interval; unchanged, the connection stays.
    let reads = certd.requests.lock().unwrap().len();
    wait_for("three more certificate checks", || certd.requests.lock().unwrap().len() >= reads + 3);
    assert_eq!(agent.hub.lock().connects.len(), 1, "no reconnection while the certificate is the same");
    assert_eq!(agent.hub.lock().disconnects, 0);
    // certd is down for a while: the working connection is kept, the check retried.
    *cert.lock().unwrap() = None;
    let reads = certd.requests.lock().unwrap().len();
    wait_for("failed certificate checks", || certd.requests.lock().unwrap().len() >= reads + 2);
    let kept = {
        let hub = agent.hub.lock();
        (hub.connects.len(), hub.disconnects)
    };
    assert_eq!(kept, (1, 0), "the client is kept");
    // certd renewed the certificate: the agent reconnects with the new one.
    *cert.lock().unwrap() = Some(fake_cert("renewed"));
    wait_for("the reconnection with the renewed certificate", || agent.hub.lock().connects.len() >= 2);
    {
        let hub = agent.hub.lock();
        assert_eq!(
            hub.connects[1].1.x509,
            Some(ClientCertificate { cert_pem: fake_cert("renewed"), key: expected_key })
        );
        assert!(hub.disconnects >= 1, "the old client is dropped");
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(agent.hub.lock().connects.len(), 2, "one reconnection per change");
    drop(agent);
    assert!(identityd.requests.lock().unwrap().len() >= 5);
}

#[test]
fn test_ais_x509_identity_without_its_certificate_is_retried_not_fatal() {
    let dir = temp_dir("x509-nocert");
    let s = sockets(&dir);
    let _identityd = Service::start(s.identityd.clone(), |_, _| {
        (200, identity_answer(json!({"type":"x509","certId":"device-cert","keyHandle":"kh"})))
    });
    let certd = Service::start(s.certd.clone(), |_, _| (200, json!({"pem":"not a certificate"}).to_string()));
    let options = IdentityOptions {
        argument: None,
        file: None,
        environment: None,
        ais: s,
        token_lifetime: Duration::from_secs(60),
        has_client_certificate: false,
        openssl_engine: osconfig_agent::identity::DEFAULT_OPENSSL_ENGINE.into(),
        certificate_check_interval: osconfig_agent::identity::CERTIFICATE_CHECK_INTERVAL,
    };
    let e = osconfig_agent::identity::resolve(&options).unwrap_err();
    assert!(!e.is_permanent(), "retried: certd may answer later");
    assert!(e.to_string().contains("pem is missing or holds no certificate"), "{e}");
    let config = Config { iot_hub_management: true, ..Config::default() };
    let agent = RunningAgent::start(dir.join("no-platform.sock"), config, options);
    wait_for("a retry", || certd.requests.lock().unwrap().len() >= 3);
    assert!(agent.hub.lock().connects.is_empty(), "no connection without a certificate");
    let (agent, _) = agent.stop();
    assert!(matches!(agent.link(), osconfig_agent::agent::Link::Idle(_)));
}

/// SoftHSM's PKCS#11 module, where Debian puts it.
const SOFTHSM_MODULES: [&str; 2] =
    ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

/// Runs `softhsm2-util` with the token directory of `conf`.
fn softhsm(conf: &Path, args: &[&str]) {
    let out = Command::new("softhsm2-util")
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .expect("softhsm2-util (Debian package softhsm2) runs");
    assert!(out.status.success(), "softhsm2-util {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An identityd and a certd answering the X.509 identity `device_id` (gateway `gateway`) with `key_handle` and the
/// certificate `cert_pem`.
fn x509_identity_service(
    dir: &Path,
    gateway: &str,
    device_id: &str,
    key_handle: &str,
    cert_pem: String,
) -> (Service, Service) {
    let answer = json!({"type":"aziot","spec":{"hubName":"myhub.azure-devices.net","gatewayHost":gateway,"deviceId":device_id,"moduleId":"osconfig","genId":"1","auth":{"type":"x509","certId":"hsm-cert","keyHandle":key_handle}}}).to_string();
    let identityd = Service::start(dir.join("identityd.sock"), move |_, _| (200, answer.clone()));
    let certd = Service::start(dir.join("certd.sock"), move |line, _| {
        assert_eq!(line, "GET /certificates/hsm-cert?api-version=2020-09-01 HTTP/1.1");
        (200, json!({ "pem": cert_pem }).to_string())
    });
    (identityd, certd)
}

#[test]
fn test_ais_x509_identity_signs_the_tls_handshake_with_the_engine_held_key() {
    let certs = tls::Certs::new("x509-hsm", 44, "dev-hsm");
    let dir = certs.dir.clone();
    // A SoftHSM token in the temporary root holds the client key; the key file is then removed, so only the
    // token (through the pkcs11 engine) can sign the handshake.
    let module = SOFTHSM_MODULES.iter().find(|m| Path::new(m).exists()).expect("SoftHSM's module (Debian: softhsm2)");
    let pkcs11_engine = Path::new("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so");
    assert!(
        pkcs11_engine.exists() || std::env::var_os("OPENSSL_ENGINES").is_some(),
        "the pkcs11 engine (Debian: libengine-pkcs11-openssl)"
    );
    std::fs::create_dir(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    softhsm(&conf, &["--init-token", "--free", "--label", "osconfig", "--pin", "1234", "--so-pin", "5678"]);
    softhsm(
        &conf,
        &[
            "--import",
            dir.join("client.key").to_str().unwrap(),
            "--token",
            "osconfig",
            "--label",
            "device",
            "--id",
            "01",
            "--pin",
            "1234",
        ],
    );
    std::fs::remove_file(dir.join("client.key")).unwrap();
    let cert_pem = std::fs::read_to_string(dir.join("client.pem")).unwrap();
    let (identityd, certd) =
        x509_identity_service(&dir, &certs.address, "dev-hsm", "pkcs11:object=device?pin-value=1234", cert_pem);
    let server = certs.serve(8883, &["-CAfile", "ca.pem", "-Verify", "1"]).expect("port 8883");
    let sockets =
        ["--identityd-socket", "identityd.sock", "--certd-socket", "certd.sock", "--keyd-socket", "keyd.sock"];
    let mut args = sockets.to_vec();
    args.extend(["--openssl-engine", "pkcs11", "--ca-file", "ca.pem"]);
    let agent = certs.agent_with(
        r#"{"IotHubManagement":1,"ModelVersion":20}"#,
        &args,
        &[("SOFTHSM2_CONF", conf.as_os_str()), ("PKCS11_MODULE_PATH", std::ffi::OsStr::new(module))],
    );
    // The MQTT CONNECT arrives only after a handshake in which s_server demanded the client certificate and
    // verified the CertificateVerify signature, made with the key in the token.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !certs.server_output().contains("myhub.azure-devices.net/dev-hsm/osconfig") {
        assert!(
            std::time::Instant::now() < deadline,
            "no MQTT CONNECT over a verified handshake.\nserver:\n{}\nagent:\n{}",
            certs.server_output(),
            certs.agent_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = certs.server_output();
    assert!(seen.contains("depth=0 CN = dev-hsm"), "the client certificate was verified:\n{seen}");
    let log = certs.agent_output();
    let line = format!("connecting as module dev-hsm/osconfig on myhub.azure-devices.net via {} (identity from the Azure Identity Service)", certs.address);
    assert!(log.contains(&line), "{log}");
    assert!(!identityd.requests.lock().unwrap().is_empty() && !certd.requests.lock().unwrap().is_empty());
    drop((agent, server));
}

#[test]
fn test_ais_x509_identity_with_an_engine_openssl_cannot_load_is_logged_clearly_and_retried() {
    let certs = tls::Certs::new("x509-noengine", 45, "dev-noengine");
    let cert_pem = std::fs::read_to_string(certs.dir.join("client.pem")).unwrap();
    let (_identityd, certd) = x509_identity_service(&certs.dir, &certs.address, "dev-noengine", "kh", cert_pem);
    let mut agent = certs.agent_with(
        r#"{"IotHubManagement":1}"#,
        &[
            "--identityd-socket",
            "identityd.sock",
            "--certd-socket",
            "certd.sock",
            "--openssl-engine",
            "osconfig-no-such-engine",
        ],
        &[],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while certd.requests.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no retry:\n{}", certs.agent_output());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = certs.agent_output();
    assert!(
        log.contains("cannot create the hub client: the OpenSSL engine \"osconfig-no-such-engine\", which holds the client certificate's private key, cannot be loaded"),
        "{log}"
    );
    assert!(agent.try_wait().is_none(), "the agent keeps running:\n{log}");
}
