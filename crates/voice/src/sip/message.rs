//! SIP requests and responses: the types, typed header accessors, the
//! serializer and the response builder of RFC 3261 §8.2.6.

use std::fmt;

use super::error::SipParseError;
use super::header::{
    AuthParams, CSeq, Contact, Headers, NameAddr, Via, is_token_byte, parse_delta_seconds,
    split_top_level,
};
use super::uri::Uri;

/// A request method; extension methods are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Other(String),
}

impl Method {
    /// Methods are case-sensitive tokens (RFC 3261 §7.1): `invite` is an
    /// extension method, not INVITE.
    pub fn parse(s: &str) -> Result<Method, SipParseError> {
        if s.is_empty() || !s.bytes().all(is_token_byte) {
            return Err(SipParseError::BadMethod);
        }
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_owned()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Either kind of message, as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Accessors shared by requests and responses.
pub trait SipMessage {
    fn headers(&self) -> &Headers;
    fn headers_mut(&mut self) -> &mut Headers;
    fn body(&self) -> &[u8];

    /// The topmost Via.
    fn top_via(&self) -> Result<Via, SipParseError> {
        Via::parse(
            self.headers()
                .get("Via")
                .ok_or(SipParseError::MissingHeader("Via"))?,
        )
    }

    fn vias(&self) -> Result<Vec<Via>, SipParseError> {
        self.headers().get_all("Via").map(Via::parse).collect()
    }

    fn from(&self) -> Result<NameAddr, SipParseError> {
        let v = self
            .headers()
            .get("From")
            .ok_or(SipParseError::MissingHeader("From"))?;
        NameAddr::parse(v).map_err(|_| SipParseError::BadHeaderValue("From"))
    }

    fn to(&self) -> Result<NameAddr, SipParseError> {
        let v = self
            .headers()
            .get("To")
            .ok_or(SipParseError::MissingHeader("To"))?;
        NameAddr::parse(v).map_err(|_| SipParseError::BadHeaderValue("To"))
    }

    fn call_id(&self) -> Result<&str, SipParseError> {
        let v = self
            .headers()
            .get("Call-ID")
            .ok_or(SipParseError::MissingHeader("Call-ID"))?;
        if v.is_empty() || v.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(SipParseError::BadHeaderValue("Call-ID"));
        }
        Ok(v)
    }

    fn cseq(&self) -> Result<CSeq, SipParseError> {
        CSeq::parse(
            self.headers()
                .get("CSeq")
                .ok_or(SipParseError::MissingHeader("CSeq"))?,
        )
    }

    /// All Contact values (an empty list if there is no Contact header).
    fn contacts(&self) -> Result<Vec<Contact>, SipParseError> {
        self.headers()
            .get_all("Contact")
            .map(Contact::parse)
            .collect()
    }

    fn expires(&self) -> Result<Option<u32>, SipParseError> {
        self.headers()
            .get("Expires")
            .map(|v| parse_delta_seconds(v).ok_or(SipParseError::BadHeaderValue("Expires")))
            .transpose()
    }

    fn max_forwards(&self) -> Result<Option<u8>, SipParseError> {
        self.headers()
            .get("Max-Forwards")
            .map(|v| {
                // Leading zeros are legal ("0068", RFC 4475 §3.1.1.1).
                let digits = v.trim().trim_start_matches('0');
                if !v.trim().bytes().all(|b| b.is_ascii_digit())
                    || v.trim().is_empty()
                    || digits.len() > 3
                {
                    return Err(SipParseError::BadHeaderValue("Max-Forwards"));
                }
                if digits.is_empty() {
                    return Ok(0);
                }
                digits
                    .parse::<u8>()
                    .map_err(|_| SipParseError::BadHeaderValue("Max-Forwards"))
            })
            .transpose()
    }

    fn content_type(&self) -> Option<&str> {
        self.headers().get("Content-Type")
    }

    /// Authorization, Proxy-Authorization, WWW-Authenticate or Proxy-Authenticate.
    fn auth(&self, header: &str) -> Option<Result<AuthParams, SipParseError>> {
        self.headers().get(header).map(AuthParams::parse)
    }

    fn record_routes(&self) -> Result<Vec<NameAddr>, SipParseError> {
        self.headers()
            .get_all("Record-Route")
            .map(|v| NameAddr::parse(v).map_err(|_| SipParseError::BadHeaderValue("Record-Route")))
            .collect()
    }

    fn routes(&self) -> Result<Vec<NameAddr>, SipParseError> {
        self.headers()
            .get_all("Route")
            .map(|v| NameAddr::parse(v).map_err(|_| SipParseError::BadHeaderValue("Route")))
            .collect()
    }
}

impl SipMessage for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

impl SipMessage for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Wire form; Content-Length always states the real body length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        serialize(start, &self.headers, &self.body)
    }
}

impl Response {
    pub fn new(status: u16, reason: &str) -> Response {
        Response {
            status,
            reason: reason.to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response to `request` per RFC 3261 §8.2.6: Via (all, in order),
    /// From, Call-ID and CSeq copied, To copied with `to_tag` added when the
    /// request's To has no tag (never for 100 Trying, §8.2.6.2).
    pub fn for_request(
        request: &Request,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
    ) -> Response {
        let mut response = Response::new(status, reason);
        for name in ["Via", "From"] {
            for v in request.headers.get_all(name) {
                response.headers.push(name, v);
            }
        }
        if let Some(to) = request.headers.get("To") {
            let to = match (status, to_tag, NameAddr::parse(to)) {
                (101.., Some(tag), Ok(mut addr)) if addr.tag().is_none() => {
                    addr.set_param("tag", Some(tag.to_owned()));
                    addr.to_string()
                }
                _ => to.to_owned(),
            };
            response.headers.push("To", to);
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(v) = request.headers.get(name) {
                response.headers.push(name, v);
            }
        }
        // §8.2.6.1: a 100 echoes Timestamp so the client can measure RTT.
        if status == 100
            && let Some(ts) = request.headers.get("Timestamp")
        {
            response.headers.push("Timestamp", ts);
        }
        response
    }

    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("SIP/2.0 {} {}\r\n", self.status, self.reason);
        serialize(start, &self.headers, &self.body)
    }
}

impl Message {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

fn serialize(start: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = start.into_bytes();
    let mut wrote_length = false;
    for h in &headers.0 {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            if wrote_length {
                continue;
            }
            wrote_length = true;
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Splits a received header value into the entries stored for it.
pub(crate) fn header_values(name: &str, value: &str) -> Vec<String> {
    if !super::header::is_multi_value(name) {
        return vec![value.to_owned()];
    }
    let parts: Vec<String> = split_top_level(value, ',')
        .into_iter()
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.is_empty() {
        vec![String::new()]
    } else {
        parts
    }
}
