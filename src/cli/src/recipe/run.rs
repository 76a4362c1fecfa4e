//! Running a recipe's steps against a [`Backend`].
//!
//! Rules:
//! - `WaitSeconds` sleeps before any step.
//! - `LoadModule` finds the file in the module directory as given (`hostname.so`) or with cargo's `lib` prefix
//!   (`libhostname.so`); an absolute `Module` is used as is. A module already loaded is unloaded first (if that
//!   fails, the `LoadModule` step fails with both results).
//! - `Reported` / `Desired` need a loaded module: before any `LoadModule` they fail ("no module is loaded"); after
//!   a `LoadModule` that failed they are skipped (that `LoadModule` step already failed), until the next
//!   `LoadModule` or `UnloadModule`.
//! - A status other than `ExpectedResult` fails the step, for `Desired` steps too (the reference counts failing
//!   `Desired` steps as passed; we do not). A broken module (hung, host gone) fails the step whatever the
//!   expected result.
//! - `RunCommand` runs `/bin/sh -c <command>` with the runner's environment (see [`crate::recipe::command`]); the
//!   exit code (128 + signal when killed) must equal `ExpectedResult`, within the command time limit. Its output is
//!   shown on failure (and always with `--verbose`).
//! - When a step with `AbortOnFailure` fails, the rest of the recipe is skipped.
//! - A module still loaded at the end of the recipe is unloaded; when that fails, it is printed and counted as one
//!   more failed step (`[end] FAIL`), so a module or host that cannot be stopped fails the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use osconfig_mmi::Errno;

use crate::recipe::command::run_shell;
use crate::recipe::compare::{check_payload, MAX_SHOWN_CHARS};
use crate::recipe::parse::Recipe;
use crate::recipe::report::{Outcome, Reporter, Tally};
use crate::recipe::step::{shorten, Step, StepKind};
use crate::target::{describe_info, error_chain, Backend, Target, TargetError};

/// The default module directory (`--bin`).
pub const DEFAULT_MODULE_DIR: &str = "/usr/lib/osconfig";

/// The default time limit of a `RunCommand` step.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// How much of a failed command's output is shown (the tail).
const MAX_COMMAND_OUTPUT_SHOWN: usize = 600;

/// Runs recipes.
pub struct Runner<'a> {
    backend: &'a mut dyn Backend,
    module_dir: PathBuf,
    command_timeout: Duration,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("module_dir", &self.module_dir).finish_non_exhaustive()
    }
}

/// The module currently loaded.
struct Loaded {
    name: String,
    target: Box<dyn Target>,
}

/// The state of one recipe run.
struct RunState {
    loaded: Option<Loaded>,
    /// The `Module` of the last `LoadModule` step, when it failed.
    failed_load: Option<String>,
    /// The number of the `AbortOnFailure` step that failed.
    aborted_at: Option<usize>,
}

impl<'a> Runner<'a> {
    /// A runner loading modules from `module_dir` through `backend`.
    pub fn new(backend: &'a mut dyn Backend, module_dir: impl Into<PathBuf>) -> Runner<'a> {
        Runner { backend, module_dir: module_dir.into(), command_timeout: DEFAULT_COMMAND_TIMEOUT }
    }

    /// Sets the time limit of `RunCommand` steps (default [`DEFAULT_COMMAND_TIMEOUT`]); a command still running
    /// then is killed with its process group and the step fails.
    pub fn with_command_timeout(mut self, limit: Duration) -> Runner<'a> {
        self.command_timeout = limit;
        self
    }

