//! `osconfigctl reported`: the reported document, through `MpiGetReported`.

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::json::pretty;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl reported`.
pub const USAGE: &str = "\
usage: osconfigctl reported [options]

Reads the reported document {\"<Component>\":{\"<object>\":<value>,...},...} (the objects listed under
`Reported` in osconfig.json) through the platform: MpiOpen(\"osconfigctl\", 0), MpiGetReported, MpiClose.
Prints it as pretty JSON, or with --json compact as the platform sent it.
";

/// `osconfigctl reported ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("reported", USAGE, args, run)
}

/// Runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    args.expect_operands(&[])?;
    let mut connection = Connection::new(args.socket_path(), args.timeout);
    let document = connection.in_session("MpiGetReported", |client, session| client.get_reported(session))?;
    Ok(if args.json { String::from_utf8_lossy(&document).into_owned() } else { pretty(&document) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_run_takes_no_operands() {
        let args = CommonArgs::parse(&["x".to_string()]).unwrap();
        assert!(matches!(run(&args), Err(CtlError::Usage(t)) if t == "unexpected argument 'x' (takes no arguments)"));
    }
}
