//! The MPI (Management Platform Interface): the platform's REST API over `/run/osconfig/mpid.sock`, as served by
//! `osconfig-platform` and sent by the reference agent and [`MpiClient`].
//!
//! Bodies are parsed as strictly as the MMI ones (see the crate docs): keys are case-sensitive, every listed key is
//! required with its JSON type, unknown keys are ignored, a repeated key keeps its last value. Payloads are kept as
//! the exact bytes received:
//! - `MpiSet`'s `Payload` is any JSON value.
//! - `MpiSetDesired`'s `Payload` must be an object whose values are objects
//!   (`{"<Component>": {"<object>": <value>, ...}, ...}`); it is flattened into [`DesiredObject`]s in document order,
//!   each value kept as its raw text. A component or object named twice appears twice, in order.
//!
//! Answers: `MpiOpen` gives the session id as a JSON string; `MpiGet` the module's raw JSON value; `MpiGetReported`
//! the reported document ([`reported_body`]); the others an empty body. Errors are `400` (empty body) for a bad body,
//! `404` (empty body) for an unknown endpoint, `500` with `"<errno>"` for a failed call (`"22"` for an unknown
//! session, component or object), and, from our platform, `403` (empty body) for a caller not allowed.
//!
//! [`MpiClient`]: crate::MpiClient

use std::fmt;

use serde_json::value::RawValue;

use crate::endpoint::Endpoint;
use crate::error::CallError;
use crate::wire::{json_string, BodyError, Fields};

/// The six MPI endpoints (their paths, routes and the lookup by route come from [`Endpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MpiEndpoint {
    /// `/MpiOpen/`
    Open,
    /// `/MpiClose/`
    Close,
    /// `/MpiSet/`
    Set,
    /// `/MpiGet/`
    Get,
    /// `/MpiSetDesired/`
    SetDesired,
    /// `/MpiGetReported/`
    GetReported,
}

impl Endpoint for MpiEndpoint {
    const ALL: &'static [MpiEndpoint] = &[
        MpiEndpoint::Open,
        MpiEndpoint::Close,
        MpiEndpoint::Set,
        MpiEndpoint::Get,
        MpiEndpoint::SetDesired,
        MpiEndpoint::GetReported,
    ];
    const OPEN: MpiEndpoint = MpiEndpoint::Open;
    const CLOSE: MpiEndpoint = MpiEndpoint::Close;
    const SET: MpiEndpoint = MpiEndpoint::Set;
    const GET: MpiEndpoint = MpiEndpoint::Get;

    /// The path the reference client sends, with the trailing slash: `/MpiOpen/`.
    fn path(self) -> &'static str {
        match self {
            MpiEndpoint::Open => "/MpiOpen/",
            MpiEndpoint::Close => "/MpiClose/",
            MpiEndpoint::Set => "/MpiSet/",
            MpiEndpoint::Get => "/MpiGet/",
            MpiEndpoint::SetDesired => "/MpiSetDesired/",
            MpiEndpoint::GetReported => "/MpiGetReported/",
        }
    }

    /// The platform's errno: [`CallError::Platform`].
    fn errno_error(errno: i32) -> CallError {
        CallError::Platform(errno)
    }
}

impl MpiEndpoint {
    /// Whether `GET` is accepted besides `POST` (the two read calls, which the architecture names GETs).
    pub fn allows_get(self) -> bool {
        matches!(self, MpiEndpoint::Get | MpiEndpoint::GetReported)
    }
}

/// `/MpiOpen/`: `{"ClientName": s, "MaxPayloadSizeBytes": n}` (the same body as `/MmiOpen/`).
pub type MpiOpenRequest = crate::bodies::OpenRequest;
/// `/MpiClose/`: `{"ClientSession": s}`.
pub type MpiCloseRequest = crate::bodies::SessionRequest;
/// `/MpiGetReported/`: `{"ClientSession": s}`.
pub type MpiGetReportedRequest = crate::bodies::SessionRequest;
/// `/MpiSet/`: `{"ClientSession": s, "ComponentName": s, "ObjectName": s, "Payload": <any JSON>}`.
pub type MpiSetRequest = crate::bodies::SetRequest;
/// `/MpiGet/`: `{"ClientSession": s, "ComponentName": s, "ObjectName": s}`.
pub type MpiGetRequest = crate::bodies::GetRequest;
pub use crate::bodies::set_body as mpi_set_body;

