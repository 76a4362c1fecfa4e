//! glibc's allocator set for a small daemon: the first thing the module host's and the platform's `main` do.
//!
//! `M_ARENA_MAX` 1: every thread allocates from the main heap. By default each thread that allocates gets its own
//! arena (a 64 MiB reservation of which it keeps a few pages touched); the platform's threads allocate little, and
//! glibc's per-thread cache serves most small allocations without the arena's lock, while each arena keeps at
//! least a page private, more once its thread has worked. Measured at start-up after one `MpiGet` per module
//! (`osconfig-bench platform_pss`, BENCHMARKS.md, issue 11's memory section): 12-16 KiB less in the platform with
//! its orchestrator thread, 4-8 KiB less without it (watcher and signal threads). A module host has one thread: no
//! change there, unless a module starts threads.
//!
//! Not set, because measured to gain nothing from here: `M_TOP_PAD` 0 saves 8 KiB per process only as an environment
//! tunable (`GLIBC_TUNABLES`), in force before the first allocation (the saving is a zero-filled buffer that
//! `calloc` then takes from fresh `brk` memory and need not clear); set from `main` the heap is already padded.
//! `M_TRIM_THRESHOLD`, `M_MMAP_THRESHOLD`: no change. Other C libraries (musl) have no such settings: a no-op.

/// Sets the allocator's options (see the module docs); call it first in `main`, before any thread starts.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before this process starts any thread, and glibc
    // takes its own lock either way. A refused option (return 0) leaves glibc's default, which is harmless.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
