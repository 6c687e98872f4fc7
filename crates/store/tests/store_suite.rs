//! One suite, two backends: every case runs on SQLite and on PostgreSQL
//! (a fresh database per test; see `switchboard_store::testing`).

use std::sync::Arc;
use switchboard_core::access::Viewer;
use switchboard_core::*;
use switchboard_store::testing::{postgres_store, sqlite_store, TestDbGuard};
use switchboard_store::*;

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _guard) = switchboard_store::testing::sqlite_store().await.expect("sqlite store");
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((store, _guard)) = switchboard_store::testing::postgres_store().await.expect("postgres store") else { return };
                    super::$case(store).await;
                }
            )*
        }
    };
}

store_suite!(
    routing_settings_round_trip_and_stay_in_their_workspace,
    open_work_and_previous_assignee_feed_the_router,
    workspaces_users_and_memberships,
    redelivered_message_is_stored_once,
    resolved_conversation_is_not_reused,
    twenty_concurrent_claims_have_one_winner,
    other_workspaces_ids_are_not_found,
    conversation_list_pages_without_gaps_or_repeats,
    agents_see_only_their_pool_teams_and_assignments,
    refused_write_changes_nothing,
    contact_search_ignores_case_in_any_script,
    message_history_pages_backwards,
    replying_claims_and_stops_the_wait,
    inbox_secrets_survive_partial_update,
    concurrent_writes_with_failures_commit_the_rest,
    reviews_business_hours_and_api_tokens,
    channel_filter_matches_the_inbox_channel,
    delivery_receipts_only_move_forward,
    attachments_are_stored_linked_once_and_served_by_key,
    team_hours_override_and_fall_back_per_workspace,
    automation_settings_are_per_workspace_and_paged,
    auto_replies_are_sent_once_and_are_not_agent_replies,
    sla_breaches_are_recorded_and_announced_once,
    idle_conversations_are_resolved_once,
    automation_rules_crud_in_order,
    automation_rules_are_workspace_scoped,
    automation_runs_are_logged_newest_first,
    status_and_tag_changes_are_their_own_events,
    echoes_are_stored_once_as_sent_outbound,
);

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn at(secs: i64) -> Timestamp {
    T0.plus_millis(secs * 1000)
}

struct World {
    ws: WorkspaceId,
    admin: UserId,
    agent: UserId,
    inbox: InboxId,
}

async fn world(store: &Store, name: &str) -> World {
    let ws = store.create_workspace(name, "secret", T0).await.expect("workspace").id;
    let admin = store.create_user(&format!("admin@{name}.test"), "Admin", "hash", T0).await.expect("admin").id;
    store.add_member(ws, admin, Role::Admin, T0).await.expect("member");
    let agent = store.create_user(&format!("agent@{name}.test"), "Agent", "hash", T0).await.expect("agent").id;
    store.add_member(ws, agent, Role::Agent, T0).await.expect("member");
    let inbox = store
        .create_inbox(
            ws,
            NewInbox { name: "Site".into(), channel: Channel::Webchat, config: Default::default(), website_token: Some(format!("tok-{name}")) },
            T0,
        )
        .await
        .expect("inbox")
        .id;
    World { ws, admin, agent, inbox }
}

async fn contact(store: &Store, ws: WorkspaceId, name: &str) -> ContactId {
    store
        .create_contact(ws, ContactFields { name: Some(Some(name.into())), ..Default::default() }, T0)
        .await
        .expect("contact")
        .id
}

async fn inbound(store: &Store, w: &World, contact: ContactId, text: &str, key: Option<&str>, now: Timestamp) -> Received {
    store
        .receive_message(
            w.ws,
            InboundMessage { inbox_id: w.inbox, contact_id: contact, content: text.into(), echo_id: None, dedup_key: key.map(Into::into) , attachment_ids: Vec::new()},
            now,
        )
        .await
        .expect("receive")
}

fn viewer(w: &World, user: UserId, role: Role, teams: Vec<TeamId>) -> Viewer {
    Viewer { workspace_id: w.ws, user_id: user, role, team_ids: teams }
}

async fn workspaces_users_and_memberships(store: Store) {
    let w = world(&store, "acme").await;
    assert!(matches!(
        store.create_workspace("acme", "s", T0).await,
        Err(StoreError::Conflict { code: "already_exists", .. })
    ));
    assert!(matches!(
        store.create_user("admin@acme.test", "Again", "h", T0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(store.add_member(w.ws, w.agent, Role::Admin, T0).await, Err(StoreError::Conflict { .. })));
    let members = store.list_members(w.ws).await.unwrap();
    assert_eq!(members.len(), 2);
    let mine = store.user_workspaces(w.admin).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].role, Role::Admin);
    let creds = store.find_credentials("agent@acme.test").await.unwrap().expect("credentials");
    assert_eq!(creds.user.id, w.agent);
    let p = store.set_presence(w.ws, w.agent, Presence::Online, at(5)).await.unwrap();
    assert_eq!(p.value.since, at(5));
    // Re-sending the same status keeps the time in status.
    let again = store.set_presence(w.ws, w.agent, Presence::Online, at(9)).await.unwrap();
    assert_eq!(again.value.since, at(5));
    let team = store.create_team(w.ws, "Sales", T0).await.unwrap();
    store.set_team_member(w.ws, team.id, w.agent, 3, T0).await.unwrap();
    let v = store.viewer(w.ws, w.agent).await.unwrap().expect("viewer");
    assert_eq!(v.team_ids, vec![team.id]);
    assert_eq!(v.role, Role::Agent);
    // Session lifecycle.
    store.create_session("h1", w.agent, T0, at(60)).await.unwrap();
    assert_eq!(store.session_user("h1", at(1)).await.unwrap(), Some(w.agent));
    assert_eq!(store.session_user("h1", at(61)).await.unwrap(), None, "expired");
    store.delete_session("h1").await.unwrap();
    assert_eq!(store.session_user("h1", at(1)).await.unwrap(), None);
    // Removing a member ends their teams and returns their work to the pool.
    let c = contact(&store, w.ws, "Ann").await;
    let r = inbound(&store, &w, c, "hi", None, at(1)).await;
    store.claim_conversation(w.ws, r.conversation.id, w.agent, at(2)).await.unwrap();
    store.remove_member(w.ws, w.agent, at(3)).await.unwrap();
    assert!(store.viewer(w.ws, w.agent).await.unwrap().is_none());
    let conv = store.get_conversation(w.ws, r.conversation.id).await.unwrap().unwrap();
    assert_eq!(conv.assignee_id, None);
    assert!(store.get_team(w.ws, team.id).await.unwrap().unwrap().members.is_empty());
}

