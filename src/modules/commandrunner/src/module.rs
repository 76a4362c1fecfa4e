//! The MMI session: `Module` for CommandRunner, routing calls to the shared [`Engine`].

use osconfig_mmi::{validate, Errno, Lifetime, Module, ModuleInfo};
use serde_json::Value;

use crate::arguments::{CommandArguments, LimitError};
use crate::engine::{CommandError, Engine};

/// The one component this module serves.
pub const COMPONENT: &str = "CommandRunner";
/// The desired object.
pub const DESIRED_OBJECT: &str = "commandArguments";
/// The reported object.
pub const REPORTED_OBJECT: &str = "commandStatus";

/// A client session: the client's name and payload limit; the commands live in the shared engine.
#[derive(Debug)]
pub struct CommandRunner {
    engine: Engine,
    client: String,
    max_payload_size_bytes: u32,
}

impl CommandRunner {
    /// A session on a given engine (the C ABI uses [`Engine::global`]; tests use their own).
    pub fn with_engine(engine: Engine, client_name: &str, max_payload_size_bytes: u32) -> CommandRunner {
        engine.open_client(client_name);
        CommandRunner { engine, client: client_name.to_string(), max_payload_size_bytes }
    }
}

impl Module for CommandRunner {
    fn info(_client_name: &str) -> ModuleInfo {
        ModuleInfo {
            name: "CommandRunner".into(),
            description: "Runs shell commands, reboots and shuts down the device on request and reports the results"
                .into(),
            manufacturer: "osconfig-rs".into(),
            version_major: 2,
            version_minor: 0,
            version_info: concat!("osconfig-rs ", env!("CARGO_PKG_VERSION")).into(),
            components: vec![COMPONENT.into()],
            lifetime: Lifetime::KeepLoaded,
            user_account: 0,
            ..ModuleInfo::default()
        }
    }

    fn open(client_name: &str, max_payload_size_bytes: u32) -> Result<Self, Errno> {
        log::info!("CommandRunner: open for {client_name:?}, maxPayloadSizeBytes {max_payload_size_bytes}");
        Ok(CommandRunner::with_engine(Engine::global().clone(), client_name, max_payload_size_bytes))
    }

    fn set(&mut self, component: &str, object: &str, payload: &Value) -> Result<(), Errno> {
        match (component, object) {
            (COMPONENT, DESIRED_OBJECT) => {}
            (COMPONENT, REPORTED_OBJECT) => {
                log::error!("{COMPONENT}.{REPORTED_OBJECT} is reported, it cannot be set");
                return Err(Errno::EINVAL);
            }
            _ => return Err(validate::unknown_object(component, object)),
        }
        let args = CommandArguments::from_json(payload).map_err(|e| {
            log::error!("{e}");
            Errno::EINVAL
        })?;
        args.check_limits().map_err(|e| {
            log::error!("{e}");
            match e {
                LimitError::TooLong { .. } => Errno::E2BIG,
                LimitError::TimeoutTooLarge(_) => Errno::EINVAL,
            }
        })?;
        self.engine.apply(&self.client, &args).map_err(|e| {
            log::error!("CommandRunner: {e}");
            match e {
                CommandError::UnknownCommand(_) | CommandError::CommandIdInUse(_) => Errno::EINVAL,
                CommandError::TooManyRunning => Errno::EBUSY,
            }
        })
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno> {
        match (component, object) {
            (COMPONENT, REPORTED_OBJECT) => {
                let limit = usize::try_from(self.max_payload_size_bytes).unwrap_or(usize::MAX);
                Ok(self.engine.status(&self.client).to_json_within(limit))
            }
            _ => Err(validate::unknown_object(component, object)),
        }
    }

    fn close(self) {
        log::info!("CommandRunner: close for {:?}", self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn session(client: &str, max: u32) -> CommandRunner {
        CommandRunner::with_engine(Engine::new(None), client, max)
    }

    fn wait_not_running(s: &mut CommandRunner) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = s.get(COMPONENT, REPORTED_OBJECT).unwrap();
            if v["currentState"] != 1 {
                return v;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn test_info_names_component_version_lifetime() {
        let info = CommandRunner::info("x");
        assert_eq!((info.name.as_str(), info.version_major, info.version_minor), ("CommandRunner", 2, 0));
        assert_eq!(info.components, vec!["CommandRunner".to_string()]);
        assert_eq!(info.lifetime, Lifetime::KeepLoaded);
    }

    #[test]
    fn test_get_initial_status() {
        let mut s = session("c", 0);
        assert_eq!(
            s.get(COMPONENT, REPORTED_OBJECT).unwrap(),
            json!({"commandId":"","resultCode":0,"textResult":"","currentState":0})
        );
    }

    #[test]
    fn test_set_get_unknown_names_einval() {
        let mut s = session("c", 0);
        let p = json!({"commandId":"1","arguments":"true","action":3});
        assert_eq!(s.set("Other", DESIRED_OBJECT, &p), Err(Errno::EINVAL));
        assert_eq!(s.set(COMPONENT, "nope", &p), Err(Errno::EINVAL));
        assert_eq!(s.set(COMPONENT, REPORTED_OBJECT, &p), Err(Errno::EINVAL));
        assert_eq!(s.get(COMPONENT, DESIRED_OBJECT), Err(Errno::EINVAL));
        assert_eq!(s.get("commandrunner", REPORTED_OBJECT), Err(Errno::EINVAL));
    }

    #[test]
    fn test_set_invalid_payloads_einval() {
        let mut s = session("c", 0);
        for p in [json!(1), json!({"commandId":"1","arguments":"true","action":9}), json!({"commandId":"","action":3})]
        {
            assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &p), Err(Errno::EINVAL), "{p}");
        }
        assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &json!({"commandId":"x","action":4})), Err(Errno::EINVAL));
    }

