//! The outbox's exactly-once bookkeeping: a claim whose outcome is never
//! stored leaves the row in doubt; a provider naming the send by its key
//! settles it once; a send made again after a doubt is marked for agents.

use super::*;

store_suite!(a_send_named_by_its_key_is_settled_once, a_crashed_claim_is_in_doubt_and_a_resend_is_marked);

async fn whatsapp_reply(store: &Store, name: &str) -> (World, InboxId, i64, MessageId) {
    let w = world(store, name).await;
    let new = NewInbox { name: "WA".into(), channel: Channel::Whatsapp, config: Default::default(), website_token: None };
    let wa = store.create_inbox(w.ws, new, T0).await.expect("inbox").id;
    let who = ProviderIdentity { external_id: "15551230000".into(), name: Some("Ann".into()), phone: Some("+15551230000".into()) };
    let contact = store.contact_for_identity(w.ws, wa, who, at(1)).await.unwrap();
    let inbound = InboundMessage { inbox_id: wa, contact_id: contact.id, content: "hi".into(), echo_id: None, dedup_key: Some("wa:1".into()), attachment_ids: Vec::new() };
    let conv = store.receive_message(w.ws, inbound, at(1)).await.unwrap().conversation.id;
    let reply = OutboundMessage {
        kind: MessageKind::Out,
        content: "hello".into(),
        sender: Sender { kind: SenderType::User, id: Some(w.agent.0), name: None },
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    };
    let message = store.send_message(w.ws, conv, reply, at(2)).await.unwrap().value;
    let due = store.due_outbox(at(3), 50).await.unwrap();
    let row = due.iter().find(|d| d.message_id == message.id).expect("queued");
    assert_eq!((row.attempt_started_at, row.in_doubt_at), (None, None), "a fresh row is not in doubt");
    (w, wa, row.id, message.id)
}

async fn a_send_named_by_its_key_is_settled_once(store: Store) {
    let (w, wa, row, message) = whatsapp_reply(&store, "key").await;
    assert!(store.outbox_claim(w.ws, row, at(33), at(3)).await.unwrap());
    // Another inbox, or another workspace, naming the message: nothing.
    let other = world(&store, "key2").await;
    let new = NewInbox { name: "WA".into(), channel: Channel::Whatsapp, config: Default::default(), website_token: None };
    let other_wa = store.create_inbox(other.ws, new, T0).await.unwrap().id;
    assert!(store.outbox_sent_by_key(other.ws, other_wa, message, "wamid.X", at(4)).await.unwrap().value.is_none());
    assert!(store.outbox_sent_by_key(w.ws, w.inbox, message, "wamid.X", at(4)).await.unwrap().value.is_none());
    // The status webhook names it while the send is in flight.
    let settled = store.outbox_sent_by_key(w.ws, wa, message, "wamid.A", at(4)).await.unwrap();
    let m = settled.value.expect("settled");
    assert_eq!((m.id, m.status, m.failure_reason.as_deref()), (message, DeliveryStatus::Sent, None));
    assert!(!settled.events.is_empty(), "agents hear it was sent");
    // The status itself now finds the message by its wamid.
    let read = store.apply_provider_status(w.ws, wa, "wamid.A", DeliveryStatus::Read, None, at(5)).await.unwrap();
    assert_eq!(read.value.map(|m| m.status), Some(DeliveryStatus::Read));
    // Redelivered status: no-op; the worker's own answer arrives late: a
    // conflict, nothing recorded twice; nothing is due again.
    assert!(store.outbox_sent_by_key(w.ws, wa, message, "wamid.A", at(6)).await.unwrap().value.is_none());
    match store.outbox_sent(w.ws, row, "wamid.A", at(6)).await {
        Err(StoreError::Conflict { code, .. }) => assert_eq!(code, "outbox_settled"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(store.due_outbox(at(1_000), 50).await.unwrap().is_empty());
}

async fn a_crashed_claim_is_in_doubt_and_a_resend_is_marked(store: Store) {
    let (w, _wa, row, message) = whatsapp_reply(&store, "doubt").await;
    // Claimed with a 30 s lease, then the process dies: nothing is due
    // until the lease runs out, and then the row says a claim never ended.
    assert!(store.outbox_claim(w.ws, row, at(33), at(3)).await.unwrap());
    assert!(store.due_outbox(at(32), 50).await.unwrap().is_empty());
    let due = store.due_outbox(at(33), 50).await.unwrap();
    assert_eq!(due[0].attempt_started_at, Some(at(3)));
    // The next claim records the doubt; a hold keeps it and frees the claim.
    assert!(store.outbox_claim(w.ws, row, at(70), at(40)).await.unwrap());
    store.outbox_in_doubt(w.ws, row, at(100), "waiting", at(40)).await.unwrap();
    assert!(store.due_outbox(at(99), 50).await.unwrap().is_empty());
    let due = store.due_outbox(at(100), 50).await.unwrap();
    assert_eq!((due[0].attempt_started_at, due[0].in_doubt_at, due[0].attempts), (None, Some(at(40)), 1));
    // No status came: sent again, and the agent sees it may be a repeat.
    assert!(store.outbox_claim(w.ws, row, at(130), at(100)).await.unwrap());
    let sent = store.outbox_sent(w.ws, row, "wamid.B", at(101)).await.unwrap().value;
    assert_eq!((sent.id, sent.status), (message, DeliveryStatus::Sent));
    assert!(sent.failure_reason.as_deref().is_some_and(|r| r.contains("sent twice")), "{:?}", sent.failure_reason);
    assert!(store.due_outbox(at(1_000), 50).await.unwrap().is_empty());
}
