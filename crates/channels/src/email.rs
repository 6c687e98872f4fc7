//! Email: raw RFC 5322 messages fetched over IMAP turned into what the store
//! keeps (sender, subject, safe text, attachments, threading keys), the
//! auto-reply / bulk-mail check, and replies built for SMTP.
//!
//! Pure: no IO and no clock. The server fetches raw bytes over IMAP and hands
//! them in; the outbox worker sends the bytes built here over SMTP.
//!
//! Threading (SPEC §8): a message whose `In-Reply-To` or `References` names
//! a `Message-ID` we stored belongs to that conversation; dedup is on the
//! message's own `Message-ID` ([`dedup_key`]).

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a raw message or a reply could not be handled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailError {
    #[error("not an RFC 5322 message")]
    Unparseable,
    #[error("message has no usable From address")]
    NoSender,
    #[error("bad address {0:?}")]
    BadAddress(String),
    #[error("could not build message: {0}")]
    Build(String),
}

/// An attached file, held in memory until the attachment store takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    pub filename: Option<String>,
    pub mime_type: String,
    pub data: Vec<u8>,
}

/// A parsed inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEmail {
    /// The message's own `Message-ID` without angle brackets; a digest of
    /// the raw bytes (`sha256-…@no-message-id`) when the header is missing,
    /// so a message fetched twice still dedups.
    pub message_id: String,
    /// Lower-cased sender address: with the inbox, it identifies the contact.
    pub from_address: String,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    /// `In-Reply-To` ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// Auto-reply, bounce, bulk or list mail: stored nothing, answered never.
    pub automatic: bool,
    /// The text shown to agents: text/plain preferred, else HTML made safe
    /// text by [`html_to_text`].
    pub text: String,
    pub attachments: Vec<EmailAttachment>,
    /// Unix seconds of the `Date` header, if any.
    pub sent_at: Option<i64>,
}

fn strip_brackets(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn id_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(list) = value.as_text_list() {
        for id in list {
            let id = strip_brackets(id);
            if !id.is_empty() {
                out.push(id);
            }
        }
    } else if let Some(id) = value.as_text() {
        let id = strip_brackets(id);
        if !id.is_empty() {
            out.push(id);
        }
    }
    out
}

/// Parses one raw message as fetched over IMAP (`BODY[]`).
pub fn parse(raw: &[u8]) -> Result<ParsedEmail, EmailError> {
    let msg = MessageParser::default().parse(raw).ok_or(EmailError::Unparseable)?;
    let from = msg.from().and_then(|a| a.first()).ok_or(EmailError::NoSender)?;
    let from_address = from
        .address()
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| a.contains('@'))
        .ok_or(EmailError::NoSender)?;
    let from_name = from.name().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    let message_id = msg.message_id().map(strip_brackets).filter(|id| !id.is_empty()).unwrap_or_else(|| {
        format!("sha256-{}@no-message-id", hex::encode(Sha256::digest(raw)))
    });

    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    let automatic = is_automatic(
        header("Auto-Submitted").as_deref(),
        header("Precedence").as_deref(),
        header("List-Id").is_some() || header("List-Unsubscribe").is_some(),
        header("X-Autoreply").is_some() || header("X-Autorespond").is_some(),
        header("Return-Path").as_deref() == Some("<>"),
        &from_address,
    );

    let mut texts = Vec::new();
    for part in msg.text_bodies() {
        let is_html = part.is_text_html();
        if let Some(t) = part.text_contents() {
            texts.push(if is_html { html_to_text(t) } else { t.trim().replace("\r\n", "\n") });
        }
    }
    let text = texts.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n\n");

    let attachments = msg
        .attachments()
        .map(|p| EmailAttachment {
            filename: p.attachment_name().map(str::to_owned),
            mime_type: p
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_ascii_lowercase(),
            data: p.contents().to_vec(),
        })
        .collect();

    Ok(ParsedEmail {
        message_id,
        from_address,
        from_name,
        subject: msg.subject().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        automatic,
        text,
        attachments,
        sent_at: msg.date().map(|d| d.to_timestamp()),
    })
}

/// Mail nobody should answer (RFC 3834 `Auto-Submitted`, `Precedence`
/// bulk/list/junk, list headers, vendor auto-reply flags, bounces with an
/// empty `Return-Path` or from a mailer daemon). Header values lower-cased.
fn is_automatic(
    auto_submitted: Option<&str>,
    precedence: Option<&str>,
    list_headers: bool,
    vendor_autoreply: bool,
    null_return_path: bool,
    from_address: &str,
) -> bool {
    let auto = auto_submitted.is_some_and(|v| v.split(';').next().is_some_and(|k| k.trim() != "no"));
    let bulk = precedence.is_some_and(|p| matches!(p, "bulk" | "list" | "junk" | "auto_reply"));
    let local = from_address.split('@').next().unwrap_or_default();
    let daemon = matches!(local, "mailer-daemon" | "postmaster");
    auto || bulk || list_headers || vendor_autoreply || null_return_path || daemon
}

