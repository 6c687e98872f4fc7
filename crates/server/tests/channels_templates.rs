//! WhatsApp message templates end to end (outside the 24-hour window only
//! a template goes through) and the messaging-window endpoint.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_emulator::{Emulator, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN};

const WA_SECRET: &str = "wa-app-secret";
const WA_PHONE_ID: &str = "106540352242922";
const TG_SECRET: &str = "tg-secret-token";

struct World {
    server: Server,
    emu: Emulator,
    alice: Api,
    ws: i64,
    wa_hook: String,
    tg_hook: String,
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
    let tg_hook =
        webhook_of_new_inbox(&admin, ws, "telegram", json!({"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TG_SECRET, "api_base_url": emu.base_url()})).await;
    World { server, emu, alice, ws, wa_hook, tg_hook }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    async fn only_conversation(&self, channel: &str) -> i64 {
        let (status, body) = self.alice.get(&self.path(&format!("/conversations?channel={channel}"))).await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), 1, "{body}");
        data[0]["id"].as_i64().unwrap()
    }

    async fn messages(&self, conversation: i64) -> Vec<Value> {
        let (status, body) = self.alice.get(&self.path(&format!("/conversations/{conversation}/messages?limit=200"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    async fn post_message(&self, conversation: i64, body: Value) -> (u16, Value) {
        self.alice.post(&self.path(&format!("/conversations/{conversation}/messages")), body).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_reopen_a_closed_whatsapp_window_on_sqlite() {
    templates_reopen_a_closed_whatsapp_window(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_reopen_a_closed_whatsapp_window_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        return;
    }
    let db = PgTestDb::create().await.unwrap();
    templates_reopen_a_closed_whatsapp_window(Some(&db.url)).await;
}

async fn templates_reopen_a_closed_whatsapp_window(database_url: Option<&str>) {
    let dir = TempDir::new("sb-wa-tpl").unwrap();
    let w = world(&dir, database_url).await;
    let d = w.emu.whatsapp_inbound_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380501234567", "Olena", "Where is my order?").await.unwrap();
    assert_eq!(d.status, 200);
    let id = w.only_conversation("whatsapp").await;

    // A fresh conversation: the window is open for 24 hours.
    let (status, window) = w.alice.get(&w.path(&format!("/conversations/{id}/messaging-window"))).await;
    assert_eq!(status, 200, "{window}");
    assert_eq!((window["channel"].as_str(), window["open"].as_bool(), window["requires"].as_str()), (Some("whatsapp"), Some(true), Some("none")));
    assert!(window["closes_at"].as_str().is_some_and(|s| s.ends_with('Z') || s.contains('+')), "{window}");

    // The provider says the window has closed: free text fails with its reason…
    w.emu.set_window_closed("380501234567");
    let (status, late) = w.post_message(id, json!({"content": "Are you still there?", "echo_id": "free-1"})).await;
    assert_eq!(status, 201, "{late}");
    let failed = w.wait_message(id, &late["id"], "refused free text", |m| m["status"] == "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap_or("").contains("131047"), "{failed}");

    // …while a template is delivered, shown to agents as readable text.
    let template = json!({"name": "order_update", "language": "en_US", "parameters": ["#1042", "tomorrow"]});
    let (status, msg) = w.post_message(id, json!({"whatsapp_template": template, "echo_id": "tpl-1"})).await;
    assert_eq!(status, 201, "{msg}");
    assert_eq!((msg["status"].as_str(), msg["content"].as_str()), (Some("queued"), Some("[template order_update: #1042, tomorrow]")));
    let sent = w.wait_message(id, &msg["id"], "template sent", |m| m["status"] == "sent").await;
    assert_eq!(sent["content"], "[template order_update: #1042, tomorrow]");
    let accepted = w.emu.sent();
    assert_eq!(accepted.len(), 1, "only the template was accepted");
    let body = &accepted[0].body;
    assert_eq!((accepted[0].to.as_str(), body["type"].as_str()), ("380501234567", Some("template")));
    assert_eq!(body["template"]["name"], "order_update");
    assert_eq!(body["template"]["language"]["code"], "en_US");
    let params: Vec<&str> =
        body["template"]["components"][0]["parameters"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(params, ["#1042", "tomorrow"]);
    // The same echo id again: the stored message, nothing sent twice.
    let (status, again) = w.post_message(id, json!({"whatsapp_template": template, "echo_id": "tpl-1"})).await;
    assert_eq!((status, &again["id"]), (200, &msg["id"]));

    // Bad templates are refused and store nothing.
    let before = w.messages(id).await.len();
    let long = "x".repeat(1025);
    let bad = [
        json!({"name": "Order-Update", "language": "en_US"}),
        json!({"name": "", "language": "en_US"}),
        json!({"name": "a".repeat(513), "language": "en"}),
        json!({"name": "order_update", "language": "english"}),
        json!({"name": "order_update", "language": "en-US"}),
        json!({"name": "order_update", "language": "en", "parameters": vec!["p"; 21]}),
        json!({"name": "order_update", "language": "en", "parameters": [long]}),
        json!({"name": "order_update"}),
        json!({"name": "order_update", "language": "en", "extra": 1}),
    ];
    for t in bad {
        let (status, body) = w.post_message(id, json!({"whatsapp_template": t})).await;
        assert_eq!(status, 400, "{t} → {body}");
    }
    let (status, body) = w.post_message(id, json!({"kind": "note", "whatsapp_template": {"name": "t", "language": "en"}})).await;
    assert_eq!(status, 400, "a note is never a template: {body}");
    assert_eq!(w.messages(id).await.len(), before, "refused templates stored nothing");

    // Templates are WhatsApp's: on Telegram they are refused.
    let d = w.emu.telegram_inbound_text(&w.tg_hook, TG_SECRET, 5550001, "Ivan", "Hello").await.unwrap();
    assert_eq!(d.status, 200);
    let tg = w.only_conversation("telegram").await;
    let (status, body) = w.post_message(tg, json!({"whatsapp_template": {"name": "order_update", "language": "en"}})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "{body}");
    assert_eq!(w.messages(tg).await.len(), 1);
    let (status, window) = w.alice.get(&w.path(&format!("/conversations/{tg}/messaging-window"))).await;
    assert_eq!(status, 200);
    assert_eq!(window, json!({"channel": "telegram", "open": true, "closes_at": null, "requires": "none"}));
    assert_eq!(w.emu.sent().len(), 1, "nothing more was sent");

    // Another workspace cannot see the window.
    let (ok, out) = cli(&w.server.data_dir, database_url, &[
        "admin", "create-user", "--email", "other@else.test", "--password", "other-password", "--workspace", "Elsewhere", "--role", "admin",
    ])
    .await;
    assert!(ok, "{out}");
    let other = w.server.login_with("other@else.test", "other-password").await;
    let other_ws = other.get("/api/v1/me").await.1["workspaces"][0]["id"].as_i64().expect("other workspace");
    assert_ne!(other_ws, w.ws);
    let (status, _) = other.get(&format!("/api/v1/workspaces/{other_ws}/conversations/{id}/messaging-window")).await;
    assert_eq!(status, 404);
    let (status, _) = w.alice.get(&w.path("/conversations/99999999/messaging-window")).await;
    assert_eq!(status, 404);
    w.server.kill().await;
}
