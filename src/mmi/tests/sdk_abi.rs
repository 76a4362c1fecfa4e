//! The SDK's C boundary, called in-process through the generic `export::mmi_*` bodies the macro forwards to
//! (exactly what a C host reaches through the exported symbols).

use std::ffi::{c_char, c_int, CStr};
use std::ptr::{null, null_mut};

use osconfig_mmi::abi::{MMI_HANDLE, MMI_JSON_STRING, MMI_OK, PANIC_ERRNO};
use osconfig_mmi::export::{live_sessions, mmi_close, mmi_free, mmi_get, mmi_get_info, mmi_open, mmi_set};
use osconfig_mmi::{Errno, Lifetime, Module, ModuleInfo};
use serde_json::{json, Value};

/// A module with an `echo` object, a `panic` object, and an object whose getter returns `Err(Errno(0))`.
struct Echo {
    value: Value,
    client: String,
}

/// The SDK's first call installs its module logger, a file under `$OSCONFIG_ROOT/var/log` (`/var/log` here),
/// unless the process has a logger already; it asks `info` for the module's name first. `info` installs a logger
/// that discards everything before that, so these tests write no file and need no environment.
fn no_log_file() {
    struct Discard;
    impl log::Log for Discard {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            false
        }
        fn log(&self, _: &log::Record<'_>) {}
        fn flush(&self) {}
    }
    static DISCARD: Discard = Discard;
    // Err when already installed: by an earlier call, which is what this wants.
    let _ = log::set_logger(&DISCARD);
}

impl Module for Echo {
    fn info(client_name: &str) -> ModuleInfo {
        no_log_file();
        ModuleInfo {
            name: "Echo".into(),
            description: format!("for {client_name}"),
            manufacturer: "tests".into(),
            version_major: 3,
            version_info: "t".into(),
            components: vec!["Echo".into()],
            lifetime: Lifetime::ShortLived,
            ..ModuleInfo::default()
        }
    }

    fn open(client_name: &str, _max: u32) -> Result<Self, Errno> {
        if client_name == "refuse" {
            return Err(Errno::EACCES);
        }
        Ok(Echo { value: json!(""), client: client_name.to_string() })
    }

    fn set(&mut self, _component: &str, object: &str, payload: &Value) -> Result<(), Errno> {
        match object {
            "echo" => {
                self.value = payload.clone();
                Ok(())
            }
            "panic" => panic!("set asked to panic"),
            _ => Err(Errno::EINVAL),
        }
    }

    fn get(&mut self, _component: &str, object: &str) -> Result<Value, Errno> {
        match object {
            "echo" => Ok(self.value.clone()),
            "panic" => panic!("get asked to panic"),
            "zero" => Err(Errno(0)),
            "client" => Ok(json!(self.client)),
            _ => Err(Errno::EINVAL),
        }
    }

    fn close(self) {
        if self.client == "panic-on-close" {
            panic!("close asked to panic");
        }
    }
}

/// A second module type, to check that handles are typed.
struct Other;

impl Module for Other {
    fn info(_client_name: &str) -> ModuleInfo {
        no_log_file();
        ModuleInfo::default()
    }
    fn open(_client_name: &str, _max: u32) -> Result<Self, Errno> {
        Ok(Other)
    }
    fn set(&mut self, _c: &str, _o: &str, _p: &Value) -> Result<(), Errno> {
        Ok(())
    }
    fn get(&mut self, _c: &str, _o: &str) -> Result<Value, Errno> {
        Ok(json!(1))
    }
}

fn open(client: &CStr, max: u32) -> MMI_HANDLE {
    // SAFETY: a valid C string.
    unsafe { mmi_open::<Echo>(client.as_ptr(), max) }
}

fn close(h: MMI_HANDLE) {
    // SAFETY: the handle is only a registry key.
    unsafe { mmi_close::<Echo>(h) }
}

