//! Recipe steps: the JSON shapes of spec section 6, checked key by key.
//!
//! A step that has the wrong shape (unknown keys, a missing or wrong-typed field, an unknown `Action` or
//! `ObjectType`) is not an error of the whole recipe: it becomes [`StepKind::Invalid`] with the reason, and fails
//! when it is run. Nothing is skipped silently.

use std::time::Duration;

pub use osconfig_mim::kind as kind_of;
use serde_json::{Map, Value};

/// The longest `WaitSeconds` accepted (one day), so a typo cannot hang a test run for years.
pub const MAX_WAIT_SECONDS: f64 = 86_400.0;

/// One step of a recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based position in the recipe.
    pub number: usize,
    /// 1-based line of the step's first character in the recipe file (0 when unknown).
    pub line: usize,
    /// `WaitSeconds`: sleep this long before the step.
    pub wait: Option<Duration>,
    /// `AbortOnFailure` (our extension): when this step fails, the rest of the recipe is skipped. Used as a guard
    /// ("the root is a scratch directory", "the reboot command is overridden") before steps that would otherwise
    /// change the real machine.
    pub abort_on_failure: bool,
    /// What the step does.
    pub kind: StepKind,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// `{"Action":"LoadModule","Module":"x.so"}`.
    LoadModule {
        /// The module file name (looked up in the `--bin` directory) or an absolute path.
        module: String,
    },
    /// `{"Action":"UnloadModule"}`.
    UnloadModule,
    /// `{"ObjectType":"Reported",...}`: `MmiGet`.
    Reported {
        /// `ComponentName`.
        component: String,
        /// `ObjectName`.
        object: String,
        /// `Payload`: the value the module must report (see [`crate::recipe::compare`]).
        payload: Option<Value>,
        /// `ExpectedResult` (default 0).
        expected_result: i32,
    },
    /// `{"ObjectType":"Desired",...}`: `MmiSet`.
    Desired {
        /// `ComponentName`.
        component: String,
        /// `ObjectName`.
        object: String,
        /// The bytes passed to `MmiSet`: `Payload` serialized compactly, or the `Json` text as is, cut to
        /// `PayloadSizeBytes` when that is smaller.
        payload: Vec<u8>,
        /// `ExpectedResult` (default 0).
        expected_result: i32,
    },
    /// `{"RunCommand":"<shell>"}`: `/bin/sh -c`.
    RunCommand {
        /// The shell command line.
        command: String,
        /// `ExpectedResult`: the exit code (default 0).
        expected_result: i32,
    },
    /// A step whose shape is wrong; it fails with this reason when run.
    Invalid {
        /// Why the step is not valid.
        reason: String,
    },
}

impl StepKind {
    /// Whether the step calls a loaded module.
    pub fn needs_module(&self) -> bool {
        matches!(self, StepKind::Reported { .. } | StepKind::Desired { .. })
    }
}

impl Step {
    /// Builds a step from its JSON value; a wrong shape gives [`StepKind::Invalid`].
    pub fn from_value(number: usize, line: usize, value: &Value) -> Step {
        let (kind, wait, abort_on_failure) = match parse(value) {
            Ok(parsed) => parsed,
            Err(reason) => (StepKind::Invalid { reason }, None, false),
        };
        Step { number, line, wait, abort_on_failure, kind }
    }

    /// A one-line description: `LoadModule hostname.so`, `Reported HostName.name`, `RunCommand 'ls'`.
    pub fn describe(&self) -> String {
        match &self.kind {
            StepKind::LoadModule { module } => format!("LoadModule {module}"),
            StepKind::UnloadModule => "UnloadModule".to_string(),
            StepKind::Reported { component, object, .. } => format!("Reported {}.{}", name(component), name(object)),
            StepKind::Desired { component, object, .. } => format!("Desired {}.{}", name(component), name(object)),
            StepKind::RunCommand { command, .. } => format!("RunCommand '{}'", shorten(command, 70)),
            StepKind::Invalid { .. } => "invalid step".to_string(),
        }
    }
}

/// A component or object name for messages; an empty one shows as `""`.
fn name(text: &str) -> &str {
    if text.is_empty() {
        "\"\""
    } else {
        text
    }
}

/// `text` cut to `max` characters with an ellipsis, on one line.
pub fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    }
}

type Parsed = (StepKind, Option<Duration>, bool);

fn parse(value: &Value) -> Result<Parsed, String> {
    let obj = value.as_object().ok_or_else(|| format!("a step must be a JSON object, got {}", kind_of(value)))?;
    let markers: Vec<&str> =
        ["Action", "ObjectType", "RunCommand"].into_iter().filter(|k| obj.contains_key(*k)).collect();
    let kind = match markers.as_slice() {
        ["Action"] => action(obj)?,
        ["ObjectType"] => object_step(obj)?,
        ["RunCommand"] => run_command(obj)?,
        [] => return Err("unknown step: it has none of the keys Action, ObjectType or RunCommand".to_string()),
        several => return Err(format!("ambiguous step: it has the keys {} (use one)", several.join(" and "))),
    };
    let wait = match obj.get("WaitSeconds") {
        None => None,
        Some(v) => Some(wait_seconds(v)?),
    };
    let abort = match obj.get("AbortOnFailure") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| format!("AbortOnFailure must be a boolean, got {}", kind_of(v)))?,
    };
    Ok((kind, wait, abort))
}

