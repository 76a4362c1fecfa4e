//! End-to-end tests of the platform's MPI (work in progress).

mod common;
