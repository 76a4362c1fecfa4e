//! Tells the library which target it is compiled for, so that `artifacts` knows a cross-compiled test's layout
//! (`<target dir>/<triple>/<profile>`) for certain.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=OSCONFIG_TESTKIT_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
