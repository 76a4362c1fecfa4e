//! A desired payload that breaks its MIM: where, and what was expected.

use std::fmt;

/// A payload that breaks its MIM.
///
/// `Display` is one line naming the component, the object, the setting path and what was expected:
/// `CommandRunner.commandArguments.action: 9 is not one of the MIM's values 0 (none), 1 (reboot), ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The component the payload was sent to.
    pub component: String,
    /// The object the payload was sent to.
    pub object: String,
    /// Where in the payload, after the object: `""` for the payload itself, then settings joined by `.`, array items
    /// as `[i]`, map entries as `.key` (or `["odd key"]` when the key is not a plain name): `action`, `list[3]`,
    /// `[0].action`, `sources.main`.
    pub path: String,
    /// What is wrong there.
    pub kind: ViolationKind,
}

/// What is wrong with a payload, at [`Violation::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// The component has no desired or reported object of that name.
    UnknownObject {
        /// The component's desired objects, in MIM order.
        desired: Vec<String>,
    },
    /// The value has the wrong JSON type.
    WrongType {
        /// What the MIM asks for: `a string`, `an integer`, `a boolean`, `a number`, `an object`, `an object (map)`,
        /// `an array`.
        expected: String,
        /// What the payload has: `null`, `the boolean true`, `the number 42`, `the string "a"`, `an array`,
        /// `an object`.
        found: String,
    },
    /// The value has the enum's type but is none of its values.
    EnumValue {
        /// The value as written in JSON (`9`, `"foo"`).
        value: String,
        /// The enum's values with their names: `0 (none)`, `"mqtt"`.
        allowed: Vec<String>,
    },
    /// An object has a key that is none of its settings.
    UnknownSetting {
        /// The key.
        setting: String,
        /// The object's settings, in MIM order.
        known: Vec<String>,
    },
    /// The payload is not JSON: where and why, e.g. `line 1, column 5: expected value`.
    NotJson(String),
    /// Payload and schema nest deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) levels.
    TooDeep {
        /// The bound, [`MAX_DEPTH`](crate::MAX_DEPTH).
        limit: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.component, self.object)?;
        if !self.path.is_empty() {
            if !self.path.starts_with('[') {
                f.write_str(".")?;
            }
            f.write_str(&self.path)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for Violation {}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationKind::UnknownObject { desired } if desired.is_empty() => {
                f.write_str("unknown object (the component has no desired objects)")
            }
            ViolationKind::UnknownObject { desired } => {
                write!(f, "unknown object (desired objects: {})", desired.join(", "))
            }
            ViolationKind::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            ViolationKind::EnumValue { value, allowed } => {
                write!(f, "{value} is not one of the MIM's values {}", allowed.join(", "))
            }
            ViolationKind::UnknownSetting { setting, known } if known.is_empty() => {
                write!(f, "unknown setting {} (the object has no settings)", crate::describe::quote(setting))
            }
            ViolationKind::UnknownSetting { setting, known } => {
                write!(f, "unknown setting {} (settings: {})", crate::describe::quote(setting), known.join(", "))
            }
            ViolationKind::NotJson(detail) => write!(f, "the payload is not JSON ({detail})"),
            ViolationKind::TooDeep { limit } => write!(f, "nested deeper than {limit} levels"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str, kind: ViolationKind) -> String {
        Violation { component: "X".into(), object: "y".into(), path: path.into(), kind }.to_string()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn test_display_wrong_type() {
        let kind = ViolationKind::WrongType { expected: "a string".into(), found: "the number 42".into() };
        assert_eq!(at("", kind), "X.y: expected a string, found the number 42");
        let kind = ViolationKind::WrongType { expected: "an integer".into(), found: "the string \"a\"".into() };
        assert_eq!(at("list[3]", kind), "X.y.list[3]: expected an integer, found the string \"a\"");
    }

    #[test]
    fn test_display_paths() {
        let kind = || ViolationKind::TooDeep { limit: 32 };
        assert_eq!(at("[0].action", kind()), "X.y[0].action: nested deeper than 32 levels");
        assert_eq!(at("a.b", kind()), "X.y.a.b: nested deeper than 32 levels");
        assert_eq!(at("a[\"b c\"]", kind()), "X.y.a[\"b c\"]: nested deeper than 32 levels");
    }

    #[test]
    fn test_display_unknown_object() {
        let kind = ViolationKind::UnknownObject { desired: strings(&["desiredName", "desiredHosts"]) };
        let v = Violation { component: "HostName".into(), object: "desiredNam".into(), path: String::new(), kind };
        assert_eq!(v.to_string(), "HostName.desiredNam: unknown object (desired objects: desiredName, desiredHosts)");
        let kind = ViolationKind::UnknownObject { desired: vec![] };
        assert_eq!(at("", kind), "X.y: unknown object (the component has no desired objects)");
    }

    #[test]
    fn test_display_enum_value() {
        let kind = ViolationKind::EnumValue { value: "9".into(), allowed: strings(&["0 (none)", "1 (reboot)"]) };
        assert_eq!(at("action", kind), "X.y.action: 9 is not one of the MIM's values 0 (none), 1 (reboot)");
    }

    #[test]
    fn test_display_unknown_setting() {
        let kind = ViolationKind::UnknownSetting { setting: "foo".into(), known: strings(&["commandId", "action"]) };
        assert_eq!(at("", kind), "X.y: unknown setting \"foo\" (settings: commandId, action)");
        let kind = ViolationKind::UnknownSetting { setting: "a\nb".into(), known: vec![] };
        assert_eq!(at("", kind), "X.y: unknown setting \"a\\nb\" (the object has no settings)");
    }

    #[test]
    fn test_display_not_json() {
        let kind = ViolationKind::NotJson("line 1, column 5: expected value".into());
        assert_eq!(at("", kind), "X.y: the payload is not JSON (line 1, column 5: expected value)");
    }
}
