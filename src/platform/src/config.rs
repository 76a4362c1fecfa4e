//! `osconfig.json`: the reference keys plus ours (every key is documented in `CONFIGURATION.md`).
//!
//! Rules: a missing file or a missing key takes the default; a value of the wrong type is ignored (default) with
//! a warning; a number out of range is clamped with a warning; a file that cannot be read, is not JSON or is not an
//! object is *invalid*: [`load`] returns an error and the caller keeps the configuration it had.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

/// One entry of `Reported`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedEntry {
    /// `ComponentName`.
    pub component: String,
    /// `ObjectName`.
    pub object: String,
}

/// An entry of `MpiAllowedGroups`: a gid or a group name (resolved when the configuration is applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupSpec {
    /// A numeric gid.
    Gid(u32),
    /// A group name.
    Name(String),
}

/// The whole configuration. [`Config::default`] is what a missing file gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `LoggingLevel` 0..=7 (syslog severities; 6 informational, 7 debug).
    pub logging_level: i64,
    /// `MaxLogSize` bytes.
    pub max_log_size: u64,
    /// `MaxLogSizeDebugMultiplier`: `MaxLogSize` is multiplied by it at `LoggingLevel` 7.
    pub max_log_size_debug_multiplier: u64,
    /// `ModelVersion` (read by the agent; kept for completeness).
    pub model_version: i64,
    /// `ReportingIntervalSeconds` 1..=86400 (the agent's).
    pub reporting_interval_seconds: u64,
    /// `LocalManagement` 0/1: the Watcher applies the desired file and writes the reported file.
    pub local_management: bool,
    /// `DesiredReapplySeconds` 0..=86400 (ours): how often the Watcher applies the last good desired document again
    /// (drift correction); default `ReportingIntervalSeconds`; 0 turns re-applying off.
    pub desired_reapply_seconds: u64,
    /// `IotHubManagement` 0/1 (the agent's).
    pub iot_hub_management: bool,
    /// `IotHubProtocol` 0 auto, 1 MQTT, 2 MQTT over WebSocket (the agent's).
    pub iot_hub_protocol: i64,
    /// `GitManagement` 0/1 (the agent's).
    pub git_management: bool,
    /// `GitRepositoryUrl`.
    pub git_repository_url: String,
    /// `GitBranch`.
    pub git_branch: String,
    /// `Reported`: what `MpiGetReported` gathers, in order.
    pub reported: Vec<ReportedEntry>,
    /// `MpiAllowedUids`: uids allowed on the MPI besides 0.
    pub mpi_allowed_uids: Vec<u32>,
    /// `MpiAllowedGroups`: groups whose members (primary or supplementary) may use the MPI.
    pub mpi_allowed_groups: Vec<GroupSpec>,
    /// `Priorities`: component names, highest priority first.
    pub priorities: Vec<String>,
    /// `ModuleCallTimeoutSeconds`.
    pub module_call_timeout: Duration,
    /// `ModuleCrashLimit`.
    pub module_crash_limit: u32,
    /// `ModuleCrashWindowSeconds`.
    pub module_crash_window: Duration,
    /// `ModuleIdleUnloadSeconds`.
    pub module_idle_unload: Duration,
    /// `MpiSessionIdleTimeoutSeconds`.
    pub mpi_session_idle_timeout: Duration,
    /// `MpiSessionReclaimIdleSeconds`: when a caller is at its session bound, the least recently used session idle
    /// this long may be closed to make room ([`crate::sessions`]).
    pub mpi_session_reclaim_idle: Duration,
    /// `InProcessModules`: module names loaded in-process.
    pub in_process_modules: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            logging_level: 6,
            max_log_size: 1_048_576,
            max_log_size_debug_multiplier: 5,
            model_version: 16,
            reporting_interval_seconds: 30,
            local_management: false,
            desired_reapply_seconds: 30,
            iot_hub_management: false,
            iot_hub_protocol: 0,
            git_management: false,
            git_repository_url: String::new(),
            git_branch: String::new(),
            reported: Vec::new(),
            mpi_allowed_uids: Vec::new(),
            mpi_allowed_groups: Vec::new(),
            priorities: Vec::new(),
            module_call_timeout: Duration::from_secs(5),
            module_crash_limit: 3,
            module_crash_window: Duration::from_secs(300),
            module_idle_unload: Duration::from_secs(60),
            mpi_session_idle_timeout: Duration::from_secs(3600),
            mpi_session_reclaim_idle: crate::sessions::DEFAULT_RECLAIM_IDLE,
            in_process_modules: Vec::new(),
        }
    }
}

