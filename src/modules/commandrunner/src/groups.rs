//! The process groups of running commands: signalled with `kill(2)`, recorded in a file per process so that the
//! next load of the module kills the groups a crashed predecessor left behind.
//!
//! ## Identity of a group
//! A command's shell leads its own process group (pgid = its pid). A group is named by that pid **and the leader's
//! start time** (field 22 of `/proc/<pid>/stat`, clock ticks since boot) and the boot id
//! (`/proc/sys/kernel/random/boot_id`): a pid reused by an unrelated process, or a file from before a reboot, never
//! matches, so a stale record can never hit a foreign process. A group whose leader has exited (or is a zombie) is
//! not signalled from a record: the command ended on its own, and what it left in the background is left alone.
//!
//! ## The record: `<state base>/commandrunner-groups/<pid>-<start time>.json`
//! One file per process that runs commands (`<state base>` is env `OSCONFIG_STATE_DIR`, else
//! `<root>/var/lib/osconfig`), written atomically (mode 0600, directory 0700) at each start and end of a command
//! and removed when none runs:
//! ```text
//! {"owner":{"pid":812,"startTime":51234,"bootId":"6f1c…"},
//!  "groups":[{"pgid":901,"startTime":51290,"commandId":"x","client":"Azure OSConfig 5;1.0.1"}]}
//! ```
//! Each process writes only its own file, so processes sharing the module (platform, hosts, test tools) never race.
//! [`kill_leftovers`] (run at a process's first `MmiOpen`) reads the other files: when their owner is gone (its pid
//! dead, a zombie, or a different process by start time or boot id), every group in it whose leader still runs is
//! killed with SIGKILL, and the file is removed. A file that is not of the layout or over [`MAX_RECORD_BYTES`] is
//! removed with an error log line. A process killed while it wrote its record leaves the temporary file of the atomic
//! write instead: once its owner is gone, that file is read as a record when it is complete, and removed either way.
//!
//! One window stays open: a process killed after it started a command and before its record reached the disk (the
//! microseconds between `spawn` and the write) leaves a group no record names; it runs until it ends on its own.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::process::Control;

/// The record directory's name under the state base.
pub const GROUPS_DIR_NAME: &str = "commandrunner-groups";