async fn redelivered_message_is_stored_once(store: Store) {
    let w = world(&store, "dedup").await;
    let c = contact(&store, w.ws, "Ann").await;
    let first = inbound(&store, &w, c, "hello", Some("wamid.1"), at(1)).await;
    assert!(first.created);
    assert_eq!(first.events.len(), 2);
    let events_before = store.count_events(w.ws).await.unwrap();
    let second = inbound(&store, &w, c, "hello", Some("wamid.1"), at(2)).await;
    assert!(!second.created);
    assert_eq!(second.message.id, first.message.id);
    assert!(second.events.is_empty());
    assert_eq!(store.count_events(w.ws).await.unwrap(), events_before);
    let page = store.list_messages(w.ws, first.conversation.id, Page::first(50)).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn resolved_conversation_is_not_reused(store: Store) {
    let w = world(&store, "reopen").await;
    let c = contact(&store, w.ws, "Ann").await;
    let a = inbound(&store, &w, c, "one", None, at(1)).await;
    let b = inbound(&store, &w, c, "two", None, at(2)).await;
    assert_eq!(a.conversation.id, b.conversation.id, "open conversation is continued");
    assert!(matches!(a.events[0].payload, events::EventPayload::ConversationCreated(_)));
    assert!(matches!(b.events[0].payload, events::EventPayload::ConversationUpdated(_)));
    let resolved = store
        .update_conversation(
            w.ws,
            a.conversation.id,
            ConversationPatch { status: Some(ConversationStatus::Resolved), ..Default::default() },
            None,
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(resolved.value.resolved_at, Some(at(3)));
    assert_eq!(resolved.value.waiting_since, None);
    let d = inbound(&store, &w, c, "three", None, at(4)).await;
    assert_ne!(d.conversation.id, a.conversation.id);
    assert_eq!(d.conversation.waiting_since, Some(at(4)));
    let history = store.contact_thread(w.ws, w.inbox, c, 100).await.unwrap();
    assert_eq!(history.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
}

async fn twenty_concurrent_claims_have_one_winner(store: Store) {
    let w = world(&store, "claims").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "help", None, at(1)).await.conversation.id;
    let mut agents = Vec::new();
    for i in 0..20 {
        let u = store.create_user(&format!("a{i}@claims.test"), "A", "h", T0).await.unwrap().id;
        store.add_member(w.ws, u, Role::Agent, T0).await.unwrap();
        agents.push(u);
    }
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for u in agents.clone() {
        let s = store.clone();
        handles.push(tokio::spawn(async move { s.claim_conversation(w.ws, conv, u, at(2)).await }));
    }
    let mut winners = Vec::new();
    let mut taken = 0;
    for (h, u) in handles.into_iter().zip(agents) {
        match h.await.unwrap().unwrap() {
            Claim::Claimed(_) => winners.push(u),
            Claim::Taken { .. } => taken += 1,
            Claim::AlreadyYours(_) => panic!("nobody claimed twice"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(taken, 19);
    let conv = store.get_conversation(w.ws, conv).await.unwrap().unwrap();
    assert_eq!(conv.assignee_id, Some(winners[0]));
    assert!(matches!(store.claim_conversation(w.ws, conv.id, winners[0], at(3)).await.unwrap(), Claim::AlreadyYours(_)));
}

async fn other_workspaces_ids_are_not_found(store: Store) {
    let a = world(&store, "alpha").await;
    let b = world(&store, "beta").await;
    let c = contact(&store, a.ws, "Ann").await;
    let conv = inbound(&store, &a, c, "secret", None, at(1)).await.conversation.id;
    assert!(store.get_conversation(b.ws, conv).await.unwrap().is_none());
    assert!(store.get_contact(b.ws, c).await.unwrap().is_none());
    assert!(store.get_inbox(b.ws, a.inbox).await.unwrap().is_none());
    assert!(matches!(store.list_messages(b.ws, conv, Page::first(10)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.claim_conversation(b.ws, conv, b.agent, at(2)).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.update_conversation(b.ws, conv, ConversationPatch::default(), None, at(2)).await,
        Err(StoreError::NotFound)
    ));
    // A foreign user cannot be assigned, a foreign contact cannot write.
    assert!(matches!(
        store
            .update_conversation(a.ws, conv, ConversationPatch { assignee: Some(Some(b.agent)), ..Default::default() }, None, at(2))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let foreign = store
        .receive_message(
            b.ws,
            InboundMessage { inbox_id: b.inbox, contact_id: c, content: "x".into(), echo_id: None, dedup_key: None , attachment_ids: Vec::new()},
            at(3),
        )
        .await;
    assert!(matches!(foreign, Err(StoreError::NotFound)));
    let listed = store.list_conversations(&viewer(&b, b.admin, Role::Admin, vec![]), &Default::default(), Page::first(50)).await.unwrap();
    assert!(listed.items.is_empty());
}

async fn conversation_list_pages_without_gaps_or_repeats(store: Store) {
    let w = world(&store, "pages").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let c = contact(&store, w.ws, &format!("C{i}")).await;
        // Two pairs share a timestamp: the id breaks the tie.
        let r = inbound(&store, &w, c, "hi", None, at(i / 2)).await;
        expected.push(r.conversation.id);
    }
    expected.reverse();
    let v = viewer(&w, w.admin, Role::Admin, vec![]);
    let mut seen = Vec::new();
    let mut page = Page::first(3);
    loop {
        let p = store.list_conversations(&v, &Default::default(), page).await.unwrap();
        seen.extend(p.items.iter().map(|c| c.id));
        match p.next {
            Some(next) => page = Page { after: Some(next), limit: 3 },
            None => break,
        }
    }
    assert_eq!(seen, expected);
    // Filters.
    let first = expected[0];
    store.tag_conversation(w.ws, first, "vip", true, at(10)).await.unwrap();
    let tagged = store
        .list_conversations(&v, &ConversationFilter { tag: Some("vip".into()), ..Default::default() }, Page::first(50))
        .await
        .unwrap();
    assert_eq!(tagged.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first]);
    assert_eq!(tagged.items[0].tags, vec!["vip".to_string()]);
    store.claim_conversation(w.ws, first, w.agent, at(11)).await.unwrap();
    let unassigned = store
        .list_conversations(&v, &ConversationFilter { assignee: AssigneeFilter::Unassigned, ..Default::default() }, Page::first(50))
        .await
        .unwrap();
    assert_eq!(unassigned.items.len(), 6);
    let mine = store
        .list_conversations(&v, &ConversationFilter { assignee: AssigneeFilter::User(w.agent), ..Default::default() }, Page::first(50))
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 1);
    let resolved = store
        .list_conversations(&v, &ConversationFilter { status: Some(ConversationStatus::Resolved), ..Default::default() }, Page::first(50))
        .await
        .unwrap();
    assert!(resolved.items.is_empty());
}

async fn agents_see_only_their_pool_teams_and_assignments(store: Store) {
    let w = world(&store, "vis").await;
    let sales = store.create_team(w.ws, "Sales", T0).await.unwrap().id;
    let support = store.create_team(w.ws, "Support", T0).await.unwrap().id;
    store.set_team_member(w.ws, support, w.agent, 5, T0).await.unwrap();
    let mut ids = Vec::new();
    for (i, team) in [None, Some(sales), Some(support)].into_iter().enumerate() {
        let c = contact(&store, w.ws, &format!("C{i}")).await;
        let conv = inbound(&store, &w, c, "hi", None, at(i as i64)).await.conversation.id;
        store
            .update_conversation(w.ws, conv, ConversationPatch { team: Some(team), ..Default::default() }, None, at(5))
            .await
            .unwrap();
        ids.push(conv);
    }
    let agent = store.viewer(w.ws, w.agent).await.unwrap().unwrap();
    let seen: Vec<_> = store.list_conversations(&agent, &Default::default(), Page::first(50)).await.unwrap().items.into_iter().map(|c| c.id).collect();
    assert!(seen.contains(&ids[0]) && seen.contains(&ids[2]) && !seen.contains(&ids[1]), "{seen:?}");
    // The list and the single-row rule agree.
    for id in &ids {
        let conv = store.get_conversation(w.ws, *id).await.unwrap().unwrap();
        assert_eq!(agent.can_see(&events::ConversationScope::of(&conv)), seen.contains(id));
    }
    let admin = store.viewer(w.ws, w.admin).await.unwrap().unwrap();
    assert_eq!(store.list_conversations(&admin, &Default::default(), Page::first(50)).await.unwrap().items.len(), 3);
}

async fn refused_write_changes_nothing(store: Store) {
    let w = world(&store, "atomic").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "hi", None, at(1)).await.conversation;
    let events_before = store.count_events(w.ws).await.unwrap();
    let bad = store
        .update_conversation(
            w.ws,
            conv.id,
            ConversationPatch {
                status: Some(ConversationStatus::Resolved),
                team: Some(Some(TeamId(999_999))),
                ..Default::default()
            },
            None,
            at(2),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))));
    let after = store.get_conversation(w.ws, conv.id).await.unwrap().unwrap();
    assert_eq!(after, conv);
    assert_eq!(store.count_events(w.ws).await.unwrap(), events_before);
    assert!(matches!(store.create_team(w.ws, "X", T0).await, Ok(_)));
    assert!(matches!(store.create_team(w.ws, "X", T0).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.list_teams(w.ws).await.unwrap().len(), 1);
}

async fn contact_search_ignores_case_in_any_script(store: Store) {
    let w = world(&store, "search").await;
    contact(&store, w.ws, "Ольга Петрова").await;
    contact(&store, w.ws, "John 100%").await;
    let hits = store.list_contacts(w.ws, Some("ОЛЬГА"), Page::first(10)).await.unwrap();
    assert_eq!(hits.items.len(), 1);
    // LIKE wildcards in the query are literal.
    assert_eq!(store.list_contacts(w.ws, Some("%"), Page::first(10)).await.unwrap().items.len(), 1);
    assert_eq!(store.list_contacts(w.ws, Some("_"), Page::first(10)).await.unwrap().items.len(), 0);
    assert_eq!(store.list_contacts(w.ws, None, Page::first(10)).await.unwrap().items.len(), 2);
    let updated = store
        .update_contact(
            w.ws,
            hits.items[0].id,
            ContactFields {
                email: Some(Some("olga@example.com".into())),
                custom_fields: Some(serde_json::json!({"city": "Kyiv"}).as_object().unwrap().clone()),
                ..Default::default()
            },
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("Ольга Петрова"));
    assert_eq!(updated.custom_fields.get("city"), Some(&serde_json::json!("Kyiv")));
    assert_eq!(store.list_contacts(w.ws, Some("OLGA@"), Page::first(10)).await.unwrap().items.len(), 1);
}

async fn message_history_pages_backwards(store: Store) {
    let w = world(&store, "history").await;
    let c = contact(&store, w.ws, "Ann").await;
    let mut conv = None;
    for i in 0..5 {
        conv = Some(inbound(&store, &w, c, &format!("m{i}"), None, at(i)).await.conversation.id);
    }
    let conv = conv.unwrap();
    let newest = store.list_messages(w.ws, conv, Page::first(2)).await.unwrap();
    assert_eq!(newest.items.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m3", "m4"]);
    let older = store.list_messages(w.ws, conv, Page { after: newest.next, limit: 2 }).await.unwrap();
    assert_eq!(older.items.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    let oldest = store.list_messages(w.ws, conv, Page { after: older.next, limit: 2 }).await.unwrap();
    assert_eq!(oldest.items.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m0"]);
    assert!(oldest.next.is_none());
}

async fn replying_claims_and_stops_the_wait(store: Store) {
    let w = world(&store, "reply").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "hi", None, at(1)).await.conversation;
    assert_eq!(conv.waiting_since, Some(at(1)));
    let sender = Sender { kind: SenderType::User, id: Some(w.agent.0), name: Some("Agent".into()) };
    let note = store
        .send_message(
            w.ws,
            conv.id,
            OutboundMessage { kind: MessageKind::Note, content: "vip".into(), sender: sender.clone(), echo_id: None, status: DeliveryStatus::Sent, attachment_ids: Vec::new() },
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(note.value.kind, MessageKind::Note);
    let after_note = store.get_conversation(w.ws, conv.id).await.unwrap().unwrap();
    assert_eq!(after_note.waiting_since, Some(at(1)), "a note does not answer the customer");
    let out = OutboundMessage { kind: MessageKind::Out, content: "hello".into(), sender, echo_id: Some("e1".into()), status: DeliveryStatus::Sent, attachment_ids: Vec::new() };
    let reply = store.send_message(w.ws, conv.id, out.clone(), at(3)).await.unwrap();
    let again = store.send_message(w.ws, conv.id, out, at(4)).await.unwrap();
    assert_eq!(again.value.id, reply.value.id, "same echo id, same message");
    assert!(again.events.is_empty());
    let after = store.get_conversation(w.ws, conv.id).await.unwrap().unwrap();
    assert_eq!(after.waiting_since, None);
    assert_eq!(after.first_reply_at, Some(at(3)));
    assert_eq!(after.assignee_id, Some(w.agent));
    let thread = store.contact_thread(w.ws, w.inbox, c, 50).await.unwrap();
    assert_eq!(thread.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["hi", "hello"], "notes never reach the customer");
}

async fn inbox_secrets_survive_partial_update(store: Store) {
    let w = world(&store, "inbox").await;
    let mut config = serde_json::Map::new();
    config.insert("bot_token".into(), "123:abc".into());
    config.insert("api_base_url".into(), "http://127.0.0.1:1".into());
    let inbox = store
        .create_inbox(w.ws, NewInbox { name: "TG".into(), channel: Channel::Telegram, config, website_token: None }, T0)
        .await
        .unwrap();
    let mut change = serde_json::Map::new();
    change.insert("api_base_url".into(), serde_json::Value::Null);
    let updated = store.update_inbox(w.ws, inbox.id, InboxPatch { name: Some("Telegram".into()), config: Some(change) }).await.unwrap();
    assert_eq!(updated.config_str("bot_token"), Some("123:abc"));
    assert!(updated.config.get("api_base_url").is_none());
    assert_eq!(store.get_inbox(w.ws, inbox.id).await.unwrap().unwrap().name, "Telegram");
    assert_eq!(
        store.find_inbox_by_website_token("tok-inbox").await.unwrap().map(|i| i.id),
        Some(w.inbox)
    );
    // An inbox with conversations is kept.
    let c = contact(&store, w.ws, "Ann").await;
    inbound(&store, &w, c, "hi", None, at(1)).await;
    assert!(matches!(store.delete_inbox(w.ws, w.inbox).await, Err(StoreError::Conflict { .. })));
    store.delete_inbox(w.ws, inbox.id).await.unwrap();
}

async fn concurrent_writes_with_failures_commit_the_rest(store: Store) {
    let w = world(&store, "batch").await;
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for i in 0..60 {
        let s = store.clone();
        // Every third name repeats an earlier one and must fail alone.
        let name = if i % 3 == 2 { format!("team-{}", i - 1) } else { format!("team-{i}") };
        handles.push(tokio::spawn(async move { s.create_team(w.ws, &name, T0).await }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict { .. }) => conflicts += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 40);
    assert_eq!(conflicts, 20);
    assert_eq!(store.list_teams(w.ws).await.unwrap().len(), 40);
}

#[allow(dead_code)]
fn _guards_are_used(_: TestDbGuard) {
    let _ = (sqlite_store, postgres_store);
}

async fn reviews_business_hours_and_api_tokens(store: Store) {
    let w = world(&store, "audit").await;
    let other = world(&store, "audit2").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "hi", None, at(1)).await.conversation.id;
    let r = store.create_review(w.ws, conv, w.admin, 4, "polite, slow", at(2)).await.unwrap();
    store.create_review(w.ws, conv, w.admin, 2, "", at(3)).await.unwrap();
    let list = store.list_reviews(w.ws, conv).await.unwrap();
    assert_eq!(list.iter().map(|x| x.score).collect::<Vec<_>>(), vec![2, 4], "newest first");
    assert_eq!(list[1], r);
    assert!(matches!(store.create_review(other.ws, conv, other.admin, 5, "", at(4)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.list_reviews(other.ws, conv).await, Err(StoreError::NotFound)));

    assert_eq!(store.get_business_hours(w.ws).await.unwrap(), None);
    store.set_business_hours(w.ws, "{\"a\":1}", at(5)).await.unwrap();
    store.set_business_hours(w.ws, "{\"a\":2}", at(6)).await.unwrap();
    assert_eq!(store.get_business_hours(w.ws).await.unwrap().as_deref(), Some("{\"a\":2}"));
    assert_eq!(store.get_business_hours(other.ws).await.unwrap(), None);

    let id = store.create_api_token(w.ws, w.admin, "crm", "hash-1", at(7)).await.unwrap();
    assert_eq!(store.list_api_tokens(w.ws).await.unwrap().len(), 1);
    assert!(store.list_api_tokens(other.ws).await.unwrap().is_empty());
    assert!(matches!(store.delete_api_token(other.ws, id).await, Err(StoreError::NotFound)));
    assert_eq!(store.api_token_owner("hash-1").await.unwrap(), Some((w.ws, w.admin)));
    store.delete_api_token(w.ws, id).await.unwrap();
    assert_eq!(store.api_token_owner("hash-1").await.unwrap(), None);
}

async fn channel_filter_matches_the_inbox_channel(store: Store) {
    let w = world(&store, "channels").await;
    let c = contact(&store, w.ws, "Ann").await;
    inbound(&store, &w, c, "hi", None, at(1)).await;
    let v = viewer(&w, w.admin, Role::Admin, vec![]);
    let web = ConversationFilter { channel: Some(Channel::Webchat), ..Default::default() };
    let tg = ConversationFilter { channel: Some(Channel::Telegram), ..Default::default() };
    assert_eq!(store.list_conversations(&v, &web, Page::first(10)).await.unwrap().items.len(), 1);
    assert!(store.list_conversations(&v, &tg, Page::first(10)).await.unwrap().items.is_empty());
}

async fn delivery_receipts_only_move_forward(store: Store) {
    let w = world(&store, "receipts").await;
    let other = world(&store, "receipts2").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "hi", None, at(1)).await.conversation.id;
    let sender = Sender { kind: SenderType::User, id: Some(w.agent.0), name: None };
    let mut ids = Vec::new();
    for (i, kind) in [MessageKind::Out, MessageKind::Note, MessageKind::Out].into_iter().enumerate() {
        let m = OutboundMessage { kind, content: format!("m{i}"), sender: sender.clone(), echo_id: None, status: DeliveryStatus::Sent, attachment_ids: Vec::new() };
        ids.push(store.send_message(w.ws, conv, m, at(2)).await.unwrap().value.id);
    }
    let delivered = store.advance_delivery(w.ws, w.inbox, c, ids[0], DeliveryStatus::Delivered, at(3)).await.unwrap();
    assert_eq!(delivered.value.iter().map(|m| m.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert_eq!(delivered.events.len(), 1);
    let read = store.advance_delivery(w.ws, w.inbox, c, ids[2], DeliveryStatus::Read, at(4)).await.unwrap();
    assert_eq!(read.value.iter().map(|m| m.id).collect::<Vec<_>>(), vec![ids[0], ids[2]], "notes are never read receipts");
    // A late "delivered" after "read" changes nothing.
    let late = store.advance_delivery(w.ws, w.inbox, c, ids[2], DeliveryStatus::Delivered, at(5)).await.unwrap();
    assert!(late.value.is_empty() && late.events.is_empty());
    // Another workspace cannot touch these.
    let foreign = store.advance_delivery(other.ws, other.inbox, c, ids[2], DeliveryStatus::Failed, at(6)).await.unwrap();
    assert!(foreign.value.is_empty());
    let msgs = store.list_messages(w.ws, conv, Page::first(10)).await.unwrap().items;
    let status_of = |id| msgs.iter().find(|m| m.id == id).unwrap().status;
    assert_eq!(status_of(ids[0]), DeliveryStatus::Read);
    assert_eq!(status_of(ids[1]), DeliveryStatus::Sent);
    assert_eq!(status_of(ids[2]), DeliveryStatus::Read);
}

async fn attachments_are_stored_linked_once_and_served_by_key(store: Store) {
    let w = world(&store, "files").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "hi", None, at(1)).await.conversation.id;
    let data: Vec<u8> = (0..=255u8).collect();
    let new = NewAttachment {
        owner: UploadOwner::Agent { conversation: conv, user: w.agent },
        filename: "all bytes.bin".into(),
        content_type: "application/octet-stream".into(),
        data: data.clone(),
        access_key: "k".repeat(64),
    };
    let a = store.create_attachment(w.ws, new, at(2)).await.unwrap();
    assert_eq!(a.size, 256);
    assert!(a.url.ends_with("/all%20bytes.bin"), "{}", a.url);
    let file = store.attachment_file(w.ws, a.id, &"k".repeat(64)).await.unwrap().unwrap();
    assert_eq!(file.data, data, "binary content survives the round trip");
    assert!(store.attachment_file(w.ws, a.id, "wrong").await.unwrap().is_none());
    let sender = Sender { kind: SenderType::User, id: Some(w.agent.0), name: None };
    let out = |ids: Vec<AttachmentId>| OutboundMessage {
        kind: MessageKind::Out,
        content: String::new(),
        sender: sender.clone(),
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: ids,
    };
    let sent = store.send_message(w.ws, conv, out(vec![a.id]), at(3)).await.unwrap();
    assert_eq!(sent.value.attachments.len(), 1);
    let before = store.list_messages(w.ws, conv, Page::first(50)).await.unwrap().items.len();
    assert!(matches!(store.send_message(w.ws, conv, out(vec![a.id]), at(4)).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.list_messages(w.ws, conv, Page::first(50)).await.unwrap().items.len(), before, "a refused send stores nothing");
    let listed = store.list_messages(w.ws, conv, Page::first(50)).await.unwrap();
    assert_eq!(listed.items.last().unwrap().attachments[0].id, a.id);
    // List previews and resend answers carry the files too.
    let preview = store.get_conversation(w.ws, conv).await.unwrap().unwrap().last_message.unwrap();
    assert_eq!(preview.attachments.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a.id]);
    let second = store
        .create_attachment(
            w.ws,
            NewAttachment {
                owner: UploadOwner::Agent { conversation: conv, user: w.agent },
                filename: "b.txt".into(),
                content_type: "text/plain".into(),
                data: b"b".to_vec(),
                access_key: "q".repeat(64),
            },
            at(5),
        )
        .await
        .unwrap();
    let with_echo = OutboundMessage { echo_id: Some("e-file".into()), ..out(vec![second.id]) };
    store.send_message(w.ws, conv, with_echo.clone(), at(6)).await.unwrap();
    let resent = store.send_message(w.ws, conv, with_echo, at(7)).await.unwrap();
    assert!(resent.events.is_empty());
    assert_eq!(resent.value.attachments.len(), 1, "the resend answer names its files");
}

// ---------------------------------------------------------------- automation

fn refund_rule(name: &str, trigger: automation::Trigger) -> automation::Rule {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "trigger": trigger.as_str(),
        "conditions": [{"field": "tags", "operator": "is_set"}],
        "actions": [{"type": "add_tag", "tag": "refund"}, {"type": "set_priority", "priority": "high"}]
    }))
    .expect("rule json")
}

async fn automation_rules_crud_in_order(store: Store) {
    use automation::Trigger;
    let w = world(&store, "rules").await;
    let first = store.create_rule(w.ws, refund_rule("First", Trigger::MessageReceived), at(1)).await.expect("ok");
    let second = store.create_rule(w.ws, refund_rule("Second", Trigger::MessageReceived), at(2)).await.expect("ok");
    let other = store.create_rule(w.ws, refund_rule("Tagging", Trigger::TagAdded), at(3)).await.expect("ok");
    assert!(first.position < second.position && second.position < other.position, "appended in order");
    assert_eq!(first.rule, refund_rule("First", Trigger::MessageReceived), "the definition round-trips");
    assert_eq!(first.created_at, at(1));
    let names = |rules: Vec<automation::AutomationRule>| rules.into_iter().map(|r| r.rule.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_rules(w.ws).await.expect("ok")), ["First", "Second", "Tagging"]);
    assert_eq!(names(store.rules_for_trigger(w.ws, Trigger::MessageReceived).await.expect("ok")), ["First", "Second"]);

    // Move the second rule to the front, disable the first.
    let mut moved = second.rule.clone();
    moved.name = "Second, now first".into();
    let updated = store.update_rule(w.ws, second.id, moved, Some(0), at(4)).await.expect("ok");
    assert_eq!((updated.position, updated.updated_at, updated.created_at), (0, at(4), at(2)));
    let mut off = first.rule.clone();
    off.enabled = false;
    store.update_rule(w.ws, first.id, off, None, at(5)).await.expect("ok");
    assert_eq!(names(store.rules_for_trigger(w.ws, Trigger::MessageReceived).await.expect("ok")), ["Second, now first"]);
    assert_eq!(names(store.list_rules(w.ws).await.expect("ok")), ["Second, now first", "First", "Tagging"]);
    assert!(!store.get_rule(w.ws, first.id).await.expect("ok").expect("rule").rule.enabled);
    // The trigger column follows the definition.
    let mut retrigger = other.rule.clone();
    retrigger.trigger = Trigger::MessageReceived;
    store.update_rule(w.ws, other.id, retrigger, None, at(6)).await.expect("ok");
    assert!(store.rules_for_trigger(w.ws, Trigger::TagAdded).await.expect("ok").is_empty());

    store.delete_rule(w.ws, first.id).await.expect("ok");
    assert!(store.get_rule(w.ws, first.id).await.expect("ok").is_none());
    assert!(matches!(store.delete_rule(w.ws, first.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_rules(w.ws).await.expect("ok").len(), 2);
}

async fn automation_rules_are_workspace_scoped(store: Store) {
    use automation::Trigger;
    let a = world(&store, "alpha").await;
    let b = world(&store, "beta").await;
    let rule = store.create_rule(a.ws, refund_rule("Mine", Trigger::ConversationCreated), at(1)).await.expect("ok");
    let conv = inbound(&store, &a, contact(&store, a.ws, "Ann").await, "hi", None, at(2)).await.conversation.id;
    assert!(store.get_rule(b.ws, rule.id).await.expect("ok").is_none());
    assert!(store.list_rules(b.ws).await.expect("ok").is_empty());
    assert!(store.rules_for_trigger(b.ws, Trigger::ConversationCreated).await.expect("ok").is_empty());
    assert!(matches!(
        store.update_rule(b.ws, rule.id, refund_rule("Stolen", Trigger::TagAdded), None, at(3)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(store.delete_rule(b.ws, rule.id).await, Err(StoreError::NotFound)));
    let run = |conversation: Option<ConversationId>| NewRuleRun {
        rule_id: rule.id,
        rule_name: "Mine".into(),
        conversation_id: conversation,
        trigger: Trigger::ConversationCreated,
        outcome: automation::RunOutcome::Applied,
        detail: String::new(),
    };
    // Neither another workspace's rule nor its conversation can be logged.
    assert!(matches!(store.record_rule_run(b.ws, run(None), at(4)).await, Err(StoreError::NotFound)));
    let b_rule = store.create_rule(b.ws, refund_rule("Theirs", Trigger::ConversationCreated), at(4)).await.expect("ok");
    let cross = NewRuleRun { rule_id: b_rule.id, ..run(Some(conv)) };
    assert!(matches!(store.record_rule_run(b.ws, cross, at(5)).await, Err(StoreError::NotFound)));
    assert!(store.list_rule_runs(b.ws, None, Page::first(10)).await.expect("ok").items.is_empty());
    assert!(store.list_rule_runs(a.ws, None, Page::first(10)).await.expect("ok").items.is_empty());
    assert_eq!(store.get_rule(a.ws, rule.id).await.expect("ok").expect("unchanged").rule.name, "Mine");
    let template = store.create_template(a.ws, "hello", "Hi {{contact.name}}", at(6)).await.expect("ok");
    assert_eq!(store.get_template(a.ws, template.id).await.expect("ok"), Some(template.clone()));
    assert!(store.get_template(b.ws, template.id).await.expect("ok").is_none());
}

async fn automation_runs_are_logged_newest_first(store: Store) {
    use automation::{RunOutcome, Trigger};
    let w = world(&store, "runs").await;
    let conv = inbound(&store, &w, contact(&store, w.ws, "Ann").await, "refund", None, at(1)).await.conversation.id;
    let a = store.create_rule(w.ws, refund_rule("A", Trigger::MessageReceived), at(1)).await.expect("ok");
    let b = store.create_rule(w.ws, refund_rule("B", Trigger::TagAdded), at(1)).await.expect("ok");
    for i in 0..5 {
        let rule = if i % 2 == 0 { &a } else { &b };
        let outcome = if i == 4 { RunOutcome::Failed } else { RunOutcome::Applied };
        let run = NewRuleRun {
            rule_id: rule.id,
            rule_name: rule.rule.name.clone(),
            conversation_id: Some(conv),
            trigger: rule.rule.trigger,
            outcome,
            detail: format!("run {i}"),
        };
        let logged = store.record_rule_run(w.ws, run, at(10 + i)).await.expect("ok");
        assert_eq!((logged.rule_id, logged.created_at), (rule.id, at(10 + i)));
    }
    let details = |p: &Paged<automation::RuleRun>| p.items.iter().map(|r| r.detail.clone()).collect::<Vec<_>>();
    let all = store.list_rule_runs(w.ws, None, Page::first(3)).await.expect("ok");
    assert_eq!(details(&all), ["run 4", "run 3", "run 2"]);
    assert_eq!(all.items[0].outcome, RunOutcome::Failed);
    assert_eq!(all.items[0].conversation_id, Some(conv));
    let rest = store.list_rule_runs(w.ws, None, Page { after: all.next, limit: 3 }).await.expect("ok");
    assert_eq!(details(&rest), ["run 1", "run 0"]);
    assert!(rest.next.is_none());
    let of_a = store.list_rule_runs(w.ws, Some(a.id), Page::first(10)).await.expect("ok");
    assert_eq!(details(&of_a), ["run 4", "run 2", "run 0"]);
    assert!(of_a.items.iter().all(|r| r.trigger == Trigger::MessageReceived && r.rule_name == "A"));
    // The log outlives the rule.
    store.delete_rule(w.ws, b.id).await.expect("ok");
    let of_b = store.list_rule_runs(w.ws, Some(b.id), Page::first(10)).await.expect("ok");
    assert_eq!(details(&of_b), ["run 3", "run 1"]);
}

async fn status_and_tag_changes_are_their_own_events(store: Store) {
    use events::EventPayload;
    let w = world(&store, "changes").await;
    let conv = inbound(&store, &w, contact(&store, w.ws, "Ann").await, "hi", None, at(1)).await.conversation.id;
    let kinds = |events: &[events::Event]| events.iter().map(|e| e.payload.kind()).collect::<Vec<_>>();
    let tagged = store.tag_conversation(w.ws, conv, "vip", true, at(2)).await.expect("ok");
    assert_eq!(kinds(&tagged.events), ["conversation.updated", "conversation.tag_added"]);
    assert!(matches!(&tagged.events[1].payload, EventPayload::TagAdded(t) if t.tag == "vip" && t.conversation_id == conv));
    let again = store.tag_conversation(w.ws, conv, "vip", true, at(3)).await.expect("ok");
    assert_eq!(kinds(&again.events), ["conversation.updated"], "a tag already there is not added again");

    let patch = |status| ConversationPatch { status: Some(status), ..Default::default() };
    let resolved = store.update_conversation(w.ws, conv, patch(ConversationStatus::Resolved), None, at(4)).await.expect("ok");
    assert!(resolved.events.iter().any(|e| matches!(&e.payload, EventPayload::StatusChanged(s)
        if s.from == ConversationStatus::Open && s.to == ConversationStatus::Resolved)));
    let same = store.update_conversation(w.ws, conv, patch(ConversationStatus::Resolved), None, at(5)).await.expect("ok");
    assert!(!kinds(&same.events).contains(&"conversation.status_changed"));
    // An agent's reply reopens it; a customer's message wakes a snoozed one.
    let reply = OutboundMessage {
        kind: MessageKind::Out,
        content: "back".into(),
        sender: Sender { kind: SenderType::User, id: Some(w.agent.0), name: None },
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    };
    let sent = store.send_message(w.ws, conv, reply, at(6)).await.expect("ok");
    assert!(sent.events.iter().any(|e| matches!(&e.payload, EventPayload::StatusChanged(s) if s.to == ConversationStatus::Open)));
    store.update_conversation(w.ws, conv, patch(ConversationStatus::Snoozed), None, at(7)).await.expect("ok");
    let c = store.get_conversation(w.ws, conv).await.expect("ok").expect("conversation").contact.id;
    let woke = inbound(&store, &w, c, "hello?", None, at(8)).await;
    assert!(woke.events.iter().any(|e| matches!(&e.payload, EventPayload::StatusChanged(s)
        if s.from == ConversationStatus::Snoozed && s.to == ConversationStatus::Open)));
}

// ------------------------------------------------- business hours and SLA

fn system_out(kind: MessageKind, text: &str) -> OutboundMessage {
    OutboundMessage {
        kind,
        content: text.into(),
        sender: Sender { kind: SenderType::System, id: None, name: None },
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    }
}

async fn team_hours_override_and_fall_back_per_workspace(store: Store) {
    let w = world(&store, "hours").await;
    let other = world(&store, "hours2").await;
    let team = store.create_team(w.ws, "Night shift", T0).await.expect("ok").id;
    let plain = store.create_team(w.ws, "Day shift", T0).await.expect("ok").id;
    assert_eq!(store.get_team_business_hours(w.ws, team).await.expect("ok"), None);
    assert_eq!(store.effective_business_hours(w.ws, Some(team)).await.expect("ok"), None, "nothing set anywhere");
    store.set_business_hours(w.ws, "{\"w\":1}", at(1)).await.expect("ok");
    assert_eq!(store.effective_business_hours(w.ws, Some(team)).await.expect("ok").as_deref(), Some("{\"w\":1}"));

    store.set_team_business_hours(w.ws, team, Some("{\"t\":1}".into()), at(2)).await.expect("ok");
    store.set_team_business_hours(w.ws, team, Some("{\"t\":2}".into()), at(3)).await.expect("ok");
    assert_eq!(store.get_team_business_hours(w.ws, team).await.expect("ok").as_deref(), Some("{\"t\":2}"));
    assert_eq!(store.effective_business_hours(w.ws, Some(team)).await.expect("ok").as_deref(), Some("{\"t\":2}"));
    assert_eq!(store.effective_business_hours(w.ws, Some(plain)).await.expect("ok").as_deref(), Some("{\"w\":1}"));
    assert_eq!(store.effective_business_hours(w.ws, None).await.expect("ok").as_deref(), Some("{\"w\":1}"));
    assert_eq!(store.list_team_business_hours(w.ws).await.expect("ok"), vec![(team, "{\"t\":2}".to_owned())]);

    // Another workspace can neither read nor write this team's hours.
    assert!(matches!(store.get_team_business_hours(other.ws, team).await, Err(StoreError::NotFound)));
    assert!(matches!(store.set_team_business_hours(other.ws, team, Some("{}".into()), at(4)).await, Err(StoreError::NotFound)));
    assert_eq!(store.effective_business_hours(other.ws, Some(team)).await.expect("ok"), None);
    assert!(store.list_team_business_hours(other.ws).await.expect("ok").is_empty());

    // Removing the override falls back; deleting the team drops it.
    store.set_team_business_hours(w.ws, team, None, at(5)).await.expect("ok");
    assert_eq!(store.get_team_business_hours(w.ws, team).await.expect("ok"), None);
    store.set_team_business_hours(w.ws, plain, Some("{\"p\":1}".into()), at(6)).await.expect("ok");
    store.delete_team(w.ws, plain).await.expect("ok");
    assert!(store.list_team_business_hours(w.ws).await.expect("ok").is_empty());
}

async fn automation_settings_are_per_workspace_and_paged(store: Store) {
    let a = world(&store, "settings-a").await;
    let b = world(&store, "settings-b").await;
    let c = world(&store, "settings-c").await;
    assert_eq!(store.get_automation_settings(a.ws).await.expect("ok"), None);
    store.set_automation_settings(a.ws, "{\"a\":1}", at(1)).await.expect("ok");
    store.set_automation_settings(a.ws, "{\"a\":2}", at(2)).await.expect("ok");
    store.set_automation_settings(c.ws, "{\"c\":1}", at(2)).await.expect("ok");
    assert_eq!(store.get_automation_settings(a.ws).await.expect("ok").as_deref(), Some("{\"a\":2}"));
    assert_eq!(store.get_automation_settings(b.ws).await.expect("ok"), None);
    let first = store.automation_settings_page(None, 1).await.expect("ok");
    assert_eq!(first, vec![(a.ws, "{\"a\":2}".to_owned())]);
    let rest = store.automation_settings_page(Some(a.ws), 10).await.expect("ok");
    assert_eq!(rest, vec![(c.ws, "{\"c\":1}".to_owned())]);
}

async fn auto_replies_are_sent_once_and_are_not_agent_replies(store: Store) {
    let w = world(&store, "away").await;
    let other = world(&store, "away2").await;
    let c = contact(&store, w.ws, "Ann").await;
    let conv = inbound(&store, &w, c, "anyone?", None, at(1)).await.conversation.id;
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for _ in 0..10 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.send_auto_reply(w.ws, conv, AutoReply::Away, system_out(MessageKind::Out, "We are closed"), at(2)).await
        }));
    }
    let mut sent = Vec::new();
    for h in handles {
        if let Some(written) = h.await.expect("ok").expect("ok") {
            sent.push(written);
        }
    }
    assert_eq!(sent.len(), 1, "one away message, however many tried");
    assert_eq!(sent[0].value.kind, MessageKind::Out);
    assert_eq!(sent[0].value.sender.kind, SenderType::System);
    assert!(!sent[0].events.is_empty());
    // A greeting is another kind: it may go once too.
    let greeting = store.send_auto_reply(w.ws, conv, AutoReply::Greeting, system_out(MessageKind::Out, "Hello!"), at(3)).await.expect("ok");
    assert!(greeting.is_some());
    assert!(store.send_auto_reply(w.ws, conv, AutoReply::Greeting, system_out(MessageKind::Out, "Hello!"), at(4)).await.expect("ok").is_none());
    // The customer is still waiting for a person; nobody claimed anything.
    let after = store.get_conversation(w.ws, conv).await.expect("ok").expect("ok");
    assert_eq!(after.first_reply_at, None);
    assert_eq!(after.waiting_since, Some(at(1)));
    assert_eq!(after.assignee_id, None);
    assert_eq!(after.status, ConversationStatus::Open);
    let texts: Vec<String> = store.list_messages(w.ws, conv, Page::first(10)).await.expect("ok").items.into_iter().map(|m| m.content).collect();
    assert_eq!(texts, ["anyone?", "We are closed", "Hello!"]);
    // Another workspace cannot write into this conversation.
    let foreign = store.send_auto_reply(other.ws, conv, AutoReply::Away, system_out(MessageKind::Out, "x"), at(5)).await;
    assert!(matches!(foreign, Err(StoreError::NotFound)));
}

async fn sla_breaches_are_recorded_and_announced_once(store: Store) {
    let w = world(&store, "sla").await;
    let other = world(&store, "sla2").await;
    let c = contact(&store, w.ws, "Ann").await;
    let late = inbound(&store, &w, c, "help", None, at(0)).await.conversation;
    let d = contact(&store, w.ws, "Bob").await;
    let fresh = inbound(&store, &w, d, "help", None, at(50)).await.conversation;
    let first = sla::SlaKind::FirstResponse;
    // Clocks that started by at(10): only the older conversation.
    let candidates = store.sla_candidates(w.ws, first, at(10), 100).await.expect("ok");
    assert_eq!(candidates.iter().map(|c| c.id).collect::<Vec<_>>(), vec![late.id]);
    assert!(store.sla_candidates(other.ws, first, at(100), 100).await.expect("ok").is_empty());

    let due = sla::DueBreach { conversation_id: late.id, kind: first, started_at: late.created_at, due_at: at(10) };
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        handles.push(tokio::spawn(async move { s.record_sla_breach(w.ws, due, at(11)).await }));
    }
    let mut announced = Vec::new();
    for h in handles {
        if let Some(written) = h.await.expect("ok").expect("ok") {
            announced.push(written);
        }
    }
    assert_eq!(announced.len(), 1, "recorded and announced once");
    assert_eq!(announced[0].value.kind, "first_response");
    assert!(matches!(announced[0].events[0].payload, events::EventPayload::SlaBreached(_)));
    assert_eq!(announced[0].events[0].scope.map(|s| s.conversation_id), Some(late.id));
    assert!(store.sla_candidates(w.ws, first, at(100), 100).await.expect("ok").iter().all(|c| c.id != late.id), "breached clocks leave the scan");
    let list = store.list_sla_breaches(w.ws, late.id).await.expect("ok");
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].due_at, list[0].breached_at), (at(10), at(11)));
    assert!(store.list_sla_breaches(other.ws, late.id).await.expect("ok").is_empty());
    assert!(matches!(store.record_sla_breach(other.ws, due, at(12)).await, Err(StoreError::NotFound)));

    // An agent's reply stops the first-response clock; the customer's next
    // message starts a next-response clock.
    let reply = OutboundMessage {
        kind: MessageKind::Out,
        content: "on it".into(),
        sender: Sender { kind: SenderType::User, id: Some(w.agent.0), name: None },
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    };
    store.send_message(w.ws, fresh.id, reply, at(55)).await.expect("ok");
    assert!(store.sla_candidates(w.ws, first, at(100), 100).await.expect("ok").is_empty());
    let next = sla::SlaKind::NextResponse;
    assert!(store.sla_candidates(w.ws, next, at(100), 100).await.expect("ok").is_empty(), "nobody is waiting");
    inbound(&store, &w, d, "and?", None, at(60)).await;
    let waiting = store.sla_candidates(w.ws, next, at(100), 100).await.expect("ok");
    assert_eq!((waiting.len(), waiting[0].waiting_since), (1, Some(at(60))));
    // Resolution clocks run for every unresolved conversation.
    assert_eq!(store.sla_candidates(w.ws, sla::SlaKind::Resolution, at(100), 100).await.expect("ok").len(), 2);
}

