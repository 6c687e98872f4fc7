//! Voice cases of the store suite (SPEC §3.6), on both backends like the
//! rest: settings and SIP domains, extensions, numbers, trunks, IVR menus,
//! call records and callback requests.

use super::*;
use switchboard_core::events::EventPayload;
use switchboard_core::voice::*;

store_suite!(
    voice_settings_default_save_and_resolve_sip_domains,
    voice_extensions_are_unique_and_credentials_resolve_by_domain,
    voice_numbers_are_unique_across_workspaces_and_mirror_the_inbox,
    voice_trunks_keep_their_password_and_validate,
    voice_ivr_menus_check_references_in_their_workspace,
    call_lifecycle_records_history_durations_and_events,
    calls_list_filters_pages_and_visibility,
    missed_calls_and_callbacks_follow_up,
    call_media_is_attached_and_served_per_workspace,
);

async fn voice_inbox(store: &Store, w: &World, numbers: &[&str]) -> InboxId {
    let new = NewInbox { name: "Phone".into(), channel: Channel::Voice, config: Default::default(), website_token: None };
    store.create_voice_inbox(w.ws, new, numbers.iter().map(|n| (*n).to_owned()).collect(), T0).await.expect("voice inbox").id
}

async fn number_id(store: &Store, ws: WorkspaceId, number: &str) -> VoiceNumberId {
    store.list_voice_numbers(ws).await.expect("numbers").into_iter().find(|n| n.number == number).expect("number").id
}

fn tts(text: &str) -> Prompt {
    Prompt::Tts { tts: text.into(), voice: "en".into() }
}

fn menu(name: &str, options: Vec<(&str, IvrAction)>) -> IvrMenuSpec {
    IvrMenuSpec {
        name: name.into(),
        prompt: tts("Press 1 for sales"),
        options: options.into_iter().map(|(d, action)| IvrOption { digit: d.into(), action }).collect(),
        timeout_secs: 5,
        max_retries: 2,
        invalid_prompt: None,
        timeout_action: IvrAction::Hangup,
    }
}

