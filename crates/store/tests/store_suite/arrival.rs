//! A conversation a customer's message opens is born in the team the
//! workspace's routing rules pick, so its first events reach that team only.

use super::*;
use switchboard_core::events::EventPayload;
use switchboard_core::routing::SkillRequirement;
use switchboard_core::routing::team_select::RoutingRules;

store_suite!(new_conversation_is_born_in_its_rule_team, rules_naming_a_deleted_team_route_nowhere_and_keep_the_message);

fn rules(billing: TeamId, vip: TeamId) -> RoutingRules {
    serde_json::from_value(serde_json::json!({
        "rules": [
            {"name": "billing", "conditions": [{"type": "keywords", "keywords": ["refund"]}], "team_id": billing.0,
             "priority": "high", "skills": [{"skill": "uk", "min_level": 3}]},
            {"name": "vip", "conditions": [{"type": "contact_field", "field": "vip", "values": []}], "team_id": vip.0}
        ]
    }))
    .expect("rules")
}

async fn new_conversation_is_born_in_its_rule_team(store: Store) {
    let w = world(&store, "arrival").await;
    let billing = store.create_team(w.ws, "Billing", T0).await.unwrap().id;
    let vip = store.create_team(w.ws, "VIP", T0).await.unwrap().id;
    store.set_routing_rules(w.ws, rules(billing, vip), T0).await.unwrap();

    let ann = contact(&store, w.ws, "Ann").await;
    let r = inbound(&store, &w, ann, "I want a REFUND", Some("a1"), at(1)).await;
    assert_eq!((r.conversation.team_id, r.conversation.priority), (Some(billing), Priority::High));
    let created = r.events.iter().find(|e| matches!(e.payload, EventPayload::ConversationCreated(_))).expect("created event");
    assert_eq!(created.scope.map(|s| s.team_id), Some(Some(billing)), "the first event is already the team's");
    assert!(r.events.iter().all(|e| e.scope.is_some_and(|s| s.team_id == Some(billing))), "every event of the arrival is scoped to the team");
    let open = store.open_work(w.ws).await.unwrap();
    assert_eq!(open[0].skills, vec![SkillRequirement { skill: "uk".into(), min_level: 3 }], "the rule's skills are kept for the router");
    assert_eq!(store.get_conversation(w.ws, r.conversation.id).await.unwrap().map(|c| c.team_id), Some(Some(billing)));

    // A later message in the open conversation does not route it again.
    let again = inbound(&store, &w, ann, "hello?", Some("a2"), at(2)).await;
    assert_eq!((again.conversation.id, again.conversation.team_id), (r.conversation.id, Some(billing)));

    // A contact field rule reads the contact's fields.
    let vera = store
        .create_contact(
            w.ws,
            ContactFields { name: Some(Some("Vera".into())), custom_fields: Some([("vip".to_owned(), serde_json::json!(true))].into_iter().collect()), ..Default::default() },
            T0,
        )
        .await
        .unwrap()
        .id;
    let v = inbound(&store, &w, vera, "hi", Some("v1"), at(3)).await;
    assert_eq!((v.conversation.team_id, v.conversation.priority), (Some(vip), Priority::None));

    // No rule matches: the shared pool, as before.
    let oleg = contact(&store, w.ws, "Oleg").await;
    let o = inbound(&store, &w, oleg, "hi", Some("o1"), at(4)).await;
    assert_eq!(o.conversation.team_id, None);
}

async fn rules_naming_a_deleted_team_route_nowhere_and_keep_the_message(store: Store) {
    let w = world(&store, "arrival-gone").await;
    let billing = store.create_team(w.ws, "Billing", T0).await.unwrap().id;
    let vip = store.create_team(w.ws, "VIP", T0).await.unwrap().id;
    store.set_routing_rules(w.ws, rules(billing, vip), T0).await.unwrap();
    store.delete_team(w.ws, billing).await.unwrap();
    let ann = contact(&store, w.ws, "Ann").await;
    let r = inbound(&store, &w, ann, "refund please", Some("g1"), at(1)).await;
    assert_eq!((r.conversation.team_id, r.conversation.priority), (None, Priority::None));
    let page = store.list_messages(w.ws, r.conversation.id, Page::first(10)).await.unwrap();
    assert_eq!(page.items.len(), 1, "the message is stored");
}