async fn idle_conversations_are_resolved_once(store: Store) {
    let w = world(&store, "idle").await;
    let other = world(&store, "idle2").await;
    let c = contact(&store, w.ws, "Ann").await;
    let quiet = inbound(&store, &w, c, "hi", None, at(0)).await.conversation;
    let d = contact(&store, w.ws, "Bob").await;
    let busy = inbound(&store, &w, d, "hi", None, at(0)).await.conversation;
    inbound(&store, &w, d, "still there?", None, at(30)).await;
    let idle = store.idle_conversations(w.ws, at(10), 100).await.expect("ok");
    assert_eq!(idle.iter().map(|c| c.id).collect::<Vec<_>>(), vec![quiet.id]);
    assert!(store.idle_conversations(other.ws, at(100), 100).await.expect("ok").is_empty());

    let note = || system_out(MessageKind::System, "Resolved automatically");
    // Activity after the threshold: not resolved.
    assert!(store.auto_resolve(w.ws, busy.id, at(10), note(), at(40)).await.expect("ok").is_none());
    assert!(matches!(store.auto_resolve(other.ws, quiet.id, at(10), note(), at(40)).await, Ok(None)));
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for _ in 0..5 {
        let s = store.clone();
        handles.push(tokio::spawn(async move { s.auto_resolve(w.ws, quiet.id, at(10), note(), at(40)).await }));
    }
    let mut resolved = Vec::new();
    for h in handles {
        if let Some(written) = h.await.expect("ok").expect("ok") {
            resolved.push(written);
        }
    }
    assert_eq!(resolved.len(), 1, "resolved once");
    let conv = &resolved[0].value;
    assert_eq!((conv.status, conv.resolved_at), (ConversationStatus::Resolved, Some(at(40))));
    assert!(resolved[0].events.iter().any(|e| matches!(&e.payload, events::EventPayload::MessageCreated(m) if m.kind == MessageKind::System)));
    let last = conv.last_message.as_ref().expect("the system line is the last message");
    assert_eq!((last.kind, last.content.as_str()), (MessageKind::System, "Resolved automatically"));
    assert!(store.idle_conversations(w.ws, at(100), 100).await.expect("ok").iter().all(|c| c.id != quiet.id));
}

