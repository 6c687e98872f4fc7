//! Header fields: names (compact forms expanded), the ordered header list,
//! and typed values (Via, name-addr, CSeq, auth parameters).

use std::fmt;

use super::error::SipParseError;
use super::message::Method;
use super::uri::{Uri, split_host_port};

/// Full names of the compact forms (RFC 3261 §7.3.3, plus `o`, `u`, `r`, `b`
/// from RFC 3265/3515/4538 that phones send in practice).
const COMPACT_FORMS: &[(char, &str)] = &[
    ('v', "Via"),
    ('f', "From"),
    ('t', "To"),
    ('i', "Call-ID"),
    ('m', "Contact"),
    ('l', "Content-Length"),
    ('c', "Content-Type"),
    ('k', "Supported"),
    ('s', "Subject"),
    ('e', "Content-Encoding"),
    ('o', "Event"),
    ('u', "Allow-Events"),
    ('r', "Refer-To"),
    ('b', "Referred-By"),
];

/// Canonical spellings, so lookups and serialization are uniform however
/// the peer capitalised a name.
const KNOWN_NAMES: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "MIME-Version",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1).
/// Authorization and friends are excluded because their parameters contain
/// commas; Date because its value does.
const MULTI_VALUE: &[&str] = &[
    "Via",
    "Contact",
    "Route",
    "Record-Route",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Allow-Events",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
];

/// The canonical name of a header as received (compact form expanded).
pub fn canonical_name(name: &str) -> String {
    if name.len() == 1
        && let Some(c) = name.chars().next()
        && let Some((_, full)) = COMPACT_FORMS
            .iter()
            .find(|(short, _)| *short == c.to_ascii_lowercase())
    {
        return (*full).to_owned();
    }
    KNOWN_NAMES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |k| (*k).to_owned())
}

pub(crate) fn is_multi_value(name: &str) -> bool {
    MULTI_VALUE.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// One header field; multi-value headers are stored one value per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The ordered header list of a message. Names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// All values of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Appends a value (after any existing ones).
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: canonical_name(name),
            value: value.into(),
        });
    }

    /// Inserts a value before all others (used for Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name: canonical_name(name),
                value: value.into(),
            },
        );
    }

    /// Replaces all values of `name` with one value, in place of the first.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                if let Some(h) = self.0.get_mut(i) {
                    h.value = value;
                }
                let mut seen = 0usize;
                self.0.retain(|h| {
                    if h.name.eq_ignore_ascii_case(name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(name, value),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Removes the first value of `name` (used to pop a Route).
    pub fn remove_first(&mut self, name: &str) -> Option<String> {
        let i = self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))?;
        Some(self.0.remove(i).value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on commas that are outside quoted strings and `<...>`.
pub(crate) fn split_top_level(value: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(value.get(start..i).unwrap_or(""));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or(""));
    parts
}

/// Parses `;name[=value]` header parameters; quoted values are unquoted.
pub(crate) fn parse_header_params(s: &str) -> Result<Vec<(String, Option<String>)>, SipParseError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let s = s
        .strip_prefix(';')
        .ok_or(SipParseError::BadHeaderValue("parameter"))?;
    split_top_level(s, ';')
        .into_iter()
        .map(|p| {
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (p.trim(), None),
            };
            if n.is_empty() || !n.bytes().all(is_token_byte) {
                Err(SipParseError::BadHeaderValue("parameter"))
            } else {
                Ok((n.to_owned(), v))
            }
        })
        .collect()
}

fn param_lookup<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Removes surrounding quotes and backslash escapes; other text is returned as is.
pub(crate) fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => s.to_owned(),
    }
}

pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// A Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Upper-cased transport token, e.g. `UDP`, `TCP`, `TLS`, `WS`.
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn parse(value: &str) -> Result<Via, SipParseError> {
        const ERR: SipParseError = SipParseError::BadHeaderValue("Via");
        // LWS is allowed around the slashes (RFC 4475 §3.1.1.1), so the
        // protocol ends at the first whitespace not next to a slash.
        let value = value.trim_start();
        let mut protocol = String::new();
        let mut rest = "";
        let chars = value.char_indices();
        for (i, c) in chars {
            if c == ' ' || c == '\t' {
                let after = value.get(i..).unwrap_or_default().trim_start();
                if protocol.ends_with('/') || after.starts_with('/') {
                    continue;
                }
                rest = after;
                break;
            }
            protocol.push(c);
        }
        let mut parts = protocol.split('/');
        let (Some(name), Some(version), Some(transport), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ERR);
        };
        if !name.eq_ignore_ascii_case("SIP")
            || version != "2.0"
            || transport.is_empty()
            || !transport.bytes().all(is_token_byte)
        {
            return Err(ERR);
        }
        let rest = rest.trim();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(sent_by.trim()).map_err(|_| ERR)?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params: parse_header_params(params).map_err(|_| ERR)?,
        })
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param_lookup(&self.params, name)
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// `None`: no rport; `Some(None)`: rport requested (RFC 3581);
    /// `Some(Some(p))`: filled in by the server. A non-numeric value reads as requested.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// `host[:port]` as written, the sent-by of §17.2.3 matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_header_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters (From, To, Contact,