/// Keys every step may have.
const COMMON_KEYS: [&str; 2] = ["WaitSeconds", "AbortOnFailure"];

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) && !COMMON_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown key '{key}' in a {what} step (allowed: {})", allowed.join(", ")));
        }
    }
    Ok(())
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        None => Err(format!("missing key '{key}'")),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("'{key}' must be a string, got {}", kind_of(v))),
    }
}

fn expected_result(obj: &Map<String, Value>) -> Result<i32, String> {
    match obj.get("ExpectedResult") {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| format!("ExpectedResult must be an integer (an errno or exit code), got {v}")),
    }
}

fn wait_seconds(v: &Value) -> Result<Duration, String> {
    match v.as_f64() {
        Some(s) if (0.0..=MAX_WAIT_SECONDS).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("WaitSeconds must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, got {v}")),
    }
}

fn action(obj: &Map<String, Value>) -> Result<StepKind, String> {
    match string(obj, "Action")? {
        "LoadModule" => {
            check_keys(obj, &["Action", "Module"], "LoadModule")?;
            let module = string(obj, "Module")?;
            if module.is_empty() {
                return Err("'Module' must name a module file, e.g. \"hostname.so\"".to_string());
            }
            Ok(StepKind::LoadModule { module: module.to_string() })
        }
        "UnloadModule" => {
            check_keys(obj, &["Action"], "UnloadModule")?;
            Ok(StepKind::UnloadModule)
        }
        other => Err(format!("unknown Action '{other}' (expected LoadModule or UnloadModule)")),
    }
}

fn object_step(obj: &Map<String, Value>) -> Result<StepKind, String> {
    let object_type = string(obj, "ObjectType")?;
    match object_type {
        "Reported" => {
            check_keys(obj, &["ObjectType", "ComponentName", "ObjectName", "Payload", "ExpectedResult"], "Reported")?;
            Ok(StepKind::Reported {
                component: string(obj, "ComponentName")?.to_string(),
                object: string(obj, "ObjectName")?.to_string(),
                payload: obj.get("Payload").cloned(),
                expected_result: expected_result(obj)?,
            })
        }
        "Desired" => {
            check_keys(
                obj,
                &["ObjectType", "ComponentName", "ObjectName", "Payload", "Json", "PayloadSizeBytes", "ExpectedResult"],
                "Desired",
            )?;
            let mut payload = match (obj.get("Payload"), obj.get("Json")) {
                (Some(v), None) => serde_json::to_vec(v).map_err(|e| format!("cannot serialize Payload: {e}"))?,
                (None, Some(Value::String(raw))) => raw.as_bytes().to_vec(),
                (None, Some(v)) => {
                    return Err(format!("'Json' must be a string of raw payload text, got {}", kind_of(v)))
                }
                (Some(_), Some(_)) => return Err("a Desired step has either 'Payload' or 'Json', not both".to_string()),
                (None, None) => return Err("a Desired step needs 'Payload' (JSON) or 'Json' (raw text)".to_string()),
            };
            if let Some(v) = obj.get("PayloadSizeBytes") {
                let size = v
                    .as_u64()
                    .filter(|&n| n <= i32::MAX as u64)
                    .ok_or_else(|| format!("PayloadSizeBytes must be an integer from 0 to {}, got {v}", i32::MAX))?;
                payload.truncate(size as usize);
            }
            Ok(StepKind::Desired {
                component: string(obj, "ComponentName")?.to_string(),
                object: string(obj, "ObjectName")?.to_string(),
                payload,
                expected_result: expected_result(obj)?,
            })
        }
        other => Err(format!("unknown ObjectType '{other}' (expected Reported or Desired)")),
    }
}

