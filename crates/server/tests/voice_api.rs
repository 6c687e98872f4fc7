//! Voice over HTTP (SPEC §3.6): configuration (settings, extensions,
//! numbers, trunks, IVR menus), the call log, missed calls, recordings with
//! Range requests, click-to-call and the website callback button. The SIP
//! engine's writes (calls offered, answered, ended, recorded) are made
//! through the store on the server's own database, as the engine will.

mod common;

use common::*;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use switchboard_core::voice::{CallDirection, CallDisposition, CallMedia};
use switchboard_core::*;
use switchboard_store::{NewCall, NewCallFile, NewInbox, NewVoiceNumber, Store};

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Timestamp(ms)
}

/// The server's database, opened beside it (SQLite allows a second process).
async fn store_of(server: &Server) -> Store {
    Store::open(None, &server.data_dir).await.expect("open the server's store")
}

/// Another workspace with a team, a voice inbox and a number.
struct Foreign {
    ws: WorkspaceId,
    team: TeamId,
    inbox: InboxId,
    number: VoiceNumberId,
}

async fn foreign_workspace(store: &Store, number: &str) -> Foreign {
    let ws = store.create_workspace("Other Co", "secret", now()).await.expect("workspace").id;
    let team = store.create_team(ws, "Theirs", now()).await.expect("team").id;
    let new = NewInbox { name: "Their phone".into(), channel: Channel::Voice, config: Default::default(), website_token: None };
    let inbox = store.create_voice_inbox(ws, new, vec![], now()).await.expect("inbox").id;
    let n = NewVoiceNumber { number: number.into(), inbox_id: inbox, ivr_menu_id: None, default_team_id: Some(team) };
    let number = store.create_voice_number(ws, n, now()).await.expect("number").id;
    Foreign { ws, team, inbox, number }
}

async fn team_id(admin: &Api, ws: i64, name: &str) -> i64 {
    let (_, teams) = admin.get(&format!("/api/v1/workspaces/{ws}/teams")).await;
    teams["data"].as_array().and_then(|a| a.iter().find(|t| t["name"] == name)).and_then(|t| t["id"].as_i64()).expect("team")
}

async fn user_id(admin: &Api, ws: i64, email: &str) -> i64 {
    let (_, users) = admin.get(&format!("/api/v1/workspaces/{ws}/users")).await;
    users["data"].as_array().and_then(|a| a.iter().find(|u| u["email"] == email)).and_then(|u| u["id"].as_i64()).expect("user")
}

async fn create_voice_inbox(admin: &Api, ws: i64, numbers: Value) -> (u16, Value) {
    admin
        .post(&format!("/api/v1/workspaces/{ws}/inboxes"), json!({"name": "Phone", "channel": "voice", "config": {"numbers": numbers}}))
        .await
}

fn ha1(ext: &str, realm: &str, pw: &str) -> String {
    hex::encode(Md5::digest(format!("{ext}:{realm}:{pw}").as_bytes()))
}

