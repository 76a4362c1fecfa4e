//! A local IoT Hub for the agent's end-to-end tests: one mosquitto broker per identity plus the twin service
//! `tests/hub/hub.py`, in a temporary root.
//!
//! **How devices are told apart.** IoT Hub scopes the `$iothub/...` topics by the connection: every device publishes
//! `$iothub/twin/GET/?$rid=1` and gets its own twin. One broker shares topics between all its clients, and MQTT 3.1.1
//! does not say who published a message; mosquitto's `mount_point` (a per-listener topic prefix) would scope them, but
//! Debian 12's mosquitto 2.0.11 does not strip it from outgoing messages (upstream issue 2244, fixed in 2.0.12), and
//! pattern ACLs restrict without rewriting. So each identity gets its own broker on its own loopback address
//! (127.77.x.y, leased below): TLS on port 8883 (the SDKs' fixed port) for the device, plain on 1883 for `hub.py`,
//! which keeps one twin per identity and serves MQTT over WebSocket (TLS, port 443, `/$iothub/websocket`) on the
//! same address, piped to the plain listener (mosquitto's own WebSocket listener binds every address and refuses the
//! C SDK's subprotocol name `MQTT`). A lease is an abstract Unix socket named after the address, held while the hub
//! lives: unique across test threads and processes, released by the kernel when a test process dies, nothing
//! written to disk; a bind check on the three ports skips addresses something else uses.
//!
//! **Credentials.** The broker cannot verify a SAS token; `tests/hub/auth_record.c` (a mosquitto plugin built here with
//! `cc`) records every CONNECT's client id, username and password, and `hub.py` checks the SAS signature with the
//! identity's key. [`Hub::connections`] gives the client id, username and verdict of every connection.
//!
//! **Control.** `hub.py` reads JSON requests on stdin and answers one JSON line each on stdout; [`Hub`] wraps them.
//! The brokers can be stopped and restarted at any time ([`Hub::restart_brokers`]): `hub.py` reconnects and the
//! twins stay. Desired patches are published only after the device subscribed to them on its current connection (the
//! C SDK subscribes after its first twin response), which `hub.py` reads from the broker's log.
//!
//! Connection strings carry a dotted `HostName` (the C SDK rejects `localhost`) and `GatewayHostName=<address>`,
//! where the SDKs connect. Requires `mosquitto`, `openssl`, `cc`, the mosquitto plugin headers and Python with
//! `paho-mqtt`: `tests/hub/setup` installs them. [`Agent`] runs the agent under test against a hub.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{artifacts, temp_dir, STOP_GRACE};
use osconfig_testkit::{ChildGuard, TempRoot};

/// The port the IoT SDKs connect to (MQTT over TLS; they have no option to change it).
pub const TLS_PORT: u16 = 8883;
/// The plain listener `hub.py` uses on each identity's address.
pub const PLAIN_PORT: u16 = 1883;
/// Most identities one hub serves (one loopback address and one broker each).
pub const MAX_IDENTITIES: usize = 512;
/// The port of MQTT over WebSocket (TLS, `IotHubProtocol` 2), served by `hub.py` on each identity's address.
pub const WEBSOCKET_PORT: u16 = 443;
/// How long [`Hub::push_patch`] waits for the device's subscription to desired patches.
pub const SUBSCRIBE_WAIT: Duration = Duration::from_secs(60);

/// `tests/hub/` in the source tree.
pub fn hub_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hub")
}

/// A child process stopped (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and reaped when dropped.
pub fn guard(child: Child) -> ChildGuard {
    ChildGuard::new(child).with_grace(STOP_GRACE)
}

/// A loopback address held for this hub (see the module docs).
#[derive(Debug)]
struct Lease {
    address: Ipv4Addr,
    _lock: UnixListener,
}

