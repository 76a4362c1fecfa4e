//! `osconfigctl desired <file|->`: a whole desired document, through `MpiSetDesired`, checked first object by
//! object against the installed MIMs.

use osconfig_rest::parse_desired_document;

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::json::file_operand;
use crate::client::mim::LocalMims;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl desired`.
pub const USAGE: &str = "\
usage: osconfigctl desired <file|-> [options]

Sends a desired document {\"<Component>\":{\"<object>\":<value>,...},...} (the format of osconfig_desired.json)
through the platform: MpiOpen(\"osconfigctl\", 0), MpiSetDesired, MpiClose. `-` reads it from stdin. It is
checked locally first: valid JSON (the byte offset of an error is named), an object of objects, and every object
against the installed MIMs (every violation is listed); nothing is sent otherwise (exit 2). The platform applies
every object in order and answers the first failure's errno (its log names each object's result).
Prints `applied N desired objects`, or with --json {\"objects\":N,\"result\":\"ok\"}.
";

/// `osconfigctl desired ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("desired", USAGE, args, run)
}

/// Checks the document, runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    let [operand] = args.expect_operands(&["<file|->"])? else { unreachable!("one operand checked") };
    let text = file_operand(operand)?;
    let text = crate::client::json::trim_ascii(&text);
    let name = if operand == "-" { "stdin" } else { operand.as_str() };
    let objects = parse_desired_document(text).map_err(|e| CtlError::Input(format!("{name}: {e}")))?;
    let mims = LocalMims::load(&args.mim_dir());
    mims.warn_skipped();
    let violations: Vec<String> = objects
        .iter()
        .filter_map(|o| mims.check(&o.component_name, &o.object_name, o.payload.get().as_bytes()).err())
        .collect();
    if !violations.is_empty() {
        return Err(CtlError::Mim(violations));
    }
    let mut connection = Connection::new(args.socket_path(), args.timeout);
    connection.in_session("MpiSetDesired", |client, session| client.set_desired(session, text)).map_err(|e| {
        let mut components: Vec<&str> = objects.iter().map(|o| o.component_name.as_str()).collect();
        components.dedup();
        match e {
            CtlError::Errno { call, errno, .. } => (errno == 22)
                .then(|| connection.unknown_components(&components))
                .flatten()
                .unwrap_or_else(|| CtlError::Errno {
                    call,
                    errno,
                    hint: Some("at least one object failed; the platform's log names each object's result".to_string()),
                }),
            other => other,
        }
    })?;
    Ok(if args.json {
        serde_json::json!({"objects": objects.len(), "result": "ok"}).to_string()
    } else {
        let s = if objects.len() == 1 { "" } else { "s" };
        format!("applied {} desired object{s}", objects.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> CommonArgs {
        CommonArgs::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn scratch_file(tag: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("osconfigctl-desired-{tag}-{}.json", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn test_run_bad_documents_name_the_file_and_offset() {
        let path = scratch_file("bad", "{\"HostName\": {\"desiredName\": tru}}");
        let file = path.to_str().unwrap();
        match run(&parse(&["--socket", "/nonexistent/s.sock", file])) {
            Err(e @ CtlError::Input(_)) => {
                assert!(e.to_string().starts_with(&format!("{file}: not valid json at byte ")), "{e}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, r#"{"HostName": 1}"#).unwrap();
        assert!(matches!(run(&parse(&[file])), Err(CtlError::Input(t)) if t.contains("\"HostName\"")));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn test_run_lists_every_mim_violation() {
        let root = std::env::temp_dir().join(format!("osconfigctl-desired-root-{}", std::process::id()));
        let mim_dir = root.join("usr/lib/osconfig/mim");
        std::fs::create_dir_all(&mim_dir).unwrap();
        std::fs::write(
            mim_dir.join("hostname.json"),
            r#"{"name":"M","type":"mimModel","contents":[{"name":"HostName","type":"mimComponent","contents":[
                {"name":"desiredName","type":"mimObject","desired":true,"schema":"string"},
                {"name":"desiredHosts","type":"mimObject","desired":true,"schema":"string"}]}]}"#,
        )
        .unwrap();
        let path = scratch_file("mim", r#"{"HostName":{"desiredName":1,"desiredHosts":true},"Other":{"x":1}}"#);
        match run(&parse(&["--root", root.to_str().unwrap(), path.to_str().unwrap()])) {
            Err(CtlError::Mim(lines)) => {
                assert_eq!(lines.len(), 2, "{lines:?}");
                assert!(lines[0].starts_with("HostName.desiredName: "), "{lines:?}");
                assert!(lines[1].starts_with("HostName.desiredHosts: "), "{lines:?}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
