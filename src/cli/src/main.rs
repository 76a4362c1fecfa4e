//! `osconfigctl`: see [`osconfig_cli::program`] (the platform's multi-call executable runs the same function).

fn main() {
    osconfig_cli::program::main()
}