/// Route, Record-Route, Refer-To).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display_name: Option<String>,
    pub uri: Uri,
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Vec::new(),
        }
    }

    pub fn parse(value: &str) -> Result<NameAddr, SipParseError> {
        const ERR: SipParseError = SipParseError::BadHeaderValue("address");
        let value = value.trim();
        let (display_name, after_display) = if let Some(rest) = value.strip_prefix('"') {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or(ERR)?;
            let quoted = rest.get(..end).ok_or(ERR)?;
            (
                Some(unquote(&format!("\"{quoted}\""))),
                rest.get(end + 1..).ok_or(ERR)?.trim_start(),
            )
        } else if let Some(lt) = value.find('<') {
            let name = value.get(..lt).ok_or(ERR)?.trim();
            (
                if name.is_empty() {
                    None
                } else {
                    Some(name.to_owned())
                },
                value.get(lt..).ok_or(ERR)?,
            )
        } else {
            // addr-spec: parameters after the URI belong to the header (§20.10).
            let (uri, params) = match value.find(';') {
                Some(i) => value.split_at(i),
                None => (value, ""),
            };
            return Ok(NameAddr {
                display_name: None,
                uri: Uri::parse(uri.trim()).map_err(|_| ERR)?,
                params: parse_header_params(params).map_err(|_| ERR)?,
            });
        };
        let inner = after_display.strip_prefix('<').ok_or(ERR)?;
        let gt = inner.find('>').ok_or(ERR)?;
        let uri = Uri::parse(inner.get(..gt).ok_or(ERR)?.trim()).map_err(|_| ERR)?;
        let params = parse_header_params(inner.get(gt + 1..).ok_or(ERR)?).map_err(|_| ERR)?;
        Ok(NameAddr {
            display_name,
            uri,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param_lookup(&self.params, name)
    }

    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// The `expires` parameter of a Contact; malformed values read as absent.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires")
            .flatten()
            .and_then(parse_delta_seconds)
    }

    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            write!(f, "{} ", quote(name))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_header_params(f, &self.params)
    }
}

