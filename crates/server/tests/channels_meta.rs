//! Facebook Messenger and Instagram Direct end to end: the real binary,
//! the emulator's Messenger Platform (signed `entry[].messaging[]`
//! webhooks, the Send API with its window rule), and the outbox worker.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_emulator::{Emulator, Provider, INSTAGRAM_PAGE_TOKEN, MESSENGER_PAGE_TOKEN};

const FB_SECRET: &str = "fb-app-secret";
const FB_PAGE: &str = "1234567890";
const IG_SECRET: &str = "ig-app-secret";
const IG_ACCOUNT: &str = "17841400000000000";

struct World {
    #[allow(dead_code)]
    server: Server,
    emu: Emulator,
    admin: Api,
    alice: Api,
    ws: i64,
    fb_hook: String,
    ig_hook: String,
}

async fn world(dir: &TempDir, database_url: Option<&str>) -> World {
    let emu = Emulator::start().await;
    let server = Server::start("demo", dir.path(), database_url, &["--outbox-poll-ms", "50"]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let fb_hook = webhook_of_new_inbox(&admin, ws, "messenger",
        json!({"page_id": FB_PAGE, "page_access_token": MESSENGER_PAGE_TOKEN, "app_secret": FB_SECRET,
               "verify_token": "fb-verify", "api_base_url": emu.base_url()}),
    )
    .await;
    let ig_hook = webhook_of_new_inbox(&admin, ws, "instagram",
        json!({"instagram_account_id": IG_ACCOUNT, "page_access_token": INSTAGRAM_PAGE_TOKEN, "app_secret": IG_SECRET,
               "verify_token": "ig-verify", "api_base_url": emu.base_url()}),
    )
    .await;
    World { server, emu, admin, alice, ws, fb_hook, ig_hook }
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

    async fn message(&self, conversation: i64, id: &Value) -> Value {
        self.messages(conversation).await.into_iter().find(|m| &m["id"] == id).expect("message exists")
    }

    async fn reply(&self, conversation: i64, text: &str, echo: &str) -> Value {
        let path = self.path(&format!("/conversations/{conversation}/messages"));
        let (status, body) = self.alice.post(&path, json!({"content": text, "echo_id": echo})).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Polls a message until `pred` holds (15 s).
    async fn wait_message(&self, conversation: i64, id: &Value, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.messages(conversation).await.into_iter().find(|m| &m["id"] == id)
                && pred(&m)
            {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Signature checks and redelivery for either product: three deliveries
/// of one message store one; a wrong secret is 403, none is 401.
async fn inbound_is_signed_and_deduplicated(w: &World, hook: &str, secret: &str, channel: &str, delivery_body: &[u8]) -> i64 {
    for _ in 0..2 {
        assert_eq!(w.emu.post_signed_whatsapp(hook, secret, delivery_body).await.unwrap(), 200);
    }
    assert_eq!(w.emu.post_signed_whatsapp(hook, "not-the-secret", delivery_body).await.unwrap(), 403);
    let unsigned = reqwest::Client::new().post(hook).header("content-type", "application/json").body(delivery_body.to_vec()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(w.emu.post_signed_whatsapp(hook, secret, b"{\"object\": ").await.unwrap(), 400);
    let conversations = w.conversations(channel).await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    let id = conversations[0]["id"].as_i64().unwrap();
    assert_eq!(w.messages(id).await.len(), 1, "redeliveries and refused posts stored nothing");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_in_and_out_on_sqlite() {
    messenger_in_and_out(None).await;
}

/// The watermark update is SQL of its own: run it on PostgreSQL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_in_and_out_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        return;
    }
    let db = PgTestDb::create().await.unwrap();
    messenger_in_and_out(Some(&db.url)).await;
}

async fn messenger_in_and_out(database_url: Option<&str>) {
    let dir = TempDir::new("sb-fb").unwrap();
    let w = world(&dir, database_url).await;
    let http = reqwest::Client::new();
    let psid = "1254459154682919";

    // Meta's subscription check.
    let verify = |token: &str| format!("{}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", w.fb_hook);
    let resp = http.get(verify("fb-verify")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "1158201444");
    assert_eq!(http.get(verify("guess")).send().await.unwrap().status(), 403);

    let delivery = w.emu.messenger_inbound_text(&w.fb_hook, FB_SECRET, FB_PAGE, psid, "Hello from Messenger").await.unwrap();
    assert_eq!(delivery.status, 200);
    let id = inbound_is_signed_and_deduplicated(&w, &w.fb_hook, FB_SECRET, "messenger", &delivery.body).await;
    assert_eq!(w.messages(id).await[0]["content"], "Hello from Messenger");
    // Another page's event on this inbox's URL: acknowledged, not stored.
    assert_eq!(w.emu.messenger_inbound_text(&w.fb_hook, FB_SECRET, "999", "someone", "not ours").await.unwrap().status, 200);
    assert_eq!(w.conversations("messenger").await.len(), 1);

    // The reply leaves as a RESPONSE inside the 24-hour window.
    let reply = w.reply(id, "Hi! How can we help?", "m-1").await;
    w.wait_message(id, &reply["id"], "reply sent", |m| m["status"] == "sent").await;
    let sent = w.emu.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].provider, sent[0].to.as_str()), (Provider::Messenger, psid));
    // `metadata` carries the outbox key, which Meta echoes back.
    let key = format!("switchboard-outbox:{}", reply["id"]);
    assert_eq!(sent[0].body, json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": "Hi! How can we help?", "metadata": key}}));
    let mid = sent[0].external_id.clone();

    // Receipts only move forward. A read watermark from before the send
    // reads nothing; delivery by mid; a read watermark now; a late delivery
    // does not undo it.
    let old = w.emu.messenger_read(&w.fb_hook, FB_SECRET, FB_PAGE, psid, Some(1_000)).await.unwrap();
    assert_eq!(old.status, 200);
    assert_eq!(w.message(id, &reply["id"]).await["status"], "sent");
    assert_eq!(w.emu.messenger_delivery(&w.fb_hook, FB_SECRET, FB_PAGE, psid, &[&mid]).await.unwrap().status, 200);
    assert_eq!(w.message(id, &reply["id"]).await["status"], "delivered");
    assert_eq!(w.emu.messenger_read(&w.fb_hook, FB_SECRET, FB_PAGE, psid, None).await.unwrap().status, 200);
    assert_eq!(w.message(id, &reply["id"]).await["status"], "read");
    assert_eq!(w.emu.messenger_delivery(&w.fb_hook, FB_SECRET, FB_PAGE, psid, &[&mid]).await.unwrap().status, 200);
    assert_eq!(w.message(id, &reply["id"]).await["status"], "read");
    // Another customer's read watermark touches nothing of this one's.
    let second = w.reply(id, "Anything else?", "m-2").await;
    w.wait_message(id, &second["id"], "second reply sent", |m| m["status"] == "sent").await;
    assert_eq!(w.emu.messenger_read(&w.fb_hook, FB_SECRET, FB_PAGE, "someone-else", None).await.unwrap().status, 200);
    assert_eq!(w.message(id, &second["id"]).await["status"], "sent");
    // A delivery watermark without mids delivers it.
    assert_eq!(w.emu.messenger_delivery(&w.fb_hook, FB_SECRET, FB_PAGE, psid, &[]).await.unwrap().status, 200);
    assert_eq!(w.message(id, &second["id"]).await["status"], "delivered");

    // Meta refuses free-form text outside the window (10 / 2018278): the
    // reply fails with Meta's words, shown to the agent.
    w.emu.set_messenger_window_closed(psid);
    let late = w.reply(id, "Are you still there?", "m-3").await;
    let failed = w.wait_message(id, &late["id"], "refused reply", |m| m["status"] == "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap_or("");
    assert!(reason.contains("2018278") && reason.contains("window"), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_in_and_out() {
    let dir = TempDir::new("sb-ig").unwrap();
    let w = world(&dir, None).await;
    let http = reqwest::Client::new();
    let igsid = "6400000000000001";

    let verify = |token: &str| format!("{}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42", w.ig_hook);
    let resp = http.get(verify("ig-verify")).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.text().await.unwrap().as_str()), (200, "42"));
    assert_eq!(http.get(verify("fb-verify")).send().await.unwrap().status(), 403);

    let delivery = w.emu.instagram_inbound_text(&w.ig_hook, IG_SECRET, IG_ACCOUNT, igsid, "Hi from Instagram").await.unwrap();
    assert_eq!(delivery.status, 200);
    let id = inbound_is_signed_and_deduplicated(&w, &w.ig_hook, IG_SECRET, "instagram", &delivery.body).await;
    assert_eq!(w.messages(id).await[0]["content"], "Hi from Instagram");
    // A Messenger notification is not an Instagram one.
    let page = w.emu.messenger_inbound_text(&w.ig_hook, IG_SECRET, IG_ACCOUNT, igsid, "wrong object").await.unwrap();
    assert_eq!(page.status, 400);
    assert!(w.conversations("messenger").await.is_empty());

    let reply = w.reply(id, "Thanks for writing!", "i-1").await;
    w.wait_message(id, &reply["id"], "reply sent", |m| m["status"] == "sent").await;
    let sent = w.emu.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].provider, sent[0].to.as_str()), (Provider::Instagram, igsid));
    assert_eq!(sent[0].body["messaging_type"], "RESPONSE");
    assert_eq!(sent[0].body["message"]["text"], "Thanks for writing!");

    // messaging_seen names the message; a repeat changes nothing.
    for _ in 0..2 {
        let seen = w.emu.instagram_seen(&w.ig_hook, IG_SECRET, IG_ACCOUNT, igsid, &sent[0].external_id).await.unwrap();
        assert_eq!(seen.status, 200);
    }
    assert_eq!(w.message(id, &reply["id"]).await["status"], "read");

    w.emu.set_messenger_window_closed(igsid);
    let late = w.reply(id, "Still there?", "i-2").await;
    let failed = w.wait_message(id, &late["id"], "refused reply", |m| m["status"] == "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap_or("").contains("2018278"), "{failed}");
}
