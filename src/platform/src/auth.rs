//! Who may call the MPI: uid 0 always; otherwise a uid listed in `MpiAllowedUids`, a connection whose gid (from
//! `SO_PEERCRED`) is in `MpiAllowedGroups`, or a uid whose user is listed as a member of such a group in the group
//! database (`getgrgid_r`, the user names resolved with `getpwnam_r`).
//!
//! Every name service (NSS) look-up happens when the policy is built ([`Authorizer::from_config`]: at start and on
//! `SIGHUP`, on the main and the signal thread), never on the event loop's thread: [`Authorizer::allows`] only
//! looks in sets and never blocks, so it may run at accept time. The price: a change of group membership is seen
//! at the next `SIGHUP`, as a renamed group already was; and a user whose *primary* group (in `/etc/passwd`) is
//! allowed is recognised by the connection's gid, i.e. when its process runs with that group (the usual case).
//!
//! Why not the connection's supplementary groups (`SO_PEERGROUPS`, Linux 4.13)? They are what the process holds,
//! not what the user is given; a service started with no supplementary groups (as systemd does without
//! `SupplementaryGroups=`) would lose access it had by its user's membership. The group database is the policy the
//! administrator writes, so it is what is checked.

use std::collections::HashSet;
use std::ffi::{CStr, CString};

use osconfig_http::PeerCred;

use crate::config::{Config, GroupSpec};

/// Most members taken from one allowed group (larger groups are cut, with a warning).
pub const MAX_GROUP_MEMBERS: usize = 65_536;
/// Largest buffer given to one `getgrgid_r`/`getgrnam_r`/`getpwnam_r` call, in bytes (it starts at 16 KiB and
/// doubles while the entry does not fit).
pub const MAX_NSS_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// The authorization policy, with group memberships resolved.
#[derive(Debug, Default)]
pub struct Authorizer {
    uids: Vec<u32>,
    gids: Vec<u32>,
    /// Uids of the users listed as members of an allowed group.
    members: HashSet<u32>,
}

impl Authorizer {
    /// The policy of `config`: group names and memberships are resolved now (through NSS, so call it off the
    /// event loop); names that do not resolve are logged and skipped.
    pub fn from_config(config: &Config) -> Authorizer {
        let mut gids = Vec::new();
        for group in &config.mpi_allowed_groups {
            match group {
                GroupSpec::Gid(gid) => gids.push(*gid),
                GroupSpec::Name(name) => match gid_of_group(name) {
                    Some(gid) => gids.push(gid),
                    None => log::warn!("MpiAllowedGroups: no group named {name:?}; entry ignored"),
                },
            }
        }
        let mut members = HashSet::new();
        for &gid in &gids {
            let names = members_of_group(gid);
            if names.len() >= MAX_GROUP_MEMBERS {
                log::warn!("MpiAllowedGroups: group {gid} has more than {MAX_GROUP_MEMBERS} members; the rest ignored");
            }
            members.extend(names.iter().filter_map(|name| uid_of_user(name)));
        }
        Authorizer { uids: config.mpi_allowed_uids.clone(), gids, members }
    }

    /// Whether `peer` may call the MPI. Never blocks (no look-up: see the module docs).
    pub fn allows(&self, peer: &PeerCred) -> bool {
        peer.uid == 0
            || self.uids.contains(&peer.uid)
            || self.gids.contains(&peer.gid)
            || self.members.contains(&peer.uid)
    }
}

/// Calls `call(buf)` with a growing buffer while it answers `ERANGE`; its answer otherwise (or `ERANGE` when
/// [`MAX_NSS_BUFFER_BYTES`] is not enough).
fn with_buffer(mut call: impl FnMut(&mut [u8]) -> libc::c_int) -> libc::c_int {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let rc = call(&mut buf);
        if rc != libc::ERANGE || buf.len() >= MAX_NSS_BUFFER_BYTES {
            return rc;
        }
        let doubled = buf.len() * 2;
        buf.resize(doubled, 0);
    }
}