/// Leases a free loopback address in 127.77.0.0/16: its abstract socket name is ours and ports 8883, 1883 and 443
/// on it bind.
fn lease_address() -> Lease {
    let start = (std::process::id() as usize).wrapping_mul(7919) % 65024;
    for i in 0..65024usize {
        let n = (start + i) % 65024;
        let (hi, lo) = ((n / 254) as u8, (n % 254 + 1) as u8);
        let address = Ipv4Addr::new(127, 77, hi, lo);
        let name = format!("osconfig-e2e-hub-{address}");
        let Ok(abstract_name) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) else {
            continue;
        };
        let Ok(lock) = UnixListener::bind_addr(&abstract_name) else { continue };
        let free = [TLS_PORT, PLAIN_PORT, WEBSOCKET_PORT]
            .iter()
            .all(|&port| TcpListener::bind(SocketAddr::from((address, port))).is_ok());
        if free {
            return Lease { address, _lock: lock };
        }
    }
    panic!("no free loopback address in 127.77.0.0/16");
}

/// The path of a program: `PATH`, then `/usr/sbin` and `/usr/bin`; panics naming `tests/hub/setup` when absent.
fn program(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .map(PathBuf::from)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{name} not found: run tests/hub/setup"))
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// One identity's broker.
#[derive(Debug)]
struct Broker {
    id: String,
    lease: Lease,
    config: PathBuf,
    log: PathBuf,
    process: Option<ChildGuard>,
}

impl Broker {
    fn start(&mut self) {
        let mut process = guard(
            Command::new(program("mosquitto"))
                .arg("-c")
                .arg(&self.config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mosquitto"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.lease.address, PLAIN_PORT)).is_err() {
            if let Some(status) = process.try_wait() {
                panic!("mosquitto exited ({status}): {}", fs::read_to_string(&self.log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "mosquitto did not listen: {}", fs::read_to_string(&self.log).unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
        self.process = Some(process);
    }
}

/// `hub.py` and its control channel.
#[derive(Debug)]
struct Responder {
    _process: ChildGuard,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A running local IoT Hub (see the module docs). Dropping it stops everything and removes its root.
#[derive(Debug)]
pub struct Hub {
    host_name: String,
    brokers: Vec<Broker>,
    keys: Value,
    responder: Mutex<Responder>,
    /// Last: removed after every process above has stopped.
    root: TempRoot,
}

/// The client id of an identity: `<device>` or `<device>/<module>`.
pub fn identity_id(device: &str, module: Option<&str>) -> String {
    module.map_or_else(|| device.to_string(), |m| format!("{device}/{m}"))
}

impl Hub {
    /// Starts a hub serving `identities` (`(device id, module id)`; `None`: a device identity).
    pub fn start(tag: &str, identities: &[(&str, Option<&str>)]) -> Hub {
        assert!(!identities.is_empty() && identities.len() <= MAX_IDENTITIES, "1..={MAX_IDENTITIES} identities");
        let root = temp_dir(&format!("hub-{tag}"));
        let host_name = format!("{tag}.hub.osconfig.test").replace('_', "-");
        let leases: Vec<Lease> = identities.iter().map(|_| lease_address()).collect();
        make_certificates(&root, &leases);
        let plugin = root.join("auth_record.so");
        run(Command::new(program("cc"))
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&plugin)
            .arg(hub_dir().join("auth_record.c")));
        let mut brokers = Vec::new();
        let mut specs = Vec::new();
        for (n, (lease, (device, module))) in leases.into_iter().zip(identities).enumerate() {
            let dir = root.join(format!("broker{n}"));
            fs::create_dir_all(&dir).unwrap();
            let (log, auth, config) = (dir.join("mosquitto.log"), dir.join("auth.log"), dir.join("mosquitto.conf"));
            let address = lease.address;
            fs::write(
                &config,
                format!(
                    "user root\nallow_anonymous true\npersistence false\nlog_dest file {log}\n\
                     log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n\
                     log_type unsubscribe\nconnection_messages true\nplugin {plugin}\nplugin_opt_file {auth}\n\
                     max_keepalive 65535\n\
                     listener {PLAIN_PORT} {address}\n\
                     listener {TLS_PORT} {address}\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
                    log = log.display(),
                    plugin = plugin.display(),
                    auth = auth.display(),
                    ca = root.join("ca.pem").display(),
                    cert = root.join("server.pem").display(),
                    key = root.join("server.key").display(),
                ),
            )
            .unwrap();
            let id = identity_id(device, *module);
            specs.push(json!({"id": id, "device": device, "module": module, "address": address.to_string(),
                "plain_port": PLAIN_PORT, "websocket_port": WEBSOCKET_PORT, "log": log, "auth": auth}));
            let mut broker = Broker { id, lease, config, log, process: None };
            broker.start();
            brokers.push(broker);
        }
        let config = root.join("hub.json");
        fs::write(
            &config,
            json!({"host_name": host_name, "identities": specs,
            "tls": {"cert": root.join("server.pem"), "key": root.join("server.key")}})
            .to_string(),
        )
        .unwrap();
        // No bytecode cache: tests write nothing into the source tree.
        let mut child = Command::new(program("python3"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(hub_dir().join("hub.py"))
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(root.join("hub.stderr")).unwrap())
            .spawn()
            .expect("start python3 tests/hub/hub.py");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let process = guard(child);
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("hub.py did not start: {line}{}", fs::read_to_string(root.join("hub.stderr")).unwrap_or_default())
        });
        assert_eq!(ready["ready"], true, "hub.py: {line}");
        let keys = ready["keys"].clone();
        Hub { root, host_name, brokers, keys, responder: Mutex::new(Responder { _process: process, stdin, stdout }) }
    }

    /// The hub's temporary root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The CA certificate (PEM) that signed the brokers' server certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    /// The dotted host name in the connection strings (the SAS `sr` names it; nothing resolves it).
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    fn broker(&self, id: &str) -> &Broker {
        self.brokers.iter().find(|b| b.id == id).unwrap_or_else(|| panic!("no identity {id}"))
    }

    /// The loopback address where `id`'s broker listens (TLS on [`TLS_PORT`]).
    pub fn address(&self, id: &str) -> Ipv4Addr {
        self.broker(id).lease.address
    }

    /// The identity's shared access key (base64).
    pub fn key(&self, id: &str) -> String {
        self.keys[id].as_str().unwrap_or_else(|| panic!("no identity {id}")).to_string()
    }

    /// The connection string of identity `id` (`<device>` or `<device>/<module>`).
    pub fn connection_string(&self, id: &str) -> String {
        let (device, module) = id.split_once('/').map_or((id, None), |(d, m)| (d, Some(m)));
        let module = module.map(|m| format!("ModuleId={m};")).unwrap_or_default();
        format!(
            "HostName={};DeviceId={device};{module}SharedAccessKey={};GatewayHostName={}",
            self.host_name,
            self.key(id),
            self.address(id)
        )
    }

    /// The log of `id`'s broker so far.
    pub fn broker_log(&self, id: &str) -> String {
        fs::read_to_string(&self.broker(id).log).unwrap_or_default()
    }

    /// Sends one request to `hub.py`; its `ok` value (panics on an `error` answer).
    pub fn request(&self, request: Value) -> Value {
        let answer = self.try_request(request.clone());
        answer.unwrap_or_else(|e| panic!("hub request {request}: {e}"))
    }

    /// Sends one request to `hub.py`; its `ok` value or its `error` text.
    pub fn try_request(&self, request: Value) -> Result<Value, String> {
        let mut responder = self.responder.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(responder.stdin, "{request}").expect("write to hub.py");
        let mut line = String::new();
        responder.stdout.read_line(&mut line).expect("read from hub.py");
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("hub.py answered {line:?}: {}", fs::read_to_string(self.root.join("hub.stderr")).unwrap_or_default())
        });
        match answer.get("error") {
            Some(error) => Err(error.as_str().unwrap_or_default().to_string()),
            None => Ok(answer["ok"].clone()),
        }
    }

    /// Replaces the desired twin of `id` (not published: the device sees it at its next GET); the new `$version`.
    pub fn set_desired(&self, id: &str, desired: Value) -> u64 {
        self.request(json!({"op": "set_desired", "identity": id, "desired": desired})).as_u64().unwrap()
    }

    /// Merges `patch` into the desired twin and publishes it once the device subscribed; the new `$version`.
    pub fn push_patch(&self, id: &str, patch: Value) -> u64 {
        let wait = SUBSCRIBE_WAIT.as_secs();
        self.request(json!({"op": "patch", "identity": id, "patch": patch, "wait": wait})).as_u64().unwrap()
    }

    /// Merges `patch` into the desired twin without publishing it (as if the device was offline); the new `$version`.
    pub fn update_desired(&self, id: &str, patch: Value) -> u64 {
        self.request(json!({"op": "patch", "identity": id, "patch": patch, "publish": false})).as_u64().unwrap()
    }

    /// Publishes `payload` as a desired patch (any text; the twin is unchanged); the `$version` in its topic.
    pub fn push_raw_patch(&self, id: &str, payload: &str) -> u64 {
        let wait = SUBSCRIBE_WAIT.as_secs();
        self.request(json!({"op": "raw_patch", "identity": id, "payload": payload, "wait": wait})).as_u64().unwrap()
    }

    /// Answers the next GET of `id` with `payload` instead of the twin.
    pub fn answer_next_get_with(&self, id: &str, payload: &str) {
        self.request(json!({"op": "raw_twin", "identity": id, "payload": payload}));
    }

    /// Everything `hub.py` knows of `id`: `twin`, `history` (reported patches), `gets`, `connections`, `connected`,
    /// `subscribed`.
    pub fn state(&self, id: &str) -> Value {
        self.request(json!({"op": "twin", "identity": id}))
    }

    /// The full twin of `id` (`{"desired":{..,"$version"},"reported":{..,"$version"}}`).
    pub fn twin(&self, id: &str) -> Value {
        self.state(id)["twin"].clone()
    }

    /// The reported section of `id`'s twin.
    pub fn reported(&self, id: &str) -> Value {
        self.twin(id)["reported"].clone()
    }

    /// The reported patches `id` sent, in order (each `{"patch":..,"version":..,"time":..}`, or `{"rejected":..}`).
    pub fn reported_patches(&self, id: &str) -> Vec<Value> {
        self.state(id)["history"].as_array().cloned().unwrap_or_default()
    }

    /// Every connection `id`'s broker saw: `{"client_id","username","sas":"valid"|"invalid: ..","time"}`.
    pub fn connections(&self, id: &str) -> Vec<Value> {
        self.state(id)["connections"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `pred` holds for `id`'s reported section (at most `limit`); the last reported section either way.
    pub fn wait_for_reported(&self, id: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value, Value> {
        self.wait_for_state(id, limit, |s| pred(&s["twin"]["reported"]))
            .map(|s| s["twin"]["reported"].clone())
            .map_err(|s| s["twin"]["reported"].clone())
    }

    /// Waits until `pred` holds for [`Hub::state`] of `id` (at most `limit`); the last state, `Err` on time-out.
    pub fn wait_for_state(&self, id: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value, Value> {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.state(id);
            if pred(&state) {
                return Ok(state);
            }
            if Instant::now() > deadline {
                return Err(state);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops every broker (devices lose their connection; the twins stay in `hub.py`).
    pub fn stop_brokers(&mut self) {
        for broker in &mut self.brokers {
            if let Some(mut process) = broker.process.take() {
                process.stop();
            }
        }
    }

    /// Starts the stopped brokers again on the same addresses.
    pub fn start_brokers(&mut self) {
        for broker in &mut self.brokers {
            if broker.process.is_none() {
                broker.start();
            }
        }
        let ids: Vec<String> = self.brokers.iter().map(|b| b.id.clone()).collect();
        self.request(json!({"op": "ping"}));
        for id in ids {
            // hub.py's own client reconnects within its back-off (at most 0.5 s).
            let _ = self.wait_for_state(&id, Duration::from_secs(10), |_| true);
        }
    }

    /// Stops and starts every broker.
    pub fn restart_brokers(&mut self) {
        self.stop_brokers();
        self.start_brokers();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // The brokers stop before the root goes (with it).
        self.stop_brokers();
    }
}

/// A CA and a server certificate (`CN=localhost`, SAN `DNS:localhost` and every leased address) in `root`.
fn make_certificates(root: &Path, leases: &[Lease]) {
    let openssl = program("openssl");
    let in_root = |name: &str| root.join(name);
    run(Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=osconfig-rs test hub CA", "-keyout"])
        .arg(in_root("ca.key"))
        .arg("-out")
        .arg(in_root("ca.pem")));
    run(Command::new(&openssl)
        .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(in_root("server.key"))
        .arg("-out")
        .arg(in_root("server.csr")));
    let mut san = String::from("DNS:localhost");
    for lease in leases {
        san.push_str(&format!(",IP:{}", lease.address));
    }
    fs::write(
        in_root("server.ext"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(Command::new(&openssl)
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(in_root("server.csr"))
        .arg("-CA")
        .arg(in_root("ca.pem"))
        .arg("-CAkey")
        .arg(in_root("ca.key"))
        .arg("-CAcreateserial")
        .arg("-out")
        .arg(in_root("server.pem"))
        .arg("-extfile")
        .arg(in_root("server.ext")));
}

/// The agent binary `osconfig` (from `osconfig_testkit::artifacts`).
pub fn agent_binary() -> PathBuf {
    artifacts().agent()
}

/// The agent `osconfig --root <root> --connection-string <cs> --ca-file <ca> --foreground`, stderr (its log lines) to
/// `<root>/agent.stderr`.
/// Dropping it stops it (SIGTERM, SIGKILL after 3 s); the root is the platform's, removed by the platform's drop.
#[derive(Debug)]
pub struct Agent {
    /// The root shared with the platform.
    pub root: PathBuf,
    args: Vec<String>,
    process: Option<ChildGuard>,
}

impl Agent {
    /// Starts the agent for identity `id` of `hub` against the platform in `root`.
    pub fn start(root: &Path, hub: &Hub, id: &str) -> Agent {
        let args = vec![
            "--root".to_string(),
            root.display().to_string(),
            "--connection-string".to_string(),
            hub.connection_string(id),
            "--ca-file".to_string(),
            hub.ca_path().display().to_string(),
        ];
        let mut agent = Agent { root: root.to_path_buf(), args, process: None };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        let stderr = fs::OpenOptions::new().create(true).append(true).open(self.root.join("agent.stderr")).unwrap();
        let child = Command::new(agent_binary())
            .args(&self.args)
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start osconfig (the agent)");
        self.process = Some(guard(child));
    }

    /// The agent's pid.
    pub fn pid(&self) -> i32 {
        self.process.as_ref().expect("running").id() as i32
    }

    /// Whether the agent is still running (a crash or an exit shows here): its process exists and is no zombie.
    pub fn running(&self) -> bool {
        let Some(process) = self.process.as_ref() else { return false };
        let stat = fs::read_to_string(format!("/proc/{}/stat", process.id())).unwrap_or_default();
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    }

    /// The agent's stderr so far, and its log files under `<root>/var/log` (any whose name has "agent").
    pub fn log_text(&self) -> String {
        let mut text = fs::read_to_string(self.root.join("agent.stderr")).unwrap_or_default();
        for entry in fs::read_dir(self.root.join("var/log")).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().contains("agent") {
                text.push_str(&fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// Waits until the agent's log has a line with every one of `needles` (at most `limit`); that line.
    pub fn wait_log(&self, needles: &[&str], limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(line.to_string());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Proportional set size in KiB (`Pss` of `/proc/<pid>/smaps_rollup`).
    pub fn pss_kib(&self) -> u64 {
        let rollup = fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid())).unwrap_or_default();
        rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system, `/proc/<pid>/stat`), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        // After the command name: state is field 3 (index 0 here); utime and stime are fields 14 and 15.
        fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    }

    /// Stops the agent (SIGTERM, SIGKILL after 3 s).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }
}