#[tokio::test]
async fn voice_configuration_is_admin_only_validated_and_workspace_scoped() {
    let dir = TempDir::new("sb-voice-config").unwrap();
    let server = Server::demo(&dir).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let v = |p: &str| format!("/api/v1/workspaces/{ws}/voice/{p}");
    let store = store_of(&server).await;
    let other = foreign_workspace(&store, "+380449999999").await;

    // Settings: defaults, agents may read, only admins write, bad input refused.
    let (status, s) = alice.get(&v("settings")).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["sip_domain"], format!("ws{ws}.switchboard.local"));
    assert_eq!(
        (s["ring_timeout_secs"].as_i64(), s["max_wait_action"].as_str(), s["recording"].as_bool()),
        (Some(20), Some("voicemail"), Some(true))
    );
    let (status, body) = alice.put(&v("settings"), json!({"wrap_up_secs": 5})).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    let (status, body) = admin.raw(reqwest::Method::PUT, &v("settings"), "application/json", b"{\"wrap_up_secs\":".to_vec()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_json"));
    for bad in [
        json!({"ring_timeout_secs": 1}),
        json!({"colour": "red"}),
        json!({"sip_domain": "ws999.switchboard.local"}),
        json!({"max_wait_action": "sing"}),
    ] {
        let (status, body) = admin.put(&v("settings"), bad.clone()).await;
        assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "{bad}");
    }

    // A voice inbox lists its numbers; a malformed one creates nothing.
    let (_, before) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    let (status, body) = create_voice_inbox(&admin, ws, json!(["0441234567"])).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"));
    let (status, body) = create_voice_inbox(&admin, ws, json!(["+380449999999"])).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "number_taken"), "another workspace's number");
    let (_, after) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    assert_eq!(before["data"].as_array().map(Vec::len), after["data"].as_array().map(Vec::len), "nothing written");
    let (status, inbox) = create_voice_inbox(&admin, ws, json!(["+380441234567"])).await;
    assert_eq!(status, 201, "{inbox}");
    let inbox_id = inbox["id"].as_i64().unwrap();
    assert_eq!(inbox["config"]["numbers"], json!(["+380441234567"]));
    let (status, body) =
        admin.patch(&format!("/api/v1/workspaces/{ws}/inboxes/{inbox_id}"), json!({"config": {"numbers": ["+380441234568"]}})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"));

    // Numbers: E.164 only, unique across workspaces, references of this workspace.
    let support = team_id(&admin, ws, "Support").await;
    for (bad, code, status) in [
        (json!({"number": "+38 044 123", "inbox_id": inbox_id}), "validation_failed", 400),
        (json!({"number": "+380441234567", "inbox_id": inbox_id}), "number_taken", 409),
        (json!({"number": "+380449999999", "inbox_id": inbox_id}), "number_taken", 409),
        (json!({"number": "+380441230000", "inbox_id": other.inbox.0}), "validation_failed", 400),
        (json!({"number": "+380441230000", "inbox_id": inbox_id, "default_team_id": other.team.0}), "validation_failed", 400),
        (json!({"number": "+380441230000", "inbox_id": inbox_id, "extra": 1}), "validation_failed", 400),
    ] {
        let (s, body) = admin.post(&v("numbers"), bad.clone()).await;
        assert_eq!((s, error_code(&body).as_str()), (status, code), "{bad}");
    }
    let (status, body) = alice.post(&v("numbers"), json!({"number": "+380441230000", "inbox_id": inbox_id})).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    let (status, number) =
        admin.post(&v("numbers"), json!({"number": "+380441230000", "inbox_id": inbox_id, "default_team_id": support})).await;
    assert_eq!(status, 201, "{number}");
    let number_id = number["id"].as_i64().unwrap();
    let (_, list) = alice.get(&v("numbers")).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "agents read numbers (caller ids)");
    let (status, _) = admin.patch(&v(&format!("numbers/{}", other.number.0)), json!({"default_team_id": null})).await;
    assert_eq!(status, 404, "another workspace's number");

    // Extensions: the password becomes HA1 under the SIP domain, never shown.
    let alice_id = user_id(&admin, ws, "alice@demo.test").await;
    let (status, ext) = admin
        .post(&v("extensions"), json!({"extension": "101", "user_id": alice_id, "display_name": "Alice desk", "password": "phone-pass-1"}))
        .await;
    assert_eq!(status, 201, "{ext}");
    assert!(ext.get("password").is_none() && ext.get("ha1").is_none(), "{ext}");
    assert_eq!(ext["password_realm_current"], true);
    let domain = format!("ws{ws}.switchboard.local");
    let creds = store.sip_credentials(&domain, "101").await.unwrap().expect("credentials");
    assert_eq!(creds.ha1, ha1("101", &domain, "phone-pass-1"));
    assert_eq!(creds.user_id, Some(UserId(alice_id)));
    for (bad, status, code) in [
        (json!({"extension": "101", "display_name": "Dup", "password": "phone-pass-1"}), 409, "extension_taken"),
        (json!({"extension": "102", "user_id": alice_id, "display_name": "Two", "password": "phone-pass-1"}), 409, "agent_has_extension"),
        (json!({"extension": "1a", "display_name": "Bad", "password": "phone-pass-1"}), 400, "validation_failed"),
        (json!({"extension": "103", "display_name": "Bad", "password": "short"}), 400, "validation_failed"),
        (json!({"extension": "103", "display_name": "Bad", "password": "phone-pass-1", "user_id": 999999}), 400, "validation_failed"),
    ] {
        let (s, body) = admin.post(&v("extensions"), bad.clone()).await;
        assert_eq!((s, error_code(&body).as_str()), (status, code), "{bad}");
    }
    let (status, body) = admin.raw(reqwest::Method::POST, &v("extensions"), "application/json", b"{not json".to_vec()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_json"));
    let (status, _) = alice.get(&v("extensions")).await;
    assert_eq!(status, 403);
    // A new SIP domain: stored HA1s keep their realm until the password is set again.
    let (status, s) = admin.put(&v("settings"), json!({"sip_domain": "SIP.Demo.test", "wrap_up_secs": 30})).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["sip_domain"].as_str(), s["wrap_up_secs"].as_i64(), s["ring_timeout_secs"].as_i64()),
        (Some("sip.demo.test"), Some(30), Some(20))
    );
    let (_, exts) = admin.get(&v("extensions")).await;
    assert_eq!(exts["data"][0]["password_realm_current"], false);
    assert_eq!(store.sip_credentials("sip.demo.test", "101").await.unwrap().map(|c| c.realm), Some(domain.clone()));
    let ext_id = ext["id"].as_i64().unwrap();
    let (status, ext) = admin.patch(&v(&format!("extensions/{ext_id}")), json!({"password": "phone-pass-2", "user_id": null})).await;
    assert_eq!(status, 200, "{ext}");
    assert_eq!((ext["password_realm_current"].as_bool(), ext["user_id"].is_null()), (Some(true), true));
    assert_eq!(
        store.sip_credentials("sip.demo.test", "101").await.unwrap().map(|c| c.ha1),
        Some(ha1("101", "sip.demo.test", "phone-pass-2"))
    );
    let (status, body) = admin.put(&format!("/api/v1/workspaces/{ws}/voice/settings"), json!({"sip_domain": "sip.demo.test"})).await;
    assert_eq!(status, 200, "{body}");

    // Trunks: the password is write-only.
    let trunk = json!({"name": "Carrier", "host": "sip.carrier.test", "username": "acct", "password": "trunk-secret", "register": true,
                       "inbound_ips": ["192.0.2.10"]});
    let (status, t) = admin.post(&v("trunks"), trunk.clone()).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!((t["has_password"].as_bool(), t["port"].as_i64(), t["transport"].as_str()), (Some(true), Some(5060), Some("udp")));
    assert!(!t.to_string().contains("trunk-secret"));
    let tid = t["id"].as_i64().unwrap();
    let (_, got) = admin.get(&v(&format!("trunks/{tid}"))).await;
    assert!(!got.to_string().contains("trunk-secret"));
    let (status, got) = admin.patch(&v(&format!("trunks/{tid}")), json!({"port": 5080, "transport": "tcp"})).await;
    assert_eq!((status, got["port"].as_i64(), got["has_password"].as_bool()), (200, Some(5080), Some(true)));
    for bad in [
        json!({"name": "X", "host": "bad host"}),
        json!({"name": "X", "host": "h.test", "inbound_ips": ["not-an-ip"]}),
        json!({"name": "X", "host": "h.test", "register": true}),
        json!({"name": "X", "host": "h.test", "transport": "carrier-pigeon"}),
    ] {
        let (s, body) = admin.post(&v("trunks"), bad.clone()).await;
        assert_eq!((s, error_code(&body).as_str()), (400, "validation_failed"), "{bad}");
    }
    let (status, body) = admin.post(&v("trunks"), trunk).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "already_exists"));
    let (status, _) = alice.get(&v("trunks")).await;
    assert_eq!(status, 403);

    // IVR menus: unique digits, this workspace's teams and menus only.
    let menu = json!({"name": "Main", "prompt": {"tts": "Press 1 for support", "voice": "en"},
                      "options": [{"digit": "1", "action": {"type": "queue", "team_id": support}},
                                  {"digit": "9", "action": {"type": "voicemail"}}]});
    let (status, m) = admin.post(&v("ivr-menus"), menu.clone()).await;
    assert_eq!(status, 201, "{m}");
    let menu_id = m["id"].as_i64().unwrap();
    assert_eq!((m["timeout_secs"].as_i64(), m["timeout_action"]["type"].as_str()), (Some(5), Some("hangup")));
    let dup = json!({"name": "Dup", "prompt": {"tts": "x"}, "options": [{"digit": "1", "action": {"type": "hangup"}}, {"digit": "1", "action": {"type": "voicemail"}}]});
    let foreign = json!({"name": "Foreign", "prompt": {"tts": "x"}, "options": [{"digit": "1", "action": {"type": "queue", "team_id": other.team.0}}]});
    let unknown_menu =
        json!({"name": "Gone", "prompt": {"tts": "x"}, "options": [{"digit": "2", "action": {"type": "menu", "menu_id": 999999}}]});
    let bad_action = json!({"name": "Odd", "prompt": {"tts": "x"}, "options": [{"digit": "3", "action": {"type": "dance"}}]});
    let bad_digit = json!({"name": "Odd", "prompt": {"tts": "x"}, "options": [{"digit": "A", "action": {"type": "hangup"}}]});
    for bad in [dup, foreign, unknown_menu, bad_action, bad_digit] {
        let (s, body) = admin.post(&v("ivr-menus"), bad.clone()).await;
        assert_eq!((s, error_code(&body).as_str()), (400, "validation_failed"), "{bad}");
    }
    let (_, menus) = admin.get(&v("ivr-menus")).await;
    assert_eq!(menus["data"].as_array().map(Vec::len), Some(1), "refused menus wrote nothing");
    // A menu may lead back to itself.
    let looped = json!({"name": "Main", "prompt": {"tts": "Press 0 to hear this again"},
                        "options": [{"digit": "0", "action": {"type": "menu", "menu_id": menu_id}}, {"digit": "#", "action": {"type": "hangup"}}]});
    let (status, m) = admin.put(&v(&format!("ivr-menus/{menu_id}")), looped).await;
    assert_eq!(status, 200, "{m}");
    let (status, _) = admin.patch(&v(&format!("numbers/{number_id}")), json!({"ivr_menu_id": menu_id})).await;
    assert_eq!(status, 200);
    let route = store.lookup_number("+380441230000").await.unwrap().expect("route");
    assert_eq!(route.menu.map(|m| m.id.0), Some(menu_id));
    let (status, body) = admin.delete(&v(&format!("ivr-menus/{menu_id}"))).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "ivr_menu_in_use"));
    let (status, _) = alice.post(&v("ivr-menus"), menu).await;
    assert_eq!(status, 403);
    // Another workspace's ids are not found here.
    let (status, _) = admin.get(&v(&format!("ivr-menus/{}", 999999))).await;
    assert_eq!(status, 404);
    let _ = other.ws;
}

