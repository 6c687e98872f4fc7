//! Bad input: malformed or oversized bodies, wrong content types, unknown
//! fields, invalid values, bad paging, unknown routes and methods, missing
//! or garbage credentials. Each answers the documented error and writes
//! nothing.

use crate::common::*;
use crate::*;
use reqwest::Method;
use serde_json::json;

const JSON: &str = "application/json";

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let dir = TempDir::new("sb-guards-input").expect("temp dir");
    let server = Server::demo(&dir).await;
    let mut checks = Checks::new("bad input");
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let w = format!("/api/v1/workspaces/{ws}");
    let alice_id = user_id(&admin, ws, "alice@demo.test").await;
    let support = id_by_name(&admin, &format!("{w}/teams"), "Support").await;
    let inbox = id_by_name(&admin, &format!("{w}/inboxes"), "Website").await;
    // An unassigned conversation: a stored reply would assign it, so a
    // refused one must leave it unassigned.
    let visitor_token = visitor(&server, &website_token).await;
    let widget = server.api().with_token(&visitor_token);
    let (s, b) = widget.post("/api/v1/widget/messages", json!({"content": "Hello?", "echo_id": "v-1"})).await;
    assert_eq!(s, 201, "{b}");
    let conv = b["conversation_id"].as_i64().expect("conversation id");
    let (_, c) = admin.get(&format!("{w}/conversations/{conv}")).await;
    assert!(c["assignee_id"].is_null(), "{c}");
    let contact = c["contact"]["id"].as_i64().expect("contact id");

    let before = snapshot(&admin, ws).await;
    let big = "x".repeat(1024 * 1024 + 16);

    // --- Malformed JSON, wrong content type, oversized bodies.
    // Each with a body that would be accepted as JSON, so the content type
    // or the size is the only thing wrong.
    let writes = [
        (Method::POST, format!("{w}/contacts"), json!({"name": "Plain"})),
        (Method::PATCH, format!("{w}/contacts/{contact}"), json!({"name": "Plain"})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"priority": "high"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "plain"})),
        (Method::POST, format!("{w}/conversations/{conv}/tags"), json!({"tag": "plain"})),
        (Method::POST, format!("{w}/teams"), json!({"name": "Plain"})),
        (Method::PUT, format!("{w}/teams/{support}/members/{alice_id}"), json!({"capacity": 3})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "Plain", "channel": "webchat", "config": {}})),
        (Method::PATCH, format!("{w}/inboxes/{inbox}"), json!({"name": "Plain"})),
        (Method::POST, format!("{w}/users"), json!({"email": "plain@demo.test", "name": "Plain", "password": "password123", "role": "agent"})),
        (Method::POST, format!("{w}/tags"), json!({"name": "plain"})),
        (Method::POST, format!("{w}/templates"), json!({"name": "plain", "content": "plain"})),
        (Method::PUT, format!("{w}/presence"), json!({"status": "away"})),
        (Method::PUT, format!("{w}/business-hours"), business_hours("Europe/Kyiv")),
        (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 4})),
        (Method::POST, format!("{w}/api-tokens"), json!({"name": "plain"})),
    ];
    for (m, p, valid) in &writes {
        for body in [&b"{"[..], b"{,}", b"{\"", b"not json at all"] {
            let res = admin.raw(m.clone(), p, JSON, body.to_vec()).await;
            checks.err(format!("{m} {p} malformed {:?}", String::from_utf8_lossy(body)), &res, 400, "invalid_json");
        }
        let res = admin.raw(m.clone(), p, "text/plain", valid.to_string().into_bytes()).await;
        checks.err(format!("{m} {p} text/plain {valid}"), &res, 415, "unsupported_media_type");
        let huge = format!(r#"{{"name":"{big}"}}"#).into_bytes();
        let res = admin.raw(m.clone(), p, JSON, huge).await;
        checks.err(format!("{m} {p} body over 1 MiB"), &res, 413, "payload_too_large");
    }
    for (label, m, p, tok, valid) in [
        ("login", Method::POST, "/api/v1/auth/login", None, json!({"email": "admin@demo.test", "password": DEMO_PASSWORD})),
        ("widget session", Method::POST, "/api/v1/widget/session", None, json!({"website_token": website_token})),
        ("widget messages", Method::POST, "/api/v1/widget/messages", Some(&visitor_token), json!({"content": "plain", "echo_id": "p-1"})),
        ("widget contact", Method::PATCH, "/api/v1/widget/contact", Some(&visitor_token), json!({"name": "Plain"})),
    ] {
        let api = match tok {
            Some(t) => server.api().with_token(t),
            None => server.api(),
        };
        checks.err(format!("{label}: malformed"), &api.raw(m.clone(), p, JSON, b"{".to_vec()).await, 400, "invalid_json");
        let res = api.raw(m.clone(), p, "text/plain", valid.to_string().into_bytes()).await;
        checks.err(format!("{label}: text/plain"), &res, 415, "unsupported_media_type");
        let huge = format!(r#"{{"content":"{big}","echo_id":"huge"}}"#).into_bytes();
        checks.err(format!("{label}: over 1 MiB"), &api.raw(m.clone(), p, JSON, huge).await, 413, "payload_too_large");
    }
    // Just under the limit is not "too large" (it fails validation instead).
    let almost = format!(r#"{{"content":"{}"}}"#, "y".repeat(1024 * 1024 - 64)).into_bytes();
    let res = admin.raw(Method::POST, &format!("{w}/conversations/{conv}/messages"), JSON, almost).await;
    checks.err("message just under 1 MiB (too long a text)", &res, 400, "validation_failed");

    // --- Unknown fields and wrong enum values.
    let invalid = [
        (Method::POST, format!("{w}/contacts"), json!({"name": "Nick", "nickname": "n"})),
        (Method::PATCH, format!("{w}/contacts/{contact}"), json!({"name": "Nick", "is_admin": true})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"status": "open", "assignee": alice_id})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "hi", "private": true})),
        (Method::POST, format!("{w}/teams"), json!({"name": "T", "members": []})),
        (Method::PUT, format!("{w}/teams/{support}/members/{alice_id}"), json!({"capacity": 3, "role": "lead"})),
        (Method::POST, format!("{w}/tags"), json!({"name": "t", "colour": "#000000"})),
        (Method::POST, format!("{w}/users"), json!({"email": "n@demo.test", "name": "N", "password": "password123", "role": "agent", "admin": true})),
        // wrong enum values
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"status": "closed"})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"priority": "critical"})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"assignee_id": "alice"})),
        (Method::POST, format!("{w}/users"), json!({"email": "king@demo.test", "name": "King", "password": "password123", "role": "king"})),
        (Method::PATCH, format!("{w}/users/{alice_id}"), json!({"role": "king"})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "Fax", "channel": "fax", "config": {}})),
        (Method::PUT, format!("{w}/presence"), json!({"status": "busy"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "hi", "kind": "whisper"})),
        // missing required fields / wrong types
        (Method::POST, format!("{w}/teams"), json!({})),
        (Method::POST, format!("{w}/contacts"), json!({"name": 42})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"kind": "out"})),
    ];
    for (m, p, b) in &invalid {
        let res = call(&admin, m.clone(), p, Some(b)).await;
        checks.err(format!("{m} {p} {b}"), &res, 400, "validation_failed");
    }
    for b in [
        json!({"website_token": website_token, "admin": true}),
        json!({"website_token": 42}),
    ] {
        checks.err(format!("widget session {b}"), &server.api().post("/api/v1/widget/session", b.clone()).await, 400, "validation_failed");
    }
    for b in [json!({"content": "hi", "echo_id": "e", "kind": "note"}), json!({"content": "hi"})] {
        checks.err(format!("widget message {b}"), &widget.post("/api/v1/widget/messages", b.clone()).await, 400, "validation_failed");
    }

    // --- Invalid values: contact cards, messages, and more.
    let values = [
        (Method::POST, format!("{w}/contacts"), json!({"name": "E", "email": "not-an-email"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "E", "email": "a@b"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "E", "email": "a b@c.de"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "P", "phone": "call me"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "P", "phone": "12"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "P", "phone": "+1 555 0100 ext 3"})),
        (Method::POST, format!("{w}/contacts"), json!({"name": "C", "custom_fields": {"nested": {"a": 1}}})),
        (Method::PATCH, format!("{w}/contacts/{contact}"), json!({"email": "nope@"})),
        (Method::PATCH, format!("{w}/contacts/{contact}"), json!({"phone": "555-CALL-NOW"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": ""})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "  \n\t "})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "hi", "kind": "in"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "hi", "kind": "system"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "hi", "echo_id": ""})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "bell \u{7}"})),
        (Method::POST, format!("{w}/conversations/{conv}/tags"), json!({"tag": ""})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"snoozed_until": "2001-01-01T00:00:00Z"})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"assignee_id": 999999})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"team_id": 999999})),
        (Method::POST, format!("{w}/teams"), json!({"name": ""})),
        (Method::PUT, format!("{w}/teams/{support}/members/{alice_id}"), json!({"capacity": 0})),
        (Method::PUT, format!("{w}/teams/{support}/members/{alice_id}"), json!({"capacity": 101})),
        (Method::POST, format!("{w}/tags"), json!({"name": "red", "color": "red"})),
        (Method::POST, format!("{w}/templates"), json!({"name": "t"})),
        (Method::POST, format!("{w}/templates"), json!({"name": "", "content": "c"})),
        (Method::POST, format!("{w}/users"), json!({"email": "bad-email", "name": "B", "password": "password123", "role": "agent"})),
        (Method::POST, format!("{w}/users"), json!({"email": "short@demo.test", "name": "S", "password": "short", "role": "agent"})),
        (Method::POST, format!("{w}/users"), json!({"email": "nopw@demo.test", "name": "S", "role": "agent"})),
        (Method::POST, format!("{w}/api-tokens"), json!({"name": ""})),
        // inbox configs: unknown key, missing required key, wrong types
        (Method::POST, format!("{w}/inboxes"), json!({"name": "W", "channel": "webchat", "config": {"colour": "red"}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "W", "channel": "webchat", "config": {"prechat": "yes"}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "W", "channel": "webchat", "config": {"allowed_origins": "https://a.example"}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "TG", "channel": "telegram", "config": {"bot_token": "123:abc"}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "TG", "channel": "telegram", "config": {}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "WA", "channel": "whatsapp", "config": {"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v", "api_base_url": "ftp://x"}})),
        (Method::POST, format!("{w}/inboxes"), json!({"name": "", "channel": "webchat", "config": {}})),
        (Method::PATCH, format!("{w}/inboxes/{inbox}"), json!({"config": {"colour": "red"}})),
        (Method::PATCH, format!("{w}/inboxes/{inbox}"), json!({"config": {"greeting": ""}})),
        (Method::PATCH, format!("{w}/inboxes/{inbox}"), json!({"name": "Renamed", "config": {"prechat": "no"}})),
    ];
    let mut hours = Vec::new();
    for (field, value) in [
        ("timezone", json!("Mars Base")),
        ("timezone", json!("")),
        ("holidays", json!(["2026-13-01"])),
        ("holidays", json!(["tomorrow"])),
        ("away_message", json!("x".repeat(1001))),
        ("days", json!([{"day": 1, "open": "18:00", "close": "09:00", "enabled": true}])),
        ("days", json!([{"day": 7, "open": "09:00", "close": "18:00", "enabled": true}])),
        ("days", json!([{"day": 1, "open": "24:00", "close": "25:00", "enabled": true}])),
        ("days", json!([{"day": 2, "open": "09:00", "close": "18:00", "enabled": true}, {"day": 2, "open": "10:00", "close": "12:00", "enabled": true}])),
    ] {
        let mut b = business_hours("UTC");
        b[field] = value;
        hours.push(b);
    }
    let mut extra = business_hours("UTC");
    extra["open_on_sundays"] = json!(true);
    hours.push(extra);
    hours.push(json!({"timezone": "UTC"}));
    hours.push(json!({"timezone": "UTC", "days": [{"day": 1, "open": "09:00", "close": "18:00", "enabled": true, "lunch": "12:00"}], "away_message": "", "holidays": []}));
    let values: Vec<_> = values
        .into_iter()
        .chain(hours.into_iter().map(|b| (Method::PUT, format!("{w}/business-hours"), b)))
        .chain([
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 0})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 6})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": -1, "comment": "neg"})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": "5"})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 3.5})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"comment": "no score"})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 3, "stars": 3})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 3, "comment": "y".repeat(2001)})),
            (Method::POST, format!("{w}/conversations/{conv}/reviews"), json!({"score": 3, "comment": "bell \u{7}"})),
        ])
        .collect();
    for (m, p, b) in &values {
        let res = call(&admin, m.clone(), p, Some(b)).await;
        checks.err(format!("{m} {p} {b}"), &res, 400, "validation_failed");
    }
    for b in [json!({"content": "", "echo_id": "e-empty"}), json!({"content": "   ", "echo_id": "e-blank"}), json!({"content": "hi", "echo_id": ""})] {
        checks.err(format!("widget message {b}"), &widget.post("/api/v1/widget/messages", b.clone()).await, 400, "validation_failed");
    }
    for b in [json!({"email": "not-an-email"}), json!({"phone": "call me"})] {
        checks.err(format!("widget contact {b}"), &widget.patch("/api/v1/widget/contact", b.clone()).await, 400, "validation_failed");
    }

    // --- Paging and filters.
    let lists = [
        format!("{w}/conversations"),
        format!("{w}/contacts"),
        format!("{w}/conversations/{conv}/messages"),
        format!("{w}/contacts/{contact}/conversations"),
    ];
    for l in &lists {
        for q in ["limit=0", "limit=500", "limit=201", "limit=-1", "limit=abc", "cursor=garbage", "cursor=%00%01", "cursor=eyJ4IjoxfQ", "cursor=1.x"] {
            checks.err(format!("GET {l}?{q}"), &admin.get(&format!("{l}?{q}")).await, 400, "bad_request");
        }
        let res = admin.get(&format!("{l}?limit=200")).await;
        checks.status(format!("GET {l}?limit=200"), &res, 200);
        let res = admin.get(&format!("{l}?limit=1")).await;
        checks.status(format!("GET {l}?limit=1"), &res, 200);
        if let Some(next) = res.1["next_cursor"].as_str() {
            checks.status(format!("GET {l}?cursor=<next_cursor>"), &admin.get(&format!("{l}?limit=1&cursor={next}")).await, 200);
        }
    }
    for q in ["status=closed", "assignee=someone", "team=abc", "inbox=x", "channel=fax", "channel=WEBCHAT%00"] {
        checks.err(format!("GET conversations?{q}"), &admin.get(&format!("{w}/conversations?{q}")).await, 400, "bad_request");
    }

    // --- Paths: non-numeric ids are "not found"; unknown routes and
    // methods answer JSON.
    for p in [
        format!("{w}/conversations/abc"),
        format!("{w}/conversations/1.5"),
        format!("{w}/conversations/99999999999999999999999"),
        format!("{w}/contacts/abc"),
        format!("{w}/contacts/abc/conversations"),
        format!("{w}/inboxes/abc"),
        format!("{w}/conversations/abc/messages"),
        format!("{w}/conversations/abc/reviews"),
        format!("{w}/conversations/999999/reviews"),
        "/api/v1/workspaces/abc".to_owned(),
        "/api/v1/workspaces/abc/conversations".to_owned(),
        "/api/v1/nope".to_owned(),
        "/api/v1/workspaces/1/nope".to_owned(),
        "/api/nope".to_owned(),
        "/webhooks/nope/1".to_owned(),
    ] {
        checks.err(format!("GET {p}"), &admin.get(&p).await, 404, "not_found");
    }
    for (m, p) in [
        (Method::PATCH, format!("{w}/conversations/abc")),
        (Method::DELETE, format!("{w}/templates/abc")),
        (Method::DELETE, format!("{w}/tags/abc")),
        (Method::PATCH, format!("{w}/users/abc")),
        (Method::DELETE, format!("{w}/teams/abc/members/{alice_id}")),
        (Method::DELETE, format!("{w}/api-tokens/abc")),
        (Method::DELETE, format!("{w}/api-tokens/999999")),
        (Method::POST, "/api/v1/nope".to_owned()),
    ] {
        let res = call(&admin, m.clone(), &p, Some(&json!({"name": "x", "status": "open"}))).await;
        checks.err(format!("{m} {p}"), &res, 404, "not_found");
    }
    let res = admin.post(&format!("{w}/conversations/999999/reviews"), json!({"score": 3})).await;
    checks.err("POST reviews of a missing conversation", &res, 404, "not_found");
    for (m, p) in [
        (Method::DELETE, "/api/v1/auth/login".to_owned()),
        (Method::GET, "/api/v1/auth/login".to_owned()),
        (Method::GET, "/api/v1/auth/logout".to_owned()),
        (Method::POST, "/api/v1/me".to_owned()),
        (Method::PUT, format!("{w}/conversations")),
        (Method::DELETE, format!("{w}/conversations/{conv}")),
        (Method::DELETE, format!("{w}/contacts/{contact}")),
        (Method::POST, "/healthz".to_owned()),
        (Method::DELETE, "/api/v1/widget/messages".to_owned()),
    ] {
        checks.err(format!("{m} {p}"), &call(&admin, m.clone(), &p, None).await, 405, "method_not_allowed");
    }

    // --- Missing or garbage credentials.
    let anon = server.api();
    let reads = [w.clone(), format!("{w}/conversations"), format!("{w}/contacts/{contact}"), "/api/v1/me".to_owned()];
    for p in &reads {
        checks.err(format!("no token: GET {p}"), &anon.get(p).await, 401, "unauthorized");
        for t in ["garbage", "sbs_garbage", "sbt_garbage", "", &visitor_token] {
            checks.err(format!("token {t:?}: GET {p}"), &anon.with_token(t).get(p).await, 401, "unauthorized");
        }
        let res = anon.send(rb(&anon, Method::GET, p).header("authorization", "Basic YWRtaW46YWRtaW4=")).await;
        checks.err(format!("basic auth: GET {p}"), &res, 401, "unauthorized");
        let res = anon.send(rb(&anon, Method::GET, p).header("cookie", "sb_session=sbs_garbage")).await;
        checks.err(format!("garbage cookie: GET {p}"), &res, 401, "unauthorized");
    }
    for (m, p, b) in [
        (Method::POST, format!("{w}/contacts"), json!({"name": "Anon"})),
        (Method::POST, format!("{w}/conversations/{conv}/messages"), json!({"content": "anon"})),
        (Method::PATCH, format!("{w}/conversations/{conv}"), json!({"status": "resolved"})),
        (Method::POST, format!("{w}/conversations/{conv}/claim"), json!({})),
        (Method::POST, format!("{w}/tags"), json!({"name": "anon"})),
        (Method::POST, "/api/v1/auth/logout".to_owned(), json!({})),
        (Method::PUT, format!("{w}/presence"), json!({"status": "away"})),
    ] {
        checks.err(format!("no token: {m} {p}"), &call(&anon, m.clone(), &p, Some(&b)).await, 401, "unauthorized");
        let res = call(&anon.with_token("sbs_garbage"), m.clone(), &p, Some(&b)).await;
        checks.err(format!("garbage token: {m} {p}"), &res, 401, "unauthorized");
    }
    let st = ws_status(&server.ws_url("/api/v1/ws")).await;
    checks.that("agent socket without a token", st == 401, format!("expected 401, got {st}"));
    let st = ws_status(&server.ws_url("/api/v1/ws?token=garbage")).await;
    checks.that("agent socket with a garbage token", st == 401, format!("expected 401, got {st}"));

    checks.unchanged("after all bad input", &before, &snapshot(&admin, ws).await);
    let (_, c) = admin.get(&format!("{w}/conversations/{conv}")).await;
    checks.that("refused replies did not assign the conversation", c["assignee_id"].is_null(), &c);
    let (_, thread) = widget.get("/api/v1/widget/messages").await;
    checks.that("the visitor's thread has only their first message", data_len(&thread) == 1, &thread);

    checks.finish();
    server.kill().await;
}
