//! The `osconfig-platform` daemon (work in progress).

fn main() {}
