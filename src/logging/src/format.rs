//! The reference line format: `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] message`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use log::Record;

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub(crate) fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The file name of a record without its directories (`?` when unknown).
pub(crate) fn short_file<'a>(record: &Record<'a>) -> &'a str {
    let file = record.file().unwrap_or("?");
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

/// `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] message\n` for a record at `unix` seconds.
///
/// LEVEL is the `log` level name in capitals (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`).
pub fn format_line(unix: u64, record: &Record<'_>) -> String {
    let mut line = String::with_capacity(64);
    let _ = write!(
        line,
        "[{}][{}][{}:{}] {}",
        format_utc(unix),
        record.level(),
        short_file(record),
        record.line().unwrap_or(0),
        record.args()
    );
    line.push('\n');
    line
}

/// The smallest cap [`cut_line`] applies: the head of a line (time, level, place) and the marker still fit.
pub(crate) const MIN_LINE_CAP: usize = 128;

/// Cuts `line` to at most `max` bytes (never below [`MIN_LINE_CAP`]), ending it with `... [<n> bytes cut]`.
///
/// `<n>` counts the bytes of the original text that were dropped (its final `\n`, kept, not counted); the cut
/// falls on a character boundary, so the line stays UTF-8. A line that fits is left as it is.
pub(crate) fn cut_line(line: &mut String, max: usize) {
    let max = max.max(MIN_LINE_CAP);
    if line.len() <= max {
        return;
    }
    let newline = line.ends_with('\n');
    let text_len = line.len() - usize::from(newline);
    // Room for the marker with the largest count it can carry (the text's length): the result may come out a few
    // bytes under `max`, never over.
    let room = format!("... [{text_len} bytes cut]").len() + usize::from(newline);
    let mut keep = max - room;
    while !line.is_char_boundary(keep) {
        keep -= 1;
    }
    let cut = text_len - keep;
    line.truncate(keep);
    let _ = write!(line, "... [{cut} bytes cut]");
    if newline {
        line.push('\n');
    }
}

/// `YYYY-MM-DD HH:MM:SS+0000` for seconds since the Unix epoch (proleptic Gregorian calendar, UTC).
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}+0000", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_format_utc_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00+0000");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00+0000");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20+0000");
        assert_eq!(format_utc(1_795_788_185), "2026-11-27 14:03:05+0000");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59+0000");
    }

    #[test]
    fn test_format_line_exact() {
        let line = format_line(
            1_795_788_185,
            &Record::builder()
                .args(format_args!("hello {}", 42))
                .level(log::Level::Info)
                .file(Some("src/platform/src/main.rs"))
                .line(Some(42))
                .build(),
        );
        assert_eq!(line, "[2026-11-27 14:03:05+0000][INFO][main.rs:42] hello 42\n");
    }

    #[test]
    fn test_cut_line_keeps_short_lines() {
        let mut line = "x".repeat(MIN_LINE_CAP - 1) + "\n";
        let before = line.clone();
        cut_line(&mut line, 10);
        assert_eq!(line, before);
    }

    #[test]
    fn test_cut_line_exact() {
        let mut line = format!("{}\n", "a".repeat(1000));
        cut_line(&mut line, 200);
        assert_eq!(line.len(), 200 - 1, "the marker is sized for a 4-digit count; 3 digits came out");
        assert_eq!(line, format!("{}... [821 bytes cut]\n", "a".repeat(179)));
        let mut no_newline = "b".repeat(1000);
        cut_line(&mut no_newline, 200);
        assert_eq!(no_newline, format!("{}... [820 bytes cut]", "b".repeat(180)));
    }

    #[test]
    fn test_cut_line_keeps_characters_whole() {
        for max in MIN_LINE_CAP..MIN_LINE_CAP + 8 {
            let mut line = "€".repeat(200) + "\n";
            cut_line(&mut line, max);
            assert!(line.len() <= max, "{} > {max}", line.len());
            let (kept, marker) = line.split_once("... [").unwrap();
            let cut: usize = marker.strip_suffix(" bytes cut]\n").unwrap().parse().unwrap();
            assert_eq!(kept.len() + cut, 600);
            assert!(kept.chars().all(|c| c == '€'));
        }
    }

    #[test]
    fn test_format_line_level_names_and_missing_location() {
        for (level, name) in [
            (log::Level::Error, "ERROR"),
            (log::Level::Warn, "WARN"),
            (log::Level::Debug, "DEBUG"),
            (log::Level::Trace, "TRACE"),
        ] {
            let line = format_line(0, &Record::builder().args(format_args!("x")).level(level).build());
            assert_eq!(line, format!("[1970-01-01 00:00:00+0000][{name}][?:0] x\n"));
        }
    }
}
