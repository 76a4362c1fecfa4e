//! `osconfigctl modules`: the modules the platform runs, from our extension endpoint `GET /PlatformModules`.

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::extension::ModuleSummary;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl modules`.
pub const USAGE: &str = "\
usage: osconfigctl modules [options]

Lists the platform's modules (GET /PlatformModules, no session) as a table: name, version, components,
lifetime (keep = kept loaded, short-lived = unloaded when idle), the pid of its module host (in-process when
loaded into the platform, - when no host runs), state (running, idle, restarting, quarantined), crashes, and
whether its MIM is installed. With --json, the platform's JSON array as it sent it.
";

/// `osconfigctl modules ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("modules", USAGE, args, run)
}

/// Runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    args.expect_operands(&[])?;
    let body = Connection::new(args.socket_path(), args.timeout).platform_modules()?;
    let modules = ModuleSummary::parse_list(&body)
        .map_err(|e| CtlError::Failed(format!("unexpected /PlatformModules answer: {e}")))?;
    Ok(if args.json { String::from_utf8_lossy(&body).into_owned() } else { table(&modules) })
}

/// The human table: a header and one line per module, columns aligned.
pub fn table(modules: &[ModuleSummary]) -> String {
    if modules.is_empty() {
        return "no modules".to_string();
    }
    let header = ["NAME", "VERSION", "COMPONENTS", "LIFETIME", "PID", "STATE", "CRASHES", "MIM"].map(String::from);
    let mut rows = vec![header.to_vec()];
    for m in modules {
        rows.push(vec![
            m.name.clone(),
            m.version.clone(),
            m.components.join(","),
            lifetime(m.lifetime),
            match (m.in_process, m.host_pid) {
                (true, _) => "in-process".to_string(),
                (false, Some(pid)) => pid.to_string(),
                (false, None) => "-".to_string(),
            },
            m.state.clone(),
            m.crashes.map_or_else(|| "?".to_string(), |n| n.to_string()),
            if m.mim { "yes" } else { "no" }.to_string(),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A module's `Lifetime` in words.
fn lifetime(value: Option<i64>) -> String {
    match value {
        Some(1) => "keep".to_string(),
        Some(2) => "short-lived".to_string(),
        Some(0) => "undefined".to_string(),
        Some(other) => other.to_string(),
        None => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_table_aligns_columns() {
        let modules = ModuleSummary::parse_list(
            br#"[{"name":"DeviceInfo","version":"3.0.0.0","components":["DeviceInfo"],"lifetime":2,
                 "inProcess":false,"hostPid":1234,"state":"running","crashes":0,"mim":true},
                {"name":"Fixture","version":"1.0.0.0","components":["SampleComponent","Fixture"],"lifetime":1,
                 "inProcess":false,"hostPid":null,"state":"quarantined","crashes":3,"mim":false},
                {"name":"HostName","version":"1.0.0.0","components":["HostName"],"lifetime":2,
                 "inProcess":true,"hostPid":null,"state":"running","crashes":0,"mim":true}]"#,
        )
        .unwrap();
        let expected = "\
NAME        VERSION  COMPONENTS               LIFETIME     PID         STATE        CRASHES  MIM
DeviceInfo  3.0.0.0  DeviceInfo               short-lived  1234        running      0        yes
Fixture     1.0.0.0  SampleComponent,Fixture  keep         -           quarantined  3        no
HostName    1.0.0.0  HostName                 short-lived  in-process  running      0        yes";
        assert_eq!(table(&modules), expected);
    }

    #[test]
    fn test_table_empty_and_missing_fields() {
        assert_eq!(table(&[]), "no modules");
        let text = table(&[ModuleSummary { name: "X".into(), ..ModuleSummary::default() }]);
        assert_eq!(text.lines().nth(1).unwrap(), "X                          ?         -           ?        no");
    }
}
