//! Recipes that must fail make osconfigctl exit non-zero with the failures counted; invalid recipes are reported
//! with file and position; usage errors exit 2. Runs against the fixture module (Sample MIM).

mod common;

use std::ffi::OsStr;

use common::{counts, module_dir, modulehost, run, write_recipe, TempRoot};

fn run_recipe(text: &str, extra: &[&OsStr]) -> common::Run {
    let bin = module_dir();
    let dir = TempRoot::new("fail");
    let recipe = write_recipe(dir.path(), "r.json", text);
    let mut args: Vec<&OsStr> =
        vec![OsStr::new("test"), recipe.as_os_str(), OsStr::new("--bin"), bin.path().as_os_str()];
    args.extend_from_slice(extra);
    run(&args)
}

const WRONG_EXPECTATIONS: &str = r#"[
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Desired", "ComponentName": "SampleComponent", "ObjectName": "desiredStringObject", "Payload": "abc" },
  // Right payload: passes.
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject", "Payload": "abc" },
  // Wrong expected payload: fails.
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject", "Payload": "xyz" },
  // The module refuses (22) where the recipe expects 0: fails (the reference would count it as passed).
  { "ObjectType": "Desired", "ComponentName": "SampleComponent", "ObjectName": "desiredIntegerObject", "Payload": "nan" },
  // The module accepts (0) where the recipe expects 22: fails.
  { "ObjectType": "Desired", "ComponentName": "SampleComponent", "ObjectName": "desiredIntegerObject", "Payload": 5, "ExpectedResult": 22 },
  // Wrong ExpectedResult on a Reported step: fails.
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "invalid", "ExpectedResult": 2 },
  // Numbers compare by value, objects without order: passes.
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedIntegerObject", "Payload": 5.0 },
  { "ObjectType": "Desired", "ComponentName": "Fixture", "ObjectName": "echo", "Payload": {"a": 1, "b": [true, null]} },
  { "ObjectType": "Reported", "ComponentName": "Fixture", "ObjectName": "echo", "Payload": {"b": [true, null], "a": 1e0} },
  { "RunCommand": "exit 4", "ExpectedResult": 5 },
  { "Action": "UnloadModule" }
]"#;

fn check_wrong_expectations(out: &common::Run) {
    assert_eq!(out.code, 1, "{}", out.dump());
    assert_eq!(out.summary(), "7 passed, 5 failed, 0 skipped, 12 total", "{}", out.dump());
    assert!(
        out.stdout.contains(
            "[ 4] FAIL Reported SampleComponent.reportedStringObject (line 7): expected payload \"xyz\", got \"abc\""
        ),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout.contains(
            "[ 5] FAIL Desired SampleComponent.desiredIntegerObject (line 9): expected result 0, got 22 (EINVAL)"
        ),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout.contains(
            "[ 6] FAIL Desired SampleComponent.desiredIntegerObject (line 11): expected result 22 (EINVAL), got 0"
        ),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout.contains(
            "[ 7] FAIL Reported SampleComponent.invalid (line 13): expected result 2 (ENOENT), got 22 (EINVAL)"
        ),
        "{}",
        out.dump()
    );
    assert!(
        out.stdout.contains("[11] FAIL RunCommand 'exit 4' (line 18): expected exit code 5, got 4"),
        "{}",
        out.dump()
    );
}

#[test]
fn test_wrong_expectations_fail_in_process() {
    check_wrong_expectations(&run_recipe(WRONG_EXPECTATIONS, &[]));
}

#[test]
fn test_wrong_expectations_fail_through_module_host() {
    let host = modulehost();
    check_wrong_expectations(&run_recipe(WRONG_EXPECTATIONS, &[OsStr::new("--host"), host.as_os_str()]));
}

#[test]
fn test_invalid_recipe_reports_file_line_column() {
    let bin = module_dir();
    let dir = TempRoot::new("invalid");
    let bad = write_recipe(
        dir.path(),
        "bad.json",
        "[\n  { \"Action\": \"UnloadModule\" }\n  { \"Action\": \"UnloadModule\" }\n]\n",
    );
    let unclosed = write_recipe(dir.path(), "unclosed.json", "[\n /* never closed\n");
    let good = write_recipe(dir.path(), "good.json", "[ { \"RunCommand\": \"true\" } ]");
    let out = run(&[
        OsStr::new("test"),
        bad.as_os_str(),
        unclosed.as_os_str(),
        good.as_os_str(),
        OsStr::new("--bin"),
        bin.path().as_os_str(),
    ]);
    assert_eq!(out.code, 1, "{}", out.dump());
    assert!(
        out.stdout.contains(&format!("{}:3:3: invalid JSON: expected `,` or `]`", bad.display())),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains(&format!("{}:2:2: unterminated /* comment", unclosed.display())), "{}", out.dump());
    // The good recipe still ran; each broken recipe counts as one failure.
    assert_eq!(out.summary(), "1 passed, 2 failed, 0 skipped, 3 total", "{}", out.dump());
}