fn set(h: MMI_HANDLE, object: &CStr, payload: &[u8]) -> c_int {
    // SAFETY: valid C strings; the payload pointer is readable for its length.
    unsafe {
        mmi_set::<Echo>(
            h,
            c"Echo".as_ptr(),
            object.as_ptr(),
            payload.as_ptr() as MMI_JSON_STRING,
            payload.len() as c_int,
        )
    }
}

/// MmiGet; on success check the NUL after the payload, copy it out and free it.
fn get(h: MMI_HANDLE, object: &CStr) -> Result<Vec<u8>, c_int> {
    let mut payload: MMI_JSON_STRING = c"sentinel".as_ptr().cast_mut();
    let mut size: c_int = -7;
    // SAFETY: valid C strings and writable out-pointers.
    let rc = unsafe { mmi_get::<Echo>(h, c"Echo".as_ptr(), object.as_ptr(), &mut payload, &mut size) };
    if rc != MMI_OK {
        assert!(payload.is_null(), "failure must leave NULL");
        assert_eq!(size, 0, "failure must leave 0");
        return Err(rc);
    }
    assert!(!payload.is_null() && size > 0, "MMI_OK with an empty payload");
    // SAFETY: the SDK returned `size` bytes plus a NUL.
    let bytes = unsafe { std::slice::from_raw_parts(payload.cast::<u8>(), size as usize + 1) }.to_vec();
    // SAFETY: returned by mmi_get, freed once.
    unsafe { mmi_free(payload) };
    assert_eq!(bytes.last(), Some(&0), "payload must be NUL-terminated");
    Ok(bytes[..bytes.len() - 1].to_vec())
}

#[test]
fn test_get_info_returns_nul_terminated_json_of_reported_length() {
    let mut payload: MMI_JSON_STRING = null_mut();
    let mut size: c_int = 0;
    // SAFETY: valid C string and out-pointers.
    let rc = unsafe { mmi_get_info::<Echo>(c"me".as_ptr(), &mut payload, &mut size) };
    assert_eq!(rc, MMI_OK);
    // SAFETY: the SDK returned a NUL-terminated buffer.
    let text = unsafe { CStr::from_ptr(payload) }.to_str().unwrap().to_string();
    assert_eq!(text.len(), size as usize);
    // SAFETY: returned by mmi_get_info, freed once.
    unsafe { mmi_free(payload) };
    let info = ModuleInfo::from_json(text.as_bytes()).unwrap();
    assert_eq!(info.name, "Echo");
    assert_eq!(info.description, "for me");
    assert_eq!(info.version_major, 3);
}

#[test]
fn test_get_info_null_pointers_einval() {
    let mut payload: MMI_JSON_STRING = c"x".as_ptr().cast_mut();
    let mut size: c_int = 5;
    // SAFETY: NULL is allowed by the SDK; the others are valid.
    unsafe {
        assert_eq!(mmi_get_info::<Echo>(null(), &mut payload, &mut size), libc::EINVAL);
        assert!(payload.is_null());
        assert_eq!(size, 0);
        assert_eq!(mmi_get_info::<Echo>(c"me".as_ptr(), null_mut(), &mut size), libc::EINVAL);
        assert_eq!(mmi_get_info::<Echo>(c"me".as_ptr(), &mut payload, null_mut()), libc::EINVAL);
        assert!(payload.is_null());
    }
}

#[test]
fn test_open_null_or_refused_client_gives_null() {
    // SAFETY: NULL is allowed by the SDK.
    assert!(unsafe { mmi_open::<Echo>(null(), 0) }.is_null());
    let empty = open(c"", 0);
    assert!(!empty.is_null(), "an empty client name is allowed");
    assert_eq!(get(empty, c"client"), Ok(b"\"\"".to_vec()));
    close(empty);
    assert!(open(c"refuse", 0).is_null());
    let bad_utf8 = c"\xff\xfe";
    assert!(open(bad_utf8, 0).is_null());
}

