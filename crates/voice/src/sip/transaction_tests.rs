#![allow(clippy::unwrap_used)]

use super::*;
use crate::sip::uri::Uri;

fn peer(transport: Transport) -> Peer {
    Peer {
        addr: "192.0.2.10:5060".parse().unwrap(),
        transport,
    }
}

fn request(method: Method, branch: &str) -> Request {
    let mut r = Request::new(method.clone(), Uri::sip(Some("bob"), "biloxi.com", None));
    r.headers.push(
        "Via",
        format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    );
    r.headers
        .push("From", "<sip:alice@atlanta.com>;tag=1928301774");
    r.headers.push("To", "<sip:bob@biloxi.com>");
    r.headers.push("Call-ID", "a84b4c76e66710");
    r.headers.push("CSeq", format!("1 {method}"));
    r
}

fn drain(layer: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| layer.poll_output()).collect()
}

fn sends(outputs: &[Output]) -> Vec<&Message> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Send { message, .. } = o {
                Some(message)
            } else {
                None
            }
        })
        .collect()
}

/// Runs the timers to completion; returns (ms offset, output) pairs.
fn run_timers(layer: &mut TransactionLayer, t0: Instant) -> Vec<(u128, Output)> {
    let mut log = Vec::new();
    while let Some(at) = layer.next_wakeup() {
        layer.on_timer(at);
        for o in drain(layer) {
            log.push(((at - t0).as_millis(), o));
        }
    }
    log
}

fn send_times(log: &[(u128, Output)]) -> Vec<u128> {
    log.iter()
        .filter(|(_, o)| matches!(o, Output::Send { .. }))
        .map(|(t, _)| *t)
        .collect()
}

fn response(req: &Request, status: u16) -> Response {
    Response::for_request(req, status, "X", Some("to-tag"))
}

#[test]
fn invite_client_udp_retransmits_on_timer_a_until_timer_b() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let key = layer
        .send_request(
            request(Method::Invite, "z9hG4bK1"),
            peer(Transport::Udp),
            t0,
        )
        .unwrap();
    assert_eq!(sends(&drain(&mut layer)).len(), 1);
    let log = run_timers(&mut layer, t0);
    assert_eq!(send_times(&log), [500, 1500, 3500, 7500, 15500, 31500]);
    let tail: Vec<_> = log.iter().rev().take(2).collect();
    assert_eq!(tail[1], &(32000, Output::Timeout { key: key.clone() }));
    assert_eq!(tail[0], &(32000, Output::Terminated { key }));
    assert!(layer.is_empty());
}

#[test]
fn non_invite_client_udp_caps_timer_e_at_t2() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    layer
        .send_request(
            request(Method::Options, "z9hG4bK2"),
            peer(Transport::Udp),
            t0,
        )
        .unwrap();
    drain(&mut layer);
    let log = run_timers(&mut layer, t0);
    assert_eq!(
        send_times(&log),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(matches!(
        log.last(),
        Some((32000, Output::Terminated { .. }))
    ));
}

#[test]
fn non_invite_client_proceeding_retransmits_every_t2_then_k() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let req = request(Method::Register, "z9hG4bK3");
    let key = layer
        .send_request(req.clone(), peer(Transport::Udp), t0)
        .unwrap();
    drain(&mut layer);
    layer.on_message(
        Message::Response(response(&req, 100)),
        peer(Transport::Udp),
        t0 + Duration::from_millis(100),
    );
    assert_eq!(layer.state(&key), Some(State::Proceeding));
    layer.on_timer(t0 + Duration::from_millis(500));
    layer.on_timer(t0 + Duration::from_millis(4500));
    assert_eq!(sends(&drain(&mut layer)).len(), 2);
    assert_eq!(layer.next_wakeup(), Some(t0 + Duration::from_millis(8500)));
    let done = t0 + Duration::from_secs(5);
    layer.on_message(
        Message::Response(response(&req, 200)),
        peer(Transport::Udp),
        done,
    );
    assert!(
        matches!(drain(&mut layer).as_slice(), [Output::Response { response, .. }] if response.status == 200)
    );
    // Timer K = T4 absorbs response retransmissions, then the transaction ends.
    layer.on_message(
        Message::Response(response(&req, 200)),
        peer(Transport::Udp),
        done,
    );
    assert!(drain(&mut layer).is_empty());
    assert_eq!(layer.next_wakeup(), Some(done + Duration::from_secs(5)));
    layer.on_timer(done + Duration::from_secs(5));
    assert_eq!(drain(&mut layer), [Output::Terminated { key }]);
}