    #[test]
    fn test_set_over_bounds_e2big_or_einval() {
        use crate::arguments::{MAX_ARGUMENTS_BYTES, MAX_COMMAND_ID_BYTES, MAX_TIMEOUT_SECONDS};
        let mut s = session("c", 0);
        let long_id = "x".repeat(MAX_COMMAND_ID_BYTES + 1);
        let p = json!({"commandId":long_id,"arguments":"true","action":3});
        assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &p), Err(Errno::E2BIG));
        let p = json!({"commandId":long_id,"action":4});
        assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &p), Err(Errno::E2BIG));
        let p = json!({"commandId":"a","arguments":"x".repeat(MAX_ARGUMENTS_BYTES + 1),"action":3});
        assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &p), Err(Errno::E2BIG));
        let p = json!({"commandId":"a","arguments":"true","timeout":MAX_TIMEOUT_SECONDS + 1,"action":3});
        assert_eq!(s.set(COMPONENT, DESIRED_OBJECT, &p), Err(Errno::EINVAL));
        assert_eq!(s.get(COMPONENT, REPORTED_OBJECT).unwrap()["commandId"], "");
    }

    #[test]
    fn test_get_shortens_text_to_session_limit() {
        let mut s = session("c", 120);
        s.set(COMPONENT, DESIRED_OBJECT, &json!({"commandId":"big","arguments":"seq 1 500","action":3})).unwrap();
        let v = wait_not_running(&mut s);
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.len() <= 120, "{}", text.len());
        assert!(v["textResult"].as_str().unwrap().starts_with("1\n2\n3\n"));
        assert_eq!(v["currentState"], 2);
    }

    #[test]
    fn test_sessions_of_one_client_share_commands() {
        let engine = Engine::new(None);
        let mut a = CommandRunner::with_engine(engine.clone(), "same", 0);
        let mut b = CommandRunner::with_engine(engine.clone(), "same", 0);
        let mut other = CommandRunner::with_engine(engine, "other", 0);
        a.set(COMPONENT, DESIRED_OBJECT, &json!({"commandId":"s","arguments":"echo shared","action":3})).unwrap();
        wait_not_running(&mut a);
        assert_eq!(b.get(COMPONENT, REPORTED_OBJECT).unwrap()["textResult"], "shared\n");
        assert_eq!(other.get(COMPONENT, REPORTED_OBJECT).unwrap()["commandId"], "");
        a.close();
        assert_eq!(b.get(COMPONENT, REPORTED_OBJECT).unwrap()["commandId"], "s");
    }
}