#[test]
fn test_set_then_get_round_trip() {
    let h = open(c"round-trip", 0);
    assert!(!h.is_null());
    assert_eq!(get(h, c"echo"), Ok(b"\"\"".to_vec()));
    assert_eq!(set(h, c"echo", br#"{"a": [1, 2],  "b": null}"#), MMI_OK);
    assert_eq!(get(h, c"echo"), Ok(br#"{"a":[1,2],"b":null}"#.to_vec()));
    assert_eq!(get(h, c"client"), Ok(br#""round-trip""#.to_vec()));
    close(h);
}

#[test]
fn test_set_reads_payload_by_length() {
    let h = open(c"by-length", 0);
    // No NUL anywhere, and junk after the length that would break JSON parsing if it were read.
    let buf: Vec<u8> = b"\"abc\"}}garbage".to_vec();
    // SAFETY: the pointer is readable for 5 bytes.
    let rc = unsafe { mmi_set::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), buf.as_ptr() as MMI_JSON_STRING, 5) };
    assert_eq!(rc, MMI_OK);
    assert_eq!(get(h, c"echo"), Ok(b"\"abc\"".to_vec()));
    close(h);
}

#[test]
fn test_set_bad_payloads_einval() {
    let h = open(c"bad-payloads", 0);
    let buf = b"123";
    // SAFETY: NULL and bad lengths are refused before any read; otherwise readable for the length.
    unsafe {
        let p = buf.as_ptr() as MMI_JSON_STRING;
        assert_eq!(mmi_set::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), p, -1), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), p, 0), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), null_mut(), 3), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, null(), c"echo".as_ptr(), p, 3), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, c"Echo".as_ptr(), null(), p, 3), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, c"".as_ptr(), c"echo".as_ptr(), p, 3), libc::EINVAL);
        assert_eq!(mmi_set::<Echo>(h, c"Echo".as_ptr(), c"".as_ptr(), p, 3), libc::EINVAL);
        let bad_utf8 = b"\xc3\x28\0";
        assert_eq!(mmi_set::<Echo>(h, bad_utf8.as_ptr().cast::<c_char>(), c"echo".as_ptr(), p, 3), libc::EINVAL);
    }
    assert_eq!(set(h, c"echo", b"{\"a\":"), libc::EINVAL);
    assert_eq!(set(h, c"echo", b"\xff"), libc::EINVAL);
    assert_eq!(set(h, c"echo", b"1 2"), libc::EINVAL);
    // Nothing above reached the module.
    assert_eq!(get(h, c"echo"), Ok(b"\"\"".to_vec()));
    close(h);
}

#[test]
fn test_get_null_out_pointers_einval() {
    let h = open(c"null-out", 0);
    let mut payload: MMI_JSON_STRING = c"x".as_ptr().cast_mut();
    let mut size: c_int = 3;
    // SAFETY: NULL out-pointers are refused; the others are writable.
    unsafe {
        assert_eq!(mmi_get::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), null_mut(), &mut size), libc::EINVAL);
        assert_eq!(size, 0);
        assert_eq!(mmi_get::<Echo>(h, c"Echo".as_ptr(), c"echo".as_ptr(), &mut payload, null_mut()), libc::EINVAL);
        assert!(payload.is_null());
        assert_eq!(mmi_get::<Echo>(h, null(), c"echo".as_ptr(), &mut payload, &mut size), libc::EINVAL);
        assert_eq!(mmi_get::<Echo>(h, c"Echo".as_ptr(), null(), &mut payload, &mut size), libc::EINVAL);
    }
    close(h);
}