fn conflict_code(e: StoreError) -> &'static str {
    match e {
        StoreError::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn voice_settings_default_save_and_resolve_sip_domains(store: Store) {
    let a = world(&store, "va").await;
    let b = world(&store, "vb").await;
    let s = store.get_voice_settings(a.ws).await.unwrap();
    assert_eq!(s.sip_domain, Some(default_sip_domain(a.ws)));
    assert_eq!(s.ring_timeout_secs, 20);
    // Defaults resolve to their workspace until it saves another domain.
    assert_eq!(store.find_workspace_by_sip_domain(&default_sip_domain(a.ws)).await.unwrap(), Some(a.ws));
    let custom = VoiceSettings { sip_domain: Some("sip.acme.test".into()), wrap_up_secs: 30, ..VoiceSettings::default() };
    let saved = store.set_voice_settings(a.ws, custom, at(1)).await.unwrap();
    assert_eq!(saved.sip_domain.as_deref(), Some("sip.acme.test"));
    assert_eq!(saved.wrap_up_secs, 30);
    assert_eq!(store.get_voice_settings(a.ws).await.unwrap(), saved);
    assert_eq!(store.find_workspace_by_sip_domain("SIP.acme.test.").await.unwrap(), Some(a.ws));
    assert_eq!(store.find_workspace_by_sip_domain(&default_sip_domain(a.ws)).await.unwrap(), None);
    assert_eq!(store.find_workspace_by_sip_domain("nobody.test").await.unwrap(), None);
    assert_eq!(store.find_workspace_by_sip_domain("ws999999.switchboard.local").await.unwrap(), None);
    // Another workspace cannot take it; its own settings are untouched.
    let steal = VoiceSettings { sip_domain: Some("sip.acme.test".into()), ..VoiceSettings::default() };
    assert_eq!(conflict_code(store.set_voice_settings(b.ws, steal, at(2)).await.unwrap_err()), "sip_domain_taken");
    assert_eq!(store.get_voice_settings(b.ws).await.unwrap().sip_domain, Some(default_sip_domain(b.ws)));
}

async fn voice_extensions_are_unique_and_credentials_resolve_by_domain(store: Store) {
    let a = world(&store, "xa").await;
    let b = world(&store, "xb").await;
    let realm = default_sip_domain(a.ws);
    let new = |ext: &str, user: Option<UserId>| NewSipExtension {
        extension: ext.into(),
        user_id: user,
        display_name: format!("Desk {ext}"),
        ha1: format!("{ext:0>32}"),
        realm: realm.clone(),
    };
    let e = store.create_sip_extension(a.ws, new("101", Some(a.agent)), T0).await.unwrap();
    assert_eq!(conflict_code(store.create_sip_extension(a.ws, new("101", None), T0).await.unwrap_err()), "extension_taken");
    assert_eq!(conflict_code(store.create_sip_extension(a.ws, new("102", Some(a.agent)), T0).await.unwrap_err()), "agent_has_extension");
    // Another workspace's user is not an agent here; the same number there is fine.
    assert!(matches!(store.create_sip_extension(a.ws, new("103", Some(b.agent)), T0).await, Err(StoreError::Invalid(_))));
    store.create_sip_extension(b.ws, new("101", Some(b.agent)), T0).await.unwrap();
    assert_eq!(store.list_sip_extensions(a.ws).await.unwrap().len(), 1);

    let creds = store.sip_credentials(&realm, "101").await.unwrap().expect("credentials");
    assert_eq!((creds.workspace_id, creds.extension_id, creds.user_id), (a.ws, e.id, Some(a.agent)));
    assert_eq!(creds.realm, realm);
    assert!(store.sip_credentials(&realm, "999").await.unwrap().is_none());
    assert!(store.sip_credentials("unknown.test", "101").await.unwrap().is_none());
    assert_eq!(store.extension_of_user(a.ws, a.agent).await.unwrap().map(|x| x.id), Some(e.id));

    // New password → new HA1 and realm; unlink the agent.
    let patch = SipExtensionPatch { user_id: Some(None), display_name: None, credentials: Some(("f".repeat(32), "sip.new.test".into())) };
    let updated = store.update_sip_extension(a.ws, e.id, patch).await.unwrap();
    assert_eq!((updated.user_id, updated.realm.as_str()), (None, "sip.new.test"));
    // Foreign ids are not found.
    assert!(store.get_sip_extension(b.ws, e.id).await.unwrap().is_none());
    assert!(matches!(store.update_sip_extension(b.ws, e.id, SipExtensionPatch::default()).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_sip_extension(b.ws, e.id).await, Err(StoreError::NotFound)));
    store.delete_sip_extension(a.ws, e.id).await.unwrap();
    assert!(store.list_sip_extensions(a.ws).await.unwrap().is_empty());
}

async fn voice_numbers_are_unique_across_workspaces_and_mirror_the_inbox(store: Store) {
    let a = world(&store, "na").await;
    let b = world(&store, "nb").await;
    let inbox = voice_inbox(&store, &a, &["+380441110001"]).await;
    let b_inbox = voice_inbox(&store, &b, &[]).await;
    let team = store.create_team(a.ws, "Sales", T0).await.unwrap().id;
    let b_team = store.create_team(b.ws, "Sales", T0).await.unwrap().id;
    let n = store
        .create_voice_number(
            a.ws,
            NewVoiceNumber { number: "+380441110002".into(), inbox_id: inbox, ivr_menu_id: None, default_team_id: Some(team) },
            T0,
        )
        .await
        .unwrap();
    // The inbox config mirrors its numbers.
    let cfg = store.get_inbox(a.ws, inbox).await.unwrap().unwrap().config;
    assert_eq!(cfg["numbers"], serde_json::json!(["+380441110001", "+380441110002"]));
    // Unique across workspaces: nothing is written in the other one.
    let dup = NewVoiceNumber { number: "+380441110002".into(), inbox_id: b_inbox, ivr_menu_id: None, default_team_id: None };
    assert_eq!(conflict_code(store.create_voice_number(b.ws, dup, T0).await.unwrap_err()), "number_taken");
    assert!(store.list_voice_numbers(b.ws).await.unwrap().is_empty());
    // A voice inbox with a taken number is not created at all.
    let before = store.list_inboxes(b.ws).await.unwrap().len();
    let new = NewInbox { name: "Dup".into(), channel: Channel::Voice, config: Default::default(), website_token: None };
    let err = store.create_voice_inbox(b.ws, new, vec!["+380441110001".into()], T0).await.unwrap_err();
    assert_eq!(conflict_code(err), "number_taken");
    assert_eq!(store.list_inboxes(b.ws).await.unwrap().len(), before);
    // Foreign or wrong references are invalid.
    let foreign_team = NewVoiceNumber { number: "+380441110003".into(), inbox_id: inbox, ivr_menu_id: None, default_team_id: Some(b_team) };
    assert!(matches!(store.create_voice_number(a.ws, foreign_team, T0).await, Err(StoreError::Invalid(_))));
    let chat_inbox = NewVoiceNumber { number: "+380441110003".into(), inbox_id: a.inbox, ivr_menu_id: None, default_team_id: None };
    assert!(matches!(store.create_voice_number(a.ws, chat_inbox, T0).await, Err(StoreError::Invalid(_))));
    let foreign_inbox = NewVoiceNumber { number: "+380441110003".into(), inbox_id: b_inbox, ivr_menu_id: None, default_team_id: None };
    assert!(matches!(store.create_voice_number(a.ws, foreign_inbox, T0).await, Err(StoreError::Invalid(_))));

    // The global lookup finds the workspace, inbox, team and settings.
    let route = store.lookup_number("+380441110002").await.unwrap().expect("route");
    assert_eq!((route.number.workspace_id, route.number.inbox_id, route.number.default_team_id), (a.ws, inbox, Some(team)));
    assert_eq!(route.settings.sip_domain, Some(default_sip_domain(a.ws)));
    assert!(route.menu.is_none());
    assert!(store.lookup_number("+19999999999").await.unwrap().is_none());

    let m = store.create_ivr_menu(a.ws, menu("Main", vec![("1", IvrAction::Queue { team_id: team })]), T0).await.unwrap();
    let patch = VoiceNumberPatch { ivr_menu_id: Some(Some(m.id)), default_team_id: Some(None), ..Default::default() };
    let updated = store.update_voice_number(a.ws, n.id, patch).await.unwrap();
    assert_eq!((updated.ivr_menu_id, updated.default_team_id), (Some(m.id), None));
    assert_eq!(store.lookup_number("+380441110002").await.unwrap().and_then(|r| r.menu).map(|m| m.id), Some(m.id));
    assert!(matches!(store.update_voice_number(b.ws, n.id, VoiceNumberPatch::default()).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_voice_number(b.ws, n.id).await, Err(StoreError::NotFound)));
    store.delete_voice_number(a.ws, n.id).await.unwrap();
    let cfg = store.get_inbox(a.ws, inbox).await.unwrap().unwrap().config;
    assert_eq!(cfg["numbers"], serde_json::json!(["+380441110001"]));
}

async fn voice_trunks_keep_their_password_and_validate(store: Store) {
    let a = world(&store, "ta").await;
    let b = world(&store, "tb").await;
    let new = NewSipTrunk {
        name: "Carrier".into(),
        host: "sip.carrier.test".into(),
        port: 5060,
        transport: SipTransport::Udp,
        username: Some("acct".into()),
        password: Some("s3cret".into()),
        register: true,
        inbound_ips: vec!["192.0.2.10".into()],
        inbound_auth: false,
    };
    let t = store.create_sip_trunk(a.ws, new.clone(), T0).await.unwrap();
    assert_eq!((t.password.as_deref(), t.port, t.inbound_ips.len()), (Some("s3cret"), 5060, 1));
    assert_eq!(conflict_code(store.create_sip_trunk(a.ws, new.clone(), T0).await.unwrap_err()), "already_exists");
    let no_creds = NewSipTrunk { name: "Other".into(), username: None, password: None, ..new.clone() };
    assert!(matches!(store.create_sip_trunk(a.ws, no_creds, T0).await, Err(StoreError::Invalid(_))));
    // A partial update keeps the password.
    let patch = SipTrunkPatch { port: Some(5080), transport: Some(SipTransport::Tcp), ..Default::default() };
    let t2 = store.update_sip_trunk(a.ws, t.id, patch, at(1)).await.unwrap();
    assert_eq!((t2.port, t2.transport, t2.password.as_deref()), (5080, SipTransport::Tcp, Some("s3cret")));
    assert!(store.get_sip_trunk(b.ws, t.id).await.unwrap().is_none());
    assert!(matches!(store.update_sip_trunk(b.ws, t.id, SipTrunkPatch::default(), at(1)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_sip_trunk(b.ws, t.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_sip_trunks(a.ws).await.unwrap().len(), 1);
    // Registration: the SIP server finds registering trunks of every
    // workspace and records their state, scoped by workspace.
    assert!(t2.registration.is_none());
    let regs = store.list_registering_trunks().await.unwrap();
    assert!(regs.iter().any(|(ws, x)| *ws == a.ws && x.id == t.id), "{regs:?}");
    let reg = TrunkRegistration {
        state: TrunkRegistrationState::Registered,
        expires_at: Some(at(600)),
        last_error: None,
        updated_at: at(2),
    };
    store.set_sip_trunk_registration(b.ws, t.id, Some(reg.clone())).await.unwrap();
    assert!(store.get_sip_trunk(a.ws, t.id).await.unwrap().unwrap().registration.is_none(), "another workspace cannot write it");
    store.set_sip_trunk_registration(a.ws, t.id, Some(reg.clone())).await.unwrap();
    assert_eq!(store.get_sip_trunk(a.ws, t.id).await.unwrap().unwrap().registration, Some(reg));
    let off = SipTrunkPatch { register: Some(false), ..Default::default() };
    store.update_sip_trunk(a.ws, t.id, off, at(3)).await.unwrap();
    assert!(!store.list_registering_trunks().await.unwrap().iter().any(|(_, x)| x.id == t.id));
    store.set_sip_trunk_registration(a.ws, t.id, None).await.unwrap();
    assert!(store.get_sip_trunk(a.ws, t.id).await.unwrap().unwrap().registration.is_none());
    store.delete_sip_trunk(a.ws, t.id).await.unwrap();
    assert!(store.list_sip_trunks(a.ws).await.unwrap().is_empty());
}

async fn voice_ivr_menus_check_references_in_their_workspace(store: Store) {
    let a = world(&store, "ia").await;
    let b = world(&store, "ib").await;
    let team = store.create_team(a.ws, "Support", T0).await.unwrap().id;
    let b_team = store.create_team(b.ws, "Support", T0).await.unwrap().id;
    let main = store
        .create_ivr_menu(a.ws, menu("Main", vec![("1", IvrAction::Queue { team_id: team }), ("9", IvrAction::Voicemail)]), T0)
        .await
        .unwrap();
    // A menu may loop back to itself, or lead to another of the workspace.
    let looped = menu("Main", vec![("0", IvrAction::Menu { menu_id: main.id }), ("1", IvrAction::Queue { team_id: team })]);
    let main = store.update_ivr_menu(a.ws, main.id, looped, at(1)).await.unwrap();
    assert_eq!(main.spec.options.len(), 2);
    let sub = store.create_ivr_menu(a.ws, menu("Sub", vec![("*", IvrAction::Menu { menu_id: main.id })]), T0).await.unwrap();
    // Another workspace's team or menu: refused, nothing written.
    assert!(matches!(
        store.create_ivr_menu(a.ws, menu("Bad", vec![("1", IvrAction::Queue { team_id: b_team })]), T0).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_ivr_menu(b.ws, menu("Bad", vec![("1", IvrAction::Menu { menu_id: main.id })]), T0).await,
        Err(StoreError::Invalid(_))
    ));
    let bad_prompt = IvrMenuSpec { prompt: Prompt::Audio { attachment_id: AttachmentId(987654) }, ..menu("Bad", vec![]) };
    assert!(matches!(store.create_ivr_menu(a.ws, bad_prompt, T0).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.list_ivr_menus(a.ws).await.unwrap().len(), 2);
    assert!(store.list_ivr_menus(b.ws).await.unwrap().is_empty());
    assert!(store.get_ivr_menu(b.ws, main.id).await.unwrap().is_none());
    assert!(matches!(store.update_ivr_menu(b.ws, main.id, menu("X", vec![]), at(2)).await, Err(StoreError::NotFound)));
    // A menu another one leads to cannot go; the leaf can.
    assert_eq!(conflict_code(store.delete_ivr_menu(a.ws, main.id).await.unwrap_err()), "ivr_menu_in_use");
    assert!(matches!(store.delete_ivr_menu(b.ws, sub.id).await, Err(StoreError::NotFound)));
    store.delete_ivr_menu(a.ws, sub.id).await.unwrap();
    store.delete_ivr_menu(a.ws, main.id).await.unwrap();
}

async fn call_lifecycle_records_history_durations_and_events(store: Store) {
    let a = world(&store, "ca").await;
    let b = world(&store, "cb").await;
    let inbox = voice_inbox(&store, &a, &["+380442220001"]).await;
    let team = store.create_team(a.ws, "Sales", T0).await.unwrap().id;
    let did = number_id(&store, a.ws, "+380442220001").await;
    store.update_voice_number(a.ws, did, VoiceNumberPatch { default_team_id: Some(Some(team)), ..Default::default() }).await.unwrap();
    // A WhatsApp-style card with the same phone is reused (one card per person).
    let known = store
        .create_contact(
            a.ws,
            ContactFields { name: Some(Some("Olena".into())), phone: Some(Some("+380501234567".into())), ..Default::default() },
            T0,
        )
        .await
        .unwrap();
    let events_before = store.count_events(a.ws).await.unwrap();
    let new = NewCall {
        direction: CallDirection::Inbound,
        voice_number_id: did,
        remote_number: Some("+380501234567".into()),
        contact_id: None,
        agent_user_id: None,
        sip_call_id: Some("abc@carrier".into()),
    };
    let created = store.create_call(a.ws, new.clone(), at(10)).await.unwrap();
    let call = created.value.clone();
    assert_eq!((call.contact_id, call.inbox_id, call.team_id), (known.id, inbox, Some(team)));
    assert_eq!((call.from_number.as_str(), call.to_number.as_str()), ("+380501234567", "+380442220001"));
    assert!(call.disposition.is_none() && call.ended_at.is_none());
    let kinds: Vec<&str> = created.events.iter().map(|e| e.payload.kind()).collect();
    assert_eq!(kinds, ["conversation.created", "message.created", "call.created"]);
    assert_eq!(store.count_events(a.ws).await.unwrap(), events_before + 3, "events are recorded with the write");
    // The call is in the contact's history, in the voice inbox, waiting.
    let conv = store.get_conversation(a.ws, call.conversation_id).await.unwrap().unwrap();
    assert_eq!((conv.inbox_id, conv.contact.id, conv.team_id, conv.channel), (inbox, known.id, Some(team), Channel::Voice));
    assert!(conv.waiting_since.is_some());
    assert_eq!(store.call_by_sip_id(a.ws, "abc@carrier").await.unwrap().map(|c| c.id), Some(call.id));
    assert!(store.call_by_sip_id(b.ws, "abc@carrier").await.unwrap().is_none());

    // Answered by the agent after 4 s, ended after 65 s of talk.
    let answered = store.answer_call(a.ws, call.id, Some(a.agent), at(14)).await.unwrap();
    assert_eq!((answered.value.answered_at, answered.value.agent_user_id), (Some(at(14)), Some(a.agent)));
    assert!(answered.events.iter().any(|e| matches!(e.payload, EventPayload::CallUpdated(_))));
    let conv = store.get_conversation(a.ws, call.conversation_id).await.unwrap().unwrap();
    assert_eq!((conv.assignee_id, conv.waiting_since, conv.first_reply_at), (Some(a.agent), None, Some(at(14))));
    assert_eq!(conflict_code(store.answer_call(a.ws, call.id, Some(a.agent), at(15)).await.unwrap_err()), "call_already_answered");
    assert!(matches!(store.end_call(a.ws, call.id, CallDisposition::Missed, at(79)).await, Err(StoreError::Invalid(_))));
    let ended = store.end_call(a.ws, call.id, CallDisposition::Answered, at(79)).await.unwrap();
    assert_eq!((ended.value.wait_ms, ended.value.talk_ms), (Some(4_000), Some(65_000)));
    assert_eq!(ended.value.callback_status, None);
    assert!(matches!(ended.events[0].payload, EventPayload::CallEnded(_)));
    assert_eq!(conflict_code(store.end_call(a.ws, call.id, CallDisposition::Answered, at(80)).await.unwrap_err()), "call_ended");
    let lines = store.list_messages(a.ws, call.conversation_id, Page::first(10)).await.unwrap().items;
    let texts: Vec<&str> = lines.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["Incoming call from +380501234567", "Call ended after 1:05"]);

    // A second call from the same number appends to the open conversation.
    let again = store.create_call(a.ws, NewCall { sip_call_id: None, ..new }, at(100)).await.unwrap();
    assert_eq!(again.value.conversation_id, call.conversation_id);
    assert_eq!(again.events[0].payload.kind(), "conversation.updated");
    // Routing it to a team of another workspace is refused.
    let b_team = store.create_team(b.ws, "Sales", T0).await.unwrap().id;
    assert!(matches!(store.set_call_team(a.ws, again.value.id, Some(b_team), at(101)).await, Err(StoreError::Invalid(_))));

    // Outbound click-to-call to a contact: from our number, assigned to the agent.
    let out = NewCall {
        direction: CallDirection::Outbound,
        voice_number_id: did,
        remote_number: None,
        contact_id: Some(known.id),
        agent_user_id: Some(a.agent),
        sip_call_id: None,
    };
    let dialed = store.create_call(a.ws, out.clone(), at(200)).await.unwrap().value;
    assert_eq!((dialed.from_number.as_str(), dialed.to_number.as_str()), ("+380442220001", "+380501234567"));
    // Foreign ids: another workspace's number, contact, call, agent.
    assert!(matches!(store.create_call(b.ws, out.clone(), at(201)).await, Err(StoreError::NotFound)));
    let b_contact = contact(&store, b.ws, "Stranger").await;
    let foreign_contact = NewCall { contact_id: Some(b_contact), ..out.clone() };
    assert!(matches!(store.create_call(a.ws, foreign_contact, at(201)).await, Err(StoreError::NotFound)));
    let foreign_agent = NewCall { agent_user_id: Some(b.agent), ..out };
    assert!(matches!(store.create_call(a.ws, foreign_agent, at(201)).await, Err(StoreError::Invalid(_))));
    assert!(store.get_call(b.ws, call.id).await.unwrap().is_none());
    assert!(matches!(store.answer_call(b.ws, dialed.id, None, at(202)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.end_call(b.ws, dialed.id, CallDisposition::Failed, at(202)).await, Err(StoreError::NotFound)));
}

async fn calls_list_filters_pages_and_visibility(store: Store) {
    let a = world(&store, "la").await;
    voice_inbox(&store, &a, &["+380443330001"]).await;
    let did = number_id(&store, a.ws, "+380443330001").await;
    let sales = store.create_team(a.ws, "Sales", T0).await.unwrap().id;
    let other = store.create_team(a.ws, "Other", T0).await.unwrap().id;
    store.set_team_member(a.ws, sales, a.agent, 5, T0).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let new = NewCall {
            direction: if i % 2 == 0 { CallDirection::Inbound } else { CallDirection::Outbound },
            voice_number_id: did,
            remote_number: Some(format!("+38050000000{i}")),
            contact_id: None,
            agent_user_id: None,
            sip_call_id: None,
        };
        let call = store.create_call(a.ws, new, at(i)).await.unwrap().value;
        // Calls 0-2: Sales, 3-4: Other, 5-6: no team.
        let team = match i {
            0..=2 => Some(sales),
            3 | 4 => Some(other),
            _ => None,
        };
        store.set_call_team(a.ws, call.id, team, at(i)).await.unwrap();
        ids.push(call.id);
    }
    store.end_call(a.ws, ids[0], CallDisposition::Missed, at(20)).await.unwrap();
    let admin = viewer(&a, a.admin, Role::Admin, vec![]);
    // Pages: newest first, no gaps or repeats.
    let mut seen = Vec::new();
    let mut page = Page::first(3);
    loop {
        let p = store.list_calls(&admin, &CallFilter::default(), page).await.unwrap();
        seen.extend(p.items.iter().map(|c| c.id));
        match p.next {
            Some(next) => page = Page { after: Some(next), limit: 3 },
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let inbound = CallFilter { direction: Some(CallDirection::Inbound), ..Default::default() };
    assert_eq!(store.list_calls(&admin, &inbound, Page::first(50)).await.unwrap().items.len(), 4);
    let missed = CallFilter { disposition: Some(CallDisposition::Missed), ..Default::default() };
    assert_eq!(
        store.list_calls(&admin, &missed, Page::first(50)).await.unwrap().items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let window = CallFilter { from: Some(at(2)), to: Some(at(4)), ..Default::default() };
    assert_eq!(store.list_calls(&admin, &window, Page::first(50)).await.unwrap().items.len(), 2);
    let first = store.get_call(a.ws, ids[1]).await.unwrap().unwrap();
    let by_contact = CallFilter { contact: Some(first.contact_id), ..Default::default() };
    assert_eq!(store.list_calls(&admin, &by_contact, Page::first(50)).await.unwrap().items.len(), 1);
    // An agent of Sales sees Sales calls and calls of no team, not Other's.
    let agent = viewer(&a, a.agent, Role::Agent, vec![sales]);
    let visible: Vec<CallId> =
        store.list_calls(&agent, &CallFilter::default(), Page::first(50)).await.unwrap().items.iter().map(|c| c.id).collect();
    assert_eq!(visible, vec![ids[6], ids[5], ids[2], ids[1], ids[0]]);
    // …unless they took the call themselves.
    store.answer_call(a.ws, ids[3], Some(a.agent), at(30)).await.unwrap();
    let by_agent = CallFilter { agent: Some(a.agent), ..Default::default() };
    assert_eq!(
        store.list_calls(&agent, &by_agent, Page::first(50)).await.unwrap().items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
}

async fn missed_calls_and_callbacks_follow_up(store: Store) {
    let a = world(&store, "ma").await;
    let b = world(&store, "mb").await;
    voice_inbox(&store, &a, &["+380444440001"]).await;
    let did = number_id(&store, a.ws, "+380444440001").await;
    let inbound = |n: &str| NewCall {
        direction: CallDirection::Inbound,
        voice_number_id: did,
        remote_number: Some(n.into()),
        contact_id: None,
        agent_user_id: None,
        sip_call_id: None,
    };
    let c1 = store.create_call(a.ws, inbound("+380671111111"), at(1)).await.unwrap().value;
    let c2 = store.create_call(a.ws, inbound("+380672222222"), at(2)).await.unwrap().value;
    let c3 = store.create_call(a.ws, inbound("+380673333333"), at(3)).await.unwrap().value;
    let ended = store.end_call(a.ws, c1.id, CallDisposition::Abandoned, at(11)).await.unwrap().value;
    assert_eq!((ended.callback_status, ended.wait_ms, ended.talk_ms), (Some(CallbackStatus::Pending), Some(10_000), Some(0)));
    store.end_call(a.ws, c2.id, CallDisposition::Voicemail, at(12)).await.unwrap();
    store.answer_call(a.ws, c3.id, Some(a.agent), at(4)).await.unwrap();
    store.end_call(a.ws, c3.id, CallDisposition::Answered, at(13)).await.unwrap();
    let admin = viewer(&a, a.admin, Role::Admin, vec![]);
    let pending = store.missed_calls(&admin, Some(CallbackStatus::Pending), Page::first(50)).await.unwrap().items;
    assert_eq!(pending.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c2.id, c1.id]);
    // Dismiss one; an answered call is not a missed call; foreign ids are not found.
    let dismissed = store.set_callback_status(a.ws, c2.id, CallbackStatus::Dismissed, at(20)).await.unwrap();
    assert!(matches!(dismissed.events[0].payload, EventPayload::CallUpdated(_)));
    assert_eq!(
        conflict_code(store.set_callback_status(a.ws, c3.id, CallbackStatus::Dismissed, at(20)).await.unwrap_err()),
        "not_a_missed_call"
    );
    assert!(matches!(store.set_callback_status(b.ws, c1.id, CallbackStatus::Dismissed, at(20)).await, Err(StoreError::NotFound)));
    assert_eq!(store.missed_calls(&admin, None, Page::first(50)).await.unwrap().items.len(), 2);
    // Calling the customer back, answered: their missed call is done.
    let back = NewCall {
        direction: CallDirection::Outbound,
        voice_number_id: did,
        remote_number: Some("+380671111111".into()),
        contact_id: None,
        agent_user_id: Some(a.agent),
        sip_call_id: None,
    };
    let back = store.create_call(a.ws, back, at(30)).await.unwrap().value;
    assert_eq!(back.contact_id, c1.contact_id, "the same card");
    let answered = store.answer_call(a.ws, back.id, None, at(35)).await.unwrap();
    assert!(answered.events.iter().any(|e| matches!(&e.payload, EventPayload::CallUpdated(c) if c.id == c1.id)));
    assert_eq!(store.get_call(a.ws, c1.id).await.unwrap().unwrap().callback_status, Some(CallbackStatus::Done));
    assert!(store.missed_calls(&admin, Some(CallbackStatus::Pending), Page::first(50)).await.unwrap().items.is_empty());

    // Callback requests: recorded, announced, listed, moved on.
    let req =
        NewCallbackRequest {
        phone: "+380675555555".into(),
        name: Some("Ivan".into()),
        source: CallbackSource::Website,
        call_id: None,
        inbox_id: None,
    };
    let written = store.create_callback_request(a.ws, req.clone(), at(40)).await.unwrap();
    assert!(matches!(written.events[0].payload, EventPayload::CallbackRequested(_)));
    assert_eq!(written.value.status, CallbackRequestStatus::Pending);
    let foreign_call = NewCallbackRequest { call_id: Some(c1.id), source: CallbackSource::Queue, ..req };
    assert!(matches!(store.create_callback_request(b.ws, foreign_call, at(41)).await, Err(StoreError::NotFound)));
    let list = store.list_callback_requests(a.ws, Some(CallbackRequestStatus::Pending), Page::first(50)).await.unwrap().items;
    assert_eq!(list.len(), 1);
    assert!(store.list_callback_requests(b.ws, None, Page::first(50)).await.unwrap().items.is_empty());
    let moved = store.set_callback_request_status(a.ws, written.value.id, CallbackRequestStatus::Done, Some(back.id)).await.unwrap();
    assert_eq!((moved.status, moved.call_id), (CallbackRequestStatus::Done, Some(back.id)));
    assert!(matches!(
        store.set_callback_request_status(b.ws, written.value.id, CallbackRequestStatus::Done, None).await,
        Err(StoreError::NotFound)
    ));
}

async fn call_media_is_attached_and_served_per_workspace(store: Store) {
    let a = world(&store, "ra").await;
    let b = world(&store, "rb").await;
    voice_inbox(&store, &a, &["+380445550001"]).await;
    let did = number_id(&store, a.ws, "+380445550001").await;
    let new = NewCall {
        direction: CallDirection::Inbound,
        voice_number_id: did,
        remote_number: Some("+380678888888".into()),
        contact_id: None,
        agent_user_id: None,
        sip_call_id: None,
    };
    let call = store.create_call(a.ws, new, at(1)).await.unwrap().value;
    assert!(store.call_media_file(a.ws, call.id, CallMedia::Recording).await.unwrap().is_none());
    let file = |bytes: &[u8]| NewCallFile {
        filename: "call.wav".into(),
        content_type: "audio/wav".into(),
        data: bytes.to_vec(),
        access_key: "k".repeat(32),
    };
    let w = store.attach_call_media(a.ws, call.id, CallMedia::Recording, file(b"RIFF-one"), at(2)).await.unwrap();
    assert!(w.value.recording_attachment_id.is_some());
    assert!(matches!(w.events[0].payload, EventPayload::CallUpdated(_)));
    // A second recording replaces the first.
    store.attach_call_media(a.ws, call.id, CallMedia::Recording, file(b"RIFF-two"), at(3)).await.unwrap();
    let got = store.call_media_file(a.ws, call.id, CallMedia::Recording).await.unwrap().expect("recording");
    assert_eq!((got.data.as_slice(), got.content_type.as_str()), (b"RIFF-two".as_slice(), "audio/wav"));
    assert!(store.call_media_file(a.ws, call.id, CallMedia::Voicemail).await.unwrap().is_none());
    store.attach_call_media(a.ws, call.id, CallMedia::Voicemail, file(b"RIFF-vm"), at(4)).await.unwrap();
    assert_eq!(store.call_media_file(a.ws, call.id, CallMedia::Voicemail).await.unwrap().map(|f| f.data), Some(b"RIFF-vm".to_vec()));
    // Another workspace gets nothing and cannot attach.
    assert!(store.call_media_file(b.ws, call.id, CallMedia::Recording).await.unwrap().is_none());
    assert!(matches!(store.attach_call_media(b.ws, call.id, CallMedia::Recording, file(b"x"), at(5)).await, Err(StoreError::NotFound)));
}
