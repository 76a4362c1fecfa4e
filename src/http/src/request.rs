//! A parsed HTTP request, as handed to a [`Handler`](crate::Handler).

use crate::peer::PeerCred;

/// The request method. Methods other than these are kept as `Other` so the application can answer 405.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token (case-sensitive, as HTTP says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        }
    }

    /// Whether a request with this method must say how long its body is.
    pub fn needs_length(&self) -> bool {
        matches!(self, Method::Post | Method::Put)
    }

    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Other(token) => token,
        }
    }
}

/// One request header: the name as sent, the value as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header name, as the client spelled it.
    pub name: String,
    /// The raw value.
    pub value: Vec<u8>,
}

/// A whole request: head, body and who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target as sent, for example `/MpiOpen/`.
    pub path: String,
    /// The headers in the order sent.
    pub headers: Vec<Header>,
    /// The body (exactly `Content-Length` bytes).
    pub body: Vec<u8>,
    /// The client's credentials, from the socket.
    pub peer: PeerCred,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

impl Request {
    /// The first header with this name (any case), as text if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(&h.value).ok())
    }

    /// The path without a trailing `/` and without a query string: `/MpiOpen/` and `/MpiOpen?x` give `/MpiOpen`.
    pub fn route(&self) -> &str {
        let path = self.path.split('?').next().unwrap_or("");
        if path.len() > 1 {
            path.strip_suffix('/').unwrap_or(path)
        } else {
            path
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> Request {
        Request {
            method: Method::Post,
            path: path.to_string(),
            headers: vec![Header { name: "Content-Type".into(), value: b"application/json".to_vec() }],
            body: Vec::new(),
            peer: PeerCred::default(),
            keep_alive: true,
        }
    }

    #[test]
    fn test_route_strips_trailing_slash_and_query() {
        assert_eq!(request("/MpiOpen/").route(), "/MpiOpen");
        assert_eq!(request("/MpiOpen").route(), "/MpiOpen");
        assert_eq!(request("/MpiGet?x=1").route(), "/MpiGet");
        assert_eq!(request("/").route(), "/");
    }

    #[test]
    fn test_header_is_case_insensitive() {
        assert_eq!(request("/").header("content-type"), Some("application/json"));
        assert_eq!(request("/").header("Content-Length"), None);
    }

    #[test]
    fn test_method_from_token() {
        assert_eq!(Method::from_token("GET"), Method::Get);
        assert_eq!(Method::from_token("get"), Method::Other("get".into()));
        assert!(Method::Post.needs_length());
        assert!(!Method::Get.needs_length());
    }
}