/// Writes header parameters, quoting values that are not plain tokens so
/// that what [`parse_header_params`] unquoted survives a round trip.
fn write_header_params(
    f: &mut fmt::Formatter<'_>,
    params: &[(String, Option<String>)],
) -> fmt::Result {
    for (n, v) in params {
        match v {
            Some(v)
                if v.is_empty()
                    || !v
                        .bytes()
                        .all(|b| is_token_byte(b) || b == b':' || b == b'[' || b == b']') =>
            {
                write!(f, ";{n}={}", quote(v))?
            }
            Some(v) => write!(f, ";{n}={v}")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

/// One Contact value: an address or `*` (remove all bindings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Wildcard,
    Address(NameAddr),
}

impl Contact {
    pub fn parse(value: &str) -> Result<Contact, SipParseError> {
        if value.trim() == "*" {
            Ok(Contact::Wildcard)
        } else {
            NameAddr::parse(value)
                .map(Contact::Address)
                .map_err(|_| SipParseError::BadHeaderValue("Contact"))
        }
    }
}

/// `CSeq: <number> <method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &str) -> Result<CSeq, SipParseError> {
        const ERR: SipParseError = SipParseError::BadHeaderValue("CSeq");
        let mut parts = value.split_ascii_whitespace();
        let (Some(num), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ERR);
        };
        if num.is_empty() || num.len() > 10 || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ERR);
        }
        // RFC 3261 §8.1.1.5: the sequence number must be below 2**31.
        let seq: u32 = num.parse().map_err(|_| ERR)?;
        if seq >= 1 << 31 {
            return Err(ERR);
        }
        Ok(CSeq {
            seq,
            method: Method::parse(method).map_err(|_| ERR)?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A delta-seconds value; values beyond 2**32-1 saturate, as RFC 3261 §25
/// allows, rather than failing.
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// `Digest k=v, k="v"` as in WWW-Authenticate and Authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    pub scheme: String,
    /// Names as written, values unquoted.
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    pub fn parse(value: &str) -> Result<AuthParams, SipParseError> {
        const ERR: SipParseError = SipParseError::BadHeaderValue("authentication");
        let value = value.trim();
        let (scheme, rest) = value.split_once([' ', '\t']).ok_or(ERR)?;
        if scheme.is_empty() || !scheme.bytes().all(is_token_byte) {
            return Err(ERR);
        }
        let mut params = Vec::new();
        for item in split_top_level(rest, ',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (n, v) = item.split_once('=').ok_or(ERR)?;
            let n = n.trim();
            if n.is_empty() || !n.bytes().all(is_token_byte) {
                return Err(ERR);
            }
            params.push((n.to_owned(), unquote(v.trim())));
        }
        Ok(AuthParams {
            scheme: scheme.to_owned(),
            params,
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_canonical_names() {
        assert_eq!(canonical_name("v"), "Via");
        assert_eq!(canonical_name("I"), "Call-ID");
        assert_eq!(canonical_name("call-id"), "Call-ID");
        assert_eq!(canonical_name("cseq"), "CSeq");
        assert_eq!(canonical_name("X-Custom"), "X-Custom");
        assert_eq!(canonical_name("x"), "x");
    }

    #[test]
    fn via_with_received_and_rport() {
        let v = Via::parse(
            "SIP/2.0/udp 192.0.2.1:5060 ;received=198.51.100.7;rport=40000;branch=z9hG4bK776asdhds",
        )
        .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.1");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(v.received(), Some("198.51.100.7"));
        assert_eq!(v.rport(), Some(Some(40000)));
        let bare = Via::parse("SIP / 2.0 / TCP client.example.com;rport;branch=z9hG4bK1").unwrap();
        assert_eq!(bare.rport(), Some(None));
        assert_eq!(bare.port, None);
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
        assert!(Via::parse("garbage").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let a =
            NameAddr::parse("\"Bob \\\"B\\\" Biloxi\" <sip:bob@biloxi.com>;tag=a6c85cf").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Bob \"B\" Biloxi"));
        assert_eq!(a.uri.host, "biloxi.com");
        assert_eq!(a.tag(), Some("a6c85cf"));
        let b = NameAddr::parse("Alice <sip:alice@atlanta.com;transport=tcp>;expires=60").unwrap();
        assert_eq!(b.display_name.as_deref(), Some("Alice"));
        assert_eq!(b.uri.transport_param(), Some("tcp"));
        assert_eq!(b.expires(), Some(60));
        let c = NameAddr::parse("sip:carol@chicago.com;tag=xyz").unwrap();
        assert_eq!(c.tag(), Some("xyz"));
        assert!(c.uri.params.is_empty());
        let again = NameAddr::parse(&a.to_string()).unwrap();
        assert_eq!(again, a);
        assert!(NameAddr::parse("\"unterminated <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Wildcard);
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(
            CSeq::parse("314159 INVITE").unwrap(),
            CSeq {
                seq: 314159,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("99999999999999999999 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INVITE extra").is_err());
        assert!(CSeq::parse("abc INVITE").is_err());
    }

    #[test]
    fn splitting_respects_quotes_and_brackets() {
        let parts = split_top_level("\"A, B\" <sip:a@b;x=1,2>, <sip:c@d>", ',');
        assert_eq!(parts, vec!["\"A, B\" <sip:a@b;x=1,2>", " <sip:c@d>"]);
    }

    #[test]
    fn auth_params() {
        let a = AuthParams::parse(
            "Digest username=\"bob\", realm=\"biloxi.com\",qop=auth, nc=00000001",
        )
        .unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.get("USERNAME"), Some("bob"));
        assert_eq!(a.get("qop"), Some("auth"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert!(AuthParams::parse("Digest").is_err());
    }

    #[test]
    fn delta_seconds_saturate() {
        assert_eq!(parse_delta_seconds("3600"), Some(3600));
        assert_eq!(parse_delta_seconds("99999999999999"), Some(u32::MAX));
        assert_eq!(parse_delta_seconds("-5"), None);
    }
}
