//! Shared helpers of the end-to-end tests (work in progress).