/// The user names listed as members of group `gid` (`gr_mem`); empty for an unknown gid.
fn members_of_group(gid: u32) -> Vec<String> {
    let mut names = Vec::new();
    with_buffer(|buf| {
        names.clear();
        // SAFETY: `group` is plain data filled by getgrgid_r; all-zero is a valid value for it.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: buf is writable for its length; group and result are writable.
        let rc = unsafe { libc::getgrgid_r(gid, &mut group, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc != 0 || result.is_null() || group.gr_mem.is_null() {
            return rc;
        }
        let mut member = group.gr_mem;
        // SAFETY: getgrgid_r succeeded: gr_mem is a NULL-terminated array of NUL-terminated strings inside buf,
        // alive during this closure.
        unsafe {
            while !(*member).is_null() && names.len() < MAX_GROUP_MEMBERS {
                names.push(CStr::from_ptr(*member).to_string_lossy().into_owned());
                member = member.add(1);
            }
        }
        0
    });
    names
}

/// The uid of a user name (`getpwnam_r`).
fn uid_of_user(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut uid = None;
    with_buffer(|buf| {
        // SAFETY: `passwd` is plain data filled by getpwnam_r; all-zero is a valid value for it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: the name is NUL-terminated, buf is writable for its length, pw and result are writable.
        let rc = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        uid = (rc == 0 && !result.is_null()).then_some(pw.pw_uid);
        rc
    });
    uid
}

/// The gid of a group name (`getgrnam_r`).
fn gid_of_group(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut gid = None;
    with_buffer(|buf| {
        // SAFETY: `group` is plain data filled by getgrnam_r; all-zero is a valid value for it.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the name is NUL-terminated, buf is writable for its length,
        // group and result are writable.
        let rc =
            unsafe { libc::getgrnam_r(cname.as_ptr(), &mut group, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        gid = (rc == 0 && !result.is_null()).then_some(group.gr_gid);
        rc
    });
    gid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> PeerCred {
        PeerCred { pid: 1, uid, gid }
    }

    #[test]
    fn test_allows_root_only_by_default() {
        let auth = Authorizer::from_config(&Config::default());
        assert!(auth.allows(&peer(0, 0)));
        assert!(!auth.allows(&peer(65534, 65534)));
        assert!(!auth.allows(&peer(1000, 0)));
    }

    #[test]
    fn test_allows_listed_uid_and_gid() {
        let config =
            Config { mpi_allowed_uids: vec![1000], mpi_allowed_groups: vec![GroupSpec::Gid(77)], ..Config::default() };
        let auth = Authorizer::from_config(&config);
        assert!(auth.allows(&peer(1000, 5)));
        assert!(auth.allows(&peer(4242, 77)));
        assert!(!auth.allows(&peer(4242, 78)));
    }

    /// A user listed as a member of a group in /etc/group: (uid, gid).
    fn listed_member() -> Option<(u32, u32)> {
        let groups = std::fs::read_to_string("/etc/group").ok()?;
        groups.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let gid = fields.get(2)?.parse().ok()?;
            let member = fields.get(3)?.split(',').find(|m| !m.is_empty())?;
            Some((uid_of_user(member)?, gid))
        })
    }

    #[test]
    fn test_allows_members_resolved_when_built_without_lookups_after() {
        let Some((uid, gid)) = listed_member() else {
            eprintln!("no group with members in /etc/group: skipped");
            return;
        };
        let config = Config { mpi_allowed_groups: vec![GroupSpec::Gid(gid)], ..Config::default() };
        let auth = Authorizer::from_config(&config);
        // `allows` takes `&self`: a pure look-up, callable from the event loop at accept time.
        let check: fn(&Authorizer, &PeerCred) -> bool = Authorizer::allows;
        assert!(auth.members.contains(&uid) || uid == 0);
        assert!(check(&auth, &peer(uid, 4_000_000_000)));
        assert!(!check(&auth, &peer(4_000_000_001, 4_000_000_000)));
    }

    #[test]
    fn test_with_buffer_grows_on_erange() {
        let mut sizes = Vec::new();
        let rc = with_buffer(|buf| {
            sizes.push(buf.len());
            if buf.len() < 64 * 1024 {
                libc::ERANGE
            } else {
                0
            }
        });
        assert_eq!((rc, sizes), (0, vec![16 * 1024, 32 * 1024, 64 * 1024]));
        assert_eq!(with_buffer(|_| libc::ERANGE), libc::ERANGE, "gives up at the bound");
    }

    #[test]
    fn test_members_and_users_of_unknown_ids_are_empty() {
        assert!(members_of_group(4_000_000_000).is_empty());
        assert_eq!(uid_of_user("root"), Some(0));
        assert_eq!(uid_of_user("no-such-user-xyz"), None);
    }

    #[test]
    fn test_gid_of_group_names() {
        assert_eq!(gid_of_group("root"), Some(0));
        assert_eq!(gid_of_group("no-such-group-xyz"), None);
    }
}
