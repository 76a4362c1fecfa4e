//! `osconfigctl get <Component> <object>`: one reported (or desired) object, through `MpiGet`.

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::json::pretty;
use crate::client::mim::LocalMims;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl get`.
pub const USAGE: &str = "\
usage: osconfigctl get <Component> <object> [options]

Reads one object through the platform: MpiOpen(\"osconfigctl\", 0), MpiGet, MpiClose. Prints its value as
pretty JSON, or with --json compact exactly as the module returned it.
example: osconfigctl get DeviceInfo osName
";

/// `osconfigctl get ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("get", USAGE, args, run)
}

/// Runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    let [component, object] = args.expect_operands(&["<Component>", "<object>"])? else {
        unreachable!("two operands checked")
    };
    let mut connection = Connection::new(args.socket_path(), args.timeout);
    let label = format!("MpiGet {component}.{object}");
    let value = match connection.in_session(&label, |client, session| client.get(session, component, object)) {
        Ok(value) => value,
        Err(e) => return Err(explain(&mut connection, e, component, object, &LocalMims::load(&args.mim_dir()))),
    };
    Ok(if args.json { String::from_utf8_lossy(&value).into_owned() } else { pretty(&value) })
}

/// EINVAL: an unknown component (named with what the platform serves), else most likely an unknown object (named
/// with the objects of the component's MIM when it is installed).
fn explain(connection: &mut Connection, error: CtlError, component: &str, object: &str, mims: &LocalMims) -> CtlError {
    match error {
        CtlError::Errno { call, errno: 22, .. } => connection.unknown_components(&[component]).unwrap_or_else(|| {
            let known = match mims.objects(component) {
                Some(objects) => format!("its MIM names: {}", objects.join(", ")),
                None => "names are case-sensitive".to_string(),
            };
            CtlError::Errno { call, errno: 22, hint: Some(format!("{component} has no object {object:?} ({known})")) }
        }),
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
    fn test_run_operand_errors_are_usage() {
        assert!(matches!(run(&parse(&["HostName"])), Err(CtlError::Usage(t)) if t.starts_with("missing <object>")));
        assert!(matches!(run(&parse(&["a", "b", "c"])), Err(CtlError::Usage(_))));
    }

    #[test]
    fn test_run_without_platform_names_the_socket() {
        let result = run(&parse(&["--root", "/nonexistent/osconfigctl", "HostName", "name"]));
        match result {
            Err(e @ CtlError::NotRunning(_)) => {
                assert!(e.to_string().contains("/nonexistent/osconfigctl/run/osconfig/mpid.sock"), "{e}");
                assert_eq!(e.exit_code(), 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_explain_keeps_other_errors_and_hints_unknown_object() {
        let mut c = Connection::new("/nonexistent/osconfigctl.sock", None);
        let mims = LocalMims::default();
        let e = explain(&mut c, CtlError::Errno { call: "MpiGet H.x".into(), errno: 22, hint: None }, "H", "x", &mims);
        assert_eq!(
            e.to_string(),
            "MpiGet H.x failed: errno 22 EINVAL (invalid argument): H has no object \"x\" (names are case-sensitive)"
        );
        let e = explain(&mut c, CtlError::Errno { call: "MpiGet H.x".into(), errno: 61, hint: None }, "H", "x", &mims);
        assert!(matches!(e, CtlError::Errno { errno: 61, hint: None, .. }));
    }
}
