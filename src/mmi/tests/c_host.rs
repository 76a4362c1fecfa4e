//! C loading Rust: a C program dlopens the fixture module (built with the SDK) and checks all six functions.
//! Also our own loader on the same `.so`, and the misbehaviour switches (crash, hang) in child processes.
//! See `common/mod.rs` for how the fixture `.so` is found. Every process that loads the fixture has `OSCONFIG_ROOT`
//! set to a temporary root on its command (the module's log file goes there): the C host, and this test binary run
//! again for the tests that load it with our loader (`osconfig_testkit::in_child`).

mod common;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use osconfig_mmi::abi::PANIC_ERRNO;
use osconfig_mmi::loader::Library;
use osconfig_mmi::{Errno, Lifetime};
use osconfig_testkit::{in_child, ChildGuard};
use serde_json::Value;

/// The environment of a test that loads the fixture in this process (see the module docs).
fn scratch_root(root: &std::path::Path) -> Vec<(&'static str, OsString)> {
    vec![("OSCONFIG_ROOT", root.into())]
}

/// The C host program, compiled once per test run into cargo's scratch dir for integration tests.
fn host() -> &'static PathBuf {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-host");
        std::fs::create_dir_all(&dir).unwrap();
        common::cc_program("host.c", &dir, "host")
    })
}

