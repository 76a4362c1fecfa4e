//! The binding against a real MQTT broker over TLS: a mosquitto of the test's own (TLS on 8883, the SDK's fixed port,
//! and plain on 1883, on a loopback address leased for the test) with a certificate authority made for the test, and
//! a minimal twin responder written here (MQTT 3.1.1 over the plain listener). Proves, through the SDK: connection
//! up with the trusted CA, the full twin (`SetModuleTwinCallback`), `GetTwinAsync`, a reported patch answered 204
//! with its token, a desired patch, and the connection going down when the broker stops.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use azure_iot_sdk_sys::{Event, ModuleClient, Protocol};
use osconfig_testkit::{ChildGuard, TempRoot};

const KEY: &str = "aGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IGtleSE=";
/// Generous: the machine may be loaded.
const DEADLINE: Duration = Duration::from_secs(60);
const TWIN: &str = r#"{"desired":{"Settings":{"x":1},"$version":1},"reported":{"$version":1}}"#;
const DESIRED_PATCH: &str = r#"{"Settings":{"x":2},"$version":2}"#;

/// A loopback address in 127.78.0.0/16 held by this test (an abstract Unix socket named after it), with ports 8883
/// and 1883 free on it.
struct Lease {
    address: Ipv4Addr,
    _lock: UnixListener,
}

fn lease_address() -> Lease {
    let start = std::process::id();
    for i in 0..4096u32 {
        let n = (start.wrapping_add(i) % 65024) + 256;
        let address = Ipv4Addr::new(127, 78, (n >> 8) as u8, (n & 0xff) as u8);
        let name = format!("azure-iot-sdk-sys-test-{address}");
        let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) else { continue };
        let Ok(lock) = UnixListener::bind_addr(&addr) else { continue };
        if [8883u16, 1883].iter().all(|&port| TcpListener::bind(SocketAddr::from((address, port))).is_ok()) {
            return Lease { address, _lock: lock };
        }
    }
    panic!("no free loopback address in 127.78.0.0/16");
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA, and a server certificate for the address signed by it; returns the CA's PEM text.
fn make_certificates(dir: &Path, address: Ipv4Addr) -> String {
    let p = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test hub CA"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test hub"])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(
        p("server.ext"),
        format!("subjectAltName=IP:{address}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("server.ext"))
        .arg("-out")
        .arg(p("server.pem")));
    std::fs::read_to_string(p("ca.pem")).unwrap()
}

/// The broker process, killed on drop (by its guard).
struct Broker(ChildGuard);

impl Broker {
    fn start(dir: &Path, address: Ipv4Addr) -> Broker {
        let conf = dir.join("mosquitto.conf");
        // `user root`: started as root, mosquitto would otherwise switch to its own user, which cannot read the
        // temporary directory (as another user it keeps its own).
        std::fs::write(
            &conf,
            format!(
                "user root\nper_listener_settings false\nallow_anonymous true\npersistence false\n\
                 log_dest file {log}\nlog_type all\n\
                 listener 8883 {address}\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
                 listener 1883 {address}\n",
                log = dir.join("mosquitto.log").display(),
                ca = dir.join("ca.pem").display(),
                cert = dir.join("server.pem").display(),
                key = dir.join("server.key").display(),
            ),
        )
        .unwrap();
        let program = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("mosquitto is installed (.ci/setup)");
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let broker = Broker(ChildGuard::new(child));
        let deadline = Instant::now() + DEADLINE;
        while [1883, 8883].iter().any(|&port| TcpStream::connect((address, port)).is_err()) {
            assert!(Instant::now() < deadline, "mosquitto listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    fn stop(&mut self) {
        self.0.stop();
    }
}

// A minimal MQTT 3.1.1 client for the responder: QoS 0 only, no keep-alive.

fn mqtt_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn mqtt_packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn publish(stream: &mut TcpStream, topic: &str, payload: &[u8]) {
    let mut body = Vec::new();
    mqtt_string(&mut body, topic);
    body.extend_from_slice(payload);
    stream.write_all(&mqtt_packet(0x30, &body)).unwrap();
}

/// One packet: its first byte and body; None on a read timeout with nothing read.
fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut first = [0u8; 1];
    match stream.read(&mut first) {
        Ok(1) => {}
        Ok(_) => panic!("the broker closed the responder's connection"),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
        Err(e) => panic!("responder read: {e}"),
    }
    stream.set_read_timeout(None).unwrap();
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).unwrap();
        len |= ((b[0] & 0x7f) as usize) << shift;
        shift += 7;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    Some((first[0], body))
}

/// What the responder saw: the topics of the SDK's requests.
#[derive(Default)]
struct Seen {
    gets: usize,
    reported: Vec<String>,
}

