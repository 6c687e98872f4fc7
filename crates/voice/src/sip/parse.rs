//! The SIP message parser: datagram and stream framing over one strict
//! header-section reader. Never panics: every slice access is checked.

use super::error::SipParseError;
use super::header::{Header, Headers, canonical_name, is_token_byte};
use super::message::{Message, Method, Request, Response, header_values};
use super::uri::Uri;

/// Largest message accepted, on any transport.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// Largest number of header entries (after splitting comma-separated lists).
pub const MAX_HEADERS: usize = 256;

impl Message {
    /// Parses one UDP datagram (see [`parse_datagram`]).
    pub fn parse(buf: &[u8]) -> Result<Message, SipParseError> {
        parse_datagram(buf)
    }
}

/// Parses a message that arrived as one datagram. Without Content-Length
/// the body is the rest of the datagram; bytes beyond Content-Length are
/// discarded (RFC 3261 §18.3).
pub fn parse_datagram(buf: &[u8]) -> Result<Message, SipParseError> {
    if buf.len() > MAX_MESSAGE_SIZE {
        return Err(SipParseError::TooLarge {
            max: MAX_MESSAGE_SIZE,
        });
    }
    let buf = buf.get(leading_crlf_len(buf)..).unwrap_or_default();
    if buf.is_empty() {
        return Err(SipParseError::Empty);
    }
    let (head_end, body_start) = find_head_end(buf).ok_or(SipParseError::MissingEmptyLine)?;
    let (start, headers) = parse_head(buf.get(..head_end).unwrap_or_default())?;
    let rest = buf.get(body_start..).unwrap_or_default();
    let body = match content_length(&headers)? {
        Some(declared) => rest.get(..declared).ok_or(SipParseError::BodyTooShort {
            declared,
            available: rest.len(),
        })?,
        None => rest,
    };
    Ok(assemble(start, headers, body.to_vec()))
}

/// Frames one message off the front of a stream (TCP/TLS) buffer.
/// `Ok(None)` means more bytes are needed; `Ok(Some((message, consumed)))`
/// says how many bytes to drop from the buffer. Leading CRLFs (RFC 5626
/// keep-alives) are skipped and counted in `consumed`; a buffer holding only
/// CRLFs yields `Ok(None)`, so drop [`leading_crlf_len`] bytes first.
pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, SipParseError> {
    let skipped = leading_crlf_len(buf);
    let msg = buf.get(skipped..).unwrap_or_default();
    let Some((head_end, body_start)) = find_head_end(msg) else {
        if msg.len() > MAX_MESSAGE_SIZE {
            return Err(SipParseError::TooLarge {
                max: MAX_MESSAGE_SIZE,
            });
        }
        return Ok(None);
    };
    if head_end > MAX_MESSAGE_SIZE {
        return Err(SipParseError::TooLarge {
            max: MAX_MESSAGE_SIZE,
        });
    }
    let (start, headers) = parse_head(msg.get(..head_end).unwrap_or_default())?;
    let declared = content_length(&headers)?.ok_or(SipParseError::MissingContentLength)?;
    let total = body_start
        .checked_add(declared)
        .ok_or(SipParseError::BadContentLength)?;
    if total > MAX_MESSAGE_SIZE {
        return Err(SipParseError::TooLarge {
            max: MAX_MESSAGE_SIZE,
        });
    }
    let Some(body) = msg.get(body_start..total) else {
        return Ok(None);
    };
    Ok(Some((
        assemble(start, headers, body.to_vec()),
        skipped + total,
    )))
}

/// The number of CR/LF bytes at the front of `buf`.
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

enum StartLine {
    Request(Method, Uri),
    Response(u16, String),
}

fn assemble(start: StartLine, headers: Headers, body: Vec<u8>) -> Message {
    match start {
        StartLine::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    }
}

/// Finds the empty line: returns (end of the last header line, start of body).
/// Bare LF line ends are tolerated, as most stacks do.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(offset) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + offset;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some((nl, nl + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((nl, nl + 3)),
            _ => i = nl + 1,
        }
    }
    None
}

fn check_line(line: &[u8], number: usize) -> Result<&str, SipParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(SipParseError::ControlCharacter { line: number });
    }
    std::str::from_utf8(line).map_err(|_| SipParseError::NonUtf8 { line: number })
}

fn parse_head(head: &[u8]) -> Result<(StartLine, Headers), SipParseError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    let (_, first) = lines.next().ok_or(SipParseError::BadStartLine)?;
    let start = parse_start_line(check_line(first, 1)?)?;

    // Fold continuation lines (RFC 3261 §7.3.1) into their field first.
    let mut fields: Vec<(String, String)> = Vec::new();
    for (number, raw) in lines {
        let line = check_line(raw, number)?;
        if line.starts_with([' ', '\t']) {
            let (_, value) = fields
                .last_mut()
                .ok_or(SipParseError::BadHeaderLine { line: number })?;
            let more = line.trim_matches([' ', '\t']);
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(SipParseError::BadHeaderLine { line: number })?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(SipParseError::BadHeaderLine { line: number });
        }
        if fields.len() >= MAX_HEADERS {
            return Err(SipParseError::TooManyHeaders { max: MAX_HEADERS });
        }
        fields.push((
            canonical_name(name),
            value.trim_matches([' ', '\t']).to_owned(),
        ));
    }

    let mut headers = Headers::new();
    for (name, value) in fields {
        for v in header_values(&name, &value) {
            if headers.len() >= MAX_HEADERS {
                return Err(SipParseError::TooManyHeaders { max: MAX_HEADERS });
            }
            headers.0.push(Header {
                name: name.clone(),
                value: v,
            });
        }
    }
    Ok((start, headers))
}

fn is_sip_version(s: &str) -> bool {
    s.eq_ignore_ascii_case("SIP/2.0")
}

fn parse_start_line(line: &str) -> Result<StartLine, SipParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !is_sip_version(version) {
            return Err(SipParseError::BadVersion);
        }
        let code = parts.next().ok_or(SipParseError::BadStartLine)?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipParseError::BadStatusCode);
        }
        let status: u16 = code.parse().map_err(|_| SipParseError::BadStatusCode)?;
        if !(100..=699).contains(&status) {
            return Err(SipParseError::BadStatusCode);
        }
        return Ok(StartLine::Response(
            status,
            parts.next().unwrap_or_default().to_owned(),
        ));
    }
    let (method, rest) = line.split_once(' ').ok_or(SipParseError::BadStartLine)?;
    let (uri, version) = rest.rsplit_once(' ').ok_or(SipParseError::BadStartLine)?;
    if uri.is_empty() || uri.contains([' ', '\t']) {
        return Err(SipParseError::BadStartLine);
    }
    let method = Method::parse(method)?;
    if !is_sip_version(version) {
        return Err(SipParseError::BadVersion);
    }
    Ok(StartLine::Request(method, Uri::parse(uri)?))
}

fn content_length(headers: &Headers) -> Result<Option<usize>, SipParseError> {
    let mut found: Option<usize> = None;
    for v in headers.get_all("Content-Length") {
        if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipParseError::BadContentLength);
        }
        let n: usize = v.parse().map_err(|_| SipParseError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(SipParseError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