/// A voice inbox with one number (default team Support); returns its id.
async fn voice_setup(admin: &Api, ws: i64) -> (i64, i64) {
    let (status, inbox) = create_voice_inbox(admin, ws, json!([])).await;
    assert_eq!(status, 201, "{inbox}");
    let inbox_id = inbox["id"].as_i64().unwrap();
    let support = team_id(admin, ws, "Support").await;
    let body = json!({"number": "+380445550000", "inbox_id": inbox_id, "default_team_id": support});
    let (status, n) = admin.post(&format!("/api/v1/workspaces/{ws}/voice/numbers"), body).await;
    assert_eq!(status, 201, "{n}");
    (inbox_id, n["id"].as_i64().unwrap())
}

fn wav(len: usize) -> Vec<u8> {
    let mut data = b"RIFF....WAVEfmt ".to_vec();
    data.extend((0..len.saturating_sub(16)).map(|i| (i % 251) as u8));
    data
}

fn inbound(number: i64, from: &str) -> NewCall {
    NewCall {
        direction: CallDirection::Inbound,
        voice_number_id: VoiceNumberId(number),
        remote_number: Some(from.into()),
        contact_id: None,
        agent_user_id: None,
        sip_call_id: None,
    }
}

#[tokio::test]
async fn call_log_missed_calls_recordings_and_dialing() {
    let dir = TempDir::new("sb-voice-calls").unwrap();
    let server = Server::demo(&dir).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let calls = |p: &str| format!("/api/v1/workspaces/{ws}/calls{p}");
    let (_, number) = voice_setup(&admin, ws).await;
    let store = store_of(&server).await;
    let w = WorkspaceId(ws);
    let alice_id = UserId(user_id(&admin, ws, "alice@demo.test").await);
    let sales = TeamId(team_id(&admin, ws, "Sales").await);
    let other = foreign_workspace(&store, "+380448880000").await;

    // The SIP engine's writes: one answered and recorded, one missed, one for Sales.
    let answered = store.create_call(w, inbound(number, "+380671000001"), now()).await.unwrap().value;
    store.answer_call(w, answered.id, Some(alice_id), now()).await.unwrap();
    store.end_call(w, answered.id, CallDisposition::Answered, now()).await.unwrap();
    let audio = wav(1000);
    let file =
        NewCallFile { filename: "call.wav".into(), content_type: "audio/wav".into(), data: audio.clone(), access_key: "k".repeat(32) };
    store.attach_call_media(w, answered.id, CallMedia::Recording, file, now()).await.unwrap();
    let missed = store.create_call(w, inbound(number, "+380671000002"), now()).await.unwrap().value;
    store.end_call(w, missed.id, CallDisposition::Missed, now()).await.unwrap();
    let sales_call = store.create_call(w, inbound(number, "+380671000003"), now()).await.unwrap().value;
    store.set_call_team(w, sales_call.id, Some(sales), now()).await.unwrap();
    let theirs = store.create_call(other.ws, inbound(other.number.0, "+380671000004"), now()).await.unwrap().value;

    // The log: newest first, filters, bad filters refused.
    let (status, log) = admin.get(&calls("")).await;
    assert_eq!(status, 200, "{log}");
    let ids: Vec<i64> = log["data"].as_array().unwrap().iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(ids, vec![sales_call.id.0, missed.id.0, answered.id.0]);
    let (_, one) = admin.get(&calls(&format!("/{}", answered.id))).await;
    assert_eq!((one["disposition"].as_str(), one["agent_user_id"].as_i64()), (Some("answered"), Some(alice_id.0)));
    assert!(one["talk_ms"].as_i64().is_some() && one["wait_ms"].as_i64().is_some());
    let (_, only_missed) = admin.get(&calls("?disposition=missed")).await;
    assert_eq!(only_missed["data"].as_array().map(Vec::len), Some(1));
    let (_, mine) = alice.get(&calls("?agent=me")).await;
    assert_eq!(mine["data"][0]["id"].as_i64(), Some(answered.id.0));
    let (_, paged) = admin.get(&calls("?limit=2")).await;
    let cursor = paged["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, rest) = admin.get(&calls(&format!("?limit=2&cursor={cursor}"))).await;
    assert_eq!(rest["data"][0]["id"].as_i64(), Some(answered.id.0));
    for bad in ["?direction=sideways", "?disposition=maybe", "?from=yesterday", "?limit=0", "?agent=x"] {
        let (status, body) = admin.get(&calls(bad)).await;
        assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"), "{bad}");
    }
    // Agents (alice is in Support) do not see Sales' call; nobody sees another workspace's.
    let (status, _) = alice.get(&calls(&format!("/{}", sales_call.id))).await;
    assert_eq!(status, 404);
    let (_, alice_log) = alice.get(&calls("")).await;
    assert_eq!(alice_log["data"].as_array().map(Vec::len), Some(2));
    let (status, _) = admin.get(&calls(&format!("/{}", theirs.id))).await;
    assert_eq!(status, 404);
    let (status, _) = admin.get(&calls("/abc")).await;
    assert_eq!(status, 404);

    // Missed calls: listed, dismissed once; an answered call is not missed.
    let (_, list) = alice.get(&calls("/missed")).await;
    assert_eq!(list["data"].as_array().map(|a| a.iter().filter_map(|c| c["id"].as_i64()).collect::<Vec<_>>()), Some(vec![missed.id.0]));
    let (status, body) = admin.get(&calls("/missed?status=later")).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    let (status, d) = alice.post(&calls(&format!("/missed/{}/dismiss", missed.id)), json!({})).await;
    assert_eq!((status, d["callback_status"].as_str()), (200, Some("dismissed")), "{d}");
    let (_, list) = alice.get(&calls("/missed")).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
    let (_, all) = alice.get(&calls("/missed?status=all")).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1));
    let (status, body) = alice.post(&calls(&format!("/missed/{}/dismiss", answered.id)), json!({})).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "not_a_missed_call"));
    let (status, _) = admin.post(&calls(&format!("/missed/{}/dismiss", theirs.id)), json!({})).await;
    assert_eq!(status, 404);

    // The recording: auth, whole file, byte ranges, unsatisfiable ranges.
    let url = format!("{}{}", server.base, calls(&format!("/{}/recording", answered.id)));
    let token = alice.token.clone().unwrap();
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), audio.as_slice());
    let resp = http.get(&url).bearer_auth(&token).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 0-9/1000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &audio[..10]);
    let resp = http.get(&url).bearer_auth(&token).header("range", "bytes=990-").send().await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 990-999/1000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &audio[990..]);
    let resp = http.get(&url).bearer_auth(&token).header("range", "bytes=-4").send().await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &audio[996..]);
    let resp = http.get(&url).bearer_auth(&token).header("range", "bytes=1000-").send().await.unwrap();
    assert_eq!(resp.status(), 416);
    assert_eq!(resp.headers()["content-range"], "bytes */1000");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "range_not_satisfiable");
    let resp = http.get(&url).bearer_auth(&token).header("range", "bytes=0-1,5-6").send().await.unwrap();
    assert_eq!(resp.status(), 200, "several ranges: the whole file");
    let (status, _) = alice.get(&calls(&format!("/{}/recording", missed.id))).await;
    assert_eq!(status, 404, "no recording");
    let (status, _) = alice.get(&calls(&format!("/{}/voicemail", answered.id))).await;
    assert_eq!(status, 404, "no voicemail");
    let (status, _) = alice.get(&calls(&format!("/{}/recording", sales_call.id))).await;
    assert_eq!(status, 404, "a call alice may not see");

    // Click-to-call: accepted for dialing (202), announced on the socket.
    let mut socket = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={token}"))).await;
    expect_frame(&mut socket, "ready", |v| v["type"] == "ready").await;
    let (status, call) = alice.post(&calls(""), json!({"number": "+380679990000", "voice_number_id": number})).await;
    assert_eq!(status, 202, "{call}");
    assert_eq!((call["direction"].as_str(), call["agent_user_id"].as_i64()), (Some("outbound"), Some(alice_id.0)));
    assert_eq!((call["from_number"].as_str(), call["to_number"].as_str()), (Some("+380445550000"), Some("+380679990000")));
    let frame = expect_frame(&mut socket, "call.created", |v| v["type"] == "call.created").await;
    assert_eq!(frame["data"]["id"], call["id"]);
    let conv = call["conversation_id"].as_i64().unwrap();
    let (_, c) = alice.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv}")).await;
    assert_eq!((c["channel"].as_str(), c["assignee_id"].as_i64()), (Some("voice"), Some(alice_id.0)), "{c}");
    for (bad, status, code) in [
        (json!({"number": "12", "voice_number_id": number}), 400, "validation_failed"),
        (json!({"voice_number_id": number}), 400, "validation_failed"),
        (json!({"number": "+380679990000", "voice_number_id": other.number.0}), 404, "not_found"),
        (json!({"contact_id": 999999, "voice_number_id": number}), 404, "not_found"),
        (json!({"number": "+380679990000"}), 400, "validation_failed"),
    ] {
        let (s, body) = alice.post(&calls(""), bad.clone()).await;
        assert_eq!((s, error_code(&body).as_str()), (status, code), "{bad}");
    }
    let (status, body) = alice.raw(reqwest::Method::POST, &calls(""), "application/json", b"[1,".to_vec()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_json"));

    // The website's callback button: public, validated, recorded and announced.
    let button = "/api/v1/widget/callback-request";
    let (status, req) =
        server.api().post(button, json!({"website_token": website_token, "phone": "+380 67 123-45-67", "name": "Ivan"})).await;
    assert_eq!((status, req["status"].as_str()), (202, Some("pending")), "{req}");
    expect_frame(&mut socket, "callback.requested", |v| v["type"] == "callback.requested" && v["data"]["phone"] == "+380671234567").await;
    let (status, body) = server.api().post(button, json!({"website_token": website_token, "phone": "call me"})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"));
    let (status, body) = server.api().post(button, json!({"website_token": website_token, "phone": "0671234567"})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "not international");
    let (status, _) = server.api().post(button, json!({"website_token": "nope", "phone": "+380671234567"})).await;
    assert_eq!(status, 404);
    let (_, list) = alice.get(&calls("/callback-requests")).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!((list["data"][0]["name"].as_str(), list["data"][0]["source"].as_str()), (Some("Ivan"), Some("website")));
}

#[tokio::test]
async fn callback_button_is_rate_limited() {
    let dir = TempDir::new("sb-voice-limit").unwrap();
    let server = Server::demo(&dir).await;
    let admin = server.login("admin@demo.test").await;
    let (_, website_token) = demo_workspace(&admin).await;
    let body = json!({"website_token": website_token, "phone": "+380671234567"});
    let mut limited = None;
    for _ in 0..200 {
        let (status, resp) = server.api().post("/api/v1/widget/callback-request", body.clone()).await;
        if status == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(status, 202, "{resp}");
    }
    let resp = limited.expect("the public limit applies");
    assert_eq!(error_code(&resp), "rate_limited");
}
