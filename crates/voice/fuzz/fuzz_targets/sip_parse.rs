//! Feeds arbitrary bytes to the SIP parser. Whatever parses must serialize
//! to bytes that parse again, identically, and every typed accessor must
//! return rather than panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_voice::sip::{
    DigestCredentials, MAX_MESSAGE_SIZE, Message, NameAddr, SipMessage, Via, parse_stream,
};

fn exercise<M: SipMessage>(m: &M) {
    let _ = (
        m.top_via(),
        m.vias(),
        m.call_id(),
        m.cseq(),
        m.contacts(),
        m.expires(),
        m.max_forwards(),
    );
    let _ = (m.record_routes(), m.routes());
    for name in ["Authorization", "WWW-Authenticate", "Proxy-Authorization"] {
        if let Some(v) = m.headers().get(name) {
            let _ = DigestCredentials::parse(v);
        }
    }
    // Typed values we re-serialize (Via on receipt, name-addrs in
    // responses) must survive their own round trip.
    for v in m.headers().get_all("Via") {
        if let Ok(via) = Via::parse(v) {
            assert_eq!(
                Via::parse(&via.to_string()).as_ref(),
                Ok(&via),
                "Via round trip: {v:?}"
            );
        }
    }
    for name in ["From", "To", "Contact", "Route", "Record-Route"] {
        for v in m.headers().get_all(name) {
            if let Ok(addr) = NameAddr::parse(v) {
                assert_eq!(
                    NameAddr::parse(&addr.to_string()).as_ref(),
                    Ok(&addr),
                    "{name} round trip: {v:?}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_stream(data);
    let Ok(message) = Message::parse(data) else {
        return;
    };
    match &message {
        Message::Request(r) => exercise(r),
        Message::Response(r) => exercise(r),
    }
    let bytes = message.to_bytes();
    // Expanding compact names can push a maximal datagram past the limit.
    if bytes.len() > MAX_MESSAGE_SIZE {
        return;
    }
    let again = Message::parse(&bytes).expect("serialized message must parse");
    assert_eq!(again.to_bytes(), bytes, "serialization must be stable");
    let (framed, used) = parse_stream(&bytes)
        .expect("stream parse")
        .expect("complete");
    assert_eq!(used, bytes.len());
    assert_eq!(framed, again);
});