/// Largest record file read (a process runs at most 10 commands per client).
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// The record directory of the device: `<state base>/commandrunner-groups`.
pub fn default_dir() -> PathBuf {
    osconfig_storage::state_base_dir().join(GROUPS_DIR_NAME)
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z, X, ...
    pub state: char,
    /// Field 5: the process group.
    pub pgrp: i64,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcStat {
    /// The stat of `pid`, `None` when there is no such process (or `/proc` is not readable).
    pub fn of(pid: u32) -> Option<ProcStat> {
        parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Whether the process runs (a zombie or dead process has ended).
    pub fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parse the text of `/proc/<pid>/stat` (the command name, field 2, may hold spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3.
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// The kernel's boot id ("" when unknown).
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A process group led by a command's shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group id (the leader's pid).
    pub pgid: u32,
    /// The leader's start time (`None`: `/proc` could not tell; such a group is never signalled from a record).
    pub start_time: Option<u64>,
}

impl Group {
    /// The group led by `pid` (just started with `process_group(0)`).
    pub fn led_by(pid: u32) -> Group {
        Group { pgid: pid, start_time: ProcStat::of(pid).map(|s| s.start_time) }
    }

    /// Whether the leader still runs and is the same process as when recorded.
    pub fn leader_runs(&self) -> bool {
        match (self.start_time, ProcStat::of(self.pgid)) {
            (Some(t), Some(s)) => s.is_running() && s.start_time == t && s.pgrp == i64::from(self.pgid),
            _ => false,
        }
    }

    /// Send `signal` to every process of the group.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        let pgid = libc::pid_t::try_from(self.pgid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        if pgid <= 1 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: kill(2) has no memory effects; a negative pid > 1 names exactly one process group.
        if unsafe { libc::kill(-pgid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// A recorded running command.
#[derive(Debug)]
struct Running {
    group: Group,
    command_id: String,
    client: String,
    control: Arc<Control>,
}

/// The running groups of this process, and their record file.
#[derive(Debug)]
pub struct Registry {
    file: Option<PathBuf>,
    owner: Value,
    running: BTreeMap<u32, Running>,
}

impl Registry {
    /// A registry recording into `dir` (`None`: memory only).
    pub fn new(dir: Option<PathBuf>) -> Registry {
        let pid = std::process::id();
        let start = ProcStat::of(pid).map_or(0, |s| s.start_time);
        Registry {
            file: dir.map(|d| d.join(format!("{pid}-{start}.json"))),
            owner: json!({"pid": pid, "startTime": start, "bootId": boot_id()}),
            running: BTreeMap::new(),
        }
    }

    /// The record file of this process, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Record a started command.
    pub fn add(&mut self, group: Group, command_id: &str, client: &str, control: Arc<Control>) {
        let running = Running { group, command_id: command_id.to_string(), client: client.to_string(), control };
        self.running.insert(group.pgid, running);
        self.save();
    }

    /// Forget an ended command.
    pub fn remove(&mut self, pgid: u32) {
        if self.running.remove(&pgid).is_some() {
            self.save();
        }
    }

    /// The controls of every running command.
    pub fn controls(&self) -> Vec<Arc<Control>> {
        self.running.values().map(|r| Arc::clone(&r.control)).collect()
    }

    /// The groups of every running command.
    pub fn groups(&self) -> Vec<Group> {
        self.running.values().map(|r| r.group).collect()
    }

    /// How many commands run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    fn save(&self) {
        let Some(file) = &self.file else {
            return;
        };
        let result = if self.running.is_empty() {
            match fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let groups: Vec<Value> = self
                .running
                .values()
                .map(|r| {
                    json!({"pgid": r.group.pgid, "startTime": r.group.start_time, "commandId": r.command_id,
                           "client": r.client})
                })
                .collect();
            let doc = json!({"owner": self.owner, "groups": groups});
            let write = |dir: &Path| -> io::Result<()> {
                DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
                osconfig_storage::write_atomic(file, doc.to_string().as_bytes(), FILE_MODE)
            };
            file.parent().map_or(Ok(()), write)
        };
        if let Err(e) = result {
            log::error!("CommandRunner: cannot record the running commands in {}: {e}", file.display());
        }
    }
}

/// Kill the groups recorded in `dir` by processes that are gone (see the module docs); `skip` is this process's own
/// file. Returns how many groups were killed.
///
/// A record is written with `write_atomic` (a temporary `.<pid>-<start>.json.tmp.<pid>.<n>`, then a rename): a
/// process killed between the two leaves only the temporary file, complete or not. Such a file of a gone owner is
/// read like a record (when it is one) and removed; one of a living owner is its write in progress and left alone.
pub fn kill_leftovers(dir: &Path, skip: Option<&Path>) -> usize {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return 0,
        Err(e) => {
            log::error!("CommandRunner: cannot read {}: {e}", dir.display());
            return 0;
        }
    };
    let boot = boot_id();
    let mut killed = 0;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if Some(path.as_path()) == skip {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match RecordName::parse(name) {
            Some(RecordName::Record) => killed += kill_recorded(&path, &boot),
            Some(RecordName::Temporary { owner_pid, owner_start }) => {
                if process_is(owner_pid, owner_start) {
                    continue;
                }
                if read_record(&path).is_ok() {
                    killed += kill_recorded(&path, &boot);
                } else {
                    log::info!("CommandRunner: removing {}, an unfinished record of a gone process", path.display());
                    let _ = fs::remove_file(&path);
                }
            }
            None => {}
        }
    }
    killed
}

/// The kinds of file names in the record directory.
#[derive(Debug, PartialEq, Eq)]
enum RecordName {
    /// `<pid>-<start>.json`
    Record,
    /// `.<pid>-<start>.json.tmp.<writer pid>.<n>`: a record being written (or left half-way by a killed writer).
    Temporary { owner_pid: u32, owner_start: u64 },
}

impl RecordName {
    fn parse(name: &str) -> Option<RecordName> {
        if let Some(rest) = name.strip_prefix('.') {
            let (owner, _) = rest.split_once(".json.tmp.")?;
            let (pid, start) = owner.split_once('-')?;
            return Some(RecordName::Temporary { owner_pid: pid.parse().ok()?, owner_start: start.parse().ok()? });
        }
        name.ends_with(".json").then_some(RecordName::Record)
    }
}

/// Whether `pid` runs and is the process that started at `start_time`.
fn process_is(pid: u32, start_time: u64) -> bool {
    ProcStat::of(pid).is_some_and(|s| s.is_running() && s.start_time == start_time)
}

/// Kill the groups of the record at `path` when its owner is gone, then remove it (an unusable record is removed
/// too); a living owner's record is left alone. Returns how many groups were killed.
fn kill_recorded(path: &Path, boot: &str) -> usize {
    let record = match read_record(path) {
        Ok(r) => r,
        Err(reason) => {
            log::error!("CommandRunner: removing the unusable record {}: {reason}", path.display());
            let _ = fs::remove_file(path);
            return 0;
        }
    };
    let owner = &record["owner"];
    let same_boot = owner["bootId"].as_str() == Some(boot);
    let owner_runs = same_boot
        && owner["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .zip(owner["startTime"].as_u64())
            .is_some_and(|(pid, start)| process_is(pid, start));
    if owner_runs {
        return 0;
    }
    let mut killed = 0;
    for g in record["groups"].as_array().into_iter().flatten() {
        let Some(pgid) = g["pgid"].as_u64().and_then(|p| u32::try_from(p).ok()) else {
            continue;
        };
        let group = Group { pgid, start_time: g["startTime"].as_u64() };
        if !same_boot || !group.leader_runs() {
            continue;
        }
        log::warn!(
            "CommandRunner: killing process group {pgid} of command {} (client {}) left by a module that stopped \
             while it ran",
            g["commandId"],
            g["client"]
        );
        match group.signal(libc::SIGKILL) {
            Ok(()) => killed += 1,
            Err(e) => log::error!("CommandRunner: cannot kill process group {pgid}: {e}"),
        }
    }
    if let Err(e) = fs::remove_file(path) {
        log::error!("CommandRunner: cannot remove {}: {e}", path.display());
    }
    killed
}

fn read_record(path: &Path) -> Result<Value, String> {
    let meta = fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > MAX_RECORD_BYTES {
        return Err(format!("not a regular file of at most {MAX_RECORD_BYTES} bytes"));
    }
    let v: Value = serde_json::from_slice(&fs::read(path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    if !v["owner"].is_object() || !v["groups"].is_array() {
        return Err("expected {\"owner\":{..},\"groups\":[..]}".to_string());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cr-groups-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn spawn_group() -> std::process::Child {
        Command::new("sleep").arg("30").process_group(0).stdin(Stdio::null()).spawn().unwrap()
    }

    fn wait_gone(child: &mut std::process::Child) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn test_parse_stat_fields() {
        let text = "42 (a b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100 18446744073709551615";
        assert_eq!(parse_stat(text), Some(ProcStat { state: 'S', pgrp: 42, start_time: 98765 }));
        assert_eq!(parse_stat("42 (x) S 1"), None);
    }

    #[test]
    fn test_group_leader_runs_checks_start_time() {
        let mut child = spawn_group();
        let g = Group::led_by(child.id());
        assert!(g.start_time.is_some());
        assert!(g.leader_runs());
        let reused = Group { pgid: g.pgid, start_time: g.start_time.map(|t| t + 1) };
        assert!(!reused.leader_runs(), "a different start time is another process");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!g.leader_runs());
    }

    #[test]
    fn test_registry_file_follows_running_commands() {
        let dir = temp_dir("registry");
        let mut r = Registry::new(Some(dir.clone()));
        let file = r.file().unwrap().to_path_buf();
        r.add(Group { pgid: 123, start_time: Some(7) }, "id", "client", Arc::new(Control::default()));
        let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(v["groups"][0], json!({"pgid":123,"startTime":7,"commandId":"id","client":"client"}));
        assert_eq!(v["owner"]["pid"], std::process::id());
        r.remove(123);
        assert!(!file.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_kill_leftovers_kills_groups_of_dead_owner_only() {
        let dir = temp_dir("leftovers");
        let mut orphan = spawn_group();
        let mut kept = spawn_group();
        let g = Group::led_by(orphan.id());
        let k = Group::led_by(kept.id());
        let boot = boot_id();
        // A dead owner (start time that no process has) and a living one (this process).
        let dead = json!({"owner":{"pid":std::process::id(),"startTime":1,"bootId":boot},
            "groups":[{"pgid":g.pgid,"startTime":g.start_time,"commandId":"a","client":"c"},
                      {"pgid":k.pgid,"startTime":k.start_time.map(|t| t + 1),"commandId":"reused","client":"c"}]});
        fs::write(dir.join("1-1.json"), dead.to_string()).unwrap();
        let me = Registry::new(None).owner;
        let alive = json!({"owner":me,"groups":[{"pgid":k.pgid,"startTime":k.start_time,"commandId":"b",
            "client":"c"}]});
        fs::write(dir.join("2-2.json"), alive.to_string()).unwrap();
        fs::write(dir.join("3-3.json"), b"not json").unwrap();
        assert_eq!(kill_leftovers(&dir, None), 1);
        assert!(wait_gone(&mut orphan), "the leftover group was not killed");
        assert!(kept.try_wait().unwrap().is_none(), "a living owner's or a reused pid's group was killed");
        assert!(!dir.join("1-1.json").exists() && !dir.join("3-3.json").exists());
        assert!(dir.join("2-2.json").exists());
        kept.kill().unwrap();
        kept.wait().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_record_names() {
        assert_eq!(RecordName::parse("812-51234.json"), Some(RecordName::Record));
        assert_eq!(
            RecordName::parse(".812-51234.json.tmp.812.3"),
            Some(RecordName::Temporary { owner_pid: 812, owner_start: 51234 })
        );
        assert_eq!(RecordName::parse(".812-x.json.tmp.812.3"), None);
        assert_eq!(RecordName::parse("notes.txt"), None);
    }

    #[test]
    fn test_kill_leftovers_reads_unfinished_record_of_gone_owner() {
        let dir = temp_dir("unfinished");
        let mut orphan = spawn_group();
        let g = Group::led_by(orphan.id());
        let boot = boot_id();
        // Left by a writer killed between writing and renaming: complete, of an owner no process is.
        let record = json!({"owner":{"pid":std::process::id(),"startTime":1,"bootId":boot},
            "groups":[{"pgid":g.pgid,"startTime":g.start_time,"commandId":"a","client":"c"}]});
        let complete = format!(".{}-1.json.tmp.{}.0", std::process::id(), std::process::id());
        fs::write(dir.join(&complete), record.to_string()).unwrap();
        // Half-written by a gone owner: removed.
        fs::write(dir.join(".1-1.json.tmp.1.0"), b"{\"owner\":{").unwrap();
        // Being written by a living owner (this process): left alone.
        let me = Registry::new(None).owner;
        let living = format!(".{}-{}.json.tmp.{}.0", me["pid"], me["startTime"], me["pid"]);
        fs::write(dir.join(&living), b"{").unwrap();
        assert_eq!(kill_leftovers(&dir, None), 1);
        assert!(wait_gone(&mut orphan), "the group of the unfinished record was not killed");
        assert!(!dir.join(&complete).exists() && !dir.join(".1-1.json.tmp.1.0").exists());
        assert!(dir.join(&living).exists(), "a living owner's write in progress was removed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
