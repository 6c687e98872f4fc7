//! Business hours, away messages, greetings, SLA breaches and auto-resolve
//! through the real binary (SPEC §3.4). Time is not faked: "closed" is a
//! schedule with every day disabled, "open" one that is open all day, and
//! SLA limits are a few seconds with a fast scanner.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Open every day 00:00–23:59 in a zone where it is not 23:59 right now.
fn always_open() -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let late = now % 86_400 >= 23 * 3600 + 59 * 60;
    let days: Vec<Value> = (0..7).map(|d| json!({"day": d, "open": "00:00", "close": "23:59", "enabled": true})).collect();
    json!({"timezone": if late { "Asia/Tokyo" } else { "UTC" }, "days": days, "away_message": "Away", "holidays": []})
}

/// Closed all week, promising an answer within two hours.
fn closed(away: &str) -> Value {
    let days: Vec<Value> = (0..7).map(|d| json!({"day": d, "open": "09:00", "close": "18:00", "enabled": false})).collect();
    json!({"timezone": "Europe/Kyiv", "days": days, "away_message": away, "holidays": [], "expected_response_minutes": 120})
}

async fn visitor_message(widget: &Api, text: &str, echo: &str) -> i64 {
    let (status, msg) = widget.post("/api/v1/widget/messages", json!({"content": text, "echo_id": echo})).await;
    assert_eq!(status, 201, "{msg}");
    msg["conversation_id"].as_i64().expect("conversation id")
}

/// The agents' (and system's) messages in the visitor's thread.
async fn replies(widget: &Api) -> Vec<Value> {
    let (_, history) = widget.get("/api/v1/widget/messages").await;
    history["data"].as_array().expect("history").iter().filter(|m| m["kind"] == "out").cloned().collect()
}

async fn new_visitor(server: &Server, website_token: &str) -> (Api, Socket) {
    let token = visitor(server, website_token).await;
    let ws = connect_ws(&server.ws_url(&format!("/api/v1/widget/ws?token={token}"))).await;
    (server.api().with_token(&token), ws)
}

async fn with_backend<F, Fut>(name: &str, postgres: bool, run: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if !postgres {
        return run(None).await;
    }
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        eprintln!("PostgreSQL unreachable: skipping {name}");
        return;
    }
    let db = PgTestDb::create().await.expect("test database");
    run(Some(db.url.clone())).await;
}

