//! The subcommands of `osconfigctl`, one file each. Each has a `main(args) -> exit code` and a `USAGE` text.

pub mod test;
