//! The subcommands of `osconfigctl`, one file each. Each has a `main(args) -> exit code` and a `USAGE` text.
//!
//! - [`test`](mod@test): module test recipes, run in-process or through module hosts (no platform needed).
//! - MPI clients of a running platform, sharing [`crate::client`]: [`get`], [`set`], [`desired`], [`reported`];
//!   and of our two extension endpoints: [`modules`], [`status`].

pub mod desired;
pub mod get;
pub mod modules;
pub mod reported;
pub mod set;
pub mod status;
pub mod test;
