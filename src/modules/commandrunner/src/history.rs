//! The commands of one client in memory: the last [`MAX_HISTORY`] entries and which one is reported. The persisted
//! form is in [`crate::cache`].

use std::collections::VecDeque;
use std::sync::Arc;

use crate::arguments::CommandArguments;
use crate::process::Control;
use crate::status::{CommandStatus, State};

/// Commands kept per client; the oldest finished one is dropped first.
pub const MAX_HISTORY: usize = 10;

/// One command.
#[derive(Debug)]
pub struct Entry {
    /// What was asked; `None` for a command loaded from a cache entry without its request (as the reference agent
    /// writes them).
    pub args: Option<CommandArguments>,
    /// What is reported.
    pub status: CommandStatus,
    /// Unique within the process; lets a worker find its own entry even if the id was dropped and reused.
    pub seq: u64,
    /// Cancellation handle while the command runs.
    pub control: Option<Arc<Control>>,
}

/// The history of one client.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
    /// The commandId `commandStatus` reports (`None`: the default status).
    pub current: Option<String>,
    /// The last accepted payload: setting it again is a no-op.
    pub last_payload: Option<CommandArguments>,
    /// Bumped on every change; persistence writes only newer generations.
    pub generation: u64,
}

/// Why an entry could not be added.
#[derive(Debug, PartialEq, Eq)]
pub struct HistoryFull;

impl History {
    /// The entry with `command_id`.
    pub fn find(&self, command_id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.status.command_id == command_id)
    }

    /// The entry with `command_id`, mutable.
    pub fn find_mut(&mut self, command_id: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.status.command_id == command_id)
    }

    /// The entry with sequence number `seq`, mutable.
    pub fn find_seq_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.seq == seq)
    }

    /// Add a new entry (its id must not be present), dropping the oldest finished entry when full. Fails when all
    /// [`MAX_HISTORY`] entries are still running.
    pub fn push(&mut self, entry: Entry) -> Result<(), HistoryFull> {
        if self.entries.len() >= MAX_HISTORY {
            let oldest_done = self.entries.iter().position(|e| e.status.current_state != State::Running);
            match oldest_done {
                Some(i) => {
                    self.entries.remove(i);
                }
                None => return Err(HistoryFull),
            }
        }
        self.entries.push_back(entry);
        Ok(())
    }

    /// Make `command_id` the reported command.
    pub fn set_current(&mut self, command_id: &str) {
        self.current = Some(command_id.to_string());
    }

    /// The reported status: the current command, else the default status.
    pub fn current_status(&self) -> CommandStatus {
        self.current.as_deref().and_then(|id| self.find(id)).map(|e| e.status.clone()).unwrap_or_default()
    }

    /// Whether a worker thread still owns one of the entries (its command has not been recorded as ended).
    pub fn has_workers(&self) -> bool {
        self.entries.iter().any(|e| e.control.is_some())
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arguments::Action;

    fn entry(id: &str, state: State, seq: u64) -> Entry {
        Entry {
            args: Some(CommandArguments {
                command_id: id.into(),
                arguments: format!("echo {id}"),
                timeout_seconds: 0,
                single_line_text_result: false,
                action: Action::RunCommand,
            }),
            status: CommandStatus {
                command_id: id.into(),
                result_code: 0,
                text_result: "t\n".into(),
                current_state: state,
            },
            seq,
            control: None,
        }
    }

    #[test]
    fn test_push_drops_oldest_finished_beyond_ten() {
        let mut h = History::default();
        h.push(entry("run0", State::Running, 0)).unwrap();
        for i in 1..=10 {
            h.push(entry(&format!("c{i}"), State::Succeeded, i)).unwrap();
        }
        assert_eq!(h.len(), MAX_HISTORY);
        assert!(h.find("run0").is_some(), "a running command is kept");
        assert!(h.find("c1").is_none());
        assert!(h.find("c10").is_some());
    }

    #[test]
    fn test_push_all_running_is_full() {
        let mut h = History::default();
        for i in 0..10 {
            h.push(entry(&format!("r{i}"), State::Running, i)).unwrap();
        }
        assert_eq!(h.push(entry("x", State::Running, 11)), Err(HistoryFull));
    }

    #[test]
    fn test_current_status_default_and_selected() {
        let mut h = History::default();
        assert_eq!(h.current_status(), CommandStatus::default());
        h.push(entry("a", State::Succeeded, 0)).unwrap();
        h.set_current("a");
        assert_eq!(h.current_status().command_id, "a");
    }
}
