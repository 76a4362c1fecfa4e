//! The one place where results become MPI answers: every `Response` the platform gives a client is built here
//! ([`crate::routes`] for what it refuses before a call is queued, the [`crate::orchestrator`] for the calls'
//! results and the backlog's 503), and in-process clients ([`crate::local`]) read the errno back with
//! [`errno_of`]. The bytes are the reference platform's (spec section 3; `tests/e2e/platform_mpi.rs` compares them):
//!
//! | answer | status | body |
//! |---|---|---|
//! | [`ok`], [`outcome`] `Ok` | 200 | the call's JSON value (empty for `MpiSet`, `MpiClose`, `MpiSetDesired`) |
//! | [`failure`], [`outcome`] `Err` | 500 | the errno as a JSON string, `"22"` |
//! | [`bad_request`] | 400 | `{"error":"<why>"}` |
//! | [`forbidden`] | 403 | empty |
//! | [`not_found`] | 404 | empty |
//! | [`overloaded`] | 503 | empty |
//!
//! `Server`, `Content-Type` and `Content-Length` are added by `osconfig_http` when the answer is written.

use osconfig_http::{Response, StatusCode};
use osconfig_mmi::Errno;
use osconfig_rest::wire::{bad_request_body, errno_body, parse_errno_body};
use osconfig_rest::BodyError;

/// `200` with `body`, a JSON value (empty for calls that answer nothing).
pub fn ok(body: impl Into<Vec<u8>>) -> Response {
    Response::ok(body)
}

/// `200` with the value, or `500` with the errno ([`failure`]).
pub fn outcome(result: Result<Vec<u8>, Errno>) -> Response {
    match result {
        Ok(body) => ok(body),
        Err(errno) => failure(errno),
    }
}

/// `500` with `"<errno>"` (an errno of 0 or below, which no failure should carry, is answered as 5, `EIO`).
pub fn failure(errno: Errno) -> Response {
    let errno = if errno.code() > 0 { errno } else { Errno::EIO };
    Response::new(StatusCode::InternalServerError).with_body(errno_body(errno.code()))
}

/// `400` with `{"error":"<why>"}` (e.g. `request body lacks key ClientSession`), as the module host answers: the
/// caller learns what to fix without reading our log. Reference clients read only the status and
/// `Content-Length`, so the body changes nothing for them.
pub fn bad_request(error: &BodyError) -> Response {
    Response::new(StatusCode::BadRequest).with_body(bad_request_body(error))
}

/// `403` with an empty body: the caller is not allowed ([`crate::auth`]).
pub fn forbidden() -> Response {
    Response::new(StatusCode::Forbidden)
}

/// `404` with an empty body: no such route (or method).
pub fn not_found() -> Response {
    Response::new(StatusCode::NotFound)
}

/// `503` with an empty body: the backlog is full, or the orchestrator has stopped.
pub fn overloaded() -> Response {
    Response::new(StatusCode::ServiceUnavailable)
}

/// The errno an answer carries, for in-process clients: `None` for `200`, the body's errno for `500`, and `EIO`
/// for a `500` without one or any other status (a refusal: the orchestrator is stopping or overloaded).
pub fn errno_of(response: &Response) -> Option<Errno> {
    match response.status() {
        StatusCode::Ok => None,
        StatusCode::InternalServerError => Some(parse_errno_body(response.body()).map_or(Errno::EIO, Errno)),
        _ => Some(Errno::EIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_outcome_ok_and_errno() {
        let r = outcome(Ok(b"\"x\"".to_vec()));
        assert_eq!((r.status(), r.body()), (StatusCode::Ok, &b"\"x\""[..]));
        let r = outcome(Err(Errno::EINVAL));
        assert_eq!((r.status(), r.body()), (StatusCode::InternalServerError, &b"\"22\""[..]));
    }

    #[test]
    fn test_failure_without_errno_is_eio() {
        assert_eq!(failure(Errno(0)).body(), b"\"5\"");
        assert_eq!(failure(Errno(-3)).body(), b"\"5\"");
        assert_eq!(failure(Errno(131)).body(), b"\"131\"");
    }

    #[test]
    fn test_bad_request_says_why() {
        let r = bad_request(&BodyError::Missing { key: "ClientSession" });
        assert_eq!(r.status(), StatusCode::BadRequest);
        assert_eq!(r.body(), br#"{"error":"request body lacks key ClientSession"}"#);
    }

    #[test]
    fn test_refusals_have_empty_bodies() {
        for (r, status) in [
            (forbidden(), StatusCode::Forbidden),
            (not_found(), StatusCode::NotFound),
            (overloaded(), StatusCode::ServiceUnavailable),
        ] {
            assert_eq!(r.status(), status);
            assert!(r.body().is_empty());
        }
    }

    #[test]
    fn test_errno_of_reads_answers_back() {
        assert_eq!(errno_of(&ok(b"1".to_vec())), None);
        assert_eq!(errno_of(&failure(Errno::EINVAL)), Some(Errno::EINVAL));
        assert_eq!(errno_of(&Response::new(StatusCode::InternalServerError)), Some(Errno::EIO));
        assert_eq!(errno_of(&overloaded()), Some(Errno::EIO));
    }
}