#[test]
fn reliable_transport_has_no_retransmissions() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK4");
    let key = layer
        .send_request(req.clone(), peer(Transport::Tcp), t0)
        .unwrap();
    drain(&mut layer);
    assert_eq!(
        layer.next_wakeup(),
        Some(t0 + Duration::from_secs(32)),
        "only Timer B"
    );
    // A 486 is ACKed and, with Timer D = 0, the transaction ends at once.
    layer.on_message(
        Message::Response(response(&req, 486)),
        peer(Transport::Tcp),
        t0,
    );
    let out = drain(&mut layer);
    assert!(
        matches!(&out[0], Output::Send { message: Message::Request(ack), .. } if ack.method == Method::Ack)
    );
    assert!(matches!(&out[1], Output::Response { .. }));
    assert_eq!(out[2], Output::Terminated { key });
    let log = run_timers(&mut layer, t0);
    assert!(log.is_empty());

    let mut server = TransactionLayer::new(TimerConfig::default());
    let invite = request(Method::Invite, "z9hG4bK5");
    server.on_message(Message::Request(invite.clone()), peer(Transport::Tcp), t0);
    drain(&mut server);
    let key = TransactionKey::for_request(&invite).unwrap();
    server
        .send_response(&key, response(&invite, 603), t0)
        .unwrap();
    drain(&mut server);
    assert_eq!(
        server.next_wakeup(),
        Some(t0 + Duration::from_secs(32)),
        "Timer H only, no Timer G"
    );
}

#[test]
fn invite_client_non_2xx_is_acked_and_retransmissions_absorbed() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let mut req = request(Method::Invite, "z9hG4bK6");
    req.headers.push("Route", "<sip:proxy.example.com;lr>");
    let key = layer
        .send_request(req.clone(), peer(Transport::Udp), t0)
        .unwrap();
    drain(&mut layer);
    layer.on_message(
        Message::Response(response(&req, 180)),
        peer(Transport::Udp),
        t0,
    );
    assert!(
        matches!(drain(&mut layer).as_slice(), [Output::Response { response, .. }] if response.status == 180)
    );
    assert_eq!(layer.next_wakeup(), None, "Proceeding stops Timers A and B");
    let busy = response(&req, 486);
    layer.on_message(
        Message::Response(busy.clone()),
        peer(Transport::Udp),
        t0 + Duration::from_secs(1),
    );
    let out = drain(&mut layer);
    let Output::Send {
        message: Message::Request(ack),
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(ack.headers.get("Via"), req.headers.get("Via"));
    assert_eq!(ack.to().unwrap().tag(), Some("to-tag"));
    assert_eq!(ack.headers.get("Route"), Some("<sip:proxy.example.com;lr>"));
    layer.on_message(
        Message::Response(busy),
        peer(Transport::Udp),
        t0 + Duration::from_secs(2),
    );
    let out = drain(&mut layer);
    assert_eq!(
        sends(&out).len(),
        1,
        "ACK re-sent, response not re-delivered"
    );
    assert_eq!(out.len(), 1);
    layer.on_timer(t0 + Duration::from_secs(33));
    assert_eq!(drain(&mut layer), [Output::Terminated { key }]);
}

#[test]
fn invite_client_2xx_goes_to_tu_including_retransmissions() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK7");
    layer
        .send_request(req.clone(), peer(Transport::Udp), t0)
        .unwrap();
    drain(&mut layer);
    for _ in 0..2 {
        layer.on_message(
            Message::Response(response(&req, 200)),
            peer(Transport::Udp),
            t0,
        );
        assert!(matches!(
            drain(&mut layer).as_slice(),
            [Output::Response { key: Some(_), .. }]
        ));
    }
    layer.on_timer(t0 + Duration::from_secs(32));
    assert!(matches!(
        drain(&mut layer).as_slice(),
        [Output::Terminated { .. }]
    ));
    // After Timer M a stray 2xx still reaches the TU, without a key.
    layer.on_message(
        Message::Response(response(&req, 200)),
        peer(Transport::Udp),
        t0 + Duration::from_secs(40),
    );
    assert!(matches!(
        drain(&mut layer).as_slice(),
        [Output::Response { key: None, .. }]
    ));
    layer.on_message(
        Message::Response(response(&req, 404)),
        peer(Transport::Udp),
        t0 + Duration::from_secs(40),
    );
    assert!(drain(&mut layer).is_empty(), "stray non-2xx is dropped");
}

