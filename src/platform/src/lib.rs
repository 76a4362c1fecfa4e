//! # osconfig-platform: the OSConfig platform daemon
//!
//! Work in progress: MPI server, orchestrator and the Modules Manager ([`manager`]).

#![deny(missing_docs)]

pub mod manager;
