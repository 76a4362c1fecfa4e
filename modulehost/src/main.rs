//! `osconfig-modulehost`: see [`osconfig_modulehost::program`] (the platform's multi-call executable runs the same
//! function).

fn main() {
    osconfig_modulehost::malloc::configure();
    osconfig_modulehost::program::main();
}
