//! Module test recipes (spec section 6): parsing, running, comparing, reporting.
//!
//! - [`comments`]: `//` and `/* */` comments stripped outside strings, positions kept.
//! - [`parse`] / [`step`]: a recipe file into [`step::Step`]s; a wrong step shape becomes an invalid step that fails.
//! - [`compare`]: reported payloads against expected ones (semantic JSON equality, `PASS*` / `^PASS*`).
//! - [`command`]: `RunCommand` steps (`/bin/sh -c`, process group, time limit).
//! - [`run`]: the steps against a [`crate::target::Backend`].
//! - [`report`]: outcomes, counts and the printed lines.

pub mod command;
pub mod comments;
pub mod compare;
pub mod parse;
pub mod report;
pub mod run;
pub mod step;