/// Why a configuration file is invalid (the previous configuration stays).
#[derive(Debug)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    Read(io::Error),
    /// The file is not JSON (the parser's error, with line and column, is the source).
    NotJson(serde_json::Error),
    /// The file is JSON but not an object.
    NotObject,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(e) => write!(f, "cannot read the configuration: {e}"),
            ConfigError::NotJson(e) => write!(f, "configuration is not valid json: {e}"),
            ConfigError::NotObject => f.write_str("configuration is not a json object"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read(e) => Some(e),
            ConfigError::NotJson(e) => Some(e),
            ConfigError::NotObject => None,
        }
    }
}

/// A parsed configuration and the warnings its values gave (to be logged by the caller).
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// One line per ignored or clamped value.
    pub warnings: Vec<String>,
}

/// Reads `path`: a missing file gives the defaults; see the module docs for the rest.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded {
            config: Config::default(),
            warnings: vec![format!("{} does not exist; using the defaults", path.display())],
        }),
        Err(e) => Err(ConfigError::Read(e)),
    }
}

/// Parses the text of `osconfig.json`.
pub fn parse(bytes: &[u8]) -> Result<Loaded, ConfigError> {
    let value: Value = serde_json::from_slice(bytes).map_err(ConfigError::NotJson)?;
    let Value::Object(map) = value else {
        return Err(ConfigError::NotObject);
    };
    let mut r = Reader { map: &map, warnings: Vec::new() };
    let d = Config::default();
    let mut config = Config {
        logging_level: r.int("LoggingLevel", 0, 7, d.logging_level),
        max_log_size: r.int("MaxLogSize", 1024, 1 << 30, d.max_log_size as i64) as u64,
        max_log_size_debug_multiplier: r.int("MaxLogSizeDebugMultiplier", 1, 100, 5) as u64,
        model_version: r.int("ModelVersion", 1, i64::from(u32::MAX), d.model_version),
        reporting_interval_seconds: r.int("ReportingIntervalSeconds", 1, 86_400, 30) as u64,
        local_management: r.flag("LocalManagement"),
        desired_reapply_seconds: 0,
        iot_hub_management: r.flag("IotHubManagement"),
        iot_hub_protocol: r.int("IotHubProtocol", 0, 2, 0),
        git_management: r.flag("GitManagement"),
        git_repository_url: r.string("GitRepositoryUrl"),
        git_branch: r.string("GitBranch"),
        reported: r.reported(),
        mpi_allowed_uids: r.list(
            "MpiAllowedUids",
            |v| v.as_u64().and_then(|n| u32::try_from(n).ok()),
            "a uid (0..4294967295)",
        ),
        mpi_allowed_groups: r.list(
            "MpiAllowedGroups",
            |v| match v {
                Value::String(s) if !s.is_empty() => Some(GroupSpec::Name(s.clone())),
                _ => v.as_u64().and_then(|n| u32::try_from(n).ok()).map(GroupSpec::Gid),
            },
            "a gid or a group name",
        ),
        priorities: r.strings("Priorities"),
        module_call_timeout: r.seconds("ModuleCallTimeoutSeconds", 1, 600, d.module_call_timeout),
        module_crash_limit: r.int("ModuleCrashLimit", 1, 1000, 3) as u32,
        module_crash_window: r.seconds("ModuleCrashWindowSeconds", 1, 86_400, d.module_crash_window),
        module_idle_unload: r.seconds("ModuleIdleUnloadSeconds", 1, 86_400, d.module_idle_unload),
        mpi_session_idle_timeout: r.seconds("MpiSessionIdleTimeoutSeconds", 1, 604_800, d.mpi_session_idle_timeout),
        mpi_session_reclaim_idle: r.seconds("MpiSessionReclaimIdleSeconds", 1, 604_800, d.mpi_session_reclaim_idle),
        in_process_modules: r.strings("InProcessModules"),
    };
    let reapply_default = config.reporting_interval_seconds as i64;
    config.desired_reapply_seconds = r.int("DesiredReapplySeconds", 0, 86_400, reapply_default) as u64;
    let mut warnings = r.warnings;
    if config.git_management || !config.git_repository_url.is_empty() || !config.git_branch.is_empty() {
        warnings.push(
            "GitManagement, GitRepositoryUrl, GitBranch: git management is not supported by this platform; ignored \
             (use the desired file or an MPI client)"
                .to_string(),
        );
    }
    Ok(Loaded { config, warnings })
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn int(&mut self, key: &str, min: i64, max: i64, default: i64) -> i64 {
        let Some(value) = self.map.get(key) else { return default };
        let n = match value {
            Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or(default),
            Value::Number(n) if n.is_u64() => i64::MAX,
            _ => {
                self.warnings.push(format!("{key}: {value} is not an integer; using the default {default}"));
                return default;
            }
        };
        let clamped = n.clamp(min, max);
        if clamped != n {
            self.warnings.push(format!("{key}: {n} is out of range {min}..{max}; using {clamped}"));
        }
        clamped
    }

    fn seconds(&mut self, key: &str, min: u64, max: u64, default: Duration) -> Duration {
        Duration::from_secs(self.int(key, min as i64, max as i64, default.as_secs() as i64) as u64)
    }

    fn flag(&mut self, key: &str) -> bool {
        match self.map.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => self.int(key, 0, 1, 0) != 0,
        }
    }

    fn string(&mut self, key: &str) -> String {
        match self.map.get(key) {
            None => String::new(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                self.warnings.push(format!("{key}: {other} is not a string; ignored"));
                String::new()
            }
        }
    }

    fn list<T>(&mut self, key: &str, item: impl Fn(&Value) -> Option<T>, what: &str) -> Vec<T> {
        match self.map.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| {
                    let parsed = item(v);
                    if parsed.is_none() {
                        self.warnings.push(format!("{key}: {v} is not {what}; entry ignored"));
                    }
                    parsed
                })
                .collect(),
            Some(other) => {
                self.warnings.push(format!("{key}: {other} is not an array; ignored"));
                Vec::new()
            }
        }
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        self.list(key, |v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string), "a non-empty string")
    }

    fn reported(&mut self) -> Vec<ReportedEntry> {
        self.list(
            "Reported",
            |v| {
                let component = v.get("ComponentName")?.as_str().filter(|s| !s.is_empty())?;
                let object = v.get("ObjectName")?.as_str().filter(|s| !s.is_empty())?;
                Some(ReportedEntry { component: component.to_string(), object: object.to_string() })
            },
            "an object with ComponentName and ObjectName strings",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_empty_object_gives_defaults() {
        let loaded = parse(b"{}").unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn test_parse_reference_keys() {
        let text = br#"{"GitManagement":0,"GitRepositoryUrl":" ","GitBranch":" ","LocalManagement":1,"LoggingLevel":7,
            "MaxLogSize":2048,"MaxLogSizeDebugMultiplier":5,"ModelVersion":20,"IotHubManagement":0,"IotHubProtocol":2,
            "Reported":[{"ComponentName":"DeviceInfo","ObjectName":"osName"},{"ComponentName":"B","ObjectName":"x"}],
            "ReportingIntervalSeconds":30}"#;
        let loaded = parse(text).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = loaded.config;
        assert_eq!((c.logging_level, c.max_log_size, c.model_version, c.iot_hub_protocol), (7, 2048, 20, 2));
        assert!(c.local_management && !c.git_management);
        assert_eq!(c.git_branch, "");
        assert_eq!(c.reported[0], ReportedEntry { component: "DeviceInfo".into(), object: "osName".into() });
        assert_eq!(c.reported.len(), 2);
    }

    #[test]
    fn test_parse_our_keys() {
        let text = br#"{"MpiAllowedUids":[1000, 7],"MpiAllowedGroups":[5,"adm"],"Priorities":["HostName","DeviceInfo"],
            "ModuleCallTimeoutSeconds":2,"ModuleCrashLimit":4,"ModuleCrashWindowSeconds":60,"ModuleIdleUnloadSeconds":9,
            "MpiSessionIdleTimeoutSeconds":120,"MpiSessionReclaimIdleSeconds":5,"InProcessModules":["DeviceInfo"]}"#;
        let c = parse(text).unwrap().config;
        assert_eq!(c.mpi_allowed_uids, [1000, 7]);
        assert_eq!(c.mpi_allowed_groups, [GroupSpec::Gid(5), GroupSpec::Name("adm".into())]);
        assert_eq!(c.priorities, ["HostName", "DeviceInfo"]);
        assert_eq!(c.module_call_timeout, Duration::from_secs(2));
        assert_eq!(c.module_crash_limit, 4);
        assert_eq!(c.module_crash_window, Duration::from_secs(60));
        assert_eq!(c.module_idle_unload, Duration::from_secs(9));
        assert_eq!(c.mpi_session_idle_timeout, Duration::from_secs(120));
        assert_eq!(c.mpi_session_reclaim_idle, Duration::from_secs(5));
        assert_eq!(Config::default().mpi_session_reclaim_idle, Duration::from_secs(300));
        assert_eq!(c.in_process_modules, ["DeviceInfo"]);
    }

    #[test]
    fn test_parse_desired_reapply_defaults_to_reporting_interval() {
        assert_eq!(parse(br#"{"ReportingIntervalSeconds":7}"#).unwrap().config.desired_reapply_seconds, 7);
        let c = parse(br#"{"ReportingIntervalSeconds":7,"DesiredReapplySeconds":0}"#).unwrap().config;
        assert_eq!(c.desired_reapply_seconds, 0);
        let clamped = parse(br#"{"DesiredReapplySeconds":100000}"#).unwrap();
        assert_eq!(clamped.config.desired_reapply_seconds, 86_400);
        assert_eq!(clamped.warnings.len(), 1);
    }

    #[test]
    fn test_parse_git_management_warns_not_supported() {
        let loaded = parse(br#"{"GitManagement":1,"GitRepositoryUrl":"https://x/y.git","GitBranch":"main"}"#).unwrap();
        assert!(loaded.config.git_management);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("not supported"), "{:?}", loaded.warnings);
    }

    #[test]
    fn test_parse_clamps_with_warnings() {
        let loaded = parse(br#"{"LoggingLevel":99,"ReportingIntervalSeconds":0,"ModuleCallTimeoutSeconds":100000,"MaxLogSize":18446744073709551615}"#).unwrap();
        assert_eq!(loaded.config.logging_level, 7);
        assert_eq!(loaded.config.reporting_interval_seconds, 1);
        assert_eq!(loaded.config.module_call_timeout, Duration::from_secs(600));
        assert_eq!(loaded.config.max_log_size, 1 << 30);
        assert_eq!(loaded.warnings.len(), 4, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("LoggingLevel"));
    }

    #[test]
    fn test_parse_wrong_types_take_defaults_with_warnings() {
        let loaded = parse(
            br#"{"LoggingLevel":"7","LocalManagement":true,"Reported":[{"ComponentName":"A"},1,{"ComponentName":"C","ObjectName":"o"}],
                "MpiAllowedUids":[-1,"x",3],"Priorities":"HostName","GitBranch":5,"ModuleCrashLimit":1.5}"#,
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.logging_level, 6);
        assert!(c.local_management);
        assert_eq!(c.reported, [ReportedEntry { component: "C".into(), object: "o".into() }]);
        assert_eq!(c.mpi_allowed_uids, [3]);
        assert!(c.priorities.is_empty());
        assert_eq!(c.module_crash_limit, 3);
        assert_eq!(loaded.warnings.len(), 8, "{:?}", loaded.warnings);
    }

    #[test]
    fn test_parse_invalid_files() {
        assert!(matches!(parse(b"{\"LoggingLevel\":"), Err(ConfigError::NotJson(_))));
        assert!(matches!(parse(b""), Err(ConfigError::NotJson(_))));
        assert!(matches!(parse(b"[1]"), Err(ConfigError::NotObject)));
    }

    #[test]
    fn test_load_missing_file_defaults_and_unreadable_is_error() {
        let loaded = load(Path::new("/nonexistent/osconfig.json")).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert_eq!(loaded.warnings.len(), 1);
        assert!(matches!(load(Path::new("/proc/self/mem/x")), Err(ConfigError::Read(_))));
    }
}
