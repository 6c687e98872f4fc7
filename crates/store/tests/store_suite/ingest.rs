//! The inbound-message write, branch by branch, on both backends. On SQLite
//! a file-less new message takes a synchronous copy of `ops::receive_message`
//! (`sqlite_ingest.rs`); these cases check that what it answers (message,
//! conversation snapshot, events) is what the reads return afterwards, and
//! that redeliveries, failures and batching behave as on the general path.

use super::*;
use switchboard_core::events::EventPayload;

store_suite!(
    inbound_answer_equals_what_is_stored,
    customer_message_wakes_a_snoozed_conversation,
    concurrent_redeliveries_in_one_batch_store_one_message,
    unknown_inbox_or_contact_fails_alone_and_writes_nothing,
    redelivery_of_a_message_with_files_answers_the_stored_message,
    concurrent_first_messages_of_one_contact_open_one_conversation,
    webhook_point_reads_stay_in_their_inbox_channel_and_workspace,
);

fn msg(w: &World, contact: ContactId, text: &str, key: Option<&str>) -> InboundMessage {
    InboundMessage {
        inbox_id: w.inbox,
        contact_id: contact,
        content: text.into(),
        echo_id: None,
        dedup_key: key.map(Into::into),
        attachment_ids: Vec::new(),
    }
}

/// The answer of a write equals the rows read back after it.
async fn assert_stored(store: &Store, w: &World, r: &Received) {
    let conv = store
        .get_conversation(w.ws, r.conversation.id)
        .await
        .unwrap()
        .expect("conversation");
    assert_eq!(conv, r.conversation, "conversation snapshot");
    assert_eq!(conv.last_message.as_ref(), Some(&r.message), "last message");
    let page = store.list_messages(w.ws, r.conversation.id, Page::first(50)).await.unwrap();
    assert_eq!(page.items.iter().find(|m| m.id == r.message.id), Some(&r.message), "stored message");
    for e in &r.events {
        assert_eq!(e.workspace_id, w.ws);
    }
}

async fn inbound_answer_equals_what_is_stored(store: Store) {
    let w = world(&store, "ingest").await;
    let c = store
        .create_contact(
            w.ws,
            ContactFields {
                name: Some(Some("Ann".into())),
                phone: Some(Some("+15550001".into())),
                custom_fields: Some([("plan".to_owned(), serde_json::json!("gold"))].into_iter().collect()),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    let before = store.count_events(w.ws).await.unwrap();

    // A contact's first message: a new conversation, waiting since now.
    let first = store
        .receive_message(w.ws, msg(&w, c.id, "hello", Some("wa:1")), at(1))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.conversation.contact, c);
    assert_eq!(first.conversation.status, ConversationStatus::Open);
    assert_eq!(first.conversation.waiting_since, Some(at(1)));
    assert_eq!(first.conversation.channel, Channel::Webchat);
    assert_eq!(first.message.content, "hello");
    assert_eq!(first.message.kind, MessageKind::In);
    assert_eq!(first.message.status, DeliveryStatus::Delivered);
    assert_eq!(
        first.message.sender,
        Sender {
            kind: SenderType::Contact,
            id: Some(c.id.0),
            name: Some("Ann".into())
        }
    );
    assert!(matches!(&first.events[..], [
        events::Event { payload: EventPayload::ConversationCreated(conv), .. },
        events::Event { payload: EventPayload::MessageCreated(m), .. },
    ] if **conv == first.conversation && *m == first.message));
    assert_eq!(store.count_events(w.ws).await.unwrap(), before + 2);
    assert_stored(&store, &w, &first).await;

    // A known conversation, tagged and assigned: continued, tags kept,
    // waiting_since unchanged, an update event.
    store
        .tag_conversation(w.ws, first.conversation.id, "vip", true, at(2))
        .await
        .unwrap();
    store
        .update_conversation(
            w.ws,
            first.conversation.id,
            ConversationPatch {
                assignee: Some(Some(w.agent)),
                ..Default::default()
            },
            None,
            at(2),
        )
        .await
        .unwrap();
    let before = store.count_events(w.ws).await.unwrap();
    let second = store.receive_message(w.ws, msg(&w, c.id, "again", None), at(3)).await.unwrap();
    assert!(second.created);
    assert_eq!(second.conversation.id, first.conversation.id);
    assert_eq!(second.conversation.tags, ["vip"]);
    assert_eq!(second.conversation.assignee_id, Some(w.agent));
    assert_eq!(second.conversation.waiting_since, Some(at(1)));
    assert_eq!(second.conversation.last_activity_at, at(3));
    assert!(matches!(&second.events[..], [
        events::Event { payload: EventPayload::ConversationUpdated(conv), .. },
        events::Event { payload: EventPayload::MessageCreated(_), .. },
    ] if **conv == second.conversation));
    assert_eq!(store.count_events(w.ws).await.unwrap(), before + 2);
    assert_stored(&store, &w, &second).await;

    // Redelivery: the stored message, no write, no events.
    let again = store
        .receive_message(w.ws, msg(&w, c.id, "hello", Some("wa:1")), at(4))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.message, first.message);
    assert!(again.events.is_empty());
    assert_eq!(
        again.conversation,
        store.get_conversation(w.ws, first.conversation.id).await.unwrap().unwrap()
    );
    assert_eq!(store.count_events(w.ws).await.unwrap(), before + 2);

    // Resolved: the next message opens a new conversation.
    store
        .update_conversation(
            w.ws,
            first.conversation.id,
            ConversationPatch {
                status: Some(ConversationStatus::Resolved),
                ..Default::default()
            },
            None,
            at(5),
        )
        .await
        .unwrap();
    let third = store
        .receive_message(w.ws, msg(&w, c.id, "new issue", Some("wa:2")), at(6))
        .await
        .unwrap();
    assert_ne!(third.conversation.id, first.conversation.id);
    assert!(third.conversation.tags.is_empty());
    assert_eq!(third.conversation.assignee_id, None);
    assert!(matches!(third.events[0].payload, EventPayload::ConversationCreated(_)));
    assert_stored(&store, &w, &third).await;
}

