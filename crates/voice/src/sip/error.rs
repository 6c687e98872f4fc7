//! Errors of the SIP message grammar.

/// Why bytes or a header value are not a valid SIP message. A UAS answers
/// most of these with 400 Bad Request when it can still read enough of the
/// message to build a response; otherwise the datagram is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipParseError {
    #[error("empty message")]
    Empty,
    #[error("message larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("more than {max} header fields")]
    TooManyHeaders { max: usize },
    #[error("no empty line (CRLF CRLF) ends the header section")]
    MissingEmptyLine,
    #[error("malformed start line")]
    BadStartLine,
    #[error("unsupported SIP version")]
    BadVersion,
    #[error("malformed method token")]
    BadMethod,
    #[error("malformed status code")]
    BadStatusCode,
    #[error("malformed URI")]
    BadUri,
    #[error("malformed header field on line {line}")]
    BadHeaderLine { line: usize },
    #[error("bytes that are not UTF-8 on line {line}")]
    NonUtf8 { line: usize },
    #[error("control character on line {line}")]
    ControlCharacter { line: usize },
    #[error("malformed or conflicting Content-Length")]
    BadContentLength,
    #[error("Content-Length {declared} exceeds the {available} body bytes received")]
    BodyTooShort { declared: usize, available: usize },
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {0} header")]
    BadHeaderValue(&'static str),
}
