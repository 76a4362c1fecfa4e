//! The command lines behind the reboot and shutdown actions.

use crate::arguments::Action;

/// Environment variable replacing the reboot command line (run through `/bin/sh -c`).
pub const REBOOT_COMMAND_ENV: &str = "OSCONFIG_REBOOT_COMMAND";
/// Environment variable replacing the shutdown command line (run through `/bin/sh -c`).
pub const SHUTDOWN_COMMAND_ENV: &str = "OSCONFIG_SHUTDOWN_COMMAND";
/// Default reboot command line.
pub const DEFAULT_REBOOT_COMMAND: &str = "shutdown -r now";
/// Default shutdown command line.
pub const DEFAULT_SHUTDOWN_COMMAND: &str = "shutdown -h now";

/// The command line to run for `action`: the env override (if set and not empty) or the default for reboot and
/// shutdown, the payload's `arguments` for runCommand, `None` for the other actions. Read at each request.
pub fn command_line(action: Action, arguments: &str) -> Option<String> {
    let (env, default) = match action {
        Action::Reboot => (REBOOT_COMMAND_ENV, DEFAULT_REBOOT_COMMAND),
        Action::Shutdown => (SHUTDOWN_COMMAND_ENV, DEFAULT_SHUTDOWN_COMMAND),
        Action::RunCommand => return Some(arguments.to_string()),
        _ => return None,
    };
    match std::env::var(env) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => Some(default.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_command_line_per_action() {
        assert_eq!(command_line(Action::RunCommand, "ls -l").as_deref(), Some("ls -l"));
        assert_eq!(command_line(Action::None, "ls"), None);
        assert_eq!(command_line(Action::CancelCommand, "ls"), None);
        assert_eq!(command_line(Action::RefreshCommandStatus, "ls"), None);
        // The reboot/shutdown overrides are exercised through the environment in the integration test.
        assert!(command_line(Action::Reboot, "").is_some());
        assert!(command_line(Action::Shutdown, "").is_some());
    }
}
