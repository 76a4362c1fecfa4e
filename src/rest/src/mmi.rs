//! The MMI REST API's endpoints and request bodies, as served by `osconfig-modulehost` and sent by [`MmiClient`]
//! (the platform's non-blocking host connection sends the same bodies).
//!
//! Bodies are parsed strictly: keys are case-sensitive, every key listed for an endpoint is required and must have
//! its JSON type, unknown keys are ignored. `Payload` (of `MmiSet`) is kept as the exact bytes received.
//!
//! [`MmiClient`]: crate::MmiClient

pub use crate::bodies::{get_body, set_body, GetRequest, OpenRequest, SetRequest};
use crate::endpoint::Endpoint;
use crate::error::CallError;
use crate::wire::{json_string, BodyError, Fields};

/// The five MMI endpoints (their paths, routes and the lookup by route come from [`Endpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmiEndpoint {
    /// `/MmiGetInfo/`
    GetInfo,
    /// `/MmiOpen/`
    Open,
    /// `/MmiClose/`
    Close,
    /// `/MmiSet/`
    Set,
    /// `/MmiGet/`
    Get,
}

impl Endpoint for MmiEndpoint {
    const ALL: &'static [MmiEndpoint] =
        &[MmiEndpoint::GetInfo, MmiEndpoint::Open, MmiEndpoint::Close, MmiEndpoint::Set, MmiEndpoint::Get];
    const OPEN: MmiEndpoint = MmiEndpoint::Open;
    const CLOSE: MmiEndpoint = MmiEndpoint::Close;
    const SET: MmiEndpoint = MmiEndpoint::Set;
    const GET: MmiEndpoint = MmiEndpoint::Get;

    fn path(self) -> &'static str {
        match self {
            MmiEndpoint::GetInfo => "/MmiGetInfo/",
            MmiEndpoint::Open => "/MmiOpen/",
            MmiEndpoint::Close => "/MmiClose/",
            MmiEndpoint::Set => "/MmiSet/",
            MmiEndpoint::Get => "/MmiGet/",
        }
    }

    /// A module's errno: [`CallError::Module`].
    fn errno_error(errno: i32) -> CallError {
        CallError::Module(errno)
    }
}

/// `/MmiGetInfo/`: `{"ClientName": s}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetInfoRequest {
    /// `ClientName`.
    pub client_name: String,
}

/// `/MmiClose/`: `{"ClientSession": s}`.
pub type CloseRequest = crate::bodies::SessionRequest;

impl GetInfoRequest {
    /// Parses a request body.
    pub fn from_body(body: &[u8]) -> Result<GetInfoRequest, BodyError> {
        let f = Fields::parse(body)?;
        Ok(GetInfoRequest { client_name: f.string("ClientName")? })
    }

    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        format!("{{\"ClientName\":{}}}", json_string(&self.client_name)).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::{missing, wrong};

    #[test]
    fn test_endpoint_paths_and_routes() {
        assert_eq!(MmiEndpoint::Open.path(), "/MmiOpen/");
        assert_eq!(MmiEndpoint::Open.route(), "/MmiOpen");
        assert_eq!(MmiEndpoint::ALL.len(), 5);
        for &e in MmiEndpoint::ALL {
            assert_eq!(MmiEndpoint::from_route(e.route()), Some(e));
            assert_eq!(e.path(), format!("{}/", e.route()));
        }
        assert_eq!(MmiEndpoint::from_route("/MmiOpen/"), None);
        assert_eq!(MmiEndpoint::from_route("/mmiopen"), None);
        assert_eq!(MmiEndpoint::from_route("/MpiOpen"), None);
    }

