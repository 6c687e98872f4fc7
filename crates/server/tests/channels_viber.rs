//! Viber end to end: the real binary, the Viber emulator (which writes
//! Viber's callbacks and signs them with `X-Viber-Content-Signature`), and
//! the outbox worker sending replies through `/pa/send_message`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_emulator::{Emulator, FailurePlan, Provider, VIBER_AUTH_TOKEN};

const USER: &str = "01234567890A=";

struct World {
    server: Server,
    emu: Emulator,
    admin: Api,
    alice: Api,
    ws: i64,
    hook: String,
}

async fn world(dir: &TempDir) -> World {
    let emu = Emulator::start().await;
    let server = Server::start("demo", dir.path(), None, &["--outbox-poll-ms", "50"]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let body = json!({"name": "Viber inbox", "channel": "viber",
                      "config": {"auth_token": VIBER_AUTH_TOKEN, "api_base_url": emu.base_url(), "sender_name": "Acme support"}});
    let (status, inbox) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), body).await;
    assert_eq!(status, 201, "{inbox}");
    assert!(inbox["config"].get("auth_token").is_none(), "the auth token is never shown: {inbox}");
    let hook = inbox["webhook_url"].as_str().expect("webhook url").to_owned();
    World { server, emu, admin, alice, ws, hook }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path("/conversations?channel=viber")).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    async fn messages(&self, conversation: i64) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations/{conversation}/messages?limit=200"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    async fn reply(&self, conversation: i64, text: &str, echo: &str) -> Value {
        let path = self.path(&format!("/conversations/{conversation}/messages"));
        let (status, body) = self.alice.post(&path, json!({"content": text, "echo_id": echo})).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn message(&self, conversation: i64, id: &Value) -> Value {
        self.messages(conversation).await.into_iter().find(|m| &m["id"] == id).expect("the message exists")
    }

    /// Polls a message until `pred` holds (20 s).
    async fn wait_message(&self, conversation: i64, id: &Value, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.message(conversation, id).await;
            if pred(&m) {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {m}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A customer writes in; returns the conversation id.
    async fn customer_writes(&self, text: &str) -> i64 {
        let d = self.emu.viber_inbound_text(&self.hook, VIBER_AUTH_TOKEN, USER, "John McClane", text).await.unwrap();
        assert_eq!(d.status, 200);
        let conversations = self.conversations().await;
        assert_eq!(conversations.len(), 1);
        conversations[0]["id"].as_i64().unwrap()
    }

    async fn wait_attempts(&self, at_least: usize, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.emu.attempts() < at_least {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_in_and_out() {
    let dir = TempDir::new("sb-viber").unwrap();
    let w = world(&dir).await;
    let http = reqwest::Client::new();

    // The check Viber makes when the webhook is set, and a user opening the
    // chat without writing: acknowledged, nothing created.
    for event in ["webhook", "conversation_started", "subscribed"] {
        let d = w.emu.viber_event(&w.hook, VIBER_AUTH_TOKEN, event, USER, None).await.unwrap();
        assert_eq!(d.status, 200, "{event}");
    }
    assert!(w.conversations().await.is_empty());

    let mut agent_ws = connect_ws(&w.server.ws_url(&format!("/api/v1/ws?token={}", w.admin.token.clone().unwrap()))).await;
    expect_frame(&mut agent_ws, "ready", |v| v["type"] == "ready").await;
    let delivery = w.emu.viber_inbound_text(&w.hook, VIBER_AUTH_TOKEN, USER, "John McClane", "Привіт! Where is my order?").await.unwrap();
    assert_eq!(delivery.status, 200);
    let created = expect_frame(&mut agent_ws, "the message reaches agents", |v| v["type"] == "message.created").await;
    assert_eq!(created["data"]["content"], "Привіт! Where is my order?");

    // Delivered twice more (three in all), then refused posts: one message.
    for _ in 0..2 {
        assert_eq!(w.emu.post_signed_viber(&w.hook, VIBER_AUTH_TOKEN, &delivery.body).await.unwrap(), 200);
    }
    assert_eq!(w.emu.post_signed_viber(&w.hook, "not-the-token", &delivery.body).await.unwrap(), 403);
    let unsigned = http.post(&w.hook).header("content-type", "application/json").body(delivery.body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    error_code(&unsigned.json::<Value>().await.unwrap());
    let tampered = String::from_utf8(delivery.body.clone()).unwrap().replace("Where is my order?", "Refund me now!!!!!");
    let sig = switchboard_emulator::viber_signature(VIBER_AUTH_TOKEN, &delivery.body);
    let forged = http.post(&w.hook).header("X-Viber-Content-Signature", sig).body(tampered).send().await.unwrap();
    assert_eq!(forged.status(), 403, "a signature is only good for its own body");
    assert_eq!(w.emu.post_signed_viber(&w.hook, VIBER_AUTH_TOKEN, b"{\"event\": ").await.unwrap(), 400);

    let conversations = w.conversations().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["contact"]["name"], "John McClane");
    let id = conversations[0]["id"].as_i64().unwrap();
    let messages = w.messages(id).await;
    assert_eq!(messages.len(), 1, "redeliveries and refused posts stored nothing: {messages:?}");
    assert_eq!(messages[0]["content"], "Привіт! Where is my order?");

    // The agent's reply goes out through /pa/send_message.
    let reply = w.reply(id, "Hi John, it ships today.", "v-1").await;
    assert_eq!(reply["status"], "queued");
    w.wait_message(id, &reply["id"], "reply sent", |m| m["status"] == "sent").await;
    let accepted = w.emu.sent();
    assert_eq!(accepted.len(), 1);
    assert_eq!((accepted[0].provider, accepted[0].to.as_str()), (Provider::Viber, USER));
    assert_eq!(
        accepted[0].body,
        json!({"receiver": USER, "min_api_version": 1, "sender": {"name": "Acme support"}, "type": "text", "text": "Hi John, it ships today."})
    );

    // Receipts out of order: seen, then a late delivered. Read stays.
    let token = accepted[0].external_id.clone();
    for event in ["seen", "delivered"] {
        let d = w.emu.viber_event(&w.hook, VIBER_AUTH_TOKEN, event, USER, Some(&token)).await.unwrap();
        assert_eq!(d.status, 200, "{event}");
    }
    let read = w.wait_message(id, &reply["id"], "read receipt", |m| m["status"] == "read").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.message(id, &reply["id"]).await["status"], "read", "{read}");

    // The user unsubscribed: Viber answers status 6 and the reply fails with
    // Viber's reason, shown to the agent. Nothing is retried.
    let d = w.emu.viber_event(&w.hook, VIBER_AUTH_TOKEN, "unsubscribed", USER, None).await.unwrap();
    assert_eq!(d.status, 200);
    let attempts = w.emu.attempts();
    let late = w.reply(id, "Are you still there?", "v-2").await;
    let failed = w.wait_message(id, &late["id"], "refused reply", |m| m["status"] == "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap_or("");
    assert!(reason.contains("receiverNotSubscribed") && reason.contains('6'), "{failed}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.emu.attempts(), attempts + 1, "a permanent failure is not retried");
    assert_eq!(w.emu.sent().len(), 1);
}

/// Viber's rate control (HTTP 200, status 12) and an outage (HTTP 500) are
/// retried with backoff; the reply then goes out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_rate_control_and_outage_are_retried() {
    let dir = TempDir::new("sb-viber-retry").unwrap();
    let w = world(&dir).await;
    let id = w.customer_writes("hello").await;

    w.emu.set_failures(FailurePlan { rate_429: 1.0, ..FailurePlan::default() });
    let reply = w.reply(id, "One moment please", "r-1").await;
    w.wait_attempts(2, "two answers of status 12").await;
    assert_eq!(w.message(id, &reply["id"]).await["status"], "queued", "status 12 is not a failure");

    w.emu.set_failures(FailurePlan { rate_5xx: 1.0, ..FailurePlan::default() });
    let seen = w.emu.attempts();
    w.wait_attempts(seen + 1, "an HTTP 500").await;
    assert_eq!(w.message(id, &reply["id"]).await["status"], "queued", "HTTP 500 is not a failure");

    w.emu.set_failures(FailurePlan::default());
    w.wait_message(id, &reply["id"], "sent after the retries", |m| m["status"] == "sent").await;
    let accepted = w.emu.sent();
    assert_eq!(accepted.len(), 1, "sent exactly once");
    assert_eq!(accepted[0].body["text"], "One moment please");
    assert!(w.emu.attempts() >= 4);

    // The message token Viber answered is what later receipts refer to.
    let d = w.emu.viber_event(&w.hook, VIBER_AUTH_TOKEN, "delivered", USER, Some(&accepted[0].external_id)).await.unwrap();
    assert_eq!(d.status, 200);
    w.wait_message(id, &reply["id"], "delivered receipt", |m| m["status"] == "delivered").await;
}

/// Polls the inbox until its `webhook_registration` is at least `since`
/// (ms) and answers it (10 s).
async fn registration(admin: &Api, ws: i64, inbox: i64, since: i64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes/{inbox}")).await;
        assert_eq!(status, 200, "{body}");
        let r = &body["config"]["webhook_registration"];
        if r["at"].as_i64().is_some_and(|at| at >= since) {
            return r.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the webhook was never registered: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn inbox_id(hook: &str) -> i64 {
    hook.rsplit('/').next().and_then(|id| id.parse().ok()).expect("inbox id in the webhook URL")
}

/// Creating a Viber inbox sets its webhook with Viber (which checks the URL
/// with a signed `webhook` callback first); a token Viber refuses shows on
/// the inbox as Viber's error. A `conversation_started` callback is
/// answered with the inbox's welcome message in Viber's format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_webhook_is_set_and_the_welcome_message_answers_a_new_chat() {
    let dir = TempDir::new("sb-viber-hook").unwrap();
    let w = world(&dir).await;
    let id = inbox_id(&w.hook);
    let ok = registration(&w.admin, w.ws, id, 0).await;
    assert_eq!((ok["ok"].as_bool(), ok["url"].as_str()), (Some(true), Some(w.hook.as_str())), "{ok}");
    assert!(ok.get("error").is_none(), "{ok}");
    assert_eq!(w.emu.viber_webhook(VIBER_AUTH_TOKEN).as_deref(), Some(w.hook.as_str()));

    // No welcome message configured: an empty 200.
    let (status, body) = w.emu.viber_conversation_started(&w.hook, VIBER_AUTH_TOKEN, USER).await.unwrap();
    assert_eq!((status.as_u16(), body.len()), (200, 0));
    let welcome = "Вітаємо! Напишіть нам, і ми відповімо.";
    let (status, inbox) = w.admin.patch(&w.path(&format!("/inboxes/{id}")), json!({"config": {"welcome_message": welcome}})).await;
    assert_eq!(status, 200, "{inbox}");
    let (status, body) = w.emu.viber_conversation_started(&w.hook, VIBER_AUTH_TOKEN, USER).await.unwrap();
    assert_eq!(status.as_u16(), 200);
    let answer: Value = serde_json::from_slice(&body).expect("a JSON welcome message");
    assert_eq!(answer, json!({"sender": {"name": "Acme support"}, "min_api_version": 1, "type": "text", "text": welcome}));
    // Signed wrongly: refused, no welcome.
    let (status, body) = w.emu.viber_conversation_started(&w.hook, "not-the-token", USER).await.unwrap();
    assert_eq!(status.as_u16(), 403);
    assert!(!String::from_utf8_lossy(&body).contains(welcome));
    assert!(w.conversations().await.is_empty(), "opening the chat is not a conversation");
    assert!(w.emu.sent().is_empty(), "the welcome goes in the answer, not through the send API");

    // A token Viber does not know: the inbox exists, and says why it gets nothing.
    let body = json!({"name": "Viber 2", "channel": "viber", "config": {"auth_token": "0123-unknown-token", "api_base_url": w.emu.base_url()}});
    let (status, bad) = w.admin.post(&w.path("/inboxes"), body).await;
    assert_eq!(status, 201, "{bad}");
    let failed = registration(&w.admin, w.ws, bad["id"].as_i64().unwrap(), 0).await;
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("invalidAuthToken")), "{failed}");
}