#[test]
fn non_invite_server_absorbs_and_answers_retransmissions() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bK8");
    layer.on_message(Message::Request(req.clone()), peer(Transport::Udp), t0);
    let out = drain(&mut layer);
    let [Output::Request { key: Some(key), .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let key = key.clone();
    layer.on_message(Message::Request(req.clone()), peer(Transport::Udp), t0);
    assert!(
        drain(&mut layer).is_empty(),
        "retransmission in Trying is absorbed"
    );
    layer.send_response(&key, response(&req, 200), t0).unwrap();
    assert_eq!(sends(&drain(&mut layer)).len(), 1);
    layer.on_message(
        Message::Request(req.clone()),
        peer(Transport::Udp),
        t0 + Duration::from_secs(1),
    );
    let out = drain(&mut layer);
    assert!(matches!(sends(&out).as_slice(), [Message::Response(r)] if r.status == 200));
    assert_eq!(
        layer.send_response(&key, response(&req, 500), t0),
        Err(TransactionError::AlreadyFinal)
    );
    assert_eq!(
        layer.next_wakeup(),
        Some(t0 + Duration::from_secs(32)),
        "Timer J = 64*T1"
    );
    layer.on_timer(t0 + Duration::from_secs(32));
    assert_eq!(drain(&mut layer), [Output::Terminated { key }]);
}

#[test]
fn invite_server_retransmits_final_on_timer_g_until_ack() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK9");
    layer.on_message(Message::Request(invite.clone()), peer(Transport::Udp), t0);
    let out = drain(&mut layer);
    assert!(
        matches!(&out[0], Output::Send { message: Message::Response(r), .. } if r.status == 100)
    );
    let Output::Request { key: Some(key), .. } = &out[1] else {
        panic!("{out:?}")
    };
    let key = key.clone();
    layer.on_message(Message::Request(invite.clone()), peer(Transport::Udp), t0);
    assert!(
        matches!(sends(&drain(&mut layer)).as_slice(), [Message::Response(r)] if r.status == 100)
    );

    layer
        .send_response(&key, response(&invite, 486), t0)
        .unwrap();
    drain(&mut layer);
    let mut times = Vec::new();
    for _ in 0..5 {
        let at = layer.next_wakeup().unwrap();
        layer.on_timer(at);
        assert_eq!(sends(&drain(&mut layer)).len(), 1);
        times.push((at - t0).as_millis());
    }
    assert_eq!(times, [500, 1500, 3500, 7500, 11500]);

    let mut ack = request(Method::Ack, "z9hG4bK9");
    ack.headers.set("To", "<sip:bob@biloxi.com>;tag=to-tag");
    let ack_at = t0 + Duration::from_secs(12);
    layer.on_message(Message::Request(ack.clone()), peer(Transport::Udp), ack_at);
    assert!(
        drain(&mut layer).is_empty(),
        "the ACK for a non-2xx is not passed to the TU"
    );
    assert_eq!(layer.state(&key), Some(State::Confirmed));
    layer.on_message(Message::Request(ack), peer(Transport::Udp), ack_at);
    assert!(
        drain(&mut layer).is_empty(),
        "retransmitted ACKs are absorbed in Confirmed"
    );
    assert_eq!(
        layer.next_wakeup(),
        Some(ack_at + Duration::from_secs(5)),
        "Timer I = T4"
    );
    layer.on_timer(ack_at + Duration::from_secs(5));
    assert_eq!(drain(&mut layer), [Output::Terminated { key }]);
}

#[test]
fn invite_server_times_out_on_timer_h_without_ack() {
    let mut layer = TransactionLayer::new(TimerConfig {
        auto_100_trying: false,
        ..TimerConfig::default()
    });
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK10");
    layer.on_message(Message::Request(invite.clone()), peer(Transport::Udp), t0);
    assert!(
        matches!(drain(&mut layer).as_slice(), [Output::Request { .. }]),
        "no automatic 100"
    );
    let key = TransactionKey::for_request(&invite).unwrap();
    layer
        .send_response(&key, response(&invite, 404), t0)
        .unwrap();
    assert_eq!(sends(&drain(&mut layer)).len(), 1);
    let log = run_timers(&mut layer, t0);
    assert_eq!(
        send_times(&log),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        log[log.len() - 2],
        (32000, Output::Timeout { key: key.clone() })
    );
    assert_eq!(log[log.len() - 1], (32000, Output::Terminated { key }));
}

