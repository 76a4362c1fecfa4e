//! The one place where results become HTTP answers.

use osconfig_http::{Response, StatusCode};
use osconfig_mmi::Errno;
use osconfig_rest::wire::{bad_request_body, errno_body};
use osconfig_rest::BodyError;

/// A module call's result: the 200 body, or the errno answered as `500 "<errno>"`.
pub type Outcome = Result<Vec<u8>, Errno>;

/// `200` with the body, or `500` with `"<errno>"`.
pub fn outcome(result: Outcome) -> Response {
    match result {
        Ok(body) => Response::ok(body),
        Err(errno) => Response::new(StatusCode::InternalServerError).with_body(errno_body(errno.code())),
    }
}

/// `400` with `{"error":"<why>"}`.
pub fn bad_request(error: &BodyError) -> Response {
    Response::new(StatusCode::BadRequest).with_body(bad_request_body(error))
}

/// `404` with an empty body.
pub fn not_found() -> Response {
    Response::new(StatusCode::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_outcome_ok_and_errno() {
        let ok = outcome(Ok(b"\"x\"".to_vec()));
        assert_eq!((ok.status(), ok.body()), (StatusCode::Ok, &b"\"x\""[..]));
        let err = outcome(Err(Errno::EINVAL));
        assert_eq!((err.status(), err.body()), (StatusCode::InternalServerError, &b"\"22\""[..]));
    }

    #[test]
    fn test_bad_request_names_the_key() {
        let r = bad_request(&BodyError::Missing { key: "ClientSession" });
        assert_eq!(r.status(), StatusCode::BadRequest);
        assert_eq!(r.body(), br#"{"error":"request body lacks key ClientSession"}"#);
        assert!(not_found().body().is_empty());
    }
}
