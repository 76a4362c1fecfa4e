//! Feeds arbitrary bytes to every MPI request-body parser (the platform's side of `/run/osconfig/mpid.sock`) and to
//! the desired-document parser (the DC file, `MpiSetDesired`'s `Payload`). None may panic; a body that parses must
//! give the same request back after `to_body`, and its `Payload` must be the exact bytes received.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osconfig_rest::{
    parse_desired_document, MpiCloseRequest, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest,
    MpiSetDesiredRequest, MpiSetRequest,
};

fuzz_target!(|body: &[u8]| {
    if let Ok(r) = MpiOpenRequest::from_body(body) {
        assert_eq!(MpiOpenRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = MpiCloseRequest::from_body(body) {
        assert_eq!(MpiCloseRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = MpiGetReportedRequest::from_body(body) {
        assert_eq!(MpiGetReportedRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = MpiGetRequest::from_body(body) {
        assert_eq!(MpiGetRequest::from_body(&r.to_body()).unwrap(), r);
    }
    if let Ok(r) = MpiSetRequest::from_body(body) {
        let again = MpiSetRequest::from_body(&r.to_body()).unwrap();
        assert_eq!(
            (&again.client_session, &again.component_name, &again.object_name, again.payload.get()),
            (&r.client_session, &r.component_name, &r.object_name, r.payload.get())
        );
        // The payload is a slice of the body, never re-serialized.
        assert!(body.windows(r.payload.get().len()).any(|w| w == r.payload.get().as_bytes()));
    }
    if let Ok(r) = MpiSetDesiredRequest::from_body(body) {
        // to_body regroups components, so only the set of (component, object, value) survives, not the order.
        let again = MpiSetDesiredRequest::from_body(&r.to_body()).unwrap();
        assert_eq!(again.client_session, r.client_session);
        assert_eq!(again.objects.len(), r.objects.len());
    }
    if let Ok(objects) = parse_desired_document(body) {
        // Each value is kept as the exact text received (a number out of f64's range included: modules judge it).
        for o in &objects {
            let value = o.payload.get().as_bytes();
            assert!(body.windows(value.len()).any(|w| w == value));
        }
    }
});