#[test]
fn invite_server_2xx_retransmits_until_ack_of_new_transaction() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK11");
    layer.on_message(Message::Request(invite.clone()), peer(Transport::Udp), t0);
    drain(&mut layer);
    let key = TransactionKey::for_request(&invite).unwrap();
    layer
        .send_response(&key, response(&invite, 200), t0)
        .unwrap();
    drain(&mut layer);
    layer.on_timer(t0 + Duration::from_millis(500));
    assert_eq!(sends(&drain(&mut layer)).len(), 1);
    // The ACK for a 2xx has its own branch (§17.1.1.3): it reaches the TU.
    let ack = request(Method::Ack, "z9hG4bKack");
    layer.on_message(
        Message::Request(ack),
        peer(Transport::Udp),
        t0 + Duration::from_secs(1),
    );
    assert!(matches!(
        drain(&mut layer).as_slice(),
        [Output::Request { key: None, .. }]
    ));
    assert_eq!(
        layer.next_wakeup(),
        Some(t0 + Duration::from_secs(32)),
        "no more 2xx retransmissions, Timer L remains"
    );
    layer.on_message(
        Message::Request(invite),
        peer(Transport::Udp),
        t0 + Duration::from_secs(2),
    );
    assert!(
        drain(&mut layer).is_empty(),
        "INVITE retransmission absorbed in Accepted"
    );
    layer.on_timer(t0 + Duration::from_secs(32));
    assert_eq!(drain(&mut layer), [Output::Terminated { key }]);
}

#[test]
fn cancel_is_its_own_transaction_and_finds_the_invite() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK12");
    let mut cancel = request(Method::Cancel, "z9hG4bK12");
    cancel.headers.set("CSeq", "1 CANCEL");
    layer.on_message(Message::Request(invite), peer(Transport::Udp), t0);
    layer.on_message(Message::Request(cancel), peer(Transport::Udp), t0);
    let out = drain(&mut layer);
    let keys: Vec<_> = out
        .iter()
        .filter_map(|o| {
            if let Output::Request { key, .. } = o {
                key.clone()
            } else {
                None
            }
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].method, Method::Cancel);
    assert_eq!(
        layer.state(&keys[1].cancelled_invite()),
        Some(State::Proceeding)
    );
}

#[test]
fn received_and_rport_are_stamped_and_used_for_responses() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut req = request(Method::Register, "z9hG4bK13");
    req.headers
        .set("Via", "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK13");
    let nat = Peer {
        addr: "203.0.113.9:40123".parse().unwrap(),
        transport: Transport::Udp,
    };
    layer.on_message(Message::Request(req), nat, Instant::now());
    let out = drain(&mut layer);
    let [Output::Request { request, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let via = request.top_via().unwrap();
    assert_eq!(via.received(), Some("203.0.113.9"));
    assert_eq!(via.rport(), Some(Some(40123)));
    assert_eq!(response_destination(request, nat), nat);
    let mut plain = request.clone();
    plain.headers.set(
        "Via",
        "SIP/2.0/UDP 10.0.0.5:5070;received=203.0.113.9;branch=z9hG4bK13",
    );
    assert_eq!(
        response_destination(&plain, nat).addr,
        "203.0.113.9:5070".parse().unwrap()
    );
}

#[test]
fn send_request_rejects_missing_branch_and_duplicates() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    assert_eq!(
        layer.send_request(
            request(Method::Options, "old-style"),
            peer(Transport::Udp),
            now
        ),
        Err(TransactionError::MissingBranch)
    );
    layer
        .send_request(
            request(Method::Options, "z9hG4bK14"),
            peer(Transport::Udp),
            now,
        )
        .unwrap();
    assert_eq!(
        layer.send_request(
            request(Method::Options, "z9hG4bK14"),
            peer(Transport::Udp),
            now
        ),
        Err(TransactionError::Duplicate)
    );
    assert_eq!(
        layer.send_request(request(Method::Ack, "z9hG4bK15"), peer(Transport::Udp), now),
        Err(TransactionError::AckHasNoTransaction)
    );
}