/// One desired object of an `MpiSetDesired` payload.
#[derive(Clone, Debug)]
pub struct DesiredObject {
    /// The component (the payload's outer key).
    pub component_name: String,
    /// The object (the inner key).
    pub object_name: String,
    /// The object's value, the exact JSON text received.
    pub payload: Box<RawValue>,
}

/// `/MpiSetDesired/`: `{"ClientSession": s, "Payload": {"<Component>": {"<object>": <value>, ...}, ...}}`.
#[derive(Clone, Debug)]
pub struct MpiSetDesiredRequest {
    /// `ClientSession`.
    pub client_session: String,
    /// The desired objects in document order (components in order, objects in order within each).
    pub objects: Vec<DesiredObject>,
}

impl MpiSetDesiredRequest {
    /// Parses a request body; `Payload` must be an object of objects.
    pub fn from_body(body: &[u8]) -> Result<MpiSetDesiredRequest, BodyError> {
        const EXPECTED: &str = "an object whose values are objects";
        let f = Fields::parse(body)?;
        let client_session = f.string("ClientSession")?;
        let payload = f.raw_value("Payload")?;
        let wrong = BodyError::WrongType { key: "Payload", expected: EXPECTED };
        let components = object_members(payload.get()).ok_or(wrong)?;
        let mut objects = Vec::new();
        for (component_name, component_text) in components {
            let members =
                object_members(component_text).ok_or(BodyError::WrongType { key: "Payload", expected: EXPECTED })?;
            for (object_name, value_text) in members {
                let payload: Box<RawValue> = serde_json::from_str(value_text).map_err(BodyError::NotJson)?;
                objects.push(DesiredObject { component_name: component_name.clone(), object_name, payload });
            }
        }
        Ok(MpiSetDesiredRequest { client_session, objects })
    }

    /// The request body (compact; each object's value spliced in as its raw text, grouped by consecutive component).
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = format!("{{\"ClientSession\":{},\"Payload\":", json_string(&self.client_session)).into_bytes();
        let grouped: Vec<(&str, &str, &[u8])> = self
            .objects
            .iter()
            .map(|o| (o.component_name.as_str(), o.object_name.as_str(), o.payload.get().as_bytes()))
            .collect();
        body.extend_from_slice(&reported_body(&grouped));
        body.push(b'}');
        body
    }
}

/// Why a desired document (`{"<Component>":{"<object>":<value>,...},...}`: the DC file, the `Payload` of
/// `MpiSetDesired`) was refused as a whole.
#[derive(Debug)]
pub enum DocumentError {
    /// Not valid JSON (or not UTF-8): the byte offset of the error, and the parser's message.
    NotJson {
        /// Offset of the byte where parsing failed (0-based; the end of the text for a truncated document).
        offset: usize,
        /// The parser's message (with its line and column).
        message: String,
    },
    /// Valid JSON, but not an object.
    NotObject,
    /// The value of this component is not an object.
    ComponentNotObject(String),
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::NotJson { offset, message } => write!(f, "not valid json at byte {offset}: {message}"),
            DocumentError::NotObject => f.write_str("not a json object of components"),
            DocumentError::ComponentNotObject(c) => write!(f, "component {c:?}: its value is not an object of objects"),
        }
    }
}

impl std::error::Error for DocumentError {}

