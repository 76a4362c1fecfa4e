//! The request bodies the MPI and the MMI share (the same keys on both APIs): open, session-only (close,
//! get-reported), set and get. Parsed strictly (see the crate docs); `Payload` is kept as the exact bytes received.

use serde_json::value::RawValue;

use crate::wire::{json_string, BodyError, Fields};

/// `/MmiOpen/` and `/MpiOpen/`: `{"ClientName": s, "MaxPayloadSizeBytes": n}` with `0 <= n <= u32::MAX` (0 = unlimited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// `ClientName`.
    pub client_name: String,
    /// `MaxPayloadSizeBytes`.
    pub max_payload_size_bytes: u32,
}

/// `/MmiClose/`, `/MpiClose/` and `/MpiGetReported/`: `{"ClientSession": s}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRequest {
    /// `ClientSession`: the id the open call returned.
    pub client_session: String,
}

/// `/MmiSet/` and `/MpiSet/`: `{"ClientSession": s, "ComponentName": s, "ObjectName": s, "Payload": <any JSON>}`.
#[derive(Clone, Debug)]
pub struct SetRequest {
    /// `ClientSession`.
    pub client_session: String,
    /// `ComponentName`.
    pub component_name: String,
    /// `ObjectName`.
    pub object_name: String,
    /// `Payload`: the desired object's value, the exact JSON text received.
    pub payload: Box<RawValue>,
}

/// `/MmiGet/` and `/MpiGet/`: `{"ClientSession": s, "ComponentName": s, "ObjectName": s}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetRequest {
    /// `ClientSession`.
    pub client_session: String,
    /// `ComponentName`.
    pub component_name: String,
    /// `ObjectName`.
    pub object_name: String,
}

impl OpenRequest {
    /// Parses a request body.
    pub fn from_body(body: &[u8]) -> Result<OpenRequest, BodyError> {
        let f = Fields::parse(body)?;
        Ok(OpenRequest { client_name: f.string("ClientName")?, max_payload_size_bytes: f.u32("MaxPayloadSizeBytes")? })
    }

    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        format!(
            "{{\"ClientName\":{},\"MaxPayloadSizeBytes\":{}}}",
            json_string(&self.client_name),
            self.max_payload_size_bytes
        )
        .into_bytes()
    }
}

impl SessionRequest {
    /// Parses a request body.
    pub fn from_body(body: &[u8]) -> Result<SessionRequest, BodyError> {
        let f = Fields::parse(body)?;
        Ok(SessionRequest { client_session: f.string("ClientSession")? })
    }

    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        format!("{{\"ClientSession\":{}}}", json_string(&self.client_session)).into_bytes()
    }
}

impl SetRequest {
    /// Parses a request body.
    pub fn from_body(body: &[u8]) -> Result<SetRequest, BodyError> {
        let f = Fields::parse(body)?;
        Ok(SetRequest {
            client_session: f.string("ClientSession")?,
            component_name: f.string("ComponentName")?,
            object_name: f.string("ObjectName")?,
            payload: f.raw_value("Payload")?,
        })
    }

    /// The request body; `Payload` is spliced in as its raw text.
    pub fn to_body(&self) -> Vec<u8> {
        set_body(&self.client_session, &self.component_name, &self.object_name, self.payload.get().as_bytes())
    }
}

impl GetRequest {
    /// Parses a request body.
    pub fn from_body(body: &[u8]) -> Result<GetRequest, BodyError> {
        let f = Fields::parse(body)?;
        Ok(GetRequest {
            client_session: f.string("ClientSession")?,
            component_name: f.string("ComponentName")?,
            object_name: f.string("ObjectName")?,
        })
    }

    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        get_body(&self.client_session, &self.component_name, &self.object_name)
    }
}

/// The body of a `Get` request (`MpiGet` and `MmiGet` alike) without building a [`GetRequest`] first.
pub fn get_body(session: &str, component: &str, object: &str) -> Vec<u8> {
    format!(
        "{{\"ClientSession\":{},\"ComponentName\":{},\"ObjectName\":{}}}",
        json_string(session),
        json_string(component),
        json_string(object)
    )
    .into_bytes()
}

/// An `/MmiSet/` or `/MpiSet/` body with `payload` (JSON text the caller has validated) spliced in unchanged.
pub fn set_body(session: &str, component: &str, object: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "{{\"ClientSession\":{},\"ComponentName\":{},\"ObjectName\":{},\"Payload\":",
        json_string(session),
        json_string(component),
        json_string(object)
    );
    let mut body = Vec::with_capacity(head.len() + payload.len() + 1);
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(payload);
    body.push(b'}');
    body
}
