//! The reference platform (Azure OSConfig's C `osconfig-platform`) run beside ours, so that memory figures compare
//! within one run (the PSS of shared pages such as libc's moves with whatever else runs on the machine).
//!
//! The reference has fixed paths (`/etc/osconfig/osconfig.json`, `/usr/lib/osconfig/*.so`,
//! `/run/osconfig/mpid.sock`, `/var/log/osconfig_platform.log`). It runs in a private mount namespace
//! (`unshare --mount`) where `/etc` and `/usr/lib` are overlays whose writes land in a temporary folder, and `/run`
//! and `/var/log` are temporary too: nothing of the machine's own tree is written. That needs root, `unshare` and
//! overlayfs; the bench only does it when `--reference <dir>` names a CMake build folder of the reference (see
//! BENCHMARKS.md for how it is built; its sources are never part of this repository).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use osconfig_rest::MpiClient;

/// Where the reference's build puts its platform, relative to the build folder.
const PLATFORM: &str = "platform/osconfig-platform";

/// Where the reference's build puts the module `<name>`, relative to the build folder.
fn module(build: &Path, name: &str) -> PathBuf {
    build.join(format!("modules/{name}/src/so/{name}.so"))
}

/// Fills the staged folder `dir`: the folders [`STAGE`] mounts, the modules and an `osconfig.json`.
fn stage(build: &Path, dir: &Path, modules: &[&str]) -> io::Result<()> {
    for sub in ["run", "log", "modules", "etc.up", "etc.work", "lib.up", "lib.work"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for name in modules {
        std::fs::copy(module(build, name), dir.join(format!("modules/{name}.so")))?;
    }
    // Logging as quiet as ours in the same run (LoggingLevel 3: errors only); the reference loads no module without
    // a ModelVersion.
    std::fs::write(dir.join("osconfig.json"), r#"{"ModelVersion": 20, "LoggingLevel": 3}"#)
}

/// Run by `sh` inside the new mount namespace with the staged folder as `$1` and the program after it: the
/// reference's fixed paths become the staged folder's, then the program replaces the shell (same process id).
const STAGE: &str = r#"set -e
root=$1; shift
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/osconfig
mount --bind "$root/run" /run/osconfig
mount --bind "$root/log" /var/log
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$root/etc.up,workdir=$root/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/usr/lib,upperdir=$root/lib.up,workdir=$root/lib.work" /usr/lib
mkdir -p /etc/osconfig /usr/lib/osconfig
cp "$root/osconfig.json" /etc/osconfig/
cp "$root"/modules/*.so /usr/lib/osconfig/
exec "$@"
"#;

/// How long the reference gets to answer its first `MpiOpen`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The reference platform with some of its modules, in its own mount namespace; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct ReferencePlatform {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl ReferencePlatform {
    /// Starts the reference platform of the CMake build folder `build` with the modules `modules` (file stems, as
    /// its build names them) and waits until it answers `MpiOpen`.
    pub fn start(build: &Path, modules: &[&str], tag: &str) -> io::Result<ReferencePlatform> {
        let platform = std::fs::canonicalize(build.join(PLATFORM))?;
        let dir = std::env::temp_dir().join(format!("osconfig-bench-reference-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = match stage(build, &dir, modules).and_then(|()| {
            Command::new("unshare")
                .args(["--mount", "sh", "-c", STAGE, "sh"])
                .arg(&dir)
                .arg(&platform)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        }) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut reference = ReferencePlatform { socket: dir.join("run/mpid.sock"), child, dir };
        reference.wait_ready()?;
        Ok(reference)
    }

    /// The reference platform's process id (`unshare` and `sh` exec it in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client of its MPI socket (reached from outside the namespace through the staged folder).
    pub fn client(&self) -> MpiClient {
        MpiClient::new(&self.socket).with_timeout(Duration::from_secs(10))
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("the reference platform exited: {status} (needs root)")));
            }
            if let Ok(session) = self.client().open("osconfig-bench", 0) {
                let _ = self.client().close(&session);
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the reference platform did not answer"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ReferencePlatform {
    fn drop(&mut self) {
        crate::child::stop_gracefully(&mut self.child);
        // The namespace's mounts went with its last process.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_stage_script_parses() {
        let status = Command::new("sh").args(["-n", "-c", STAGE]).status().unwrap();
        assert!(status.success(), "sh -n refused the staging script");
    }

    #[test]
    fn test_module_is_where_the_reference_build_puts_it() {
        let path = module(Path::new("/b"), "deviceinfo");
        assert_eq!(path, Path::new("/b/modules/deviceinfo/src/so/deviceinfo.so"));
    }
}