    /// Runs every step of `recipe`, printing each outcome; returns the counts.
    pub fn run<W: Write>(&mut self, recipe: &Recipe, report: &mut Reporter<W>) -> Tally {
        let mut tally = Tally::default();
        let mut state = RunState { loaded: None, failed_load: None, aborted_at: None };
        for step in &recipe.steps {
            let outcome = match state.aborted_at {
                Some(n) => Outcome::Skipped(format!("step {n} failed and has AbortOnFailure")),
                None => {
                    if let Some(wait) = step.wait {
                        report.detail(&format!("waiting {} s", wait.as_secs_f64()));
                        std::thread::sleep(wait);
                    }
                    self.step(step, &mut state, report)
                }
            };
            if outcome.is_failure() && step.abort_on_failure && state.aborted_at.is_none() {
                state.aborted_at = Some(step.number);
            }
            report.step(step, &outcome);
            tally.add(&outcome);
        }
        if let Some(loaded) = state.loaded.take() {
            report.detail(&format!("unloading {} at the end of the recipe", loaded.name));
            if let Err(e) = loaded.target.unload() {
                let outcome = Outcome::Failed(format!("unloading {}: {}", loaded.name, error_chain(&e)));
                report.end_of_recipe(&outcome);
                tally.add(&outcome);
            }
        }
        tally
    }

    fn step<W: Write>(&mut self, step: &Step, state: &mut RunState, report: &mut Reporter<W>) -> Outcome {
        match &step.kind {
            StepKind::Invalid { reason } => Outcome::Failed(format!("invalid step: {reason}")),
            StepKind::LoadModule { module } => self.load(module, state),
            StepKind::UnloadModule => unload(state),
            StepKind::RunCommand { command, expected_result } => {
                run_command(command, *expected_result, self.command_timeout, report)
            }
            StepKind::Reported { .. } | StepKind::Desired { .. } => {
                let Some(loaded) = state.loaded.as_mut() else {
                    return match &state.failed_load {
                        Some(module) => Outcome::Skipped(format!("module {module} did not load")),
                        None => Outcome::Failed("no module is loaded (a LoadModule step must come first)".to_string()),
                    };
                };
                call(loaded.target.as_mut(), &step.kind, report)
            }
        }
    }

    fn load(&mut self, module: &str, state: &mut RunState) -> Outcome {
        let mut note = String::new();
        let mut unload_failure = None;
        if let Some(previous) = state.loaded.take() {
            note = format!(" (unloaded {} first)", previous.name);
            if let Err(e) = previous.target.unload() {
                unload_failure = Some(format!("unloading {} first failed: {}", previous.name, error_chain(&e)));
            }
        }
        state.failed_load = Some(module.to_string());
        let Some(path) = resolve_module(&self.module_dir, module) else {
            return Outcome::Failed(format!(
                "module {module} not found in {} (also tried lib{module})",
                self.module_dir.display()
            ));
        };
        match self.backend.load(&path) {
            Ok(target) => {
                let detail =
                    format!("{} ({}, {}){note}", describe_info(target.info()), path.display(), target.location());
                state.failed_load = None;
                state.loaded = Some(Loaded { name: module.to_string(), target });
                match unload_failure {
                    None => Outcome::Passed(detail),
                    Some(why) => Outcome::Failed(format!("loaded {detail}, but {why}")),
                }
            }
            Err(e) => Outcome::Failed(match unload_failure {
                None => error_chain(&e),
                Some(why) => format!("{}; and {why}", error_chain(&e)),
            }),
        }
    }
}

/// The module file for a `Module` value: absolute paths as is; else `<dir>/<name>`, then `<dir>/lib<name>`.
/// The result is absolute when `dir` is.
pub fn resolve_module(dir: &Path, module: &str) -> Option<PathBuf> {
    let given = Path::new(module);
    if given.is_absolute() {
        return given.is_file().then(|| given.to_path_buf());
    }
    let plain = dir.join(module);
    if plain.is_file() {
        return Some(plain);
    }
    let file_name = given.file_name()?.to_string_lossy();
    let prefixed = dir.join(given.with_file_name(format!("lib{file_name}")));
    prefixed.is_file().then_some(prefixed)
}

fn unload(state: &mut RunState) -> Outcome {
    let failed_load = state.failed_load.take();
    match state.loaded.take() {
        Some(loaded) => match loaded.target.unload() {
            Ok(()) => Outcome::Passed(loaded.name),
            Err(e) => Outcome::Failed(error_chain(&e)),
        },
        None => match failed_load {
            Some(module) => Outcome::Skipped(format!("module {module} did not load")),
            None => Outcome::Failed("no module is loaded".to_string()),
        },
    }
}