    #[test]
    fn test_get_info_from_body_ok_and_errors() {
        let r = GetInfoRequest::from_body(br#"{"ClientName":"osconfig-platform","Extra":1}"#).unwrap();
        assert_eq!(r.client_name, "osconfig-platform");
        assert_eq!(missing(GetInfoRequest::from_body(b"{}")), "ClientName");
        assert_eq!(missing(GetInfoRequest::from_body(br#"{"clientName":"x"}"#)), "ClientName");
        assert_eq!(wrong(GetInfoRequest::from_body(br#"{"ClientName":1}"#)), "ClientName");
        assert!(matches!(GetInfoRequest::from_body(b"x"), Err(BodyError::NotJson(_))));
        assert!(matches!(GetInfoRequest::from_body(b"[]"), Err(BodyError::NotObject)));
    }

    #[test]
    fn test_open_from_body_ok_and_errors() {
        let r = OpenRequest::from_body(br#"{"ClientName":"c","MaxPayloadSizeBytes":1024}"#).unwrap();
        assert_eq!(r, OpenRequest { client_name: "c".into(), max_payload_size_bytes: 1024 });
        assert_eq!(missing(OpenRequest::from_body(br#"{"ClientName":"c"}"#)), "MaxPayloadSizeBytes");
        assert_eq!(missing(OpenRequest::from_body(br#"{"MaxPayloadSizeBytes":0}"#)), "ClientName");
        assert_eq!(
            wrong(OpenRequest::from_body(br#"{"ClientName":"c","MaxPayloadSizeBytes":-1}"#)),
            "MaxPayloadSizeBytes"
        );
        assert_eq!(
            wrong(OpenRequest::from_body(br#"{"ClientName":"c","MaxPayloadSizeBytes":"10"}"#)),
            "MaxPayloadSizeBytes"
        );
        assert_eq!(
            wrong(OpenRequest::from_body(br#"{"ClientName":"c","MaxPayloadSizeBytes":1.5}"#)),
            "MaxPayloadSizeBytes"
        );
        assert_eq!(
            wrong(OpenRequest::from_body(br#"{"ClientName":"c","MaxPayloadSizeBytes":4294967296}"#)),
            "MaxPayloadSizeBytes"
        );
        assert_eq!(wrong(OpenRequest::from_body(br#"{"ClientName":null,"MaxPayloadSizeBytes":0}"#)), "ClientName");
    }

    #[test]
    fn test_close_from_body_ok_and_errors() {
        assert_eq!(CloseRequest::from_body(br#"{"ClientSession":"abc"}"#).unwrap().client_session, "abc");
        assert_eq!(missing(CloseRequest::from_body(b"{}")), "ClientSession");
        assert_eq!(wrong(CloseRequest::from_body(br#"{"ClientSession":["abc"]}"#)), "ClientSession");
    }

    #[test]
    fn test_set_from_body_ok_and_every_bad_field() {
        let r = SetRequest::from_body(
            br#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload":  {"z":1, "a" :[1,2.50]} }"#,
        )
        .unwrap();
        assert_eq!((r.client_session.as_str(), r.component_name.as_str(), r.object_name.as_str()), ("s", "C", "o"));
        assert_eq!(r.payload.get(), r#"{"z":1, "a" :[1,2.50]}"#);
        let full = serde_json::json!({"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload":1});
        for key in ["ClientSession", "ComponentName", "ObjectName", "Payload"] {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(missing(SetRequest::from_body(body.to_string().as_bytes())), key);
        }
        for key in ["ClientSession", "ComponentName", "ObjectName"] {
            let mut body = full.clone();
            body[key] = serde_json::json!(7);
            assert_eq!(wrong(SetRequest::from_body(body.to_string().as_bytes())), key);
        }
        let null_payload =
            SetRequest::from_body(br#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload":null}"#)
                .unwrap();
        assert_eq!(null_payload.payload.get(), "null");
    }

    #[test]
    fn test_get_from_body_ok_and_every_bad_field() {
        let body = br#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o"}"#;
        let r = GetRequest::from_body(body).unwrap();
        assert_eq!(r.to_body(), body.to_vec());
        let full = serde_json::json!({"ClientSession":"s","ComponentName":"C","ObjectName":"o"});
        for key in ["ClientSession", "ComponentName", "ObjectName"] {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(missing(GetRequest::from_body(body.to_string().as_bytes())), key);
            let mut body = full.clone();
            body[key] = serde_json::json!(true);
            assert_eq!(wrong(GetRequest::from_body(body.to_string().as_bytes())), key);
        }
    }

    #[test]
    fn test_to_body_round_trips() {
        let info = GetInfoRequest { client_name: "a\"b".into() };
        assert_eq!(GetInfoRequest::from_body(&info.to_body()).unwrap(), info);
        let open = OpenRequest { client_name: "c".into(), max_payload_size_bytes: u32::MAX };
        assert_eq!(OpenRequest::from_body(&open.to_body()).unwrap(), open);
        let close = CloseRequest { client_session: "s".into() };
        assert_eq!(CloseRequest::from_body(&close.to_body()).unwrap(), close);
        let set = SetRequest::from_body(&set_body("s", "C", "o", b"[1, 2]")).unwrap();
        assert_eq!(set.payload.get(), "[1, 2]");
        assert_eq!(SetRequest::from_body(&set.to_body()).unwrap().payload.get(), "[1, 2]");
    }
}