async fn customer_message_wakes_a_snoozed_conversation(store: Store) {
    let w = world(&store, "snooze").await;
    let c = contact(&store, w.ws, "Ann").await;
    let first = inbound(&store, &w, c, "hi", None, at(1)).await;
    let snoozed = store
        .update_conversation(
            w.ws,
            first.conversation.id,
            ConversationPatch {
                status: Some(ConversationStatus::Snoozed),
                snoozed_until: Some(Some(at(3600))),
                ..Default::default()
            },
            None,
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(snoozed.value.status, ConversationStatus::Snoozed);
    let before = store.count_events(w.ws).await.unwrap();
    let woke = inbound(&store, &w, c, "still there?", None, at(3)).await;
    assert_eq!(woke.conversation.id, first.conversation.id);
    assert_eq!(woke.conversation.status, ConversationStatus::Open);
    assert_eq!(woke.conversation.snoozed_until, None);
    assert!(matches!(&woke.events[..], [
        events::Event { payload: EventPayload::ConversationUpdated(_), .. },
        events::Event { payload: EventPayload::MessageCreated(_), .. },
        events::Event { payload: EventPayload::StatusChanged(change), .. },
    ] if change.from == ConversationStatus::Snoozed && change.to == ConversationStatus::Open
        && change.conversation_id == first.conversation.id));
    assert_eq!(store.count_events(w.ws).await.unwrap(), before + 3);
    assert_stored(&store, &w, &woke).await;
}

async fn concurrent_redeliveries_in_one_batch_store_one_message(store: Store) {
    let w = world(&store, "burst").await;
    let c = contact(&store, w.ws, "Ann").await;
    // The conversation exists first (opening it is the next case's).
    let opened = inbound(&store, &w, c, "first", None, at(0)).await;
    let store = Arc::new(store);
    // 30 distinct messages and 10 copies each of two more, all at once: on
    // SQLite they share batches, and a copy may follow its original inside
    // the same uncommitted transaction.
    let mut handles = Vec::new();
    for i in 0..50 {
        let s = store.clone();
        let key = match i {
            0..30 => format!("m:{i}"),
            30..40 => "dup:a".to_owned(),
            _ => "dup:b".to_owned(),
        };
        let m = msg(&w, c, &key, Some(&key));
        let ws = w.ws;
        handles.push(tokio::spawn(async move { s.receive_message(ws, m, at(1)).await }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap().expect("receive"));
    }
    assert_eq!(results.iter().filter(|r| r.created).count(), 32);
    for key in ["dup:a", "dup:b"] {
        let copies: Vec<_> = results.iter().filter(|r| r.message.content == key).collect();
        assert_eq!(copies.len(), 10);
        assert_eq!(copies.iter().filter(|r| r.created).count(), 1, "{key} stored once");
        assert!(copies.iter().all(|r| r.message.id == copies[0].message.id));
        assert!(copies.iter().filter(|r| !r.created).all(|r| r.events.is_empty()));
    }
    let conv = opened.conversation.id;
    assert!(
        results.iter().all(|r| r.conversation.id == conv),
        "the open conversation is continued"
    );
    let page = store.list_messages(w.ws, conv, Page::first(100)).await.unwrap();
    assert_eq!(page.items.len(), 33);
    let created = results
        .iter()
        .flat_map(|r| &r.events)
        .filter(|e| matches!(e.payload, EventPayload::ConversationCreated(_)))
        .count();
    assert_eq!(created, 0);
}

async fn unknown_inbox_or_contact_fails_alone_and_writes_nothing(store: Store) {
    let w = world(&store, "bad").await;
    let other = world(&store, "other").await;
    let c = contact(&store, w.ws, "Ann").await;
    let theirs = contact(&store, other.ws, "Bob").await;
    let opened = inbound(&store, &w, c, "first", None, at(0)).await;
    let before = store.count_events(w.ws).await.unwrap();
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for i in 0..30 {
        let s = store.clone();
        let m = match i % 3 {
            0 => msg(&w, c, &format!("ok {i}"), Some(&format!("k:{i}"))),
            // Another workspace's contact, then another workspace's inbox.
            1 => msg(&w, theirs, "nope", Some(&format!("k:{i}"))),
            _ => InboundMessage {
                inbox_id: other.inbox,
                ..msg(&w, c, "nope", Some(&format!("k:{i}")))
            },
        };
        let ws = w.ws;
        handles.push(tokio::spawn(async move { (i, s.receive_message(ws, m, at(1)).await) }));
    }
    for h in handles {
        match h.await.unwrap() {
            (i, Ok(r)) => assert!(i % 3 == 0 && r.created, "message {i}"),
            (i, Err(StoreError::NotFound)) => assert!(i % 3 != 0, "message {i}"),
            (i, Err(e)) => panic!("message {i}: unexpected {e}"),
        }
    }
    assert_eq!(store.count_events(w.ws).await.unwrap(), before + 20);
    let convs = store
        .list_conversations(
            &viewer(&w, w.admin, Role::Admin, vec![]),
            &ConversationFilter::default(),
            Page::first(50),
        )
        .await
        .unwrap();
    assert_eq!(convs.items.len(), 1, "failed messages left no conversation behind");
    assert_eq!(convs.items[0].id, opened.conversation.id);
    let page = store.list_messages(w.ws, opened.conversation.id, Page::first(50)).await.unwrap();
    assert_eq!(page.items.len(), 11);
    // A failed message's key is free: it was rolled back with the message.
    let r = store.receive_message(w.ws, msg(&w, c, "retry", Some("k:1")), at(2)).await.unwrap();
    assert!(r.created);
}

async fn redelivery_of_a_message_with_files_answers_the_stored_message(store: Store) {
    let w = world(&store, "files-in").await;
    let c = contact(&store, w.ws, "Ann").await;
    let upload = NewAttachment {
        owner: UploadOwner::Visitor { contact: c },
        filename: "photo.png".into(),
        content_type: "image/png".into(),
        data: vec![1, 2, 3],
        access_key: "a".repeat(64),
    };
    let a = store.create_attachment(w.ws, upload, at(1)).await.unwrap();
    let with_file = InboundMessage {
        attachment_ids: vec![a.id],
        ..msg(&w, c, "", Some("webchat:1"))
    };
    let first = store.receive_message(w.ws, with_file.clone(), at(2)).await.unwrap();
    assert!(first.created);
    assert_eq!(first.message.attachments.len(), 1);
    assert_eq!(first.conversation.last_message.as_ref().map(|m| m.attachments.len()), Some(1));
    assert_stored(&store, &w, &first).await;

    // Redelivered with and without the file ids: the stored message, files
    // included, and nothing written.
    let before = store.count_events(w.ws).await.unwrap();
    for again in [with_file.clone(), msg(&w, c, "", Some("webchat:1"))] {
        let r = store.receive_message(w.ws, again, at(3)).await.unwrap();
        assert!(!r.created);
        assert_eq!(r.message, first.message);
        assert_eq!(r.conversation.last_message.as_ref().map(|m| m.attachments.len()), Some(1));
    }
    assert_eq!(store.count_events(w.ws).await.unwrap(), before);

    // A file-less message after it becomes the conversation's last.
    let next = store
        .receive_message(w.ws, msg(&w, c, "and text", Some("webchat:2")), at(4))
        .await
        .unwrap();
    assert!(next.created);
    assert_eq!(next.conversation.id, first.conversation.id);
    assert!(next.message.attachments.is_empty());
    assert_stored(&store, &w, &next).await;
}

/// A customer who sends several messages at once (a photo album, a burst of
/// lines) gets one conversation, not one per message: on PostgreSQL each
/// write would otherwise find no open conversation and open its own.
async fn concurrent_first_messages_of_one_contact_open_one_conversation(store: Store) {
    let w = world(&store, "first-burst").await;
    let c = contact(&store, w.ws, "Ann").await;
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for i in 0..10 {
        let s = store.clone();
        let m = msg(&w, c, &format!("line {i}"), Some(&format!("burst:{i}")));
        let ws = w.ws;
        handles.push(tokio::spawn(async move { s.receive_message(ws, m, at(1)).await }));
    }
    let mut conversations = std::collections::BTreeSet::new();
    for h in handles {
        conversations.insert(h.await.unwrap().expect("receive").conversation.id);
    }
    assert_eq!(conversations.len(), 1, "one conversation for the burst: {conversations:?}");
    let conv = *conversations.iter().next().unwrap();
    assert_eq!(store.list_messages(w.ws, conv, Page::first(20)).await.unwrap().items.len(), 10);
}

/// The reads a webhook makes before its write (SQLite answers them
/// synchronously, `sqlite_reads.rs`): each finds exactly its own row and
/// nothing across a channel or a workspace, and sees writes at once.
async fn webhook_point_reads_stay_in_their_inbox_channel_and_workspace(store: Store) {
    let w = world(&store, "reads").await;
    let other = world(&store, "reads2").await;
    let mut config = serde_json::Map::new();
    config.insert("app_secret".into(), "s3cret".into());
    let wa = store.create_inbox(w.ws, NewInbox { name: "WA".into(), channel: Channel::Whatsapp, config, website_token: None }, T0).await.expect("inbox");

    // The inbox by id and channel, as the sqlx read returns it.
    let found = store.webhook_inbox(Channel::Whatsapp, wa.id).await.expect("read").expect("found");
    assert_eq!(found, wa);
    assert_eq!(store.get_inbox(w.ws, wa.id).await.expect("read"), Some(wa.clone()));
    assert_eq!(store.webhook_inbox(Channel::Telegram, wa.id).await.expect("read"), None, "another channel's path");
    assert_eq!(store.webhook_inbox(Channel::Whatsapp, InboxId(wa.id.0 + 1000)).await.expect("read"), None);
    assert_eq!(store.get_inbox(other.ws, wa.id).await.expect("read"), None, "another workspace");
    // A changed secret is read at once.
    let mut patch = serde_json::Map::new();
    patch.insert("app_secret".into(), "rotated".into());
    store.update_inbox(w.ws, wa.id, InboxPatch { name: None, config: Some(patch) }).await.expect("update");
    let found = store.webhook_inbox(Channel::Whatsapp, wa.id).await.expect("read").expect("found");
    assert_eq!(found.config_str("app_secret"), Some("rotated"));

    // The sender: unknown, then known by this inbox only.
    let who = ProviderIdentity { external_id: "15550001111".into(), name: Some("Ann".into()), phone: None };
    assert_eq!(store.identity_contact(w.ws, wa.id, &who.external_id).await.expect("read"), None);
    let ann = store.contact_for_identity(w.ws, wa.id, who.clone(), at(1)).await.expect("created");
    assert_eq!(store.identity_contact(w.ws, wa.id, &who.external_id).await.expect("read"), Some(ann.clone()));
    assert_eq!(store.contact_for_identity(w.ws, wa.id, who.clone(), at(2)).await.expect("known"), ann);
    assert_eq!(store.identity_contact(w.ws, w.inbox, &who.external_id).await.expect("read"), None, "another inbox");
    assert_eq!(store.identity_contact(other.ws, wa.id, &who.external_id).await.expect("read"), None, "another workspace");

    // A stored dedup key is seen in its workspace only.
    let m = InboundMessage { inbox_id: wa.id, contact_id: ann.id, content: "hi".into(), echo_id: None, dedup_key: Some("wa:1:wamid.A".into()), attachment_ids: Vec::new() };
    assert!(!store.dedup_key_seen(w.ws, "wa:1:wamid.A").await.expect("read"));
    store.receive_message(w.ws, m, at(3)).await.expect("stored");
    assert!(store.dedup_key_seen(w.ws, "wa:1:wamid.A").await.expect("read"));
    assert!(!store.dedup_key_seen(other.ws, "wa:1:wamid.A").await.expect("read"));
}
