//! End-to-end tests of the OSConfig platform (this library is empty; the tests are under `e2e/`).
