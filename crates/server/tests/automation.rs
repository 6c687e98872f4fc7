//! Automation rules end to end (SPEC §3.4): rules written through the API
//! act on live conversations of the real binary, every run is logged, and
//! bad rules are refused without a trace.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Each case runs on SQLite and, when reachable, on PostgreSQL.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(None).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                if !super::PgTestDb::available().await {
                    assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
                    eprintln!("PostgreSQL unreachable: skipping");
                    return;
                }
                let db = super::PgTestDb::create().await.expect("test database");
                super::$case(Some(&db.url)).await;
            })*
        }
    };
}

on_both_stores!(
    keyword_rule_tags_and_prioritises_and_logs_its_run,
    new_conversation_gets_the_template_without_stopping_the_wait,
    webhook_receives_a_signed_body_and_failures_are_logged,
    bad_rules_are_refused_and_change_nothing,
    rules_reacting_to_their_own_tags_settle,
);

/// Polls `probe` until it answers `Some`, for at most 10 s.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_rule(admin: &Api, ws: i64, rule: Value) -> i64 {
    let (status, body) = admin.post(&format!("/api/v1/workspaces/{ws}/rules"), rule).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("rule id")
}

async fn runs(api: &Api, ws: i64, rule: i64) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/workspaces/{ws}/rules/{rule}/runs")).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("runs").clone()
}

/// A new widget visitor (optionally named) who sends `text`; answers their
/// API handle and the conversation id.
async fn customer_writes(server: &Server, website_token: &str, name: Option<&str>, text: &str) -> (Api, i64) {
    let widget = server.api().with_token(&visitor(server, website_token).await);
    if let Some(name) = name {
        let (status, body) = widget.patch("/api/v1/widget/contact", json!({"name": name})).await;
        assert_eq!(status, 200, "{body}");
    }
    let conv = say(&widget, text).await;
    (widget, conv)
}

async fn say(widget: &Api, text: &str) -> i64 {
    let echo = format!("e-{}", rand_suffix());
    let (status, msg) = widget.post("/api/v1/widget/messages", json!({"content": text, "echo_id": echo})).await;
    assert_eq!(status, 201, "{msg}");
    msg["conversation_id"].as_i64().expect("conversation id")
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn keyword_rule_tags_and_prioritises_and_logs_its_run(database_url: Option<&str>) {
    let dir = TempDir::new("sb-auto-a").expect("ok");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let sup = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let rule = create_rule(
        &admin,
        ws,
        json!({
            "name": "Refunds first",
            "trigger": "message_received",
            "conditions": [{"field": "message_content", "operator": "contains", "value": "refund"}],
            "actions": [{"type": "add_tag", "tag": "refund"}, {"type": "set_priority", "priority": "high"}]
        }),
    )
    .await;

    // A message without the keyword comes first; only the second matches.
    let (widget, conv) = customer_writes(&server, &website_token, None, "Hello there").await;
    assert_eq!(say(&widget, "I would like a REFUND for order 1042").await, conv);
    let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
    let c = eventually("the rule's tag and priority", || async {
        let (_, c) = sup.get(&path).await;
        (c["priority"] == "high").then_some(c)
    })
    .await;
    assert_eq!(c["tags"], json!(["refund"]));
    let logged = eventually("the run", || async { Some(runs(&sup, ws, rule).await).filter(|r| !r.is_empty()) }).await;
    assert_eq!(logged.len(), 1, "the first message did not match: {logged:?}");
    assert_eq!(logged[0]["outcome"], "applied");
    assert_eq!(logged[0]["trigger"], "message_received");
    assert_eq!(logged[0]["conversation_id"], conv);
    assert_eq!(logged[0]["rule_name"], "Refunds first");
    assert!(logged[0]["detail"].as_str().expect("ok").contains("add_tag refund: ok"), "{}", logged[0]);

    let (status, all) = sup.get(&format!("/api/v1/workspaces/{ws}/rule_runs")).await;
    assert_eq!(status, 200);
    assert_eq!(all["data"][0]["id"], logged[0]["id"]);
    // Agents neither read rules nor their log.
    for path in [format!("/api/v1/workspaces/{ws}/rules"), format!("/api/v1/workspaces/{ws}/rules/{rule}/runs")] {
        let (status, body) = alice.get(&path).await;
        assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    }
    // A disabled rule stays quiet. Rules run in order, so once a later
    // rule has run for the message, the disabled one had its chance.
    let (status, body) = admin.patch(&format!("/api/v1/workspaces/{ws}/rules/{rule}"), json!({"enabled": false})).await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)), "{body}");
    let marker = create_rule(&admin, ws, json!({"name": "Marker", "trigger": "message_received", "actions": [{"type": "add_tag", "tag": "seen"}]})).await;
    let (_, conv2) = customer_writes(&server, &website_token, None, "refund please").await;
    eventually("the marker rule", || async { runs(&sup, ws, marker).await.pop().filter(|r| r["conversation_id"] == conv2) }).await;
    let (_, c2) = sup.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv2}")).await;
    assert_eq!((&c2["priority"], &c2["tags"]), (&json!("none"), &json!(["seen"])));
    assert_eq!(runs(&sup, ws, rule).await.len(), 1);
    server.kill().await;
}

