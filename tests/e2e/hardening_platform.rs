//! (being written)

mod common;

#[test]
fn placeholder() {}