#[test]
fn test_bad_steps_fail_with_reasons_never_skipped() {
    let out = run_recipe(
        r#"[
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" },
  { "Action": "Restart" },
  { "ObjectType": "Reported", "ComponentName": "C", "ObjectName": "o", "ExpectedResults": 22 },
  { "Comment": "what is this" },
  { "Action": "LoadModule", "Module": "nonexistent.so" },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" },
  { "Action": "UnloadModule" },
  { "Action": "UnloadModule" }
]"#,
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.dump());
    let (passed, failed, skipped, total) = counts(out.summary());
    assert_eq!((passed, failed, skipped, total), (0, 6, 2, 8), "{}", out.dump());
    for text in [
        "[ 1] FAIL Reported SampleComponent.reportedStringObject (line 2): no module is loaded (a LoadModule step must come first)",
        "[ 2] FAIL invalid step (line 3): invalid step: unknown Action 'Restart'",
        "[ 3] FAIL invalid step (line 4): invalid step: unknown key 'ExpectedResults' in a Reported step",
        "[ 4] FAIL invalid step (line 5): invalid step: unknown step: it has none of the keys Action, ObjectType or RunCommand",
        "[ 5] FAIL LoadModule nonexistent.so (line 6): module nonexistent.so not found in",
        "[ 6] SKIP Reported SampleComponent.reportedStringObject (line 7): module nonexistent.so did not load",
        "[ 7] SKIP UnloadModule (line 8): module nonexistent.so did not load",
        "[ 8] FAIL UnloadModule (line 9): no module is loaded",
    ] {
        assert!(out.stdout.contains(text), "missing {text:?}\n{}", out.dump());
    }
}

#[test]
fn test_crashing_module_through_host_fails_steps_and_runner_survives() {
    let host = modulehost();
    let out = run_recipe(
        r#"[
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Reported", "ComponentName": "Fixture", "ObjectName": "crash", "ExpectedResult": 22 },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" },
  { "Action": "UnloadModule" },
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject", "Payload": "" },
  { "Action": "UnloadModule" }
]"#,
        &[OsStr::new("--host"), host.as_os_str()],
    );
    assert_eq!(out.code, 1, "{}", out.dump());
    assert_eq!(out.summary(), "4 passed, 3 failed, 0 skipped, 7 total", "{}", out.dump());
    assert!(out.stdout.contains("[ 2] FAIL Reported Fixture.crash"), "{}", out.dump());
    assert!(out.stdout.contains("the module host ended (killed by signal 6)"), "{}", out.dump());
    assert!(out.stdout.contains("[ 4] FAIL UnloadModule"), "{}", out.dump());
}

#[test]
fn test_hanging_module_in_process_times_out() {
    let out = run_recipe(
        r#"[
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Desired", "ComponentName": "Fixture", "ObjectName": "hang", "Payload": 1, "ExpectedResult": 22 },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" },
  { "Action": "UnloadModule" },
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" }
]"#,
        &[OsStr::new("--call-timeout"), OsStr::new("1")],
    );
    assert_eq!(out.code, 1, "{}", out.dump());
    assert!(
        out.stdout.contains("[ 2] FAIL Desired Fixture.hang (line 3): the module did not answer within 1 s"),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains("[ 3] FAIL"), "{}", out.dump());
    // A second copy loads fine (same library, new session) while the first thread stays stuck.
    assert!(out.stdout.contains("[ 6] PASS"), "{}", out.dump());
}

#[test]
fn test_hanging_module_through_host_times_out_and_host_is_stopped() {
    let host = modulehost();
    let out = run_recipe(
        r#"[
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Desired", "ComponentName": "Fixture", "ObjectName": "hang", "Payload": 1, "ExpectedResult": 22 },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject" },
  { "Action": "UnloadModule" },
  { "Action": "LoadModule", "Module": "fixture.so" },
  { "ObjectType": "Reported", "ComponentName": "SampleComponent", "ObjectName": "reportedStringObject", "Payload": "" }
]"#,
        &[OsStr::new("--host"), host.as_os_str(), OsStr::new("--call-timeout"), OsStr::new("1")],
    );
    assert_eq!(out.code, 1, "{}", out.dump());
    assert_eq!(out.summary(), "3 passed, 3 failed, 0 skipped, 6 total", "{}", out.dump());
    assert!(
        out.stdout.contains("[ 2] FAIL Desired Fixture.hang (line 3): module host failure: MmiSet:"),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains("[ 3] FAIL Reported SampleComponent.reportedStringObject (line 4): module host failure: not called: an earlier call failed"), "{}", out.dump());
    // Unload stops the host even though the module never returned.
    assert!(out.stdout.contains("[ 4] FAIL UnloadModule (line 5)"), "{}", out.dump());
    assert!(out.stdout.contains("after SIGTERM"), "{}", out.dump());
}

#[test]
fn test_usage_help_version() {
    let out = run(&[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("usage: osconfigctl <command>"), "{}", out.dump());
    let out = run(&[OsStr::new("--help")]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("test <recipe.json>..."), "{}", out.dump());
    let out = run(&[OsStr::new("--version")]);
    assert_eq!((out.code, out.stdout.trim()), (0, concat!("osconfigctl ", env!("CARGO_PKG_VERSION"))));
    let out = run(&[OsStr::new("frob")]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unknown command 'frob'"), "{}", out.dump());
    let out = run(&[OsStr::new("test")]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no recipe files given"), "{}", out.dump());
    let out = run(&[OsStr::new("test"), OsStr::new("--help")]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--root <dir>"), "{}", out.dump());
    let out = run(&[OsStr::new("test"), OsStr::new("r.json"), OsStr::new("--host"), OsStr::new("/nonexistent/host")]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--host: /nonexistent/host is not a file"), "{}", out.dump());
}