/// The store's dedup key of an inbound message.
pub fn dedup_key(inbox_id: &str, message_id: &str) -> String {
    format!("email:{inbox_id}:{message_id}")
}

/// Message ids that may name the conversation this message continues, most
/// likely first: `In-Reply-To`, then `References` newest to oldest.
pub fn thread_keys(parsed: &ParsedEmail) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in parsed.in_reply_to.iter().chain(parsed.references.iter().rev()) {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// HTML → safe text
// ---------------------------------------------------------------------------

const BLOCK_TAGS: &[&str] = &[
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol",
    "pre", "hr", "section", "article", "header", "footer", "dt", "dd",
];
const SKIPPED_TAGS: &[&str] = &["script", "style", "head", "title", "template", "noscript"];

/// Turns HTML into plain text safe to show anywhere: tags dropped, the
/// content of `script`/`style`/`head` dropped, entities decoded, block tags
/// turned into line breaks, blank lines and runs of spaces collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skipping: Option<String> = None;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |i| i + 1);
            let tag = &rest[1..end.saturating_sub(1).max(1)];
            rest = &rest[end..];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(skip) = &skipping {
                if closing && &name == skip {
                    skipping = None;
                }
                continue;
            }
            if !closing && SKIPPED_TAGS.contains(&name.as_str()) && !tag.trim_end().ends_with('/') {
                skipping = Some(name);
                continue;
            }
            if BLOCK_TAGS.contains(&name.as_str()) {
                out.push('\n');
                if name == "li" && !closing {
                    out.push_str("- ");
                }
            } else if name == "td" || name == "th" {
                out.push(' ');
            }
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        if skipping.is_none() {
            out.push_str(&decode_entities(&rest[..next]));
        }
        rest = &rest[next..];
    }
    normalize_whitespace(&out)
}

