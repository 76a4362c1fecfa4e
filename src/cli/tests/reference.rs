//! The reference recipes (../shared/reference/recipes beside the repository; skipped with a note when absent)
//! all parse, and SampleTests.json runs against the fixture module (which implements the Sample MIM), loaded as
//! `sample.so`, in-process and through the module host.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;

use common::{counts, module_dir, modulehost, reference_recipes_dir, run, TempRoot};
use osconfig_cli::recipe::parse::parse_file;
use osconfig_cli::recipe::step::StepKind;

fn reference_recipes() -> Option<Vec<PathBuf>> {
    let dir = reference_recipes_dir()?;
    let mut recipes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    recipes.sort();
    assert!(!recipes.is_empty());
    Some(recipes)
}

#[test]
fn test_reference_recipes_all_parse() {
    let Some(recipes) = reference_recipes() else { return };
    for path in &recipes {
        let recipe = parse_file(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!recipe.steps.is_empty(), "{}", path.display());
        for step in &recipe.steps {
            assert!(
                !matches!(step.kind, StepKind::Invalid { .. }),
                "{}: step {}: {:?}",
                path.display(),
                step.number,
                step.kind
            );
            assert!(step.line > 0, "{}: step {} has no line", path.display(), step.number);
        }
    }
    // The same through the CLI.
    let mut args: Vec<&OsStr> = vec![OsStr::new("test"), OsStr::new("--check")];
    args.extend(recipes.iter().map(|p| p.as_os_str()));
    let out = run(&args);
    let (passed, failed, skipped, total) = counts(out.summary());
    assert_eq!((out.code, failed, skipped), (0, 0, 0), "{}", out.dump());
    eprintln!("{} reference recipes, {passed} of {total} steps parse", recipes.len());
}

fn run_sample(host: Option<&std::path::Path>) -> (usize, usize, usize, usize) {
    let Some(dir) = reference_recipes_dir() else { return (0, 0, 0, 0) };
    let bin = module_dir();
    let root = TempRoot::new("sample-root");
    let sample = dir.join("SampleTests.json");
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("test"),
        sample.as_os_str(),
        OsStr::new("--bin"),
        bin.path().as_os_str(),
        OsStr::new("--root"),
        root.path().as_os_str(),
    ];
    if let Some(host) = host {
        args.extend([OsStr::new("--host"), host.as_os_str()]);
    }
    let out = run(&args);
    let result = counts(out.summary());
    assert_eq!((out.code, result.1, result.2), (0, 0, 0), "{}", out.dump());
    assert!(out.stdout.contains("PASS LoadModule sample.so (line 2): Fixture 1.0.0"), "{}", out.dump());
    eprintln!(
        "SampleTests.json {}: {}",
        if host.is_some() { "through the module host" } else { "in-process" },
        out.summary()
    );
    result
}

#[test]
fn test_sample_recipe_runs_against_fixture_in_process() {
    let (passed, _, _, total) = run_sample(None);
    assert_eq!(passed, total);
}

#[test]
fn test_sample_recipe_runs_against_fixture_through_module_host() {
    if reference_recipes_dir().is_none() {
        return;
    }
    let host = modulehost();
    let (passed, _, _, total) = run_sample(Some(&host));
    assert_eq!(passed, total);
}
