//! Every recipe in tests/recipes/ through the built osconfigctl, in-process and through the module host, each run
//! in its own scratch root (`--root`), with the CommandRunner power commands overridden in the environment.

mod common;

use std::ffi::OsStr;

use common::{counts, module_dir, modulehost, our_recipes, run, TempRoot};

/// The recipes we must have, one per module.
const EXPECTED: [&str; 4] = ["commandrunner.json", "configuration.json", "deviceinfo.json", "hostname.json"];

fn run_all(host: Option<&std::path::Path>) {
    let recipes = our_recipes();
    for name in EXPECTED {
        assert!(recipes.iter().any(|r| r.ends_with(name)), "tests/recipes/{name} is missing");
    }
    let bin = module_dir();
    let root = TempRoot::new("root");
    let mut args: Vec<&OsStr> = recipes.iter().map(|r| r.as_os_str()).collect();
    args.insert(0, OsStr::new("test"));
    args.extend([OsStr::new("--bin"), bin.path().as_os_str(), OsStr::new("--root"), root.path().as_os_str()]);
    if let Some(host) = host {
        args.extend([OsStr::new("--host"), host.as_os_str()]);
    }
    let out = run(&args);
    let (passed, failed, skipped, total) = counts(out.summary());
    assert_eq!((out.code, failed, skipped), (0, 0, 0), "{}", out.dump());
    assert_eq!(passed, total);
    assert!(passed > 200, "only {passed} steps ran\n{}", out.dump());
    // One count line per recipe, each without failures.
    for recipe in &recipes {
        let line = format!("{}: ", recipe.display());
        let count = out.stdout.lines().find(|l| l.starts_with(&line)).unwrap_or_else(|| panic!("no count for {line}"));
        assert!(count.contains(" 0 failed, 0 skipped"), "{count}");
    }
    eprintln!("{}: {}", if host.is_some() { "module host" } else { "in-process" }, out.summary());
}

#[test]
fn test_our_recipes_in_process() {
    run_all(None);
}

#[test]
fn test_our_recipes_through_module_host() {
    let host = modulehost();
    run_all(Some(&host));
}
