//! Rust loading C: modules written in C against `include/Mmi.h`, compiled with `cc`, loaded with our loader.

mod common;

use std::path::PathBuf;

use osconfig_mmi::loader::{Library, LoadError};
use osconfig_mmi::{Errno, InfoError, Lifetime};

/// Build one variant of `tests/c/test_module.c` for one test, in its own temp dir (keep the `TempRoot` while the
/// test runs). Each test gets its own file: dlopen of the same path returns the same instance, and the module
/// keeps global state (its MmiFree counter, the stored value).
fn module(test: &str, defines: &[&str]) -> (common::TempRoot, PathBuf) {
    let dir = common::temp_dir("c-modules");
    let name = format!("{test}-{}", defines.join("-").to_lowercase());
    let path = common::cc_shared("test_module.c", defines, dir.path(), &format!("{name}.so"));
    (dir, path)
}

#[test]
fn test_load_good_c_module_full_cycle() {
    let (_dir, path) = module("cycle", &[]);
    let lib = Library::load(path).unwrap();
    let info = lib.get_info("rust-tests").unwrap();
    assert_eq!(info.name, "CTest");
    assert_eq!(info.description, "A test module in C");
    assert_eq!((info.version_major, info.version_minor, info.version_patch), (2, 1, 0));
    assert_eq!(info.components, vec!["CTest"]);
    assert_eq!(info.lifetime, Lifetime::ShortLived);

    {
        let session = lib.open("rust-tests", 1234).unwrap();
        // The module appends junk after every payload and no NUL: reading by length gives exactly the value.
        assert_eq!(session.get("CTest", "session").unwrap(), br#"{"client":"rust-tests","max":1234}"#);
        assert_eq!(session.get("CTest", "value").unwrap(), b"\"\"");
        session.set("CTest", "value", br#"{"k":[1,2,3]}"#).unwrap();
        assert_eq!(session.get("CTest", "lastSetSize").unwrap(), b"13");
        assert_eq!(session.get("CTest", "value").unwrap(), br#"{"k":[1,2,3]}"#);
        assert_eq!(session.get("CTest", "nope"), Err(Errno::EINVAL));
        assert_eq!(session.set("CTest", "nope", b"1"), Err(Errno::EINVAL));
        // Every payload handed out so far went back through the module's MmiFree
        // (get_info + 4 successful gets; this answer is counted after it is written).
        assert_eq!(session.get("CTest", "frees").unwrap(), b"5");
        assert_eq!(session.get("CTest", "frees").unwrap(), b"6");
        // Names with NUL bytes never reach the module.
        assert_eq!(session.get("CT\0est", "value"), Err(Errno::EINVAL));
    }
    lib.unload().unwrap();
}

#[test]
fn test_get_info_raw_is_the_exact_bytes() {
    let (_dir, path) = module("raw", &[]);
    let lib = Library::load(path).unwrap();
    let raw = lib.get_info_raw("tests").unwrap();
    // Read by length: the junk the module appends after its payload is not included.
    assert!(raw.starts_with(br#"{"Name":"CTest","#), "{}", String::from_utf8_lossy(&raw));
    assert!(raw.ends_with(br#","ExtraKey":{"ignored":true}}"#), "{}", String::from_utf8_lossy(&raw));
    // Validation is left to the caller; the bad variants still come back raw.
    let (_dir, path) = module("raw", &["BAD_INFO_LIFETIME"]);
    let bad = Library::load(path).unwrap();
    assert!(bad.get_info_raw("tests").unwrap().ends_with(br#""Lifetime":7}"#));
}

#[test]
fn test_set_passes_exact_length_without_nul() {
    let (_dir, path) = module("len", &[]);
    let lib = Library::load(path).unwrap();
    let session = lib.open("len", 0).unwrap();
    let backing = b"\"abc\"XYZ";
    session.set("CTest", "value", &backing[..5]).unwrap();
    assert_eq!(session.get("CTest", "lastSetSize").unwrap(), b"5");
    assert_eq!(session.get("CTest", "value").unwrap(), b"\"abc\"");
    // An empty payload is passed as (non-NULL, 0) and the module refuses it.
    assert_eq!(session.set("CTest", "value", b""), Err(Errno::EINVAL));
}

#[test]
fn test_missing_symbol_is_named() {
    let (_dir, path) = module("missing", &["OMIT_MMIFREE"]);
    let err = Library::load(path).unwrap_err();
    match &err {
        LoadError::MissingSymbol { symbol, .. } => assert_eq!(*symbol, "MmiFree"),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("MmiFree"), "{err}");
}

#[test]
fn test_bad_info_errors_name_the_field() {
    for (define, field) in
        [("BAD_INFO_LIFETIME", "Lifetime"), ("BAD_INFO_NO_NAME", "Name"), ("BAD_INFO_COMPONENTS", "Components")]
    {
        let (_dir, path) = module("variant", &[define]);
        let lib = Library::load(path).unwrap();
        let err = lib.get_info("tests").unwrap_err();
        match &err {
            LoadError::Info(info) => assert_eq!(info.field(), Some(field), "{define}: {info}"),
            other => panic!("{define}: unexpected error {other}"),
        }
        let source = std::error::Error::source(&err).expect("the info error is the source").to_string();
        assert!(source.contains(field), "{define}: {source}");
        if define == "BAD_INFO_COMPONENTS" {
            assert!(matches!(err, LoadError::Info(InfoError::DuplicateComponent { .. })));
        }
    }
}

#[test]
fn test_get_info_errno_is_returned() {
    let (_dir, path) = module("info", &["INFO_FAILS"]);
    let lib = Library::load(path).unwrap();
    assert!(matches!(lib.get_info("tests"), Err(LoadError::GetInfo(Errno::ENOMEM))));
}

#[test]
fn test_get_ok_with_null_or_empty_payload_is_an_error() {
    for define in ["GET_OK_NULL", "GET_OK_ZERO"] {
        let (_dir, path) = module("variant", &[define]);
        let lib = Library::load(path).unwrap();
        let session = lib.open("tests", 0).unwrap();
        assert_eq!(session.get("CTest", "value"), Err(Errno::EPROTO), "{define}");
    }
}

#[test]
fn test_open_null_is_an_error() {
    let (_dir, path) = module("open", &["OPEN_FAILS"]);
    let lib = Library::load(path).unwrap();
    assert_eq!(lib.open("tests", 0).err(), Some(Errno::EIO));
}

#[test]
fn test_library_can_move_to_another_thread() {
    let (_dir, path) = module("thread", &[]);
    let lib = Library::load(path).unwrap();
    let handle = std::thread::spawn(move || {
        let session = lib.open("thread", 0).unwrap();
        let v = session.get("CTest", "session").unwrap();
        drop(session);
        lib.unload().unwrap();
        v
    });
    assert_eq!(handle.join().unwrap(), br#"{"client":"thread","max":0}"#);
}

#[test]
fn test_header_compiles_as_cpp() {
    // The header's extern "C" guard: compile it as C++ when a C++ compiler is installed.
    let Ok(out) = std::process::Command::new("c++")
        .args(["-fsyntax-only", "-Wall", "-Werror", "-x", "c++"])
        .arg(common::include_dir().join("Mmi.h"))
        .output()
    else {
        eprintln!("no c++ compiler; skipped");
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