/// Answers twin GETs with `TWIN` and reported patches with 204; publishes `DESIRED_PATCH` every 200 ms once asked
/// (QoS 0: a patch before the SDK's subscription is simply not delivered), until stopped.
fn responder(
    address: Ipv4Addr,
    stop: Arc<AtomicBool>,
    send_patch: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) -> JoinHandle<()> {
    let mut stream = TcpStream::connect((address, 1883)).unwrap();
    let mut connect = Vec::new();
    mqtt_string(&mut connect, "MQTT");
    connect.extend_from_slice(&[4, 0x02, 0, 0]); // level 4, clean session, no keep-alive
    mqtt_string(&mut connect, "test-twin-responder");
    stream.write_all(&mqtt_packet(0x10, &connect)).unwrap();
    let mut subscribe = vec![0, 1];
    for topic in ["$iothub/twin/GET/#", "$iothub/twin/PATCH/properties/reported/#"] {
        mqtt_string(&mut subscribe, topic);
        subscribe.push(0);
    }
    stream.write_all(&mqtt_packet(0x82, &subscribe)).unwrap();
    // Wait for the SUBACK so no request of the SDK goes unseen.
    loop {
        let (kind, _) = read_packet(&mut stream).expect("CONNACK and SUBACK");
        if kind == 0x90 {
            break;
        }
    }
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    std::thread::spawn(move || {
        let mut last_patch = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if send_patch.load(Ordering::SeqCst) && last_patch.elapsed() > Duration::from_millis(200) {
                publish(&mut stream, "$iothub/twin/PATCH/properties/desired/?$version=2", DESIRED_PATCH.as_bytes());
                last_patch = Instant::now();
            }
            let Some((kind, body)) = read_packet(&mut stream) else { continue };
            if kind & 0xf0 != 0x30 {
                continue;
            }
            let topic_len = u16::from_be_bytes([body[0], body[1]]) as usize;
            let topic = String::from_utf8_lossy(&body[2..2 + topic_len]).into_owned();
            let rid = topic.split("$rid=").nth(1).unwrap_or("").split('&').next().unwrap_or("").to_string();
            if topic.starts_with("$iothub/twin/GET/") {
                seen.lock().unwrap().gets += 1;
                publish(&mut stream, &format!("$iothub/twin/res/200/?$rid={rid}"), TWIN.as_bytes());
            } else if topic.starts_with("$iothub/twin/PATCH/properties/reported/") {
                seen.lock().unwrap().reported.push(String::from_utf8_lossy(&body[2 + topic_len..]).into_owned());
                publish(&mut stream, &format!("$iothub/twin/res/204/?$rid={rid}&$version=2"), b"");
            }
        }
        let _ = stream.shutdown(Shutdown::Both);
    })
}

/// Drives the client until an event matches, returning every event seen so far.
fn wait_for(
    client: &mut ModuleClient,
    events: &mut Vec<Event>,
    dir: &Path,
    what: &str,
    found: impl Fn(&Event) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if events.iter().any(&found) {
            return;
        }
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
            panic!("no {what} within {DEADLINE:?}; events: {events:?}\nbroker log:\n{log}");
        }
        client.do_work();
        client.drain_events(events);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// MQTT only: Debian 12's mosquitto (2.0.11) binds a websockets listener to every address, not the leased one, so
/// MQTT over WebSocket (port 443) is not tested against a broker here.
#[test]
fn twin_and_reported_state_through_a_real_broker() {
    let dir = TempRoot::new("sdk-broker-mqtt");
    let lease = lease_address();
    let ca = make_certificates(dir.path(), lease.address);
    let mut broker = Broker::start(dir.path(), lease.address);
    let (stop, send_patch) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let responder = responder(lease.address, stop.clone(), send_patch.clone(), seen.clone());

    let cs = format!(
        "HostName=hub.example.net;DeviceId=d;ModuleId=m;SharedAccessKey={KEY};GatewayHostName={}",
        lease.address
    );
    let mut client = ModuleClient::from_connection_string(&cs, Protocol::Mqtt).expect("client");
    client.set_trusted_certs(&ca).expect("the test CA");
    client.set_model_id("dtmi:osconfig:deviceosconfiguration;1").expect("model id");
    client.subscribe_twin().expect("twin callback");
    let mut events = Vec::new();

    wait_for(&mut client, &mut events, dir.path(), "connection", |e| matches!(e, Event::Connection { up: true, .. }));
    wait_for(&mut client, &mut events, dir.path(), "full twin", |e| matches!(e, Event::Twin { complete: true, .. }));
    let twin = events.iter().find_map(|e| match e {
        Event::Twin { complete: true, payload } => Some(payload.clone()),
        _ => None,
    });
    let twin = String::from_utf8(twin.unwrap()).unwrap();
    assert!(twin.contains(r#""Settings":{"x":1}"#), "the full twin as the hub sent it: {twin}");

    client.send_reported(br#"{"Settings":{"__t":"c","y":3}}"#, 42).expect("reported patch");
    wait_for(&mut client, &mut events, dir.path(), "reported answer", |e| matches!(e, Event::ReportedDone { .. }));
    assert!(events.contains(&Event::ReportedDone { token: 42, status: 204 }), "{events:?}");
    assert_eq!(seen.lock().unwrap().reported, vec![r#"{"Settings":{"__t":"c","y":3}}"#.to_string()]);

    events.clear();
    client.get_twin().expect("twin request");
    wait_for(&mut client, &mut events, dir.path(), "requested twin", |e| {
        matches!(e, Event::Twin { complete: true, .. })
    });
    assert!(seen.lock().unwrap().gets >= 2, "the SDK's own GET and ours");

    send_patch.store(true, Ordering::SeqCst);
    wait_for(&mut client, &mut events, dir.path(), "desired patch", |e| {
        matches!(e, Event::Twin { complete: false, .. })
    });
    assert!(
        events.contains(&Event::Twin { complete: false, payload: DESIRED_PATCH.as_bytes().to_vec() }),
        "{events:?}"
    );
    stop.store(true, Ordering::SeqCst);
    responder.join().unwrap();

    events.clear();
    broker.stop();
    wait_for(&mut client, &mut events, dir.path(), "connection lost", |e| {
        matches!(e, Event::Connection { up: false, .. })
    });
}