async fn away_message_and_greeting(database_url: Option<String>) {
    let dir = TempDir::new("sb-away").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url.as_deref(), &[]).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let hours = format!("/api/v1/workspaces/{ws}/business-hours");

    // Closed: the customer hears when to expect an answer, once.
    let (status, body) = admin.put(&hours, closed("Thanks for writing! We are closed right now.")).await;
    assert_eq!(status, 200, "{body}");
    let (widget, mut visitor_ws) = new_visitor(&server, &website_token).await;
    let conv = visitor_message(&widget, "Is the job still open?", "a-1").await;
    let away = expect_frame(&mut visitor_ws, "away message", |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert_eq!(away["data"]["content"], "Thanks for writing! We are closed right now. We will reply within 2 hours.");
    assert_eq!(away["data"]["sender"]["type"], "system");
    visitor_message(&widget, "Hello?", "a-2").await;
    expect_no_frame(&mut visitor_ws, 1_000, |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert_eq!(replies(&widget).await.len(), 1, "one away message for two customer messages");
    // An automatic reply is not an agent's answer: the customer still waits.
    let (_, c) = admin.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv}")).await;
    assert_eq!((c["first_reply_at"].clone(), c["assignee_id"].clone(), c["status"].clone()), (Value::Null, Value::Null, json!("open")));
    assert!(c["waiting_since"].is_string());

    // Open, with a greeting: a new conversation is greeted once, no away message.
    assert_eq!(admin.put(&hours, always_open()).await.0, 200);
    let (_, inboxes) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    let inbox = inboxes["data"].as_array().expect("a list").iter().find(|i| i["channel"] == "webchat").expect("present")["id"].as_i64().expect("an id");
    let (status, body) = admin
        .patch(&format!("/api/v1/workspaces/{ws}/inboxes/{inbox}"), json!({"config": {"greeting_message": "Hi! A recruiter will be with you shortly."}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (widget, mut visitor_ws) = new_visitor(&server, &website_token).await;
    visitor_message(&widget, "Hi", "g-1").await;
    let greeting = expect_frame(&mut visitor_ws, "greeting", |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert_eq!(greeting["data"]["content"], "Hi! A recruiter will be with you shortly.");
    visitor_message(&widget, "I have a question", "g-2").await;
    expect_no_frame(&mut visitor_ws, 1_000, |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert_eq!(replies(&widget).await.len(), 1);

    // Open, no greeting: nothing automatic at all.
    admin.patch(&format!("/api/v1/workspaces/{ws}/inboxes/{inbox}"), json!({"config": {"greeting_message": null}})).await;
    let (widget, mut visitor_ws) = new_visitor(&server, &website_token).await;
    visitor_message(&widget, "Hi again", "n-1").await;
    expect_no_frame(&mut visitor_ws, 1_000, |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert!(replies(&widget).await.is_empty());
    server.kill().await;
}

async fn team_hours_override_the_workspace(database_url: Option<String>) {
    let dir = TempDir::new("sb-team-hours").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url.as_deref(), &[]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let (_, teams) = admin.get(&format!("/api/v1/workspaces/{ws}/teams")).await;
    let team_id = |name: &str| teams["data"].as_array().expect("a list").iter().find(|t| t["name"] == name).expect("present")["id"].as_i64().expect("an id");
    let (support, sales) = (team_id("Support"), team_id("Sales"));
    let team_hours = |team: i64| format!("/api/v1/workspaces/{ws}/teams/{team}/business-hours");

    let open = always_open();
    assert_eq!(admin.put(&format!("/api/v1/workspaces/{ws}/business-hours"), open.clone()).await.0, 200);
    // A team without its own hours follows the workspace's.
    let (status, view) = alice.get(&team_hours(support)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["team_id"].as_i64(), view["business_hours"].clone()), (Some(support), Value::Null));
    assert_eq!(view["effective"]["timezone"], open["timezone"]);
    let night = closed("Support is closed until {{next_open}}; we answer {{expected_response}}.");
    let (status, view) = admin.put(&team_hours(support), night.clone()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["business_hours"], night);
    assert_eq!(view["effective"], night);
    assert_eq!(admin.get(&team_hours(sales)).await.1["business_hours"], Value::Null);

    // The workspace is open, the conversation's team is not.
    let (widget, mut visitor_ws) = new_visitor(&server, &website_token).await;
    let conv = visitor_message(&widget, "Hello", "t-1").await;
    expect_no_frame(&mut visitor_ws, 800, |v| v["data"]["kind"] == "out").await;
    let (status, body) = admin.patch(&format!("/api/v1/workspaces/{ws}/conversations/{conv}"), json!({"team_id": support})).await;
    assert_eq!(status, 200, "{body}");
    visitor_message(&widget, "Anyone in support?", "t-2").await;
    let away = expect_frame(&mut visitor_ws, "team away message", |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    assert_eq!(away["data"]["content"], "Support is closed until soon; we answer within 2 hours.");

    // Removing the override (PUT null or DELETE) falls back to the workspace.
    let (status, view) = admin.put(&team_hours(support), Value::Null).await;
    assert_eq!((status, view["business_hours"].clone()), (200, Value::Null));
    assert_eq!(view["effective"]["timezone"], open["timezone"]);
    assert_eq!(admin.put(&team_hours(support), night.clone()).await.0, 200);
    assert_eq!(admin.delete(&team_hours(support)).await.0, 204);
    assert_eq!(admin.get(&team_hours(support)).await.1["business_hours"], Value::Null);
    server.kill().await;
}

async fn first_response_sla_is_breached_once(database_url: Option<String>) {
    let dir = TempDir::new("sb-sla").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url.as_deref(), &["--scan-interval-ms", "200"]).await;
    let admin = server.login("admin@demo.test").await;
    let sup = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let mut sup_ws = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", sup.token.clone().expect("session token")))).await;
    expect_frame(&mut sup_ws, "ready", |v| v["type"] == "ready").await;

    let settings = format!("/api/v1/workspaces/{ws}/automation-settings");
    let (status, body) = admin.put(&settings, json!({"sla": {"first_response_minutes": 0.05}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sla"]["first_response_minutes"], 0.05);
    assert_eq!(sup.get(&settings).await.1, body);

    // Nobody answers within 3 s: one breach, announced once.
    let (late_widget, _late_ws) = new_visitor(&server, &website_token).await;
    let late = visitor_message(&late_widget, "Is anyone there?", "s-1").await;
    // Answered at once: no breach.
    let (quick_widget, _quick_ws) = new_visitor(&server, &website_token).await;
    let quick = visitor_message(&quick_widget, "Quick question", "s-2").await;
    let (status, body) = alice.post(&format!("/api/v1/workspaces/{ws}/conversations/{quick}/messages"), json!({"content": "Hi, how can I help?"})).await;
    assert_eq!(status, 201, "{body}");

    let breach = tokio::time::timeout(Duration::from_secs(15), async {
        expect_frame(&mut sup_ws, "sla.breached", |v| v["type"] == "sla.breached" && v["data"]["conversation_id"] == late).await
    })
    .await
    .expect("a breach within 15 s");
    assert_eq!(breach["workspace_id"], ws);
    assert_eq!(breach["data"]["kind"], "first_response");
    expect_no_frame(&mut sup_ws, 1_500, |v| v["type"] == "sla.breached" && (v["data"]["conversation_id"] == late || v["data"]["conversation_id"] == quick)).await;

    let (status, sla) = sup.get(&format!("/api/v1/workspaces/{ws}/conversations/{late}/sla")).await;
    assert_eq!(status, 200, "{sla}");
    assert_eq!(sla["breaches"].as_array().expect("a list").len(), 1, "{sla}");
    assert_eq!(sla["breaches"][0]["kind"], "first_response");
    let target = &sla["targets"][0];
    assert_eq!((target["kind"].clone(), target["breached"].clone(), target["stopped_at"].clone()), (json!("first_response"), json!(true), Value::Null));
    let (_, sla) = sup.get(&format!("/api/v1/workspaces/{ws}/conversations/{quick}/sla")).await;
    assert!(sla["breaches"].as_array().expect("a list").is_empty(), "{sla}");
    assert_eq!(sla["targets"][0]["breached"], false);
    assert!(sla["targets"][0]["stopped_at"].is_string());
    server.kill().await;
}

async fn idle_conversations_resolve_automatically(database_url: Option<String>) {
    let dir = TempDir::new("sb-idle").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url.as_deref(), &["--scan-interval-ms", "200"]).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let (status, body) = admin.put(&format!("/api/v1/workspaces/{ws}/automation-settings"), json!({"auto_resolve_after_hours": 0.0005})).await;
    assert_eq!(status, 200, "{body}");
    let (widget, _visitor_ws) = new_visitor(&server, &website_token).await;
    let conv = visitor_message(&widget, "Thanks, that is all", "i-1").await;
    let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
    let resolved = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (_, c) = admin.get(&path).await;
            if c["status"] == "resolved" {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("resolved within 15 s");
    assert!(resolved["resolved_at"].is_string());
    let (_, messages) = admin.get(&format!("{path}/messages")).await;
    let system: Vec<&Value> = messages["data"].as_array().expect("a list").iter().filter(|m| m["kind"] == "system").collect();
    assert_eq!(system.len(), 1, "{messages}");
    assert_eq!(system[0]["content"], "Resolved automatically after 0.0005 h without activity");
    // The customer never sees the system line.
    assert!(replies(&widget).await.is_empty());
    server.kill().await;
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let dir = TempDir::new("sb-hours-bad").expect("temp dir");
    let server = Server::demo(&dir).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let (_, teams) = admin.get(&format!("/api/v1/workspaces/{ws}/teams")).await;
    let team = teams["data"][0]["id"].as_i64().expect("an id");
    let team_hours = format!("/api/v1/workspaces/{ws}/teams/{team}/business-hours");
    let settings = format!("/api/v1/workspaces/{ws}/automation-settings");
    let before_hours = admin.get(&team_hours).await.1;
    let before_settings = admin.get(&settings).await.1;
    assert_eq!(before_settings, json!({"sla": {"first_response_minutes": null, "next_response_minutes": null, "resolution_minutes": null, "business_hours_only": false}, "auto_resolve_after_hours": null}));

    let mut bad_zone = always_open();
    bad_zone["timezone"] = json!("Mars/Olympus_Mons");
    let mut unknown_field = always_open();
    unknown_field["colour"] = json!("red");
    for (body, what) in [(bad_zone, "unknown time zone"), (unknown_field, "unknown field")] {
        let (status, err) = admin.put(&team_hours, body).await;
        assert_eq!((status, error_code(&err).as_str()), (400, "validation_failed"), "{what}: {err}");
    }
    for body in [
        json!({"sla": {"first_response_minutes": -5}}),
        json!({"sla": {"resolution_minutes": 0}}),
        json!({"sla": {"first_response_minutes": 5, "escalate": true}}),
        json!({"auto_resolve_after_hours": -1}),
        json!({"auto_resolve_after_hours": "soon"}),
    ] {
        let (status, err) = admin.put(&settings, body.clone()).await;
        assert_eq!((status, error_code(&err).as_str()), (400, "validation_failed"), "{body}: {err}");
    }
    let (status, err) = admin.raw(reqwest::Method::PUT, &settings, "application/json", b"{\"sla\":".to_vec()).await;
    assert_eq!((status, error_code(&err).as_str()), (400, "invalid_json"));

    // Agents may read team hours but write nothing; settings are for supervisors up.
    assert_eq!(alice.get(&team_hours).await.0, 200);
    let (status, err) = alice.put(&team_hours, always_open()).await;
    assert_eq!((status, error_code(&err).as_str()), (403, "forbidden"));
    assert_eq!(alice.delete(&team_hours).await.0, 403);
    let (status, err) = alice.put(&settings, json!({"sla": {"first_response_minutes": 5}})).await;
    assert_eq!((status, error_code(&err).as_str()), (403, "forbidden"));
    assert_eq!(alice.get(&settings).await.0, 403);
    // Unknown team, unknown conversation: not found.
    assert_eq!(admin.put(&format!("/api/v1/workspaces/{ws}/teams/999999/business-hours"), always_open()).await.0, 404);
    assert_eq!(admin.get(&format!("/api/v1/workspaces/{ws}/conversations/999999/sla")).await.0, 404);

    assert_eq!(admin.get(&team_hours).await.1, before_hours, "refused writes change nothing");
    assert_eq!(admin.get(&settings).await.1, before_settings);
    server.kill().await;
}

#[tokio::test]
async fn away_message_and_greeting_on_sqlite() {
    with_backend("away", false, away_message_and_greeting).await;
}

#[tokio::test]
async fn away_message_and_greeting_on_postgres() {
    with_backend("away", true, away_message_and_greeting).await;
}

#[tokio::test]
async fn team_hours_override_the_workspace_on_sqlite() {
    with_backend("team hours", false, team_hours_override_the_workspace).await;
}

#[tokio::test]
async fn team_hours_override_the_workspace_on_postgres() {
    with_backend("team hours", true, team_hours_override_the_workspace).await;
}

#[tokio::test]
async fn first_response_sla_is_breached_once_on_sqlite() {
    with_backend("sla", false, first_response_sla_is_breached_once).await;
}

#[tokio::test]
async fn first_response_sla_is_breached_once_on_postgres() {
    with_backend("sla", true, first_response_sla_is_breached_once).await;
}

#[tokio::test]
async fn idle_conversations_resolve_automatically_on_sqlite() {
    with_backend("idle", false, idle_conversations_resolve_automatically).await;
}

#[tokio::test]
async fn idle_conversations_resolve_automatically_on_postgres() {
    with_backend("idle", true, idle_conversations_resolve_automatically).await;
}