fn run_command(obj: &Map<String, Value>) -> Result<StepKind, String> {
    check_keys(obj, &["RunCommand", "ExpectedResult"], "RunCommand")?;
    Ok(StepKind::RunCommand { command: string(obj, "RunCommand")?.to_string(), expected_result: expected_result(obj)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: Value) -> StepKind {
        Step::from_value(1, 1, &v).kind
    }

    fn reason(v: Value) -> String {
        match kind(v) {
            StepKind::Invalid { reason } => reason,
            other => panic!("expected an invalid step, got {other:?}"),
        }
    }

    #[test]
    fn test_from_value_actions() {
        assert_eq!(
            kind(json!({"Action":"LoadModule","Module":"hostname.so"})),
            StepKind::LoadModule { module: "hostname.so".into() }
        );
        assert_eq!(kind(json!({"Action":"UnloadModule"})), StepKind::UnloadModule);
        assert!(reason(json!({"Action":"Reload"})).contains("unknown Action 'Reload'"));
        assert!(reason(json!({"Action":"LoadModule"})).contains("missing key 'Module'"));
        assert!(reason(json!({"Action":"LoadModule","Module":""})).contains("must name a module"));
        assert!(reason(json!({"Action":"UnloadModule","Module":"x.so"})).contains("unknown key 'Module'"));
    }

    #[test]
    fn test_from_value_reported_defaults() {
        let step = Step::from_value(3, 7, &json!({"ObjectType":"Reported","ComponentName":"C","ObjectName":"o"}));
        assert_eq!((step.number, step.line, step.wait, step.abort_on_failure), (3, 7, None, false));
        assert_eq!(
            step.kind,
            StepKind::Reported { component: "C".into(), object: "o".into(), payload: None, expected_result: 0 }
        );
        assert_eq!(step.describe(), "Reported C.o");
        let empty =
            Step::from_value(1, 1, &json!({"ObjectType":"Desired","ComponentName":"","ObjectName":"o","Json":""}));
        assert_eq!(empty.describe(), "Desired \"\".o");
    }

    #[test]
    fn test_from_value_reported_with_payload_null_and_result() {
        let k = kind(
            json!({"ObjectType":"Reported","ComponentName":"","ObjectName":"","Payload":null,"ExpectedResult":22}),
        );
        assert_eq!(
            k,
            StepKind::Reported {
                component: String::new(),
                object: String::new(),
                payload: Some(Value::Null),
                expected_result: 22
            }
        );
    }

    #[test]
    fn test_from_value_desired_payload_json_and_size() {
        let k = kind(json!({"ObjectType":"Desired","ComponentName":"C","ObjectName":"o","Payload":{"a":[1,"x"]}}));
        assert!(matches!(k, StepKind::Desired { ref payload, .. } if payload == br#"{"a":[1,"x"]}"#));
        let k = kind(
            json!({"ObjectType":"Desired","ComponentName":"C","ObjectName":"o","Json":"{not json","ExpectedResult":22}),
        );
        assert!(matches!(k, StepKind::Desired { ref payload, expected_result: 22, .. } if payload == b"{not json"));
        let k = kind(
            json!({"ObjectType":"Desired","ComponentName":"C","ObjectName":"o","Payload":"abcdef","PayloadSizeBytes":3}),
        );
        assert!(matches!(k, StepKind::Desired { ref payload, .. } if payload == b"\"ab"));
        let k = kind(
            json!({"ObjectType":"Desired","ComponentName":"C","ObjectName":"o","Json":"12","PayloadSizeBytes":99}),
        );
        assert!(matches!(k, StepKind::Desired { ref payload, .. } if payload == b"12"));
    }

    #[test]
    fn test_from_value_desired_errors() {
        let base = json!({"ObjectType":"Desired","ComponentName":"C","ObjectName":"o"});
        assert!(reason(base.clone()).contains("needs 'Payload'"));
        let mut both = base.clone();
        both["Payload"] = json!(1);
        both["Json"] = json!("1");
        assert!(reason(both).contains("not both"));
        let mut bad_json = base.clone();
        bad_json["Json"] = json!(1);
        assert!(reason(bad_json).contains("'Json' must be a string"));
        let mut bad_size = base.clone();
        bad_size["Payload"] = json!(1);
        bad_size["PayloadSizeBytes"] = json!(-1);
        assert!(reason(bad_size).contains("PayloadSizeBytes"));
        let mut typo = base;
        typo["Payload"] = json!(1);
        typo["ExpectedResults"] = json!(22);
        assert!(reason(typo).contains("unknown key 'ExpectedResults'"));
    }

    #[test]
    fn test_from_value_run_command_and_common_keys() {
        let step = Step::from_value(
            1,
            0,
            &json!({"RunCommand":"true","ExpectedResult":3,"WaitSeconds":1.5,"AbortOnFailure":true}),
        );
        assert_eq!(step.kind, StepKind::RunCommand { command: "true".into(), expected_result: 3 });
        assert_eq!(step.wait, Some(Duration::from_millis(1500)));
        assert!(step.abort_on_failure);
        assert!(reason(json!({"RunCommand":1})).contains("must be a string"));
        assert!(reason(json!({"RunCommand":"x","WaitSeconds":-1})).contains("WaitSeconds"));
        assert!(reason(json!({"RunCommand":"x","WaitSeconds":"1"})).contains("WaitSeconds"));
        assert!(reason(json!({"RunCommand":"x","ExpectedResult":1.5})).contains("ExpectedResult"));
        assert!(reason(json!({"RunCommand":"x","AbortOnFailure":1})).contains("AbortOnFailure"));
    }

    #[test]
    fn test_from_value_unknown_shapes() {
        assert!(reason(json!([1])).contains("must be a JSON object, got an array"));
        assert!(reason(json!({"Comment":"x"})).contains("none of the keys"));
        assert!(reason(json!({"Action":"UnloadModule","RunCommand":"x"})).contains("ambiguous"));
        assert!(
            reason(json!({"ObjectType":"Both","ComponentName":"C","ObjectName":"o"})).contains("unknown ObjectType")
        );
    }

    #[test]
    fn test_shorten_cuts_and_flattens() {
        assert_eq!(shorten("a\nb", 10), "a b");
        assert_eq!(shorten("abcdefghij", 6), "abc...");
    }
}