/// The byte offset of a 1-based `line`/`column` position in `text` (serde_json's error position; its column counts
/// bytes); clamped to the text's length.
fn byte_offset(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 2).map_or(text.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// Parses a desired document into its objects in document order, each value as its exact JSON text.
pub fn parse_desired_document(text: &[u8]) -> Result<Vec<DesiredObject>, DocumentError> {
    let whole: Box<RawValue> = serde_json::from_slice(text).map_err(|e| DocumentError::NotJson {
        offset: if e.line() == 0 { text.len() } else { byte_offset(text, e.line(), e.column()) },
        message: e.to_string(),
    })?;
    let components = object_members(whole.get()).ok_or(DocumentError::NotObject)?;
    let mut objects = Vec::new();
    for (component_name, component_text) in components {
        let members =
            object_members(component_text).ok_or_else(|| DocumentError::ComponentNotObject(component_name.clone()))?;
        for (object_name, value_text) in members {
            let payload: Box<RawValue> = serde_json::from_str(value_text)
                .map_err(|e| DocumentError::NotJson { offset: 0, message: e.to_string() })?;
            objects.push(DesiredObject { component_name: component_name.clone(), object_name, payload });
        }
    }
    Ok(objects)
}

/// A reported (or desired) document `{"<Component>":{"<object>":<value>,...},...}` from `(component, object, value)`
/// triples: components in first-appearance order, each with its objects in the order given; values (valid JSON
/// text) are spliced in unchanged. Compact, no white space added.
pub fn reported_body(entries: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut order: Vec<&str> = Vec::new();
    for (component, _, _) in entries {
        if !order.contains(component) {
            order.push(component);
        }
    }
    let mut body = Vec::with_capacity(64 + entries.iter().map(|e| e.1.len() + e.2.len() + 8).sum::<usize>());
    body.push(b'{');
    for (i, component) in order.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(json_string(component).as_bytes());
        body.extend_from_slice(b":{");
        for (j, (_, object, value)) in entries.iter().filter(|e| e.0 == *component).enumerate() {
            if j > 0 {
                body.push(b',');
            }
            body.extend_from_slice(json_string(object).as_bytes());
            body.push(b':');
            body.extend_from_slice(value);
        }
        body.push(b'}');
    }
    body.push(b'}');
    body
}

