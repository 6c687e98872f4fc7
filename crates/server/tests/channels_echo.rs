//! Echoes end to end: messages the business sent from the provider's own
//! app (WhatsApp coexistence `smb_message_echoes`, Messenger `is_echo`)
//! appear in the thread as sent outbound, are never sent again through the
//! outbox, and the echo of the product's own send is not a second copy.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_emulator::{Emulator, MESSENGER_PAGE_TOKEN, WHATSAPP_TOKEN};

const WA_SECRET: &str = "wa-app-secret";
const WA_PHONE_ID: &str = "106540352242922";
const FB_SECRET: &str = "fb-app-secret";
const FB_PAGE: &str = "1234567890";

struct World {
    #[allow(dead_code)]
    server: Server,
    emu: Emulator,
    admin: Api,
    alice: Api,
    ws: i64,
    wa_hook: String,
    fb_hook: String,
}

async fn world(dir: &TempDir, database_url: Option<&str>) -> World {
    let emu = Emulator::start().await;
    let server = Server::start("demo", dir.path(), database_url, &["--outbox-poll-ms", "50"]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let wa_hook = webhook_of_new_inbox(&admin, ws, "whatsapp",
        json!({"phone_number_id": WA_PHONE_ID, "access_token": WHATSAPP_TOKEN, "app_secret": WA_SECRET,
               "verify_token": "wa-verify", "api_base_url": emu.base_url()}),
    )
    .await;
    let fb_hook = webhook_of_new_inbox(&admin, ws, "messenger",
        json!({"page_id": FB_PAGE, "page_access_token": MESSENGER_PAGE_TOKEN, "app_secret": FB_SECRET,
               "verify_token": "fb-verify", "api_base_url": emu.base_url()}),
    )
    .await;
    World { server, emu, admin, alice, ws, wa_hook, fb_hook }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    async fn conversations(&self, channel: &str) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations?channel={channel}"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    async fn messages(&self, conversation: i64) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations/{conversation}/messages?limit=200"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The agent's reply, once the outbox has sent it (15 s).
    async fn reply_sent(&self, conversation: i64, text: &str, echo: &str) -> Value {
        let path = self.path(&format!("/conversations/{conversation}/messages"));
        let (status, reply) = self.alice.post(&path, json!({"content": text, "echo_id": echo})).await;
        assert_eq!(status, 201, "{reply}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.messages(conversation).await.into_iter().find(|m| m["id"] == reply["id"])
                && m["status"] == "sent"
            {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for the reply to be sent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn contents(messages: &[Value]) -> Vec<(&str, &str)> {
    messages.iter().map(|m| (m["kind"].as_str().unwrap_or_default(), m["content"].as_str().unwrap_or_default())).collect()
}

async fn whatsapp_echoes(database_url: Option<&str>) {
    let dir = TempDir::new("sb-echo").unwrap();
    let w = world(&dir, database_url).await;
    let wa_id = "380501234567";

    // The business writes first, from the WhatsApp Business app.
    let echo = w.emu.whatsapp_echo_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, wa_id, None, "Your order is ready").await.unwrap();
    assert_eq!(echo.status, 200);
    let conversations = w.conversations("whatsapp").await;
    assert_eq!(conversations.len(), 1);
    let conv = &conversations[0];
    assert_eq!(conv["contact"]["phone"], "+380501234567");
    let id = conv["id"].as_i64().unwrap();
    let messages = w.messages(id).await;
    assert_eq!(contents(&messages), vec![("out", "Your order is ready")]);
    assert_eq!(messages[0]["status"], "sent");
    assert_eq!(messages[0]["sender"]["type"], "system");
    assert_eq!(messages[0]["sender"]["name"], "Sent from the WhatsApp app");
    // Redelivered: still one message.
    assert_eq!(w.emu.post_signed_whatsapp(&w.wa_hook, WA_SECRET, &echo.body).await.unwrap(), 200);

    // The customer answers in the same conversation; an agent replies
    // through the outbox, and Meta echoes that send back with its wamid.
    let inbound = w.emu.whatsapp_inbound_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, wa_id, "Olena", "Thanks!").await.unwrap();
    assert_eq!(inbound.status, 200);
    assert_eq!(w.conversations("whatsapp").await.len(), 1);
    w.reply_sent(id, "See you soon", "r-1").await;
    let sent = w.emu.sent();
    assert_eq!(sent.len(), 1, "only the agent's reply went through the provider");
    let ours = &sent[0].external_id;
    let own = w.emu.whatsapp_echo_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, wa_id, Some(ours), "See you soon").await.unwrap();
    assert_eq!(own.status, 200);

    // Give the outbox worker time to (wrongly) send an echo.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.emu.sent().len(), 1, "echoes are never sent again");
    let messages = w.messages(id).await;
    assert_eq!(contents(&messages), vec![("out", "Your order is ready"), ("in", "Thanks!"), ("out", "See you soon")]);
    assert_eq!(messages[2]["sender"]["type"], "user", "our own send keeps its agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_echoes_on_sqlite() {
    whatsapp_echoes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_echoes_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        return;
    }
    let db = PgTestDb::create().await.unwrap();
    whatsapp_echoes(Some(&db.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_echoes() {
    let dir = TempDir::new("sb-fb-echo").unwrap();
    let w = world(&dir, None).await;
    let psid = "1254459154682919";

    let inbound = w.emu.messenger_inbound_text(&w.fb_hook, FB_SECRET, FB_PAGE, psid, "Hello").await.unwrap();
    assert_eq!(inbound.status, 200);
    let id = w.conversations("messenger").await[0]["id"].as_i64().unwrap();
    // Answered from Meta Business Suite: shown, not sent again.
    let echo = w.emu.messenger_echo_text(&w.fb_hook, FB_SECRET, FB_PAGE, psid, None, "Hi from the page").await.unwrap();
    assert_eq!(echo.status, 200);
    assert_eq!(w.emu.post_signed_whatsapp(&w.fb_hook, FB_SECRET, &echo.body).await.unwrap(), 200);
    // Our own reply, and its echo.
    w.reply_sent(id, "From Switchboard", "m-1").await;
    let sent = w.emu.sent();
    assert_eq!(sent.len(), 1);
    let own = w.emu.messenger_echo_text(&w.fb_hook, FB_SECRET, FB_PAGE, psid, Some(&sent[0].external_id), "From Switchboard").await.unwrap();
    assert_eq!(own.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.emu.sent().len(), 1, "echoes are never sent again");
    let messages = w.messages(id).await;
    assert_eq!(contents(&messages), vec![("in", "Hello"), ("out", "Hi from the page"), ("out", "From Switchboard")]);
    assert_eq!(messages[1]["sender"]["name"], "Sent from the Facebook Page");
    assert_eq!(w.conversations("messenger").await.len(), 1);
}

/// Polls the agent's reply until `pred` (15 s).
async fn wait_for(w: &World, conversation: i64, id: &Value, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(m) = w.messages(conversation).await.into_iter().find(|m| &m["id"] == id)
            && pred(&m)
        {
            return m;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The echo of our own send arrives before the send's answer: Messenger's
/// carries the outbox key back (`metadata`); WhatsApp's names only the
/// wamid the product has not heard yet, and is matched to the send in
/// flight to the same person with the same text. Either way the agent's
/// message is marked sent with the echo's id, and no second copy appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_that_beats_the_send_answer_is_not_a_second_copy() {
    let dir = TempDir::new("sb-echo-race").unwrap();
    let w = world(&dir, None).await;
    let psid = "1254459154682919";
    w.emu.subscribe_page_echoes(MESSENGER_PAGE_TOKEN, FB_PAGE, &w.fb_hook, FB_SECRET);
    // Answers are held 3 s; the echo goes out before the hold.
    w.emu.set_answer_delay(Duration::from_secs(3));

    assert_eq!(w.emu.messenger_inbound_text(&w.fb_hook, FB_SECRET, FB_PAGE, psid, "Hello").await.unwrap().status, 200);
    let fb = w.conversations("messenger").await[0]["id"].as_i64().unwrap();
    let path = w.path(&format!("/conversations/{fb}/messages"));
    let (status, reply) = w.alice.post(&path, json!({"content": "From Switchboard", "echo_id": "race-1"})).await;
    assert_eq!(status, 201, "{reply}");
    let sent = wait_for(&w, fb, &reply["id"], "the echo to settle the send", |m| m["status"] == "sent").await;
    assert_eq!(w.emu.sends_in_flight(), 1, "settled by the echo, while the answer was still held");
    assert!(sent["failure_reason"].is_null(), "{sent}");
    let accepted = w.emu.sent();
    assert_eq!(accepted[0].body["message"]["metadata"].as_str().map(|k| k.starts_with("switchboard-outbox:")), Some(true), "{}", accepted[0].body);
    // The answer lands later: still one copy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.emu.sends_in_flight() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the held answer never went out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = w.messages(fb).await;
    assert_eq!(contents(&messages), vec![("in", "Hello"), ("out", "From Switchboard")]);
    assert_eq!(messages[1]["sender"]["type"], "user", "the agent's own message, not an app echo");
    assert_eq!(w.emu.sent().len(), 1);

    // WhatsApp: the test plays Meta's echo while the answer is held.
    let wa_id = "380501234567";
    assert_eq!(w.emu.whatsapp_inbound_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, wa_id, "Olena", "Hi").await.unwrap().status, 200);
    let wa = w.conversations("whatsapp").await[0]["id"].as_i64().unwrap();
    let path = w.path(&format!("/conversations/{wa}/messages"));
    let (status, reply) = w.alice.post(&path, json!({"content": "See you soon", "echo_id": "race-2"})).await;
    assert_eq!(status, 201, "{reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.emu.sends_in_flight() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the send never reached the provider");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wamid = w.emu.sent().last().map(|s| s.external_id.clone()).expect("accepted");
    let echo = w.emu.whatsapp_echo_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, wa_id, Some(&wamid), "See you soon").await.unwrap();
    assert_eq!(echo.status, 200);
    wait_for(&w, wa, &reply["id"], "the echo to settle the WhatsApp send", |m| m["status"] == "sent").await;
    assert_eq!(w.emu.sends_in_flight(), 1, "settled by the echo, while the answer was still held");
    // Meta redelivers the echo after the answer: nothing new.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.emu.sends_in_flight() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the held answer never went out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w.emu.post_signed_whatsapp(&w.wa_hook, WA_SECRET, &echo.body).await.unwrap(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = w.messages(wa).await;
    assert_eq!(contents(&messages), vec![("in", "Hi"), ("out", "See you soon")]);
    assert_eq!(messages[1]["sender"]["type"], "user");
}
