//! Feeds arbitrary bytes to every MMI request-body parser (a module host's side of its socket) and to the errno body
//! of a `500` (the client's side). None may panic; a body that parses must give the same request back after
//! `to_body`, and a `Payload` must be the exact bytes received.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osconfig_rest::wire::{errno_body, parse_errno_body, Fields};
use osconfig_rest::{CloseRequest, GetInfoRequest, GetRequest, OpenRequest, SetRequest};

fuzz_target!(|body: &[u8]| {
    if let Ok(r) = GetInfoRequest::from_body(body) {
        assert_eq!(GetInfoRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = OpenRequest::from_body(body) {
        assert_eq!(OpenRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = CloseRequest::from_body(body) {
        assert_eq!(CloseRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = GetRequest::from_body(body) {
        assert_eq!(GetRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = SetRequest::from_body(body) {
        let again = SetRequest::from_body(&r.to_body()).unwrap();
        assert_eq!(
            (&again.client_session, &again.component_name, &again.object_name, again.payload.get()),
            (&r.client_session, &r.component_name, &r.object_name, r.payload.get())
        );
        assert!(body.windows(r.payload.get().len()).any(|w| w == r.payload.get().as_bytes()));
    }
    if let Ok(fields) = Fields::parse(body) {
        // Any key may be asked for, with any type; only errors come back.
        let _ = (fields.string("ClientName"), fields.u32("MaxPayloadSizeBytes"), fields.raw_value("Payload"));
    }
    if let Some(errno) = parse_errno_body(body) {
        assert_eq!(parse_errno_body(&errno_body(errno)), Some(errno));
    }
});