/// The members of a JSON object's text (already validated as JSON) in document order: each key decoded, each value
/// as its raw text. `None` when the text is not an object.
fn object_members(text: &str) -> Option<Vec<(String, &str)>> {
    let bytes = text.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(bytes, i + 1);
    let mut members = Vec::new();
    if bytes.get(i) == Some(&b'}') {
        return Some(members);
    }
    loop {
        let key_end = string_end(bytes, i)?;
        let key: String = serde_json::from_str(&text[i..key_end]).ok()?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(bytes, i + 1);
        let end = value_end(bytes, start)?;
        members.push((key, &text[start..end]));
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Some(members),
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index after the string literal starting at `i`.
fn string_end(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The index after the JSON value starting at `i` (valid JSON assumed; nesting tracked, strings skipped).
fn value_end(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => string_end(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < bytes.len() {
                match bytes[j] {
                    b'"' => {
                        j = string_end(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < bytes.len() && !matches!(bytes[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The route of our extension listing the platform's modules.
pub const PLATFORM_MODULES_ROUTE: &str = "/PlatformModules";
/// The route of our extension telling the platform's status.
pub const PLATFORM_STATUS_ROUTE: &str = "/PlatformStatus";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::{missing, wrong};

    #[test]
    fn test_parse_desired_document_order_offsets_and_shape() {
        let objects = parse_desired_document(br#"{"B":{"y":1,"x":{"k" : 2}},"A":{"z":"s"}}"#).unwrap();
        let flat: Vec<(&str, &str, &str)> =
            objects.iter().map(|o| (o.component_name.as_str(), o.object_name.as_str(), o.payload.get())).collect();
        assert_eq!(flat, [("B", "y", "1"), ("B", "x", r#"{"k" : 2}"#), ("A", "z", r#""s""#)]);
        assert!(parse_desired_document(b"{}").unwrap().is_empty());
        match parse_desired_document(b"{\"A\":\n {\"b\": tru}}") {
            Err(DocumentError::NotJson { offset, .. }) => assert!((13..=17).contains(&offset), "offset {offset}"),
            other => panic!("{other:?}"),
        }
        match parse_desired_document(b"{\"A\":{\"b\":1}") {
            Err(DocumentError::NotJson { offset, .. }) => assert_eq!(offset, 11),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_desired_document(b"[1]"), Err(DocumentError::NotObject)));
        assert!(matches!(
            parse_desired_document(br#"{"A":{"b":1},"C":[1]}"#),
            Err(DocumentError::ComponentNotObject(c)) if c == "C"
        ));
    }

    #[test]
    fn test_endpoint_paths_routes_and_get() {
        assert_eq!(MpiEndpoint::SetDesired.path(), "/MpiSetDesired/");
        assert_eq!(MpiEndpoint::GetReported.route(), "/MpiGetReported");
        assert_eq!(MpiEndpoint::ALL.len(), 6);
        for &e in MpiEndpoint::ALL {
            assert_eq!(MpiEndpoint::from_route(e.route()), Some(e));
            assert_eq!(e.path(), format!("{}/", e.route()));
        }
        assert_eq!(MpiEndpoint::from_route("/MpiOpen/"), None);
        assert_eq!(MpiEndpoint::from_route("/mpiopen"), None);
        assert_eq!(MpiEndpoint::from_route("/MmiOpen"), None);
        assert_eq!(MpiEndpoint::from_route(PLATFORM_STATUS_ROUTE), None);
        let gets: Vec<_> = MpiEndpoint::ALL.iter().copied().filter(|e| e.allows_get()).collect();
        assert_eq!(gets, [MpiEndpoint::Get, MpiEndpoint::GetReported]);
    }

    #[test]
    fn test_open_from_body_ok_and_errors() {
        let r = MpiOpenRequest::from_body(br#"{ "ClientName": "Azure OSConfig 5;1.0.1", "MaxPayloadSizeBytes": 0 }"#)
            .unwrap();
        assert_eq!(r.client_name, "Azure OSConfig 5;1.0.1");
        assert_eq!(MpiOpenRequest::from_body(&r.to_body()).unwrap(), r);
        assert_eq!(missing(MpiOpenRequest::from_body(br#"{"ClientName":"c"}"#)), "MaxPayloadSizeBytes");
        assert_eq!(missing(MpiOpenRequest::from_body(br#"{"MaxPayloadSizeBytes":1}"#)), "ClientName");
        for bad in ["-1", "1.5", "\"1\"", "4294967296", "null"] {
            let body = format!(r#"{{"ClientName":"c","MaxPayloadSizeBytes":{bad}}}"#);
            assert_eq!(wrong(MpiOpenRequest::from_body(body.as_bytes())), "MaxPayloadSizeBytes", "{bad}");
        }
        assert!(matches!(MpiOpenRequest::from_body(b""), Err(BodyError::NotJson(_))));
        assert!(matches!(MpiOpenRequest::from_body(b"[1]"), Err(BodyError::NotObject)));
    }

    #[test]
    fn test_close_and_get_reported_from_body() {
        assert_eq!(MpiCloseRequest::from_body(br#"{ "ClientSession": "AB-1" }"#).unwrap().client_session, "AB-1");
        assert_eq!(missing(MpiCloseRequest::from_body(br#"{"clientsession":"x"}"#)), "ClientSession");
        assert_eq!(wrong(MpiCloseRequest::from_body(br#"{"ClientSession":1}"#)), "ClientSession");
        let r = MpiGetReportedRequest::from_body(br#"{"ClientSession":"s"}"#).unwrap();
        assert_eq!(MpiGetReportedRequest::from_body(&r.to_body()).unwrap(), r);
        assert_eq!(missing(MpiGetReportedRequest::from_body(b"{}")), "ClientSession");
    }

    #[test]
    fn test_set_from_body_keeps_payload_bytes_and_every_bad_field() {
        let r = MpiSetRequest::from_body(
            br#"{"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload": {"b" : 2.50,"a":[]} }"#,
        )
        .unwrap();
        assert_eq!(r.payload.get(), r#"{"b" : 2.50,"a":[]}"#);
        assert_eq!(MpiSetRequest::from_body(&r.to_body()).unwrap().payload.get(), r.payload.get());
        let full = serde_json::json!({"ClientSession":"s","ComponentName":"C","ObjectName":"o","Payload":1});
        for key in ["ClientSession", "ComponentName", "ObjectName", "Payload"] {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(missing(MpiSetRequest::from_body(body.to_string().as_bytes())), key);
        }
        for key in ["ClientSession", "ComponentName", "ObjectName"] {
            let mut body = full.clone();
            body[key] = serde_json::json!([key]);
            assert_eq!(wrong(MpiSetRequest::from_body(body.to_string().as_bytes())), key);
        }
    }

    #[test]
    fn test_get_from_body_round_trip_and_errors() {
        let body = br#"{"ClientSession":"s","ComponentName":"DeviceInfo","ObjectName":"osName"}"#;
        let r = MpiGetRequest::from_body(body).unwrap();
        assert_eq!(r.to_body(), body.to_vec());
        let full = serde_json::json!({"ClientSession":"s","ComponentName":"C","ObjectName":"o"});
        for key in ["ClientSession", "ComponentName", "ObjectName"] {
            let mut body = full.clone();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(missing(MpiGetRequest::from_body(body.to_string().as_bytes())), key);
            let mut body = full.clone();
            body[key] = serde_json::json!(false);
            assert_eq!(wrong(MpiGetRequest::from_body(body.to_string().as_bytes())), key);
        }
    }

    #[test]
    fn test_set_desired_from_body_order_and_raw_values() {
        let body = br#"{"ClientSession":"s","Payload":{ "Z" : {"b": {"x" : [1, "}"]}, "a":"q\"}" } , "A":{}, "M":{"n":-1.50e3,"t":true}}}"#;
        let r = MpiSetDesiredRequest::from_body(body).unwrap();
        let flat: Vec<(&str, &str, &str)> =
            r.objects.iter().map(|o| (o.component_name.as_str(), o.object_name.as_str(), o.payload.get())).collect();
        assert_eq!(
            flat,
            [("Z", "b", r#"{"x" : [1, "}"]}"#), ("Z", "a", r#""q\"}""#), ("M", "n", "-1.50e3"), ("M", "t", "true")]
        );
        let again = MpiSetDesiredRequest::from_body(&r.to_body()).unwrap();
        assert_eq!(again.objects.len(), 4);
        assert_eq!(again.objects[0].payload.get(), r#"{"x" : [1, "}"]}"#);
    }

    #[test]
    fn test_set_desired_from_body_escaped_keys_and_empty() {
        let r =
            MpiSetDesiredRequest::from_body(br#"{"ClientSession":"s","Payload":{"C\u0041":{"o\n":null}}}"#).unwrap();
        assert_eq!((r.objects[0].component_name.as_str(), r.objects[0].object_name.as_str()), ("CA", "o\n"));
        assert!(MpiSetDesiredRequest::from_body(br#"{"ClientSession":"s","Payload":{}}"#).unwrap().objects.is_empty());
    }

    #[test]
    fn test_set_desired_from_body_errors() {
        assert_eq!(missing(MpiSetDesiredRequest::from_body(br#"{"ClientSession":"s"}"#)), "Payload");
        assert_eq!(missing(MpiSetDesiredRequest::from_body(br#"{"Payload":{}}"#)), "ClientSession");
        for payload in ["[]", "1", "\"x\"", "null", r#"{"C":1}"#, r#"{"C":[]}"#, r#"{"C":{},"D":"x"}"#] {
            let body = format!(r#"{{"ClientSession":"s","Payload":{payload}}}"#);
            assert_eq!(wrong(MpiSetDesiredRequest::from_body(body.as_bytes())), "Payload", "{payload}");
        }
        assert!(matches!(
            MpiSetDesiredRequest::from_body(br#"{"ClientSession":"s","Payload":{"C":{"o":}}}"#),
            Err(BodyError::NotJson(_))
        ));
    }

    #[test]
    fn test_reported_body_groups_by_first_appearance() {
        let entries: [(&str, &str, &[u8]); 4] =
            [("B", "x", b"1"), ("A", "y", b"\"s\""), ("B", "z", b"{\"k\":[]}"), ("A", "w", b"null")];
        let body = reported_body(&entries);
        assert_eq!(body, br#"{"B":{"x":1,"z":{"k":[]}},"A":{"y":"s","w":null}}"#.to_vec());
        assert_eq!(reported_body(&[]), b"{}".to_vec());
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["B"]["z"]["k"], serde_json::json!([]));
    }
}