fn normalize_whitespace(s: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in s.lines() {
        let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !collapsed.is_empty() {
            lines.push(collapsed);
        }
    }
    lines.join("\n")
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|j| j + 1).filter(|&j| j <= 10);
        let decoded = end.and_then(|j| {
            let name = &rest[1..j];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------

/// A `Message-ID` (with angle brackets) for a message sent from
/// `inbox_address`: `<unique@domain>`; `unique` comes from the caller (a
/// message id or UUID), keeping this module free of randomness.
pub fn new_message_id(unique: &str, inbox_address: &str) -> String {
    let domain = inbox_address.rsplit_once('@').map_or("switchboard.invalid", |(_, d)| d);
    let unique: String = unique.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')).collect();
    format!("<{unique}@{domain}>")
}

/// `Re: subject`, without stacking `Re:`s.
pub fn reply_subject(subject: Option<&str>) -> String {
    match subject.map(str::trim).filter(|s| !s.is_empty()) {
        None => "Re: your message".to_owned(),
        Some(s) if s.len() >= 3 && s[..3].eq_ignore_ascii_case("re:") => s.to_owned(),
        Some(s) => format!("Re: {s}"),
    }
}

/// An agent's reply to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub from_address: String,
    pub from_name: Option<String>,
    pub to_address: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub body: String,
    /// From [`new_message_id`], with angle brackets.
    pub message_id: String,
    /// The customer's last message id (no brackets), if replying.
    pub in_reply_to: Option<String>,
    /// That message's `References` (no brackets), oldest first.
    pub references: Vec<String>,
    /// Files sent with the reply (the mail becomes multipart/mixed).
    pub attachments: Vec<EmailAttachment>,
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, EmailError> {
    let addr = address.parse().map_err(|_| EmailError::BadAddress(address.to_owned()))?;
    Ok(Mailbox::new(name.map(str::to_owned), addr))
}

/// The RFC 5322 bytes to hand to SMTP, and the envelope (from, to).
pub fn build(mail: &OutboundEmail) -> Result<Vec<u8>, EmailError> {
    let mut b = lettre::Message::builder()
        .from(mailbox(mail.from_name.as_deref(), &mail.from_address)?)
        .to(mailbox(mail.to_name.as_deref(), &mail.to_address)?)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()));
    if let Some(parent) = &mail.in_reply_to {
        b = b.in_reply_to(format!("<{parent}>"));
        let mut refs: Vec<&String> = mail.references.iter().collect();
        if !refs.contains(&parent) {
            refs.push(parent);
        }
        let refs = refs.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" ");
        b = b.references(refs);
    }
    let msg = if mail.attachments.is_empty() {
        b.header(ContentType::TEXT_PLAIN).body(mail.body.clone())
    } else {
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
        for (i, file) in mail.attachments.iter().enumerate() {
            let name = file.filename.clone().filter(|f| !f.trim().is_empty()).unwrap_or_else(|| format!("attachment-{}", i + 1));
            let kind = ContentType::parse(&file.mime_type).unwrap_or_else(|_| ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN));
            parts = parts.singlepart(Attachment::new(name).body(file.data.clone(), kind));
        }
        b.multipart(parts)
    };
    let msg = msg.map_err(|e| EmailError::Build(e.to_string()))?;
    Ok(msg.formatted())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PLAIN: &str = "From: \"Ann Lee\" <Ann@Example.COM>\r\n\
To: support@shop.test\r\n\
Subject: Where is my order?\r\n\
Message-ID: <abc123@example.com>\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\
\r\n\
Hello, order 42 has not arrived.\r\n";

    #[test]
    fn parses_plain_message() {
        let p = parse(PLAIN.as_bytes()).unwrap();
        assert_eq!(p.message_id, "abc123@example.com");
        assert_eq!(p.from_address, "ann@example.com");
        assert_eq!(p.from_name.as_deref(), Some("Ann Lee"));
        assert_eq!(p.subject.as_deref(), Some("Where is my order?"));
        assert_eq!(p.text, "Hello, order 42 has not arrived.");
        assert!(!p.automatic);
        assert!(p.in_reply_to.is_empty() && p.references.is_empty());
        assert_eq!(p.sent_at, Some(1_795_514_400));
        assert_eq!(dedup_key("7", &p.message_id), "email:7:abc123@example.com");
    }

    #[test]
    fn threading_keys_from_reply_headers() {
        let raw = "From: ann@example.com\r\nSubject: Re: x\r\nMessage-ID: <m3@example.com>\r\n\
In-Reply-To: <m2@shop.test>\r\nReferences: <m1@example.com> <m2@shop.test>\r\n\r\nthanks\r\n";
        let p = parse(raw.as_bytes()).unwrap();
        assert_eq!(p.in_reply_to, vec!["m2@shop.test"]);
        assert_eq!(p.references, vec!["m1@example.com", "m2@shop.test"]);
        assert_eq!(thread_keys(&p), vec!["m2@shop.test", "m1@example.com"]);
    }

    #[test]
    fn missing_message_id_gets_stable_digest() {
        let raw = b"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let a = parse(raw).unwrap();
        let b = parse(raw).unwrap();
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.ends_with("@no-message-id"));
    }

    #[test]
    fn automatic_mail_is_flagged() {
        let base = "From: a@b.test\r\nMessage-ID: <x@b.test>\r\nSubject: s\r\n";
        for extra in [
            "Auto-Submitted: auto-replied\r\n",
            "Auto-Submitted: auto-generated; foo=bar\r\n",
            "Precedence: bulk\r\n",
            "Precedence: list\r\n",
            "List-Id: <news.b.test>\r\n",
            "List-Unsubscribe: <mailto:u@b.test>\r\n",
            "X-Autoreply: yes\r\n",
            "Return-Path: <>\r\n",
        ] {
            let raw = format!("{base}{extra}\r\nbody\r\n");
            assert!(parse(raw.as_bytes()).unwrap().automatic, "{extra}");
        }
        let raw = format!("{base}Auto-Submitted: no\r\n\r\nbody\r\n");
        assert!(!parse(raw.as_bytes()).unwrap().automatic);
        let raw = "From: MAILER-DAEMON@b.test\r\nSubject: Undelivered\r\n\r\nx\r\n";
        assert!(parse(raw.as_bytes()).unwrap().automatic);
    }

    #[test]
    fn no_sender_is_an_error() {
        assert_eq!(parse(b"Subject: x\r\n\r\nbody\r\n"), Err(EmailError::NoSender));
    }

    #[test]
    fn html_only_becomes_safe_text() {
        let raw = "From: a@b.test\r\nMessage-ID: <h@b.test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><title>T</title><style>p{color:red}</style></head><body>\
<p>Hi &amp; welcome</p><script>alert('x')</script><div>Line&nbsp;two &#233;&#x41;</div>\
<ul><li>one</li><li>two</li></ul><!-- secret --></body></html>\r\n";
        let p = parse(raw.as_bytes()).unwrap();
        assert_eq!(p.text, "Hi & welcome\nLine two éA\n- one\n- two");
    }

    #[test]
    fn html_to_text_edge_cases() {
        assert_eq!(html_to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(html_to_text("x &lt;script&gt; &bogus; & y"), "x <script> &bogus; & y");
        assert_eq!(html_to_text("<SCRIPT type=x>evil()</SCRIPT>ok"), "ok");
        assert_eq!(html_to_text("<p>unterminated <b"), "unterminated");
        assert_eq!(html_to_text("<table><tr><td>a</td><td>b</td></tr></table>"), "a b");
    }

    #[test]
    fn multipart_prefers_plain_and_keeps_attachments() {
        let raw = "From: a@b.test\r\nMessage-ID: <mp@b.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: multipart/alternative; boundary=\"YY\"\r\n\r\n\
--YY\r\nContent-Type: text/plain\r\n\r\nplain body\r\n\
--YY\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--YY--\r\n\
--XX\r\nContent-Type: application/pdf; name=\"inv.pdf\"\r\nContent-Disposition: attachment; filename=\"inv.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n";
        let p = parse(raw.as_bytes()).unwrap();
        assert_eq!(p.text, "plain body");
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].filename.as_deref(), Some("inv.pdf"));
        assert_eq!(p.attachments[0].mime_type, "application/pdf");
        assert_eq!(p.attachments[0].data, b"%PDF-");
    }

    #[test]
    fn reply_is_threaded_and_parses_back() {
        let mail = OutboundEmail {
            from_address: "support@shop.test".into(),
            from_name: Some("Shop Support".into()),
            to_address: "ann@example.com".into(),
            to_name: Some("Ann Lee".into()),
            subject: reply_subject(Some("Where is my order?")),
            body: "It ships today.".into(),
            message_id: new_message_id("msg-91", "support@shop.test"),
            in_reply_to: Some("abc123@example.com".into()),
            references: vec!["first@example.com".into()],
            attachments: vec![],
        };
        let raw = build(&mail).unwrap();
        let p = parse(&raw).unwrap();
        assert_eq!(p.message_id, "msg-91@shop.test");
        assert_eq!(p.subject.as_deref(), Some("Re: Where is my order?"));
        assert_eq!(p.in_reply_to, vec!["abc123@example.com"]);
        assert_eq!(p.references, vec!["first@example.com", "abc123@example.com"]);
        assert_eq!(p.text, "It ships today.");
        assert_eq!(p.from_address, "support@shop.test");
        assert!(!p.automatic);
    }

    #[test]
    fn reply_with_files_is_multipart_and_parses_back() {
        let pdf = b"%PDF-1.4 binary \x00\xff".to_vec();
        let mail = OutboundEmail {
            from_address: "support@shop.test".into(),
            from_name: None,
            to_address: "ann@example.com".into(),
            to_name: None,
            subject: "Re: x".into(),
            body: "See the invoice.".into(),
            message_id: new_message_id("msg-92", "support@shop.test"),
            in_reply_to: None,
            references: vec![],
            attachments: vec![
                EmailAttachment { filename: Some("invoice.pdf".into()), mime_type: "application/pdf".into(), data: pdf.clone() },
                EmailAttachment { filename: None, mime_type: "not a type".into(), data: b"x".to_vec() },
            ],
        };
        let p = parse(&build(&mail).unwrap()).unwrap();
        assert_eq!(p.text, "See the invoice.");
        assert_eq!(p.attachments.len(), 2);
        assert_eq!(p.attachments[0].filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(p.attachments[0].mime_type, "application/pdf");
        assert_eq!(p.attachments[0].data, pdf);
        assert_eq!(p.attachments[1].filename.as_deref(), Some("attachment-2"));
        assert_eq!(p.attachments[1].mime_type, "application/octet-stream");
    }

    #[test]
    fn subjects_and_ids() {
        assert_eq!(reply_subject(Some("RE: hi")), "RE: hi");
        assert_eq!(reply_subject(Some("  ")), "Re: your message");
        assert_eq!(reply_subject(Some("é")), "Re: é");
        assert_eq!(new_message_id("a b<c>", "x@y.test"), "<abc@y.test>");
        assert_eq!(new_message_id("u1", "nodomain"), "<u1@switchboard.invalid>");
        assert!(matches!(build(&OutboundEmail {
            from_address: "bad".into(), from_name: None, to_address: "a@b.test".into(), to_name: None,
            subject: "s".into(), body: "b".into(), message_id: "<m@b.test>".into(), in_reply_to: None, references: vec![], attachments: vec![],
        }), Err(EmailError::BadAddress(_))));
    }
}
