//! Memory of a process as a device pays it: RSS counts every shared page (the C library, a binary several
//! processes run) once per process, so it overstates a set of processes; PSS (`/proc/<pid>/smaps_rollup`) divides
//! each shared page among the processes that map it, so the PSS of a set adds up; USS (`Private_Clean` +
//! `Private_Dirty`) is what the process alone holds: what ending it gives back.
//!
//! A file page only one process maps counts as private too (a module library only its host loads), and a page of
//! a file written moments ago counts as dirty until it is written back: USS is the sum of both either way.

use std::io;

/// One process's memory in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident pages, shared ones counted whole (`Rss`).
    pub rss: u64,
    /// Proportional set size: each shared page divided among its users (`Pss`).
    pub pss: u64,
    /// Unique set size: pages no other process maps (`Private_Clean` + `Private_Dirty`).
    pub uss: u64,
    /// Anonymous pages (heap, stacks, written data of binaries and libraries) (`Anonymous`).
    pub anon: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/smaps_rollup`.
    pub fn of(pid: u32) -> io::Result<Memory> {
        let path = format!("/proc/{pid}/smaps_rollup");
        Memory::parse(&std::fs::read_to_string(&path)?).map_err(|e| io::Error::other(format!("{path}: {e}")))
    }

    /// Parses the text of `smaps_rollup` (lines `Name:   <n> kB`); each field used must be there.
    pub fn parse(text: &str) -> Result<Memory, String> {
        let field = |name: &str| -> Result<u64, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
                .ok_or_else(|| format!("no {name} field in kB"))
        };
        Ok(Memory {
            rss: field("Rss")?,
            pss: field("Pss")?,
            uss: field("Private_Clean")? + field("Private_Dirty")?,
            anon: field("Anonymous")?,
        })
    }

    /// The four figures as named values `<prefix>_{rss,pss,uss,anon}_kib`.
    pub fn values(&self, prefix: &str) -> Vec<(String, serde_json::Value)> {
        vec![
            (format!("{prefix}_rss_kib"), self.rss.into()),
            (format!("{prefix}_pss_kib"), self.pss.into()),
            (format!("{prefix}_uss_kib"), self.uss.into()),
            (format!("{prefix}_anon_kib"), self.anon.into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLUP: &str = "55e2deb6f000-7ffcab583000 ---p 00000000 00:00 0                          [rollup]\n\
        Rss:                1672 kB\nPss:                 311 kB\nPss_Dirty:           100 kB\n\
        Pss_Anon:             96 kB\nShared_Clean:       1400 kB\nShared_Dirty:          0 kB\n\
        Private_Clean:        40 kB\nPrivate_Dirty:       100 kB\nReferenced:         1672 kB\n\
        Anonymous:            96 kB\nSwap:                  0 kB\n";

    #[test]
    fn test_parse_reads_rss_pss_private_and_anonymous() {
        let m = Memory::parse(ROLLUP).unwrap();
        assert_eq!(m, Memory { rss: 1672, pss: 311, uss: 140, anon: 96 });
    }

    #[test]
    fn test_parse_refuses_a_missing_field_by_name() {
        let text = ROLLUP.replace("Private_Dirty:", "Private_Dirt:");
        assert_eq!(Memory::parse(&text).unwrap_err(), "no Private_Dirty field in kB");
        assert!(Memory::parse("Rss: many kB\n").unwrap_err().contains("Rss"));
    }

    #[test]
    fn test_of_reads_this_process() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss >= m.pss && m.pss >= m.uss && m.uss > 0, "{m:?}");
    }

    #[test]
    fn test_values_names_each_figure_with_its_unit() {
        let names: Vec<String> = Memory::default().values("idle").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["idle_rss_kib", "idle_pss_kib", "idle_uss_kib", "idle_anon_kib"]);
    }
}
