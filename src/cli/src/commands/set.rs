//! `osconfigctl set <Component> <object> <json|->`: one desired object, through `MpiSet`, checked first against
//! the installed MIMs.

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::json::{payload_operand, validate};
use crate::client::mim::LocalMims;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl set`.
pub const USAGE: &str = "\
usage: osconfigctl set <Component> <object> <json|-> [options]

Sets one desired object through the platform: MpiOpen(\"osconfigctl\", 0), MpiSet, MpiClose. The value is JSON
(a string needs its quotes: '\"box\"'), or `-` to read it from stdin. It is checked locally first: it must be
valid JSON, and if a MIM for the component is installed (<root>/usr/lib/osconfig/mim/<module>.json) it must
follow it; nothing is sent otherwise (exit 2, the violation quoted).
Prints `set <Component>.<object>`, or with --json {\"component\":..,\"object\":..,\"result\":\"ok\"}.
example: osconfigctl set HostName desiredName '\"box\"'
";

/// `osconfigctl set ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("set", USAGE, args, run)
}

/// Checks the payload, runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    let [component, object, operand] = args.expect_operands(&["<Component>", "<object>", "<json|->"])? else {
        unreachable!("three operands checked")
    };
    let payload = payload_operand(operand)?;
    let payload = crate::client::json::trim_ascii(&payload);
    validate(payload, "the value")?;
    let mims = LocalMims::load(&args.mim_dir());
    mims.warn_skipped();
    mims.check(component, object, payload).map_err(|violation| CtlError::Mim(vec![violation]))?;
    let mut connection = Connection::new(args.socket_path(), args.timeout);
    let label = format!("MpiSet {component}.{object}");
    if let Err(e) = connection.in_session(&label, |client, session| client.set(session, component, object, payload)) {
        return Err(explain(&mut connection, e, component, object));
    }
    Ok(if args.json {
        serde_json::json!({"component": component, "object": object, "result": "ok"}).to_string()
    } else {
        format!("set {component}.{object}")
    })
}

/// EINVAL: an unknown component (named with what the platform serves), else a refused value or unknown object;
/// EPERM: a module without desired objects.
fn explain(connection: &mut Connection, error: CtlError, component: &str, object: &str) -> CtlError {
    match error {
        CtlError::Errno { call, errno: 22, .. } => {
            connection.unknown_components(&[component]).unwrap_or_else(|| CtlError::Errno {
                call,
                errno: 22,
                hint: Some(format!("the module refused the value, or {component} has no desired object {object:?}")),
            })
        }
        CtlError::Errno { call, errno: 1, .. } => {
            CtlError::Errno { call, errno: 1, hint: Some(format!("{component} has no desired objects (read-only)")) }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> CommonArgs {
        CommonArgs::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn test_run_refuses_bad_json_before_connecting() {
        match run(&parse(&["--socket", "/nonexistent/s.sock", "HostName", "desiredName", "box"])) {
            Err(e @ CtlError::Input(_)) => {
                assert!(e.to_string().starts_with("the value is not valid JSON: line 1, column 1"), "{e}");
                assert_eq!(e.exit_code(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_run_operand_errors_are_usage() {
        assert!(matches!(run(&parse(&["C", "o"])), Err(CtlError::Usage(t)) if t.starts_with("missing <json|->")));
    }

    #[test]
    fn test_run_valid_value_goes_to_the_socket() {
        let result = run(&parse(&["--socket", "/nonexistent/s.sock", "C", "o", " -5 "]));
        assert!(matches!(result, Err(CtlError::NotRunning(_))), "{result:?}");
    }

    #[test]
    fn test_explain_hints() {
        let mut c = Connection::new("/nonexistent/osconfigctl.sock", None);
        let e = explain(&mut c, CtlError::Errno { call: "MpiSet D.o".into(), errno: 1, hint: None }, "D", "o");
        assert_eq!(
            e.to_string(),
            "MpiSet D.o failed: errno 1 EPERM (operation not permitted): D has no desired objects (read-only)"
        );
        let e = explain(&mut c, CtlError::Errno { call: "MpiSet D.o".into(), errno: 22, hint: None }, "D", "o");
        assert!(e.to_string().ends_with("the module refused the value, or D has no desired object \"o\""), "{e}");
    }
}
