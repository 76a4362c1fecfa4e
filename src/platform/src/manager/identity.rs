//! Identification: `MmiGetInfo` of every discovered module, run in module hosts (a module that crashes or hangs in
//! `MmiGetInfo` takes down only its host), and the choice of one module per component by version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use osconfig_mmi::ModuleInfo;
use osconfig_rest::MmiClient;

use super::host::{Host, Launch};

/// The client name the manager uses for its own `MmiGetInfo` calls.
pub(crate) const CLIENT_NAME: &str = "osconfig-platform";

/// A module that answered `MmiGetInfo` with valid info; its host is still running.
#[derive(Debug)]
pub(crate) struct Identified {
    /// The module file.
    pub(crate) path: PathBuf,
    /// Its host's socket.
    pub(crate) socket: PathBuf,
    /// What it reported.
    pub(crate) info: ModuleInfo,
    /// The host that answered.
    pub(crate) host: Host,
}

/// Identifies `modules` (with their sockets): starts all hosts first, then waits for each and asks `MmiGetInfo`,
/// all within one `launch.call_timeout` from now. Modules whose host fails to start, crashes, hangs or answers
/// invalid info are logged and left out (their hosts killed).
pub(crate) fn identify(modules: &[(PathBuf, PathBuf)], launch: &Launch<'_>) -> Vec<Identified> {
    let deadline = Instant::now() + launch.call_timeout;
    let identify_launch = Launch { user: 0, ..*launch };
    let mut started = Vec::with_capacity(modules.len());
    for (path, socket) in modules {
        match Host::spawn(&identify_launch, path, socket) {
            Ok(host) => started.push((path, socket, host)),
            Err(e) => log::error!("cannot start {} for {}: {e}", launch.binary.display(), path.display()),
        }
    }
    let mut identified = Vec::with_capacity(started.len());
    for (path, socket, mut host) in started {
        match ask_info(&mut host, socket, deadline) {
            Ok(info) => {
                log::info!(
                    "identified {} {} (components {:?}, lifetime {}) in {}",
                    info.name,
                    version_text(&info),
                    info.components,
                    info.lifetime.as_i64(),
                    path.display()
                );
                identified.push(Identified { path: path.clone(), socket: socket.clone(), info, host });
            }
            Err(reason) => {
                let status = host.kill();
                let status = status.map(|s| format!(" (host {})", super::host::describe(s))).unwrap_or_default();
                log::error!("skipping module {}: {reason}{status}", path.display());
            }
        }
    }
    identified
}

fn ask_info(host: &mut Host, socket: &Path, deadline: Instant) -> Result<ModuleInfo, String> {
    host.wait_ready(deadline)?;
    let left = deadline.saturating_duration_since(Instant::now()).max(std::time::Duration::from_millis(1));
    let bytes = MmiClient::new(socket)
        .with_timeout(left)
        .get_info(CLIENT_NAME)
        .map_err(|e| format!("MmiGetInfo failed: {e}"))?;
    ModuleInfo::from_json(&bytes).map_err(|e| format!("invalid MmiGetInfo answer: {e}"))
}

/// `1.2.3.4`.
pub(crate) fn version_text(info: &ModuleInfo) -> String {
    let (a, b, c, d) = info.version();
    format!("{a}.{b}.{c}.{d}")
}

/// For every component, the index in `modules` of the module that serves it: the highest version (major, minor,
/// patch, tweak); on a tie the one found first. Every loser is logged.
pub(crate) fn pick_winners(modules: &[(&Path, &ModuleInfo)]) -> BTreeMap<String, usize> {
    let mut winners: BTreeMap<String, usize> = BTreeMap::new();
    for (index, (_, info)) in modules.iter().enumerate() {
        for component in &info.components {
            let Some(&held) = winners.get(component) else {
                winners.insert(component.clone(), index);
                continue;
            };
            let (winner, loser) = if info.version() > modules[held].1.version() {
                winners.insert(component.clone(), index);
                (modules[index], modules[held])
            } else {
                (modules[held], modules[index])
            };
            log::warn!(
                "component {component}: {} {} ({}) wins over {} {} ({})",
                winner.1.name,
                version_text(winner.1),
                winner.0.display(),
                loser.1.name,
                version_text(loser.1),
                loser.0.display()
            );
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, version: (u32, u32, u32, u32), components: &[&str]) -> ModuleInfo {
        ModuleInfo {
            name: name.into(),
            version_major: version.0,
            version_minor: version.1,
            version_patch: version.2,
            version_tweak: version.3,
            components: components.iter().map(|c| c.to_string()).collect(),
            ..ModuleInfo::default()
        }
    }

    #[test]
    fn test_pick_winners_highest_version_per_component() {
        let a = info("A", (1, 2, 0, 0), &["X", "Y"]);
        let b = info("B", (1, 10, 0, 0), &["Y"]);
        let c = info("C", (1, 2, 0, 1), &["X"]);
        let d = info("D", (1, 2, 0, 1), &["X", "Z"]);
        let (pa, pb, pc, pd) = (Path::new("/a.so"), Path::new("/b.so"), Path::new("/c.so"), Path::new("/d.so"));
        let winners = pick_winners(&[(pa, &a), (pb, &b), (pc, &c), (pd, &d)]);
        assert_eq!(winners.get("X"), Some(&2), "tie between C and D keeps the first found");
        assert_eq!(winners.get("Y"), Some(&1), "minor 10 beats minor 2 numerically");
        assert_eq!(winners.get("Z"), Some(&3));
        assert_eq!(winners.len(), 3);
    }

    #[test]
    fn test_pick_winners_major_beats_everything_below() {
        let old = info("Old", (1, 99, 99, 99), &["X"]);
        let new = info("New", (2, 0, 0, 0), &["X"]);
        let winners = pick_winners(&[(Path::new("/new.so"), &new), (Path::new("/old.so"), &old)]);
        assert_eq!(winners.get("X"), Some(&0));
    }

    #[test]
    fn test_version_text() {
        assert_eq!(version_text(&info("A", (1, 2, 3, 4), &[])), "1.2.3.4");
    }
}