#[test]
fn test_max_payload_e2big_both_ways() {
    let h = open(c"small", 8);
    assert_eq!(set(h, c"echo", b"\"123456\""), MMI_OK); // exactly 8 bytes
    assert_eq!(get(h, c"echo"), Ok(b"\"123456\"".to_vec()));
    assert_eq!(set(h, c"echo", b"\"1234567\""), libc::E2BIG);
    assert_eq!(set(h, c"echo", b"[1,2,3,4]"), libc::E2BIG);
    assert_eq!(set(h, c"echo", b"[1,\n2,3]"), MMI_OK);
    assert_eq!(get(h, c"echo"), Ok(b"[1,2,3]".to_vec()));
    close(h);

    let h = open(c"grow", 10);
    assert_eq!(set(h, c"echo", b"{\"a\":1e2}"), MMI_OK); // 9 bytes in, "100.0" makes 11 out
    assert_eq!(get(h, c"echo"), Err(libc::E2BIG));
    close(h);
}

#[test]
fn test_get_panic_returns_errno_and_next_call_works() {
    let h = open(c"panics", 0);
    assert_eq!(set(h, c"echo", b"42"), MMI_OK);
    assert_eq!(get(h, c"panic"), Err(PANIC_ERRNO.0));
    assert_eq!(get(h, c"echo"), Ok(b"42".to_vec()));
    assert_eq!(set(h, c"panic", b"1"), PANIC_ERRNO.0);
    assert_eq!(set(h, c"echo", b"43"), MMI_OK);
    assert_eq!(get(h, c"echo"), Ok(b"43".to_vec()));
    close(h);
}

#[test]
fn test_get_never_ok_with_empty_payload() {
    let h = open(c"zero", 0);
    // The module returns Err(Errno(0)): that must not become MMI_OK without a payload.
    assert_eq!(get(h, c"zero"), Err(libc::EINVAL));
    close(h);
}

#[test]
fn test_bogus_null_and_closed_handles_einval() {
    let mut dummy = 0u64;
    let bogus = (&mut dummy as *mut u64).cast::<std::ffi::c_void>();
    assert_eq!(get(bogus, c"echo"), Err(libc::EINVAL));
    assert_eq!(set(bogus, c"echo", b"1"), libc::EINVAL);
    assert_eq!(get(null_mut(), c"echo"), Err(libc::EINVAL));
    assert_eq!(set(null_mut(), c"echo", b"1"), libc::EINVAL);
    close(bogus); // ignored
    close(null_mut()); // ignored
    assert_eq!(dummy, 0, "the SDK wrote through a bogus handle");

    let h = open(c"closed", 0);
    assert_eq!(get(h, c"echo"), Ok(b"\"\"".to_vec()));
    close(h);
    assert_eq!(get(h, c"echo"), Err(libc::EINVAL));
    assert_eq!(set(h, c"echo", b"1"), libc::EINVAL);
    close(h); // double close is ignored
}

#[test]
fn test_handle_of_other_module_type_einval() {
    // SAFETY: valid C string.
    let other = unsafe { mmi_open::<Other>(c"other".as_ptr(), 0) };
    assert!(!other.is_null());
    assert_eq!(get(other, c"echo"), Err(libc::EINVAL));
    close(other); // an Echo close must not close an Other session
    assert_eq!(live_sessions::<Other>(), 1);
    // SAFETY: the handle is only a registry key.
    unsafe { mmi_close::<Other>(other) };
    assert_eq!(live_sessions::<Other>(), 0);
}

#[test]
fn test_close_panic_is_swallowed_and_session_removed() {
    let h = open(c"panic-on-close", 0);
    assert!(!h.is_null());
    close(h);
    assert_eq!(get(h, c"echo"), Err(libc::EINVAL));
}

#[test]
fn test_free_accepts_null() {
    // SAFETY: NULL is allowed.
    unsafe { mmi_free(null_mut()) };
}

#[test]
fn test_sessions_are_independent_and_concurrent() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let name = std::ffi::CString::new(format!("thread-{t}")).unwrap();
                let h = open(&name, 0) as usize;
                for i in 0..200 {
                    let h = h as MMI_HANDLE;
                    let v = format!("{}", t * 1000 + i);
                    assert_eq!(set(h, c"echo", v.as_bytes()), MMI_OK);
                    assert_eq!(get(h, c"echo"), Ok(v.into_bytes()));
                }
                close(h as MMI_HANDLE);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