/// An MMI status for messages: `0`, `22 (EINVAL)`.
fn status_text(status: i32) -> String {
    match Errno(status).name() {
        Some(name) if status != 0 => format!("{status} ({name})"),
        _ => status.to_string(),
    }
}

fn call<W: Write>(target: &mut dyn Target, kind: &StepKind, report: &mut Reporter<W>) -> Outcome {
    let (result, expected_result) = match kind {
        StepKind::Reported { component, object, expected_result, .. } => {
            (target.get(component, object).map(Some), *expected_result)
        }
        StepKind::Desired { component, object, payload, expected_result } => {
            report.detail(&format!("MmiSet payload ({} bytes): {}", payload.len(), String::from_utf8_lossy(payload)));
            (target.set(component, object, payload).map(|()| None), *expected_result)
        }
        _ => unreachable!("only Reported and Desired steps call the module"),
    };
    let (status, reported) = match result {
        Ok(reported) => (0, reported),
        Err(TargetError::Module(e)) => (e.0, None),
        Err(other) => return Outcome::Failed(error_chain(&other)),
    };
    if let Some(bytes) = &reported {
        report.detail(&format!("MmiGet payload ({} bytes): {}", bytes.len(), String::from_utf8_lossy(bytes)));
    }
    if status != expected_result {
        let mut why = format!("expected result {}, got {}", status_text(expected_result), status_text(status));
        if let Some(bytes) = &reported {
            why.push_str(&format!(" with payload {}", shorten(&String::from_utf8_lossy(bytes), MAX_SHOWN_CHARS)));
        }
        return Outcome::Failed(why);
    }
    match (kind, &reported) {
        (StepKind::Reported { payload: Some(expected), .. }, Some(bytes)) => match check_payload(expected, bytes) {
            Ok(()) => Outcome::Passed(shorten(&String::from_utf8_lossy(bytes), 80)),
            Err(why) => Outcome::Failed(why),
        },
        (_, Some(bytes)) => Outcome::Passed(shorten(&String::from_utf8_lossy(bytes), 80)),
        (_, None) if status != 0 => Outcome::Passed(format!("result {}", status_text(status))),
        (_, None) => Outcome::Passed(String::new()),
    }
}

