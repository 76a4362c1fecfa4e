//! CommandRunner: an OSConfig module (placeholder doc, completed with the SDK wiring).
#![deny(missing_docs)]

pub mod arguments;
pub mod capture;
pub mod engine;
pub mod history;
pub mod power;
pub mod process;
pub mod status;
