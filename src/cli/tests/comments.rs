//! Comments in recipes end to end: markers inside strings reach the module unchanged, comments anywhere between
//! tokens are ignored, nested-looking and unclosed comments behave as documented.

mod common;

use std::ffi::OsStr;

use common::{module_dir, run, write_recipe, TempRoot};
use osconfig_cli::recipe::comments::strip_comments;

#[test]
fn test_comment_markers_in_strings_reach_the_module() {
    let bin = module_dir();
    let dir = TempRoot::new("comments");
    let recipe = write_recipe(
        dir.path(),
        "tricky.json",
        r#"/* leading block */ [ // line comment after the bracket
  {"Action": /* between key and value */ "LoadModule", "Module": "fixture.so"}, // trailing
  {
    "ObjectType": "Desired", "ComponentName": "Fixture", "ObjectName": "echo",
    "Payload": {"url": "http://example.com/a//b", "c": "/* not a comment */", "q": "quote \" // still a string", "bs": "\\"}
  },
  /* a block
     over lines, with "quotes" and // markers */
  {
    "ObjectType": "Reported", "ComponentName": "Fixture", "ObjectName": "echo",
    "Payload": {"bs": "\\", "q": "quote \" // still a string", "c": "/* not a comment */", "url": "http://example.com/a//b"}
  },
  {"ObjectType": "Desired", "ComponentName": "Fixture", "ObjectName": "echo", "Json": "\"/*raw*/\""},
  {"ObjectType": "Reported", "ComponentName": "Fixture", "ObjectName": "echo", "Payload": "/*raw*/"},
  {"Action": "UnloadModule"} /* before the end */
] // after the end"#,
    );
    let out = run(&[OsStr::new("test"), recipe.as_os_str(), OsStr::new("--bin"), bin.path().as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.dump());
    assert_eq!(out.summary(), "6 passed, 0 failed, 0 skipped, 6 total", "{}", out.dump());
    // Step lines are the lines of the original file.
    assert!(out.stdout.contains("[ 2] PASS Desired Fixture.echo (line 3)"), "{}", out.dump());
    assert!(out.stdout.contains("[ 3] PASS Reported Fixture.echo (line 9)"), "{}", out.dump());
}

#[test]
fn test_nested_looking_comment_is_an_error_with_position() {
    let dir = TempRoot::new("nested");
    let recipe = write_recipe(
        dir.path(),
        "nested.json",
        "[\n  /* outer /* inner */ still outer */\n  {\"RunCommand\": \"true\"}\n]",
    );
    let out = run(&[OsStr::new("test"), OsStr::new("--check"), recipe.as_os_str()]);
    assert_eq!(out.code, 1, "{}", out.dump());
    assert!(
        out.stdout.contains(&format!("{}:2:24: invalid JSON: expected value\n", recipe.display())),
        "{}",
        out.dump()
    );
}

#[test]
fn test_strip_comments_keeps_length_and_lines() {
    for text in [
        "[1, // a \"quoted\" comment\n 2]",
        "[\"//\", \"/*\", \"*/\"] /* \" */",
        "[\"\\\\\" /* after an escaped backslash */, \"\\\"/*\"]",
        "/**/[/***/1/* ** / */]//",
    ] {
        let out = strip_comments(text).unwrap();
        assert_eq!(out.len(), text.len(), "{text}");
        assert_eq!(out.matches('\n').count(), text.matches('\n').count(), "{text}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{text}: {e}: {out}"));
    }
}
