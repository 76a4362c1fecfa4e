//! What machine and when: recorded with every result.

/// A one-line description: CPU model, core count, kernel, architecture.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Hardware") || l.starts_with("Processor"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{model}, {cores} cores, {} GiB, Linux {} {}",
        mem_kib / (1024 * 1024),
        kernel.trim(),
        std::env::consts::ARCH
    )
}

/// Today's date and time in UTC, `YYYY-MM-DD HH:MM:SS+0000` (the log files' format).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    osconfig_logging::format_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_now_utc_is_this_century() {
        assert!(now_utc().starts_with("20"));
    }

    #[test]
    fn test_describe_names_cores() {
        assert!(describe().contains("cores"));
    }
}