fn run_command<W: Write>(command: &str, expected_result: i32, limit: Duration, report: &mut Reporter<W>) -> Outcome {
    let result = match run_shell(command, limit) {
        Ok(result) => result,
        Err(e) => return Outcome::Failed(format!("cannot run /bin/sh: {e}")),
    };
    let text = result.output;
    let Some(code) = result.code else {
        report.detail(&text);
        return Outcome::Failed(format!("the command did not finish within {} s (killed)", limit.as_secs_f64()));
    };
    if !text.is_empty() {
        report.detail(&text);
    }
    if code == expected_result {
        return Outcome::Passed(if code == 0 { String::new() } else { format!("exit code {code}") });
    }
    let mut why = format!("expected exit code {expected_result}, got {code}");
    let text = text.trim_end();
    if !text.is_empty() {
        let tail: String = {
            let chars: Vec<char> = text.chars().collect();
            chars[chars.len().saturating_sub(MAX_COMMAND_OUTPUT_SHOWN)..].iter().collect()
        };
        why.push_str(&format!("; output: {}", tail.replace('\n', " | ")));
    }
    Outcome::Failed(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::parse::parse_str;
    use osconfig_mmi::ModuleInfo;
    use std::collections::HashMap;

    /// A scripted module: `get` answers from a table, `set` stores the payload text under the object.
    struct FakeTarget {
        info: ModuleInfo,
        values: HashMap<String, Result<Vec<u8>, i32>>,
    }

    impl Target for FakeTarget {
        fn info(&self) -> &ModuleInfo {
            &self.info
        }
        fn location(&self) -> String {
            "fake".to_string()
        }
        fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, TargetError> {
            match self.values.get(&format!("{component}.{object}")) {
                Some(Ok(v)) => Ok(v.clone()),
                Some(Err(e)) => Err(TargetError::Module(Errno(*e))),
                None => Err(TargetError::Module(Errno::EINVAL)),
            }
        }
        fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), TargetError> {
            if serde_json::from_slice::<serde_json::Value>(payload).is_err() {
                return Err(TargetError::Module(Errno::EINVAL));
            }
            if object == "hang" {
                return Err(TargetError::Hung(std::time::Duration::from_secs(1)));
            }
            self.values.insert(format!("{component}.{object}"), Ok(payload.to_vec()));
            Ok(())
        }
        fn unload(self: Box<Self>) -> Result<(), TargetError> {
            match self.values.get("C.stuck") {
                Some(_) => Err(TargetError::Host("did not stop".into())),
                None => Ok(()),
            }
        }
    }

    struct FakeBackend;

    impl Backend for FakeBackend {
        fn load(&mut self, path: &Path) -> Result<Box<dyn Target>, TargetError> {
            if path.ends_with("broken.so") {
                return Err(TargetError::Load("MmiGetInfo failed".into()));
            }
            let info = ModuleInfo { name: "Fake".into(), ..ModuleInfo::default() };
            let mut values = HashMap::new();
            values.insert("C.n".to_string(), Ok(b"1.0".to_vec()));
            values.insert("C.s".to_string(), Ok(br#""PASS: ok""#.to_vec()));
            values.insert("C.e".to_string(), Err(61));
            Ok(Box::new(FakeTarget { info, values }))
        }
    }

    /// A fresh directory with the fake module files; the caller removes it.
    fn module_dir() -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfigctl-run-unit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libfake.so"), b"").unwrap();
        std::fs::write(dir.join("broken.so"), b"").unwrap();
        dir
    }

    fn run(text: &str) -> (Tally, String) {
        let recipe = parse_str(text, Path::new("t.json")).unwrap();
        let mut backend = FakeBackend;
        let dir = module_dir();
        let mut runner = Runner::new(&mut backend, &dir);
        let mut report = Reporter::new(Vec::new(), false);
        let tally = runner.run(&recipe, &mut report);
        std::fs::remove_dir_all(&dir).unwrap();
        (tally, String::from_utf8(report.into_inner()).unwrap())
    }

    #[test]
    fn test_run_passes_and_fails_per_rules() {
        let (tally, out) = run(r#"[
            {"Action":"LoadModule","Module":"fake.so"},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"n","Payload":1},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"n","Payload":2},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"s","Payload":"PASS*"},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"e","ExpectedResult":61},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"x"},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"d","Json":"{bad","ExpectedResult":22},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"d","Json":"{bad"},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"d","Payload":[1]},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"d","Payload":[1.0]},
            {"Action":"UnloadModule"}
        ]"#);
        assert_eq!(tally, Tally { passed: 8, failed: 3, skipped: 0 }, "{out}");
        assert!(out.contains("[ 3] FAIL Reported C.n (line 4): expected payload 2, got 1.0"), "{out}");
        assert!(out.contains("[ 6] FAIL Reported C.x (line 7): expected result 0, got 22 (EINVAL)"), "{out}");
        assert!(out.contains("[ 8] FAIL Desired C.d (line 9): expected result 0, got 22 (EINVAL)"), "{out}");
    }

    #[test]
    fn test_run_module_steps_without_load_fail() {
        let (tally, out) = run(r#"[
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"n"},
            {"Action":"UnloadModule"},
            {"Whatever":1}
        ]"#);
        assert_eq!(tally, Tally { passed: 0, failed: 3, skipped: 0 });
        assert!(out.contains("no module is loaded (a LoadModule step must come first)"), "{out}");
        assert!(out.contains("invalid step: unknown step"), "{out}");
    }

    #[test]
    fn test_run_failed_load_skips_module_steps() {
        let (tally, out) = run(r#"[
            {"Action":"LoadModule","Module":"broken.so"},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"n"},
            {"Action":"UnloadModule"},
            {"Action":"LoadModule","Module":"missing.so"},
            {"Action":"LoadModule","Module":"fake.so"},
            {"ObjectType":"Reported","ComponentName":"C","ObjectName":"n"}
        ]"#);
        assert_eq!(tally, Tally { passed: 2, failed: 2, skipped: 2 }, "{out}");
        assert!(out.contains("cannot load the module: MmiGetInfo failed"), "{out}");
        assert!(out.contains("SKIP Reported C.n (line 3): module broken.so did not load"), "{out}");
        assert!(out.contains("module missing.so not found in"), "{out}");
    }

    #[test]
    fn test_run_abort_on_failure_skips_rest() {
        let (tally, out) = run(r#"[
            {"RunCommand":"exit 3","ExpectedResult":3},
            {"RunCommand":"echo nope; exit 1","AbortOnFailure":true},
            {"Action":"LoadModule","Module":"fake.so"},
            {"RunCommand":"true"}
        ]"#);
        assert_eq!(tally, Tally { passed: 1, failed: 1, skipped: 2 }, "{out}");
        assert!(out.contains("expected exit code 0, got 1; output: nope"), "{out}");
        assert!(out.contains("SKIP RunCommand 'true' (line 5): step 2 failed and has AbortOnFailure"), "{out}");
    }

    #[test]
    fn test_run_broken_target_fails_even_if_error_expected() {
        let (tally, out) = run(r#"[
            {"Action":"LoadModule","Module":"fake.so"},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"hang","Payload":1,"ExpectedResult":22}
        ]"#);
        assert_eq!(tally, Tally { passed: 1, failed: 1, skipped: 0 }, "{out}");
        assert!(out.contains("did not answer within 1 s"), "{out}");
    }

    #[test]
    fn test_run_failed_unload_at_end_counts_as_failure() {
        let (tally, out) = run(r#"[
            {"Action":"LoadModule","Module":"fake.so"},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"stuck","Payload":1}
        ]"#);
        assert_eq!(tally, Tally { passed: 2, failed: 1, skipped: 0 }, "{out}");
        assert!(
            out.contains(
                "  [end] FAIL UnloadModule (end of recipe): unloading fake.so: module host failure: did not stop"
            ),
            "{out}"
        );
    }

    #[test]
    fn test_run_command_time_limit() {
        let recipe = parse_str(r#"[{"RunCommand":"sleep 30"}, {"RunCommand":"true"}]"#, Path::new("t.json")).unwrap();
        let mut backend = FakeBackend;
        let mut report = Reporter::new(Vec::new(), false);
        let tally = Runner::new(&mut backend, "/nonexistent")
            .with_command_timeout(Duration::from_millis(300))
            .run(&recipe, &mut report);
        let out = String::from_utf8(report.into_inner()).unwrap();
        assert_eq!(tally, Tally { passed: 1, failed: 1, skipped: 0 }, "{out}");
        assert!(out.contains("the command did not finish within 0.3 s (killed)"), "{out}");
    }

    #[test]
    fn test_run_load_over_module_that_fails_to_unload() {
        let (tally, out) = run(r#"[
            {"Action":"LoadModule","Module":"fake.so"},
            {"ObjectType":"Desired","ComponentName":"C","ObjectName":"stuck","Payload":1},
            {"Action":"LoadModule","Module":"fake.so"},
            {"Action":"LoadModule","Module":"fake.so"}
        ]"#);
        assert_eq!(tally, Tally { passed: 3, failed: 1, skipped: 0 }, "{out}");
        assert!(out.contains("[ 3] FAIL LoadModule fake.so (line 4): loaded Fake 0.0.0"), "{out}");
        assert!(out.contains("but unloading fake.so first failed: module host failure: did not stop"), "{out}");
        assert!(out.contains("[ 4] PASS LoadModule fake.so (line 5): Fake 0.0.0"), "{out}");
    }

    #[test]
    fn test_run_command_signal_exit_code() {
        let (tally, out) = run(r#"[{"RunCommand":"kill -9 $$","ExpectedResult":137}]"#);
        assert_eq!(tally.passed, 1, "{out}");
    }

    #[test]
    fn test_resolve_module_plain_prefixed_absolute() {
        let dir = module_dir();
        assert_eq!(resolve_module(&dir, "fake.so"), Some(dir.join("libfake.so")));
        assert_eq!(resolve_module(&dir, "broken.so"), Some(dir.join("broken.so")));
        assert_eq!(resolve_module(&dir, "none.so"), None);
        let abs = dir.join("broken.so");
        assert_eq!(resolve_module(Path::new("/elsewhere"), abs.to_str().unwrap()), Some(abs));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
