#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::sip::header::{CSeq, Contact, Header};
use crate::sip::message::SipMessage;

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn request(m: Message) -> Request {
    match m {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

/// RFC 3261 §24.2 / RFC 3665 §3.1 F1, with its SDP.
fn rfc3665_invite() -> Vec<u8> {
    let sdp = "v=0\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\ns=Session SDP\nc=IN IP4 pc33.atlanta.com\nt=0 0\nm=audio 49172 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n".replace('\n', "\r\n");
    let head = format!(
        "INVITE sip:bob@biloxi.com SIP/2.0\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\n\
Max-Forwards: 70\n\
To: Bob <sip:bob@biloxi.com>\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
Call-ID: a84b4c76e66710\n\
CSeq: 314159 INVITE\n\
Contact: <sip:alice@pc33.atlanta.com>\n\
Content-Type: application/sdp\n\
Content-Length: {}\n\n",
        sdp.len()
    );
    let mut out = crlf(&head);
    out.extend_from_slice(sdp.as_bytes());
    out
}

#[test]
fn parses_rfc3665_invite() {
    let req = request(Message::parse(&rfc3665_invite()).unwrap());
    assert_eq!(req.method, Method::Invite);
    assert_eq!(req.uri.to_string(), "sip:bob@biloxi.com");
    let via = req.top_via().unwrap();
    assert_eq!(
        (via.transport.as_str(), via.host.as_str(), via.port),
        ("UDP", "pc33.atlanta.com", None)
    );
    assert_eq!(via.branch(), Some("z9hG4bKnashds8"));
    assert_eq!(req.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(req.from().unwrap().display_name.as_deref(), Some("Alice"));
    assert_eq!(req.to().unwrap().tag(), None);
    assert_eq!(req.call_id().unwrap(), "a84b4c76e66710");
    assert_eq!(req.cseq().unwrap().seq, 314159);
    assert_eq!(req.max_forwards().unwrap(), Some(70));
    assert_eq!(req.content_type(), Some("application/sdp"));
    assert!(req.body.starts_with(b"v=0\r\n"));
    assert!(req.body.ends_with(b"PCMU/8000\r\n"));
}

/// RFC 4475 §3.1.1.1 "wsinv": folding, odd spacing, compact forms, escapes.
#[test]
fn parses_rfc4475_short_tortuous_invite() {
    let body = "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n";
    let text = format!(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n\
TO :\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n\
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\n\
MaX-fOrWaRdS: 0068\n\
Call-ID: wsinv.ndaksdj@192.0.2.1\n\
Content-Length   : 150\n\
cseq: 0009\n  INVITE\n\
Via  : SIP  /   2.0\n /UDP\n    192.0.2.2;branch=390skdjuw\n\
s :\n\
NewFangledHeader:   newfangled value\n continued newfangled value\n\
UnknownHeaderWithUnusualValue: ;;,,;;,;\n\
Content-Type: application/sdp\n\
Route:\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n\
v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n  branch  =   z9hG4bK9ikj8  ,\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n z9hG4bK30239\n\
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n  secondparam ; q = 0.33\n\n{body}"
    );
    let bytes = crlf(&text);
    let req = request(Message::parse(&bytes).unwrap());
    assert_eq!(
        req.body.len(),
        150,
        "the RFC's body is 150 bytes with CRLF line ends"
    );
    assert_eq!(req.uri.param("unknownparam"), Some(None));
    assert_eq!(req.to().unwrap().tag(), Some("1918181833n"));
    let from = req.from().unwrap();
    assert_eq!(from.display_name.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(req.max_forwards().unwrap(), Some(68));
    assert_eq!(
        req.cseq().unwrap(),
        CSeq {
            seq: 9,
            method: Method::Invite
        }
    );
    assert_eq!(req.headers.get("Subject"), Some(""));
    assert_eq!(
        req.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        req.headers.get("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let vias = req.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let routes = req.routes().unwrap();
    assert_eq!(routes[0].uri.param("lr"), Some(None));
    let Contact::Address(contact) = &req.contacts().unwrap()[0] else {
        panic!("wildcard")
    };
    assert_eq!(contact.display_name.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert_eq!(contact.param("q"), Some(Some("0.33")));
    // The serializer's output parses to the same message.
    assert_eq!(
        Message::parse(&Message::Request(req.clone()).to_bytes()).unwrap(),
        Message::Request(req)
    );
}

#[test]
fn parses_sipp_invite_with_sdp() {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let text = format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-4242-1-0\n\
From: sipp <sip:sipp@127.0.1.1:5061>;tag=4242SIPpTag001\n\
To: service <sip:service@127.0.0.1:5060>\n\
Call-ID: 1-4242@127.0.1.1\n\
CSeq: 1 INVITE\n\
Contact: sip:sipp@127.0.1.1:5061\n\
Max-Forwards: 70\n\
Subject: Performance Test\n\
Content-Type: application/sdp\n\
Content-Length:   {}\n\n",
        sdp.len()
    );
    let mut bytes = crlf(&text);
    bytes.extend_from_slice(sdp.as_bytes());
    let req = request(Message::parse(&bytes).unwrap());
    assert_eq!(req.uri.port, Some(5060));
    assert_eq!(req.top_via().unwrap().sent_by(), "127.0.1.1:5061");
    assert_eq!(req.body, sdp.as_bytes());
    let Contact::Address(c) = &req.contacts().unwrap()[0] else {
        panic!("wildcard")
    };
    assert_eq!(c.uri.port, Some(5061));
}

fn baresip_register() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0\n\
Via: SIP/2.0/UDP 192.168.1.50:41234;branch=z9hG4bK2d5e8c1f;rport\n\
Contact: <sip:alice-0x55d8@192.168.1.50:41234;transport=udp>;expires=3600\n\
Max-Forwards: 70\n\
To: <sip:alice@example.com>\n\
From: <sip:alice@example.com>;tag=a3f9c2e1b7d04e55\n\
Call-ID: 6c5e3f1a2b9d8e7f\n\
CSeq: 2 REGISTER\n\
User-Agent: baresip v3.10.1 (x86_64/Linux)\n\
Authorization: Digest username=\"alice\",realm=\"example.com\",nonce=\"6650a1b2.1f0c\",uri=\"sip:example.com\",response=\"6629fae49393a05397450978507c4ef1\",algorithm=MD5,qop=auth,nc=00000001,cnonce=\"0a4f113b\"\n\
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\n\
Supported: replaces,norefersub,outbound\n\
Content-Length: 0\n\n",
    )
}

#[test]
fn parses_baresip_register_with_authorization() {
    let req = request(Message::parse(&baresip_register()).unwrap());
    assert_eq!(req.method, Method::Register);
    assert_eq!(req.top_via().unwrap().rport(), Some(None));
    let auth = req.auth("Authorization").unwrap().unwrap();
    assert_eq!(auth.scheme, "Digest");
    assert_eq!(auth.get("username"), Some("alice"));
    assert_eq!(auth.get("uri"), Some("sip:example.com"));
    assert_eq!(auth.get("qop"), Some("auth"));
    assert_eq!(req.headers.get_all("Allow").count(), 11);
    assert_eq!(
        req.headers.get_all("Supported").collect::<Vec<_>>(),
        ["replaces", "norefersub", "outbound"]
    );
    let Contact::Address(c) = &req.contacts().unwrap()[0] else {
        panic!("wildcard")
    };
    assert_eq!(c.expires(), Some(3600));
    assert_eq!(c.uri.transport_param(), Some("udp"));
    assert!(req.body.is_empty());
}

#[test]
fn compact_headers_are_expanded() {
    let bytes = crlf(
        "OPTIONS sip:carol@chicago.com SIP/2.0\n\
v: SIP/2.0/TCP a.example.com;branch=z9hG4bKx\n\
f: <sip:alice@atlanta.com>;tag=1\n\
t: <sip:carol@chicago.com>\n\
i: abc@a\n\
CSeq: 1 OPTIONS\n\
m: <sip:alice@a.example.com>\n\
c: text/plain\n\
k: timer\n\
s: hi\n\
e: gzip\n\
l: 2\n\nok",
    );
    let req = request(Message::parse(&bytes).unwrap());
    let names: Vec<&str> = req.headers.0.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Contact",
            "Content-Type",
            "Supported",
            "Subject",
            "Content-Encoding",
            "Content-Length"
        ]
    );
    assert_eq!(req.body, b"ok");
}

#[test]
fn response_round_trip_and_builder() {
    let req = request(Message::parse(&rfc3665_invite()).unwrap());
    let mut resp = Response::for_request(&req, 180, "Ringing", Some("8321234356"));
    resp.headers.push("Contact", "<sip:bob@192.0.2.4>");
    assert_eq!(resp.to().unwrap().tag(), Some("8321234356"));
    assert_eq!(resp.headers.get("Via"), req.headers.get("Via"));
    assert_eq!(resp.cseq().unwrap(), req.cseq().unwrap());
    let trying = Response::for_request(&req, 100, "Trying", Some("x"));
    assert_eq!(
        trying.to().unwrap().tag(),
        None,
        "100 Trying never adds a To tag"
    );
    let bytes = resp.to_bytes();
    assert!(bytes.starts_with(b"SIP/2.0 180 Ringing\r\n"));
    let Message::Response(parsed) = Message::parse(&bytes).unwrap() else {
        panic!("request")
    };
    assert_eq!(parsed.status, 180);
    assert_eq!(parsed.headers.get("Content-Length"), Some("0"));
    parsed
        .headers
        .0
        .iter()
        .filter(|h| h.name != "Content-Length")
        .zip(&resp.headers.0)
        .for_each(|(a, b)| assert_eq!(a, b));
}

#[test]
fn request_round_trip_is_exact() {
    let bytes = baresip_register();
    let first = Message::parse(&bytes).unwrap();
    let serialized = first.to_bytes();
    let second = Message::parse(&serialized).unwrap();
    assert_eq!(first, second);
    assert_eq!(second.to_bytes(), serialized);
}

#[test]
fn udp_without_content_length_takes_rest_and_extra_bytes_are_cut() {
    let m = request(
        Message::parse(&crlf("MESSAGE sip:a@b SIP/2.0\nCSeq: 1 MESSAGE\n\nhello")).unwrap(),
    );
    assert_eq!(m.body, b"hello");
    let m = request(
        Message::parse(&crlf("MESSAGE sip:a@b SIP/2.0\nContent-Length: 3\n\nhello")).unwrap(),
    );
    assert_eq!(m.body, b"hel");
}

#[test]
fn leading_crlf_is_ignored() {
    let mut bytes = b"\r\n\r\n".to_vec();
    bytes.extend(baresip_register());
    assert!(Message::parse(&bytes).is_ok());
}

#[test]
fn malformed_inputs_return_the_right_error() {
    let cases: Vec<(Vec<u8>, SipParseError)> = vec![
        (b"".to_vec(), SipParseError::Empty),
        (b"\r\n\r\n".to_vec(), SipParseError::Empty),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nCSeq: 1 OPTIONS\n"),
            SipParseError::MissingEmptyLine,
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0"),
            SipParseError::MissingEmptyLine,
        ),
        (crlf("OPTIONS sip:a@b\n\n"), SipParseError::BadStartLine),
        (crlf("OPTIONS  SIP/2.0\n\n"), SipParseError::BadStartLine),
        (
            crlf("OPTIONS sip:a@b SIP/3.0\n\n"),
            SipParseError::BadVersion,
        ),
        (
            crlf("OPT(ONS sip:a@b SIP/2.0\n\n"),
            SipParseError::BadMethod,
        ),
        (crlf("OPTIONS nocolon SIP/2.0\n\n"), SipParseError::BadUri),
        (crlf("SIP/2.0 2000 OK\n\n"), SipParseError::BadStatusCode),
        (crlf("SIP/2.0 099 Low\n\n"), SipParseError::BadStatusCode),
        (
            crlf("SIP/2.0 4294967301 Huge\n\n"),
            SipParseError::BadStatusCode,
        ),
        (crlf("SIP/2.0\n\n"), SipParseError::BadStartLine),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nno colon here\n\n"),
            SipParseError::BadHeaderLine { line: 2 },
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\n continuation first\n\n"),
            SipParseError::BadHeaderLine { line: 2 },
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nBad Name: x\n\n"),
            SipParseError::BadHeaderLine { line: 2 },
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nContent-Length: 10\n\nshort"),
            SipParseError::BodyTooShort {
                declared: 10,
                available: 5,
            },
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nContent-Length: -1\n\n"),
            SipParseError::BadContentLength,
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nContent-Length: 99999999999999999999\n\n"),
            SipParseError::BadContentLength,
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nContent-Length: 1\nl: 2\n\nab"),
            SipParseError::BadContentLength,
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nX: a\x01b\n\n"),
            SipParseError::ControlCharacter { line: 2 },
        ),
        (
            crlf("OPTIONS sip:a@b SIP/2.0\nX: a\rb\n\n"),
            SipParseError::ControlCharacter { line: 2 },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Message::parse(&input),
            Err(expected),
            "{}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn non_utf8_header_is_rejected() {
    let mut bytes = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: caf".to_vec();
    bytes.extend_from_slice(&[0xe9, 0xff]);
    bytes.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        Message::parse(&bytes),
        Err(SipParseError::NonUtf8 { line: 2 })
    );
}

#[test]
fn too_many_headers_and_too_large() {
    let mut text = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..300 {
        text.push_str(&format!("X-H{i}: v\r\n"));
    }
    text.push_str("\r\n");
    assert_eq!(
        Message::parse(text.as_bytes()),
        Err(SipParseError::TooManyHeaders { max: MAX_HEADERS })
    );
    // 300 entries packed into one comma-separated Allow count the same.
    let many = vec!["INFO"; 300].join(",");
    let text = format!("OPTIONS sip:a@b SIP/2.0\r\nAllow: {many}\r\n\r\n");
    assert_eq!(
        Message::parse(text.as_bytes()),
        Err(SipParseError::TooManyHeaders { max: MAX_HEADERS })
    );
    let huge = vec![b'a'; MAX_MESSAGE_SIZE + 1];
    assert_eq!(
        Message::parse(&huge),
        Err(SipParseError::TooLarge {
            max: MAX_MESSAGE_SIZE
        })
    );
    assert_eq!(
        parse_stream(&huge),
        Err(SipParseError::TooLarge {
            max: MAX_MESSAGE_SIZE
        })
    );
}

#[test]
fn bad_typed_headers_report_errors() {
    let bytes = crlf(
        "OPTIONS sip:a@b SIP/2.0\nCSeq: 1x OPTIONS\nMax-Forwards: 256\nExpires: soon\nVia: HTTP/1.1 x\n\n",
    );
    let req = request(Message::parse(&bytes).unwrap());
    assert_eq!(req.cseq(), Err(SipParseError::BadHeaderValue("CSeq")));
    assert_eq!(
        req.max_forwards(),
        Err(SipParseError::BadHeaderValue("Max-Forwards"))
    );
    assert_eq!(req.expires(), Err(SipParseError::BadHeaderValue("Expires")));
    assert_eq!(req.top_via(), Err(SipParseError::BadHeaderValue("Via")));
    assert_eq!(req.call_id(), Err(SipParseError::MissingHeader("Call-ID")));
}

#[test]
fn stream_framing() {
    let one = baresip_register();
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(&one);
    buf.extend_from_slice(&rfc3665_invite());
    // Every strict prefix of the first message needs more bytes.
    for cut in 0..one.len() + 4 {
        assert_eq!(parse_stream(&buf[..cut]).unwrap(), None, "cut at {cut}");
    }
    let (first, used) = parse_stream(&buf).unwrap().unwrap();
    assert_eq!(used, one.len() + 4);
    assert!(matches!(
        first,
        Message::Request(Request {
            method: Method::Register,
            ..
        })
    ));
    let (second, used2) = parse_stream(&buf[used..]).unwrap().unwrap();
    assert_eq!(used + used2, buf.len());
    assert!(matches!(
        second,
        Message::Request(Request {
            method: Method::Invite,
            ..
        })
    ));
    assert_eq!(
        parse_stream(&crlf("OPTIONS sip:a@b SIP/2.0\nCSeq: 1 OPTIONS\n\n")),
        Err(SipParseError::MissingContentLength)
    );
    assert_eq!(leading_crlf_len(b"\r\n\r\nX"), 4);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(m) = Message::parse(&bytes) {
            let again = Message::parse(&m.to_bytes());
            prop_assert!(again.is_ok());
        }
        let _ = parse_stream(&bytes);
    }

    #[test]
    fn sip_like_bytes_never_panic(lines in proptest::collection::vec(
        "(INVITE sip:a@b SIP/2.0|SIP/2.0 200 OK|Via: SIP/2.0/UDP h;branch=[a-z]{0,4}|[a-zA-Z-]{1,6} ?: ?[ -~]{0,20}|[ \t][ -~]{0,10}|Content-Length: [0-9]{0,4}|)",
        0..12,
    ), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = lines.join("\r\n").into_bytes();
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(&body);
        if let Ok(m) = Message::parse(&bytes) {
            let serialized = m.to_bytes();
            let again = Message::parse(&serialized).unwrap();
            prop_assert_eq!(again.to_bytes(), serialized);
            if let Message::Request(r) = &again {
                let _ = (r.top_via(), r.from(), r.to(), r.cseq(), r.contacts(), r.expires(), r.max_forwards());
            }
        }
    }

    #[test]
    fn generated_messages_round_trip(
        method in prop_oneof![Just(Method::Invite), Just(Method::Register), Just(Method::Bye), Just(Method::Other("PUBLISH".into()))],
        user in "[a-z0-9]{1,8}",
        host in "[a-z]{1,8}\\.(com|net)",
        port in proptest::option::of(1u16..),
        headers in proptest::collection::vec((
            prop_oneof![Just("Via".to_string()), Just("Contact".to_string()), Just("Subject".to_string()), "X-[A-Za-z]{1,8}"],
            "[a-zA-Z0-9]([a-zA-Z0-9 ;=.@:]{0,20}[a-zA-Z0-9])?",
        ), 0..20),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut uri = Uri::sip(Some(&user), &host, port);
        uri.params.push(("transport".into(), Some("tcp".into())));
        let mut req = Request::new(method, uri);
        for (n, v) in headers {
            req.headers.0.push(Header { name: n, value: v });
        }
        req.body = body;
        let Message::Request(parsed) = Message::parse(&req.to_bytes()).unwrap() else { panic!("response") };
        prop_assert_eq!(&parsed.method, &req.method);
        prop_assert_eq!(&parsed.uri, &req.uri);
        prop_assert_eq!(&parsed.body, &req.body);
        let without_length: Vec<_> = parsed.headers.0.into_iter().filter(|h| h.name != "Content-Length").collect();
        prop_assert_eq!(without_length, req.headers.0);
    }
}