async fn new_conversation_gets_the_template_without_stopping_the_wait(database_url: Option<&str>) {
    let dir = TempDir::new("sb-auto-b").expect("ok");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let (status, template) = admin
        .post(&format!("/api/v1/workspaces/{ws}/templates"), json!({"name": "welcome", "content": "Welcome {{contact.first_name}}! An agent will be with you shortly."}))
        .await;
    assert_eq!(status, 201, "{template}");
    let rule = create_rule(
        &admin,
        ws,
        json!({"name": "Greet", "trigger": "conversation_created", "actions": [{"type": "send_template", "template_id": template["id"]}]}),
    )
    .await;

    let (widget, conv) = customer_writes(&server, &website_token, Some("Vera Visitor"), "Do you ship to Norway?").await;
    let thread = eventually("the template in the customer's thread", || async {
        let (_, h) = widget.get("/api/v1/widget/messages").await;
        let texts: Vec<String> = h["data"].as_array()?.iter().filter_map(|m| m["content"].as_str().map(str::to_owned)).collect();
        (texts.len() == 2).then_some(texts)
    })
    .await;
    assert_eq!(thread, ["Do you ship to Norway?", "Welcome Vera! An agent will be with you shortly."]);
    // An automatic message is not a reply: the customer is still waiting.
    let (_, c) = admin.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv}")).await;
    assert!(c["first_reply_at"].is_null() && c["waiting_since"].is_string(), "{c}");
    // A second message in the same conversation creates nothing new.
    say(&widget, "Hello?").await;
    let logged = eventually("one run", || async { Some(runs(&admin, ws, rule).await).filter(|r| !r.is_empty()) }).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["outcome"], "applied");
    server.kill().await;
}

/// HMAC-SHA256 written out from its definition (RFC 2104), so the test does
/// not check the server's signing code against itself.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    hex::encode(Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize())
}

