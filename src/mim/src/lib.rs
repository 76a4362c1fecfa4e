//! # osconfig-mim: Module Interface Models
//!
//! (being written)
#![deny(missing_docs)]
