//! Who may call the MPI: uid 0 always; otherwise a uid listed in `MpiAllowedUids`, or a member (primary gid of the
//! connection, or a supplementary group of the uid's user from `getgrouplist`) of a group in `MpiAllowedGroups`.
//!
//! Group look-ups go through NSS (`getpwuid_r`, `getgrouplist`) and run on the event loop's thread, so their answer
//! is cached per uid for [`CACHE_TTL`]; the cache is cleared when the configuration changes.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use osconfig_http::PeerCred;

use crate::config::{Config, GroupSpec};

/// How long a uid's group membership answer is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// The authorization policy and its cache.
#[derive(Debug, Default)]
pub struct Authorizer {
    uids: Vec<u32>,
    gids: Vec<u32>,
    cache: HashMap<u32, (bool, Instant)>,
}

impl Authorizer {
    /// The policy of `config`; group names that do not resolve are logged and skipped.
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
        Authorizer { uids: config.mpi_allowed_uids.clone(), gids, cache: HashMap::new() }
    }

    /// Whether `peer` may call the MPI.
    pub fn allows(&mut self, peer: &PeerCred) -> bool {
        if peer.uid == 0 || self.uids.contains(&peer.uid) {
            return true;
        }
        if self.gids.is_empty() {
            return false;
        }
        if self.gids.contains(&peer.gid) {
            return true;
        }
        let now = Instant::now();
        if let Some((answer, at)) = self.cache.get(&peer.uid) {
            if now.duration_since(*at) < CACHE_TTL {
                return *answer;
            }
        }
        let answer = groups_of_uid(peer.uid).iter().any(|g| self.gids.contains(g));
        if self.cache.len() > 1024 {
            self.cache.clear();
        }
        self.cache.insert(peer.uid, (answer, now));
        answer
    }
}

/// The gid of a group name (`getgrnam_r`).
fn gid_of_group(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `group` is plain data filled by getgrnam_r; all-zero is a valid value for it.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: the name is NUL-terminated, buf is writable for its length,
    // group and result are writable.
    let rc = unsafe { libc::getgrnam_r(cname.as_ptr(), &mut group, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
    (rc == 0 && !result.is_null()).then_some(group.gr_gid)
}

/// Every group of the user with `uid` (primary and supplementary); empty when the uid has no passwd entry.
fn groups_of_uid(uid: u32) -> Vec<u32> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `passwd` is plain data filled by getpwuid_r; all-zero is a valid value for it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buf is writable for its length; pw and result are writable.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pw.pw_name.is_null() {
        return Vec::new();
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated string inside buf, alive here.
    let name = unsafe { CStr::from_ptr(pw.pw_name) }.to_owned();
    let primary = pw.pw_gid;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: name is NUL-terminated; groups is writable for `count` entries and count is writable.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), primary, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return groups;
        }
        if groups.len() >= 65_536 {
            return vec![primary];
        }
        let wanted = (count.max(0) as usize).max(groups.len() * 2);
        groups.resize(wanted, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> PeerCred {
        PeerCred { pid: 1, uid, gid }
    }

    #[test]
    fn test_allows_root_only_by_default() {
        let mut auth = Authorizer::from_config(&Config::default());
        assert!(auth.allows(&peer(0, 0)));
        assert!(!auth.allows(&peer(65534, 65534)));
        assert!(!auth.allows(&peer(1000, 0)));
    }

    #[test]
    fn test_allows_listed_uid_and_gid() {
        let config =
            Config { mpi_allowed_uids: vec![1000], mpi_allowed_groups: vec![GroupSpec::Gid(77)], ..Config::default() };
        let mut auth = Authorizer::from_config(&config);
        assert!(auth.allows(&peer(1000, 5)));
        assert!(auth.allows(&peer(4242, 77)));
        assert!(!auth.allows(&peer(4242, 78)));
    }

    #[test]
    fn test_groups_of_uid_includes_primary_and_unknown_is_empty() {
        // The supplementary case runs end to end (tests/e2e/platform_ops.rs) with a user found in /etc/group.
        assert!(groups_of_uid(0).contains(&0));
        assert!(groups_of_uid(4_000_000_000).is_empty());
    }

    #[test]
    fn test_gid_of_group_names() {
        assert_eq!(gid_of_group("root"), Some(0));
        assert_eq!(gid_of_group("no-such-group-xyz"), None);
    }
}