async fn routing_settings_round_trip_and_stay_in_their_workspace(store: Store) {
    use switchboard_core::routing::team_select::{RoutingRules, TeamCondition, TeamRule};
    use switchboard_core::routing::{AgentProfile, Capacity, Overflow, Strategy, TeamRouting};
    let w = world(&store, "route").await;
    let other = world(&store, "elsewhere").await;
    let sales = store.create_team(w.ws, "Sales", T0).await.unwrap().id;
    let support = store.create_team(w.ws, "Support", T0).await.unwrap().id;
    let foreign = store.create_team(other.ws, "Theirs", T0).await.unwrap().id;
    // Defaults until set: no automatic assignment.
    assert!(!store.get_team(w.ws, sales).await.unwrap().unwrap().routing.auto_assign);

    let routing = TeamRouting {
        auto_assign: true,
        strategy: Strategy::LeastBusy,
        offer_timeout_secs: Some(20),
        sticky: false,
        overflow: Some(Overflow { after_secs: 90, to_team_id: support }),
    };
    let written = store.set_team_routing(w.ws, sales, routing, at(1)).await.unwrap();
    assert_eq!(written.value.routing, routing);
    assert!(matches!(written.events[0].payload, switchboard_core::events::EventPayload::RoutingChanged));
    // Overflow to another workspace's team, to itself, or a team of theirs: refused, nothing changes.
    for (team, to) in [(sales, foreign), (sales, sales)] {
        let bad = TeamRouting { overflow: Some(Overflow { after_secs: 5, to_team_id: to }), ..routing };
        assert!(matches!(store.set_team_routing(w.ws, team, bad, at(2)).await, Err(StoreError::Invalid(_))));
    }
    assert!(matches!(store.set_team_routing(w.ws, foreign, routing, at(2)).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_teams(w.ws).await.unwrap().iter().find(|t| t.id == sales).unwrap().routing, routing);

    // Member priority and weight; capacity updates keep them.
    let s = TeamMemberSettings { capacity: 3, priority: Some(-2), weight: Some(40) };
    store.put_team_member(w.ws, sales, w.agent, s, at(3)).await.unwrap();
    let team = store.set_team_member(w.ws, sales, w.agent, 4, at(4)).await.unwrap().value;
    assert_eq!((team.members[0].capacity, team.members[0].priority, team.members[0].weight), (4, -2, 40));
    assert!(matches!(store.put_team_member(w.ws, sales, other.agent, s, at(5)).await, Err(StoreError::NotFound)));

    // Agent capacity per kind and skills.
    let profile = AgentProfile { capacity: Capacity { chat: 2, email: 7, voice: 1 }, skills: [("uk".to_owned(), 8)].into() };
    let member = store.set_member_routing(w.ws, w.agent, profile.clone(), at(6)).await.unwrap().value;
    assert_eq!(member.routing, profile);
    assert_eq!(store.get_member(w.ws, w.agent).await.unwrap().unwrap().routing, profile);
    assert_eq!(store.get_member(w.ws, w.admin).await.unwrap().unwrap().routing, AgentProfile::default());
    assert!(matches!(store.set_member_routing(w.ws, other.agent, profile, at(7)).await, Err(StoreError::NotFound)));

    // Rules name only this workspace's teams and inboxes.
    let rules = RoutingRules {
        rules: vec![TeamRule {
            name: "billing".into(),
            conditions: vec![TeamCondition::Inbox { inbox_ids: vec![w.inbox] }],
            team_id: sales,
            priority: Some(Priority::High),
            skills: Vec::new(),
        }],
        inbox_default_team: [(w.inbox.0.to_string(), support)].into(),
    };
    store.set_routing_rules(w.ws, rules.clone(), at(8)).await.unwrap();
    assert_eq!(store.get_routing_rules(w.ws).await.unwrap(), rules);
    assert_eq!(store.get_routing_rules(other.ws).await.unwrap(), RoutingRules::default());
    let theirs_team = RoutingRules { inbox_default_team: [(w.inbox.0.to_string(), foreign)].into(), ..RoutingRules::default() };
    let theirs_inbox = RoutingRules { inbox_default_team: [(other.inbox.0.to_string(), support)].into(), ..RoutingRules::default() };
    for bad in [theirs_team, theirs_inbox] {
        assert!(matches!(store.set_routing_rules(w.ws, bad, at(9)).await, Err(StoreError::Invalid(_))));
    }
    assert_eq!(store.get_routing_rules(w.ws).await.unwrap(), rules);
    assert_eq!(store.routed_workspaces().await.unwrap(), vec![w.ws]);
}

async fn open_work_and_previous_assignee_feed_the_router(store: Store) {
    use switchboard_core::routing::SkillRequirement;
    let w = world(&store, "work").await;
    let team = store.create_team(w.ws, "Support", T0).await.unwrap().id;
    let vera = contact(&store, w.ws, "Vera").await;
    let first = inbound(&store, &w, vera, "hi", Some("k1"), at(1)).await.conversation.id;
    store.claim_conversation(w.ws, first, w.agent, at(2)).await.unwrap();
    store.update_conversation(w.ws, first, ConversationPatch { status: Some(ConversationStatus::Resolved), ..Default::default() }, None, at(3)).await.unwrap();
    let second = inbound(&store, &w, vera, "again", Some("k2"), at(10)).await.conversation.id;
    assert_ne!(first, second);
    let skills = vec![SkillRequirement { skill: "uk".into(), min_level: 3 }];
    let routed = store.route_to_team(w.ws, second, team, Some(Priority::High), skills.clone(), at(11)).await.unwrap();
    assert_eq!((routed.value.team_id, routed.value.priority), (Some(team), Priority::High));
    let oleg = contact(&store, w.ws, "Oleg").await;
    let third = inbound(&store, &w, oleg, "hello", Some("k3"), at(12)).await.conversation.id;
    store.claim_conversation(w.ws, third, w.admin, at(13)).await.unwrap();

    let open = store.open_work(w.ws).await.unwrap();
    assert_eq!(open.iter().map(|o| o.conversation_id).collect::<Vec<_>>(), vec![second, third], "resolved work is not open");
    let s = &open[0];
    assert_eq!((s.team_id, s.assignee_id, s.priority, s.channel), (Some(team), None, Priority::High, Channel::Webchat));
    assert_eq!((s.skills.clone(), s.waiting_since, s.status), (skills, at(10), ConversationStatus::Open));
    assert_eq!(open[1].assignee_id, Some(w.admin));

    assert_eq!(store.previous_assignee(w.ws, vera, second).await.unwrap(), Some(w.agent));
    assert_eq!(store.previous_assignee(w.ws, vera, first).await.unwrap(), None);
    assert_eq!(store.previous_assignee(w.ws, oleg, third).await.unwrap(), None);
    // Another workspace sees none of it.
    let other = world(&store, "other").await;
    assert!(store.open_work(other.ws).await.unwrap().is_empty());
    assert_eq!(store.previous_assignee(other.ws, vera, second).await.unwrap(), None);
}

async fn echoes_are_stored_once_as_sent_outbound(store: Store) {
    let w = world(&store, "echo").await;
    let other = world(&store, "echo2").await;
    let wa_inbox = || NewInbox { name: "WA".into(), channel: Channel::Whatsapp, config: Default::default(), website_token: None };
    let wa = store.create_inbox(w.ws, wa_inbox(), T0).await.expect("inbox").id;
    let wa_other = store.create_inbox(other.ws, wa_inbox(), T0).await.expect("inbox").id;
    let who = ProviderIdentity { external_id: "15551230000".into(), name: Some("Ann".into()), phone: Some("+15551230000".into()) };

    // An echo to a customer we never heard from: their card and an open,
    // not waiting conversation are created; the message is sent outbound.
    let first = store.record_echo(w.ws, wa, who.clone(), "wamid.PHONE1", "On my way", at(1)).await.unwrap();
    let m = first.value.expect("stored");
    assert_eq!((m.kind, m.status, m.content.as_str()), (MessageKind::Out, DeliveryStatus::Sent, "On my way"));
    assert_eq!(m.sender.kind, SenderType::System);
    assert_eq!(m.sender.name.as_deref(), Some("Sent from the WhatsApp app"));
    assert!(first.events.iter().any(|e| matches!(&e.payload, events::EventPayload::MessageCreated(x) if x.id == m.id)));
    let conv = store.get_conversation(w.ws, m.conversation_id).await.unwrap().expect("conversation");
    assert_eq!((conv.status, conv.inbox_id), (ConversationStatus::Open, wa));
    assert_eq!(conv.waiting_since, None, "the customer is not waiting for an echo");
    assert_eq!(conv.first_reply_at, None);
    let contact = store.contact_for_identity(w.ws, wa, who.clone(), at(1)).await.unwrap();
    assert_eq!(conv.contact.id, contact.id);
    assert!(store.due_outbox(at(100), 50).await.unwrap().is_empty(), "an echo is never sent again");

    // Redelivered: nothing new.
    let again = store.record_echo(w.ws, wa, who.clone(), "wamid.PHONE1", "On my way", at(2)).await.unwrap();
    assert!(again.value.is_none() && again.events.is_empty());
    assert_eq!(store.list_messages(w.ws, conv.id, Page::first(50)).await.unwrap().items.len(), 1);

    // The customer answers (same conversation, now waiting); an agent
    // replies through the outbox; Meta echoes our own send: no copy.
    let inbound = store
        .receive_message(
            w.ws,
            InboundMessage { inbox_id: wa, contact_id: contact.id, content: "thanks".into(), echo_id: None, dedup_key: Some("wa:in:1".into()), attachment_ids: Vec::new() },
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(inbound.conversation.id, conv.id);
    let reply = OutboundMessage {
        kind: MessageKind::Out,
        content: "You're welcome".into(),
        sender: Sender { kind: SenderType::User, id: Some(w.agent.0), name: None },
        echo_id: None,
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    };
    store.send_message(w.ws, conv.id, reply, at(4)).await.unwrap();
    let due = store.due_outbox(at(5), 50).await.unwrap();
    assert_eq!(due.len(), 1);
    store.outbox_sent(w.ws, due[0].id, "wamid.OURS", at(5)).await.unwrap();
    let ours = store.record_echo(w.ws, wa, who.clone(), "wamid.OURS", "You're welcome", at(6)).await.unwrap();
    assert!(ours.value.is_none() && ours.events.is_empty(), "the echo of our own send is not a second copy");
    // A new echo from the phone while the customer waits: stored, but not
    // an agent's reply (the wait goes on).
    let phone = store.record_echo(w.ws, wa, who.clone(), "wamid.PHONE2", "Also…", at(7)).await.unwrap().value.expect("stored");
    assert_eq!(phone.conversation_id, conv.id);
    let items = store.list_messages(w.ws, conv.id, Page::first(50)).await.unwrap().items;
    let contents: Vec<_> = items.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, vec!["On my way", "thanks", "You're welcome", "Also…"]);
    assert!(store.due_outbox(at(100), 50).await.unwrap().is_empty());

    // Another workspace's ids are its own: the same wamid there is new,
    // and lands in that workspace only.
    let there = store.record_echo(other.ws, wa_other, who.clone(), "wamid.PHONE1", "Hello", at(8)).await.unwrap().value.expect("stored");
    let there_conv = store.get_conversation(other.ws, there.conversation_id).await.unwrap().expect("conversation");
    assert_eq!(there_conv.inbox_id, wa_other);
    assert!(store.get_conversation(w.ws, there.conversation_id).await.unwrap().is_none());
    assert_eq!(store.list_messages(w.ws, conv.id, Page::first(50)).await.unwrap().items.len(), 4);
    // An inbox of another workspace is not found.
    assert!(matches!(store.record_echo(w.ws, wa_other, who, "wamid.X", "x", at(9)).await, Err(StoreError::NotFound)));
}

// Voice (SPEC §3.6): its own file, the same two-backend harness.
#[path = "store_suite/voice.rs"]
mod voice;
#[path = "store_suite/ingest.rs"]
mod ingest;
#[path = "store_suite/arrival.rs"]
mod arrival;
#[path = "store_suite/outbox.rs"]
mod outbox;