#[test]
fn test_c_host_runs_all_checks_on_rust_module() {
    // The module's logger creates its file even with logging off: keep it under a scratch root.
    let root = common::temp_dir("c-host-checks");
    let out = Command::new(host())
        .arg(common::fixture_so())
        .env("OSCONFIG_ROOT", root.path())
        .env("OSCONFIG_LOG_LEVEL", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PASS"),
        "{}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn test_crash_switch_aborts_the_process() {
    let root = common::temp_dir("c-host-crash");
    let out = Command::new(host())
        .arg(common::fixture_so())
        .arg("crash")
        .env("OSCONFIG_ROOT", root.path())
        .env("OSCONFIG_LOG_LEVEL", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", out.status);
}

#[test]
fn test_hang_switch_never_returns() {
    let root = common::temp_dir("c-host-hang");
    let mut child = ChildGuard::spawn(
        Command::new(host())
            .arg(common::fixture_so())
            .arg("hang")
            .env("OSCONFIG_ROOT", root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    assert_eq!(child.wait_timeout(Duration::from_millis(700)), None, "the hang switch returned");
    assert_eq!(child.stop().signal(), Some(libc::SIGKILL));
}

#[test]
fn test_rust_loader_on_rust_module() {
    if in_child("test_rust_loader_on_rust_module", scratch_root).is_none() {
        return;
    }
    let (_dir, path) = common::fixture_copy("loader", "fixture.so");
    let lib = Library::load(path).unwrap();
    let info = lib.get_info("loader").unwrap();
    assert_eq!(info.name, "Fixture");
    assert_eq!(info.components, vec!["SampleComponent", "Fixture"]);
    assert_eq!(info.lifetime, Lifetime::KeepLoaded);
    {
        let a = lib.open("loader-a", 0).unwrap();
        let b = lib.open("loader-b", 16).unwrap();
        a.set("SampleComponent", "desiredIntegerObject", b"7").unwrap();
        assert_eq!(a.get("SampleComponent", "reportedIntegerObject").unwrap(), b"7");
        assert_eq!(b.get("SampleComponent", "reportedIntegerObject").unwrap(), b"0", "sessions share state");
        assert_eq!(a.get("Fixture", "panic"), Err(PANIC_ERRNO));
        assert_eq!(a.get("SampleComponent", "reportedIntegerObject").unwrap(), b"7");
        assert_eq!(a.get("Fixture", "fail"), Err(Errno::ENODATA));
        b.set("Fixture", "bigSize", b"20").unwrap();
        assert_eq!(b.get("Fixture", "big"), Err(Errno::E2BIG));
        assert_eq!(b.set("Fixture", "echo", b"\"0123456789abcdef\""), Err(Errno::E2BIG));
        assert_eq!(a.get("Fixture", "sessions").unwrap(), b"2");
        drop(b);
        assert_eq!(a.get("Fixture", "sessions").unwrap(), b"1");
    }
    // A panic in MmiGetInfo or MmiOpen is an error, not a crash.
    assert!(lib.get_info("panic").is_err());
    assert_eq!(lib.open("panic", 0).err(), Some(Errno::EIO));
    lib.unload().unwrap();
}

/// Replay the reference SampleTests recipe (when the reference data is next to the repository) against the
/// fixture's SampleComponent: every Reported step answers 0, every Desired step is accepted and mirrored.
#[test]
fn test_reference_sample_recipe_steps() {
    let recipe = common::workspace_root().join("../shared/reference/recipes/SampleTests.json");
    let Ok(text) = std::fs::read_to_string(&recipe) else {
        eprintln!("{} not found; skipped", recipe.display());
        return;
    };
    if in_child("test_reference_sample_recipe_steps", scratch_root).is_none() {
        return;
    }
    let steps: Vec<Value> = serde_json::from_str(&text).unwrap();
    let (_dir, path) = common::fixture_copy("recipe", "sample.so");
    let lib = Library::load(path).unwrap();
    let session = lib.open("recipe", 0).unwrap();
    let mut checked = 0;
    for step in &steps {
        let (Some(kind), Some(component), Some(object)) =
            (step["ObjectType"].as_str(), step["ComponentName"].as_str(), step["ObjectName"].as_str())
        else {
            continue;
        };
        match kind {
            "Reported" => {
                let bytes = session.get(component, object).unwrap_or_else(|e| panic!("{object}: {e}"));
                serde_json::from_slice::<Value>(&bytes).unwrap();
            }
            "Desired" => {
                let payload = step["Payload"].to_string();
                session.set(component, object, payload.as_bytes()).unwrap_or_else(|e| panic!("{object}: {e}"));
                let reported = object.replacen("desired", "reported", 1);
                let back: Value = serde_json::from_slice(&session.get(component, &reported).unwrap()).unwrap();
                assert_eq!(back, step["Payload"], "{reported}");
            }
            other => panic!("unknown ObjectType {other}"),
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} steps checked");
}

/// The SDK installs `osconfig-logging` on the first call: `<OSCONFIG_ROOT>/var/log/osconfig_fixture.log` (the
/// lowercased module name) in the reference line format, level from `OSCONFIG_LOG_LEVEL`.
#[test]
fn test_module_logs_to_file_in_reference_format() {
    let run = |level: &str| {
        let root = common::temp_dir("log-root");
        let out = Command::new(host())
            .arg(common::fixture_so())
            .env("OSCONFIG_ROOT", root.path())
            .env("OSCONFIG_LOG_LEVEL", level)
            .env_remove("OSCONFIG_LOG_STDERR")
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("+0000]["), "no log lines on stderr without OSCONFIG_LOG_STDERR:\n{stderr}");
        let path = root.path().join("var/log/osconfig_fixture.log");
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o640);
        std::fs::read_to_string(&path).unwrap()
    };
    let log = run("info");
    let line = log
        .lines()
        .find(|l| l.contains("MmiGetInfo clientName is null"))
        .unwrap_or_else(|| panic!("no log line in:\n{log}"));
    // [YYYY-MM-DD HH:MM:SS+0000][ERROR][export.rs:NNN] MmiGetInfo clientName is null
    let bytes = line.as_bytes();
    assert_eq!(bytes[0], b'[', "{line}");
    assert_eq!(&line[11..12], " ", "{line}");
    assert_eq!(&line[20..27], "+0000][", "{line}");
    assert!(line[27..].starts_with("ERROR][export.rs:"), "{line}");
    assert!(log.contains("][INFO]["), "info lines expected at level info");
    let log = run("error");
    assert!(log.contains("][ERROR]["));
    assert!(!log.contains("][INFO]["), "no info lines at level error:\n{log}");
    let log = run("off");
    assert!(!log.contains("][ERROR]["), "nothing at level off:\n{log}");
}

/// `OSCONFIG_LOG_STDERR=1` copies the lines to stderr; a log file that cannot be opened sends them to stderr
/// after one warning.
#[test]
fn test_module_logs_to_stderr_when_asked_or_file_fails() {
    let root = common::temp_dir("log-stderr");
    let out = Command::new(host())
        .arg(common::fixture_so())
        .env("OSCONFIG_ROOT", root.path())
        .env("OSCONFIG_LOG_LEVEL", "info")
        .env("OSCONFIG_LOG_STDERR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = std::fs::read_to_string(root.path().join("var/log/osconfig_fixture.log")).unwrap();
    assert!(file.contains("][ERROR][export.rs:"), "{file}");
    let logged: Vec<&str> = stderr.lines().filter(|l| l.contains("+0000][")).collect();
    assert_eq!(logged, file.lines().collect::<Vec<_>>(), "stderr copies the file's lines");

    // A root under a regular file: var/log cannot be created.
    std::fs::write(root.path().join("plain"), "").unwrap();
    let out = Command::new(host())
        .arg(common::fixture_so())
        .env("OSCONFIG_ROOT", root.path().join("plain"))
        .env("OSCONFIG_LOG_LEVEL", "info")
        .env_remove("OSCONFIG_LOG_STDERR")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("osconfig-logging: cannot open").count(), 1, "{stderr}");
    assert!(stderr.contains("][ERROR][export.rs:"), "lines go to stderr instead:\n{stderr}");
}

#[test]
fn test_loaded_module_owns_sessions_across_threads() {
    use osconfig_mmi::loader::{LoadedModule, SessionId};
    if in_child("test_loaded_module_owns_sessions_across_threads", scratch_root).is_none() {
        return;
    }

    let (_dir, path) = common::fixture_copy("owned", "fixture.so");
    let mut module = LoadedModule::load(path).unwrap();
    assert_eq!(module.get_info("owned").unwrap().name, "Fixture");
    assert!(module.get_info_raw("owned").unwrap().starts_with(br#"{"Name":"Fixture""#));
    let a = module.open("a", 0).unwrap();
    let b = module.open("b", 0).unwrap();
    assert_ne!(a, b);
    assert_eq!(module.sessions(), vec![a, b]);
    module.set(a, "Fixture", "echo", b"\"for a\"").unwrap();
    // A worker thread can own the module and its sessions.
    let (module, a, b) = std::thread::spawn(move || {
        assert_eq!(module.get(a, "Fixture", "echo").unwrap(), b"\"for a\"");
        assert_eq!(module.get(b, "Fixture", "echo").unwrap(), b"\"\"");
        assert_eq!(module.get(a, "Fixture", "sessions").unwrap(), b"2");
        (module, a, b)
    })
    .join()
    .unwrap();
    let mut module = module;
    assert!(module.close(b));
    assert!(!module.close(b), "closing twice reports false");
    assert_eq!(module.get(b, "Fixture", "echo"), Err(Errno::EINVAL));
    assert_eq!(module.set(SessionId(999), "Fixture", "echo", b"1"), Err(Errno::EINVAL));
    assert_eq!(module.get(a, "Fixture", "sessions").unwrap(), b"1");
    let c = module.open("c", 0).unwrap();
    assert!(c.0 > b.0, "ids are not reused");
    // A second load of the same path shares the instance: it sees the sessions of the first.
    let mut observer = LoadedModule::load(module.library().path()).unwrap();
    let o = observer.open("observer", 0).unwrap();
    assert_eq!(observer.get(o, "Fixture", "sessions").unwrap(), b"3");
    // Unload closes the sessions still open (a and c) first.
    module.unload().unwrap();
    assert_eq!(observer.get(o, "Fixture", "sessions").unwrap(), b"1");
    drop(observer);
}
