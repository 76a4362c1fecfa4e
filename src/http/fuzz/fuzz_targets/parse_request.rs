//! Feeds arbitrary bytes to the request parser, split into chunks at positions taken from the input itself, and
//! checks it never panics, never returns more body than the limit, and fails for good once it fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osconfig_http::{Limits, RequestParser};

fuzz_target!(|data: &[u8]| {
    let Some((&split_seed, bytes)) = data.split_first() else { return };
    let limits = Limits::default().with_max_head_bytes(1024).with_max_headers(16).with_max_body_bytes(4096);
    let mut parser = RequestParser::new(limits);
    let step = usize::from(split_seed).max(1);
    let mut failed = None;
    for chunk in bytes.chunks(step) {
        parser.push(chunk);
        loop {
            match parser.next_request() {
                Ok(Some(request)) => {
                    assert!(failed.is_none(), "a request after an error");
                    assert!(request.body.len() <= limits.max_body_bytes);
                    assert!(request.headers.len() <= limits.max_headers);
                    let _ = request.route();
                }
                Ok(None) => break,
                Err(error) => {
                    if let Some(previous) = &failed {
                        assert_eq!(previous, &error, "errors are sticky");
                    }
                    failed = Some(error);
                    break;
                }
            }
        }
        let _ = parser.take_continue();
    }
});