async fn webhook_receives_a_signed_body_and_failures_are_logged(database_url: Option<&str>) {
    use axum::routing::post;
    let (tx, mut received) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, axum::body::Bytes)>();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let sig = headers.get("x-switchboard-signature").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let _ = tx.send((sig, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("ok");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("ok"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    // A port nobody listens on, for the failing rule.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("ok");
    let dead_url = format!("http://{}/hook", closed.local_addr().expect("ok"));
    drop(closed);

    let dir = TempDir::new("sb-auto-c").expect("ok");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let (status, key) = admin.get(&format!("/api/v1/workspaces/{ws}/webhook-signing-key")).await;
    assert_eq!(status, 200, "{key}");
    let key = key["key"].as_str().expect("key").to_owned();
    assert_eq!(alice.get(&format!("/api/v1/workspaces/{ws}/webhook-signing-key")).await.0, 403);
    let vip = json!([{"field": "tag", "operator": "equals", "value": "vip"}]);
    let rule = create_rule(
        &admin,
        ws,
        json!({"name": "VIP to CRM", "trigger": "tag_added", "conditions": vip, "actions": [{"type": "send_webhook", "url": hook_url}]}),
    )
    .await;
    let dead = create_rule(
        &admin,
        ws,
        json!({"name": "Broken CRM", "trigger": "tag_added", "conditions": vip,
               "actions": [{"type": "set_priority", "priority": "urgent"}, {"type": "send_webhook", "url": dead_url}]}),
    )
    .await;

    let (_, conv) = customer_writes(&server, &website_token, Some("Vera Visitor"), "Hi").await;
    let (status, body) = alice.post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/tags"), json!({"tag": "VIP"})).await;
    assert_eq!(status, 200, "{body}");
    let (signature, raw) = tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("webhook call").expect("open");
    let expected = format!("sha256={}", hmac_sha256_hex(key.as_bytes(), &raw));
    assert_eq!(signature.as_deref(), Some(expected.as_str()), "signature over the raw body");
    let payload: Value = serde_json::from_slice(&raw).expect("json body");
    assert_eq!(payload["event"], "tag_added");
    assert_eq!(payload["rule_id"], rule);
    assert_eq!(payload["workspace_id"], ws);
    assert_eq!(payload["conversation"]["id"], conv);
    assert_eq!(payload["conversation"]["contact"]["name"], "Vera Visitor");
    assert!(payload["conversation"]["tags"].as_array().expect("ok").contains(&json!("vip")));

    let ok = eventually("the webhook run", || async { runs(&admin, ws, rule).await.pop() }).await;
    assert_eq!(ok["outcome"], "applied");
    assert!(ok["detail"].as_str().expect("ok").contains("HTTP 200"), "{ok}");
    let failed = eventually("the failed run", || async { runs(&admin, ws, dead).await.pop() }).await;
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let detail = failed["detail"].as_str().expect("ok");
    assert!(detail.contains("set_priority urgent: ok") && detail.contains("failed"), "{detail}");
    // The other actions of a failing rule still took effect.
    assert_eq!(admin.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv}")).await.1["priority"], "urgent");
    assert!(received.try_recv().is_err(), "exactly one call");
    server.kill().await;
}

async fn bad_rules_are_refused_and_change_nothing(database_url: Option<&str>) {
    let dir = TempDir::new("sb-auto-d").expect("ok");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let sup = server.login("supervisor@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let rules = format!("/api/v1/workspaces/{ws}/rules");
    // Another workspace with its own team, member and template.
    let (ok, out) = cli(&server.data_dir, database_url, &[
        "admin", "create-user", "--email", "other@else.test", "--password", "other-password", "--workspace", "Elsewhere", "--role", "admin",
    ])
    .await;
    assert!(ok, "{out}");
    let other = server.login_with("other@else.test", "other-password").await;
    let other_ws = other.get("/api/v1/me").await.1["workspaces"][0]["id"].as_i64().expect("other workspace");
    assert_ne!(other_ws, ws);
    let (_, team) = other.post(&format!("/api/v1/workspaces/{other_ws}/teams"), json!({"name": "Theirs"})).await;
    let (_, template) = other.post(&format!("/api/v1/workspaces/{other_ws}/templates"), json!({"name": "t", "content": "x"})).await;
    let other_user = other.get("/api/v1/me").await.1["user"]["id"].clone();
    let foreign_rule = create_rule(&other, other_ws, json!({"name": "Theirs", "trigger": "tag_added", "actions": [{"type": "resolve"}]})).await;

    let good = json!({"name": "Ok", "trigger": "tag_added", "actions": [{"type": "resolve"}]});
    let with_action = |action: Value| json!({"name": "x", "trigger": "conversation_created", "actions": [action]});
    let cases = [
        ("unknown trigger", json!({"name": "x", "trigger": "message_sent", "actions": [{"type": "resolve"}]}), 400),
        ("unknown action", with_action(json!({"type": "self_destruct"})), 400),
        ("no actions", json!({"name": "x", "trigger": "tag_added", "actions": []}), 400),
        ("bad webhook url", with_action(json!({"type": "send_webhook", "url": "file:///etc/passwd"})), 400),
        ("foreign team", with_action(json!({"type": "assign_team", "team_id": team["id"]})), 400),
        ("foreign user", with_action(json!({"type": "assign_agent", "user_id": other_user})), 400),
        ("foreign template", with_action(json!({"type": "send_template", "template_id": template["id"]})), 400),
        (
            "condition impossible for the trigger",
            json!({"name": "x", "trigger": "conversation_created",
                   "conditions": [{"field": "message_content", "operator": "contains", "value": "x"}], "actions": [{"type": "resolve"}]}),
            400,
        ),
    ];
    for (what, body, want) in cases {
        let (status, answer) = admin.post(&rules, body).await;
        assert_eq!(status, want, "{what}: {answer}");
        assert_eq!(error_code(&answer), "validation_failed", "{what}");
    }
    let (status, answer) = admin.raw(reqwest::Method::POST, &rules, "application/json", b"{\"name\": ".to_vec()).await;
    assert_eq!((status, error_code(&answer).as_str()), (400, "invalid_json"));
    // Agents and supervisors cannot write rules.
    let alice = server.login("alice@demo.test").await;
    for api in [&alice, &sup] {
        let (status, answer) = api.post(&rules, good.clone()).await;
        assert_eq!((status, error_code(&answer).as_str()), (403, "forbidden"));
    }
    assert_eq!(sup.get(&rules).await.1["data"], json!([]), "nothing was stored");

    // A stored rule: a refused update leaves it as it was.
    let id = create_rule(&admin, ws, good.clone()).await;
    let one = format!("{rules}/{id}");
    let (_, before) = admin.get(&one).await;
    for bad in [json!({"actions": []}), json!({"trigger": "nope"}), json!({"colour": "red"}), json!({"position": -1})] {
        let (status, answer) = admin.patch(&one, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (status, answer) = admin.patch(&one, json!({"actions": [{"type": "assign_team", "team_id": team["id"]}]})).await;
    assert_eq!((status, error_code(&answer).as_str()), (400, "validation_failed"));
    assert_eq!(admin.get(&one).await.1, before);
    // Another workspace's rule is not there at all.
    for path in [format!("{rules}/{foreign_rule}"), format!("{rules}/{foreign_rule}/runs")] {
        let (status, answer) = admin.get(&path).await;
        assert_eq!((status, error_code(&answer).as_str()), (404, "not_found"), "{path}");
    }
    let (status, _) = admin.delete(&format!("{rules}/{foreign_rule}")).await;
    assert_eq!(status, 404);
    assert_eq!(other.get(&format!("/api/v1/workspaces/{other_ws}/rules/{foreign_rule}")).await.0, 200);
    assert_eq!(admin.delete(&one).await.0, 204);
    assert_eq!(admin.get(&one).await.0, 404);
    server.kill().await;
}

async fn rules_reacting_to_their_own_tags_settle(database_url: Option<&str>) {
    let dir = TempDir::new("sb-auto-e").expect("ok");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    // Fires on every tag, its own included.
    let echo = create_rule(&admin, ws, json!({"name": "Escalate", "trigger": "tag_added", "actions": [{"type": "add_tag", "tag": "escalated"}]})).await;
    // A chain a → b → c → d → e → f, longer than the runner follows.
    let mut chain = Vec::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f")] {
        let rule = json!({"name": format!("{from} to {to}"), "trigger": "tag_added",
                          "conditions": [{"field": "tag", "operator": "equals", "value": from}],
                          "actions": [{"type": "add_tag", "tag": to}]});
        chain.push(create_rule(&admin, ws, rule).await);
    }

    let (_, conv) = customer_writes(&server, &website_token, None, "Hi").await;
    let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
    assert_eq!(alice.post(&format!("{path}/tags"), json!({"tag": "vip"})).await.0, 200);
    // vip → escalated (1 run), escalated → escalated again, nothing new (2nd run).
    eventually("two runs of the echo rule", || async { (runs(&admin, ws, echo).await.len() >= 2).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(&admin, ws, echo).await.len(), 2, "the rule settled");

    let other = customer_writes(&server, &website_token, None, "Hello").await.1;
    let other_path = format!("/api/v1/workspaces/{ws}/conversations/{other}");
    assert_eq!(alice.post(&format!("{other_path}/tags"), json!({"tag": "a"})).await.0, 200);
    let last = *chain.last().expect("ok");
    let skipped = eventually("the chain's end", || async { runs(&admin, ws, last).await.pop() }).await;
    assert_eq!(skipped["outcome"], "skipped", "{skipped}");
    let (_, c) = admin.get(&other_path).await;
    let tags: Vec<&str> = c["tags"].as_array().expect("ok").iter().filter_map(Value::as_str).collect();
    assert_eq!(tags, ["a", "b", "c", "d", "e", "escalated"], "followed 4 levels, not the 5th");
    let (_, all) = admin.get(&format!("/api/v1/workspaces/{ws}/rule_runs?limit=200")).await;
    let total = all["data"].as_array().expect("ok").len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, again) = admin.get(&format!("/api/v1/workspaces/{ws}/rule_runs?limit=200")).await;
    assert_eq!(again["data"].as_array().expect("ok").len(), total, "nothing runs on and on");
    assert!(total < 30, "bounded: {total}");
    server.kill().await;
}
