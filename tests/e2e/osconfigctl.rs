//! End-to-end tests of `osconfigctl` as an MPI client: the built binary against the real platform (real module
//! hosts, our modules, a temporary root), one run per subcommand, `--json` output parsed, exit codes and error
//! texts checked. Every `set` goes to the Fixture module (its `echo` object) or is refused before it is sent.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{artifacts, temp_dir, Options, Platform};
use serde_json::{json, Value};

/// What one run of `osconfigctl` gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout as JSON (the run must have succeeded).
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts a failure with `code`, nothing on stdout, and `needle` on stderr.
    fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "{self:?}");
        assert!(self.stdout.is_empty(), "stdout must stay empty on failure: {self:?}");
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}: {self:?}");
    }
}

/// Runs `osconfigctl <args>` with `stdin` (empty if `None`).
fn ctl_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_ctl(Command::new(artifacts().osconfigctl()).args(args), stdin)
}

fn run_ctl(command: &mut Command, stdin: Option<&[u8]>) -> Run {
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run osconfigctl");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("osconfigctl exited by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ctl(args: &[&str]) -> Run {
    ctl_with_stdin(args, None)
}

/// `args` followed by `--socket <platform's socket>`.
fn at(platform: &Platform, args: &[&str]) -> Run {
    let socket = platform.socket.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend(["--socket", socket]);
    ctl(&all)
}

/// The number of sessions open on the platform (`status --json`).
fn sessions(platform: &Platform) -> u64 {
    at(platform, &["status", "--json"]).json()["sessions"].as_u64().expect("sessions is a number")
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn test_get_set_desired_reported_round_trip() {
    let config = json!({"Reported": [
        {"ComponentName": "DeviceInfo", "ObjectName": "osName"},
        {"ComponentName": "HostName", "ObjectName": "name"}
    ]});
    let platform = Platform::start("ctl-trip", Options { config: Some(config), ..Options::default() });
    let socket = platform.socket.to_str().unwrap();
    let get_json = |component: &str, object: &str| at(&platform, &["get", component, object, "--json"]).json();

    // get --json prints exactly what the module returned; without --json, pretty JSON.
    let mut client = platform.client();
    let session = client.open("e2e", 0).unwrap();
    let raw = client.get(&session, "DeviceInfo", "osName").unwrap();
    client.close(&session).unwrap();
    let run = at(&platform, &["get", "DeviceInfo", "osName", "--json"]);
    assert_eq!((run.code, run.stdout.as_bytes()), (0, [raw.as_slice(), b"\n"].concat().as_slice()), "{run:?}");
    let os_name = run.json();
    let human = at(&platform, &["get", "Fixture", "session"]);
    assert_eq!(human.stdout, "{\n  \"clientName\": \"osconfigctl\",\n  \"maxPayloadSizeBytes\": 0\n}\n", "{human:?}");

    // set: the module gets the value (HostName writes <root>/etc/hostname; the kernel's name is never touched
    // under a temporary root).
    let set = at(&platform, &["set", "HostName", "desiredName", "\"ctl-box\"", "--json"]).json();
    assert_eq!(set, json!({"component": "HostName", "object": "desiredName", "result": "ok"}));
    assert_eq!(get_json("HostName", "name"), "ctl-box");
    assert_eq!(fs::read_to_string(platform.root.join("etc/hostname")).unwrap(), "ctl-box\n");
    let human_set = at(&platform, &["set", "HostName", "desiredName", "\"ctl-box-2\""]);
    assert_eq!((human_set.code, human_set.stdout.as_str()), (0, "set HostName.desiredName\n"), "{human_set:?}");

    // set from stdin (`-`), options before the operands.
    let args = ["set", "--socket", socket, "--json", "HostName", "desiredName", "-"];
    assert_eq!(ctl_with_stdin(&args, Some(b"\"from-stdin\"\n")).json()["result"], "ok");
    assert_eq!(get_json("HostName", "name"), "from-stdin");

    // desired: a file, then stdin.
    let dir = temp_dir("ctl-trip-files");
    let file = write_file(
        &dir,
        "dc.json",
        r#"{"HostName": {"desiredName": "from-file", "desiredHosts": "127.0.0.1 localhost"}}"#,
    );
    let run = at(&platform, &["desired", file.to_str().unwrap(), "--json"]);
    assert_eq!(run.json(), json!({"objects": 2, "result": "ok"}));
    assert_eq!(get_json("HostName", "name"), "from-file");
    assert_eq!(get_json("HostName", "hosts"), "127.0.0.1 localhost");
    let run = ctl_with_stdin(
        &["desired", "-", "--socket", socket],
        Some(br#"{"Fixture": {"echo": "one"}, "HostName": {"desiredName": "from-dc-stdin"}}"#),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "applied 2 desired objects\n"), "{run:?}");
    assert_eq!(get_json("HostName", "name"), "from-dc-stdin");

    // reported: the document of the Reported entries, compact with --json, pretty otherwise.
    let reported = at(&platform, &["reported", "--json"]).json();
    assert_eq!(reported, json!({"DeviceInfo": {"osName": os_name}, "HostName": {"name": "from-dc-stdin"}}));
    let human = at(&platform, &["reported"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.starts_with("{\n  \"DeviceInfo\": {\n"), "{human:?}");
    assert_eq!(serde_json::from_str::<Value>(&human.stdout).unwrap(), reported);

    // Every session was closed.
    assert_eq!(sessions(&platform), 0);
}

#[test]
fn test_call_failures_name_the_errno_and_the_unknown_component() {
    let platform = Platform::start("ctl-errors", Options::default());
    let served = "(the platform serves: CommandRunner, Configuration, DeviceInfo, Fixture, HostName, SampleComponent)";

    // Unknown component: the platform answers 22, osconfigctl asks /PlatformModules what is served.
    at(&platform, &["get", "Nope", "x"]).fails(1, &format!("osconfigctl get: unknown component Nope {served}"));
    at(&platform, &["set", "Nope", "x", "1", "--json"]).fails(1, &format!("unknown component Nope {served}"));
    let dir = temp_dir("ctl-errors-files");
    let file = write_file(&dir, "dc.json", r#"{"Fixture": {"echo": 1}, "Nope": {"x": 1}, "Nada": {"y": 2}}"#);
    at(&platform, &["desired", file.to_str().unwrap()]).fails(1, &format!("unknown components Nope, Nada {served}"));

    // A module's errno, named; EINVAL on a known component points at the object.
    at(&platform, &["get", "Fixture", "fail"])
        .fails(1, "MpiGet Fixture.fail failed: errno 61 ENODATA (no data available)");
    at(&platform, &["set", "Fixture", "fail", "1"]).fails(1, "MpiSet Fixture.fail failed: errno 1 EPERM");
    at(&platform, &["set", "DeviceInfo", "osName", "\"x\""])
        .fails(1, "errno 1 EPERM (operation not permitted): DeviceInfo has no desired objects (read-only)");
    at(&platform, &["get", "HostName", "nope"])
        .fails(1, "MpiGet HostName.nope failed: errno 22 EINVAL (invalid argument): HostName has no object \"nope\"");

    // Invalid input is refused before anything is sent.
    at(&platform, &["set", "Fixture", "echo", "{bad"]).fails(2, "the value is not valid JSON: line 1, column 2");
    let bad = write_file(&dir, "bad.json", "{\"Fixture\": {\"echo\": tru}}");
    at(&platform, &["desired", bad.to_str().unwrap()]).fails(2, "bad.json: not valid json at byte ");
    at(&platform, &["desired", dir.join("missing.json").to_str().unwrap()]).fails(2, "cannot read ");
    at(&platform, &["get", "Fixture"]).fails(2, "missing <object>");
    at(&platform, &["get", "Fixture", "echo", "--frob"]).fails(2, "unknown option '--frob'");

    // Sessions are closed also when the call failed.
    assert_eq!(sessions(&platform), 0);
}

#[test]
fn test_mim_violations_are_quoted_and_nothing_is_sent() {
    let platform = Platform::start("ctl-mim", Options { mims: true, ..Options::default() });
    let root = platform.root.to_str().unwrap();
    let before = at(&platform, &["get", "HostName", "name", "--json"]).json();
    ctl(&["get", "HostName", "nope", "--root", root])
        .fails(1, "HostName has no object \"nope\" (its MIM names: name, hosts, desiredName, desiredHosts)");

    let run = ctl(&["set", "HostName", "desiredName", "42", "--root", root]);
    run.fails(2, "rejected by the installed MIMs, nothing sent (1 violation):\n  HostName.desiredName: ");
    let run = ctl(&["set", "HostName", "nope", "\"x\"", "--root", root, "--json"]);
    run.fails(2, "  HostName.nope: ");

    // desired: every violation is listed.
    let dir = temp_dir("ctl-mim-files");
    let file = write_file(
        &dir,
        "dc.json",
        r#"{"HostName": {"desiredName": 42, "desiredHosts": "127.0.0.1 localhost"},
            "CommandRunner": {"commandArguments": {"commandId": "1", "action": 9}}}"#,
    );
    let run = ctl(&["desired", file.to_str().unwrap(), "--root", root]);
    run.fails(2, "(2 violations):\n  HostName.desiredName: ");
    assert!(run.stderr.contains("\n  CommandRunner.commandArguments.action: "), "{run:?}");
    assert_eq!(at(&platform, &["get", "HostName", "name", "--json"]).json(), before);

    // A MIM that cannot be parsed is skipped with a warning; objects without a MIM are not checked.
    write_file(&platform.root.join("usr/lib/osconfig/mim"), "broken.json", "{");
    let run = ctl(&["set", "Fixture", "echo", "1", "--root", root]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("broken.json skipped"), "{run:?}");
    assert_eq!(sessions(&platform), 0);
}

#[test]
fn test_modules_and_status() {
    let platform = Platform::start("ctl-modules", Options { mims: true, ..Options::default() });
    // A short-lived module runs once it was called.
    assert_eq!(at(&platform, &["get", "DeviceInfo", "osName"]).code, 0);

    let modules = at(&platform, &["modules", "--json"]).json();
    let modules = modules.as_array().expect("an array");
    let mut names: Vec<&str> = modules.iter().map(|m| m["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["CommandRunner", "Configuration", "DeviceInfo", "Fixture", "HostName"]);
    let device_info = modules.iter().find(|m| m["name"] == "DeviceInfo").unwrap();
    assert_eq!(device_info["components"], json!(["DeviceInfo"]));
    assert_eq!(device_info["lifetime"], 2);
    assert_eq!(device_info["inProcess"], false);
    assert_eq!(device_info["mim"], true);
    assert!(device_info["path"].as_str().unwrap().ends_with("/usr/lib/osconfig/deviceinfo.so"), "{device_info}");
    for m in modules {
        let state = m["state"].as_str().unwrap();
        assert!(["running", "idle", "restarting", "quarantined"].contains(&state), "{m}");
        assert!(m["crashes"].is_u64() && (m["hostPid"].is_null() || m["hostPid"].is_u64()), "{m}");
    }
    let table = at(&platform, &["modules"]);
    assert_eq!(table.code, 0, "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME ") && lines[0].contains(" COMPONENTS ") && lines[0].contains(" CRASHES"),
        "{table:?}"
    );
    assert_eq!(lines.len(), 6, "{table:?}");
    assert!(lines.iter().any(|l| l.starts_with("DeviceInfo ") && l.contains(" short-lived ")), "{table:?}");

    let status = at(&platform, &["status", "--json"]).json();
    assert!(!status["version"].as_str().unwrap().is_empty(), "{status}");
    assert!(status["uptimeSeconds"].is_u64() && status["sessions"] == 0, "{status}");
    assert_eq!(status["modules"], 5, "{status}");
    assert!(status["watcher"]["state"].is_string(), "{status}");
    let human = at(&platform, &["status"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human.stdout.starts_with(&format!("osconfig-platform {}, up ", status["version"].as_str().unwrap())),
        "{human:?}"
    );
    assert!(human.stdout.contains("\nwatcher:      "), "{human:?}");
}

#[test]
fn test_platform_not_running_every_subcommand() {
    let root = temp_dir("ctl-down");
    let root_text = root.to_str().unwrap();
    let socket = root.join("run/osconfig/mpid.sock");
    let expected =
        format!("platform not running at {} (start osconfig-platform, or pass --socket/--root)", socket.display());
    let dc = write_file(&root, "dc.json", r#"{"Fixture": {"echo": 1}}"#);
    let runs: [&[&str]; 6] = [
        &["get", "DeviceInfo", "osName"],
        &["set", "Fixture", "echo", "1"],
        &["desired", dc.to_str().unwrap()],
        &["reported", "--json"],
        &["modules"],
        &["status", "--json"],
    ];
    for args in runs {
        let mut all = args.to_vec();
        all.extend(["--root", root_text]);
        ctl(&all).fails(3, &expected);
    }
    // A stale socket file (nothing listening) is "not running" too.
    let stale = root.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    ctl(&["status", "--socket", stale.to_str().unwrap()])
        .fails(3, &format!("platform not running at {}", stale.display()));
}

#[test]
fn test_help_and_usage() {
    let help = ctl(&["--help"]);
    assert_eq!(help.code, 0);
    for command in ["get ", "set ", "desired ", "reported ", "modules ", "status ", "test "] {
        assert!(help.stdout.contains(&format!("\n  {command}")), "{command}: {help:?}");
    }
    let get_help = ctl(&["get", "--help"]);
    assert_eq!(get_help.code, 0);
    assert!(get_help.stdout.contains("--socket <path>") && get_help.stdout.contains("exit codes:"), "{get_help:?}");
    ctl(&["reported", "extra"]).fails(2, "unexpected argument 'extra'");
    ctl(&["frob"]).fails(2, "unknown command 'frob'");
}

#[test]
fn test_permission_denied_for_a_caller_the_platform_refuses() {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run osconfigctl as another user");
        return;
    }
    let platform = Platform::start("ctl-perm", Options::default());
    let socket = platform.socket.to_str().unwrap();
    let as_nobody =
        |args: &[&str]| run_ctl(Command::new(artifacts().osconfigctl()).args(args).uid(65534).gid(65534), None);
    let expected = "permission denied: run as root or join a group listed in MpiAllowedGroups";
    // The socket's directory is 0700 root: connect(2) is refused.
    as_nobody(&["get", "DeviceInfo", "osName", "--socket", socket]).fails(4, expected);
    // Let the socket be reached: the platform itself refuses the uid (403), on the MPI and on the extensions.
    fs::set_permissions(platform.root.join("run/osconfig"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&platform.socket, fs::Permissions::from_mode(0o666)).unwrap();
    as_nobody(&["get", "DeviceInfo", "osName", "--socket", socket]).fails(4, expected);
    assert!(platform.wait_log("uid 65534", std::time::Duration::from_secs(5)), "{}", platform.stderr_text());
    as_nobody(&["modules", "--socket", socket]).fails(4, expected);
}
