//! Role checks: admin-only and supervisor-only writes refuse lower roles
//! with 403 `forbidden` and write nothing; the allowed role succeeds.

use crate::common::*;
use crate::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn lower_roles_are_forbidden_and_write_nothing() {
    let dir = TempDir::new("sb-guards-roles").expect("temp dir");
    let server = Server::demo(&dir).await;
    let mut checks = Checks::new("roles");
    let admin = server.login("admin@demo.test").await;
    let supervisor = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let w = format!("/api/v1/workspaces/{ws}");
    let alice_id = user_id(&admin, ws, "alice@demo.test").await;
    let bob_id = user_id(&admin, ws, "bob@demo.test").await;
    let support = id_by_name(&admin, &format!("{w}/teams"), "Support").await;
    let sales = id_by_name(&admin, &format!("{w}/teams"), "Sales").await;
    let inbox = id_by_name(&admin, &format!("{w}/inboxes"), "Website").await;
    let tag = id_by_name(&admin, &format!("{w}/tags"), "vip").await;
    let template = id_by_name(&admin, &format!("{w}/templates"), "thanks").await;
    let (s, tok) = admin.post(&format!("{w}/api-tokens"), json!({"name": "existing"})).await;
    assert_eq!(s, 201, "{tok}");
    let api_token = tok["id"].as_i64().expect("token id");
    // Two conversations alice can see: one assigned to her, one unassigned,
    // each with a supervisor's review.
    let mut convs = Vec::new();
    for echo in ["r-1", "r-2"] {
        let v = visitor(&server, &website_token).await;
        let (s, m) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "review me", "echo_id": echo})).await;
        assert_eq!(s, 201, "{m}");
        let conv = m["conversation_id"].as_i64().expect("conversation id");
        let (s, r) = supervisor.post(&format!("{w}/conversations/{conv}/reviews"), json!({"score": 3, "comment": "ok"})).await;
        assert_eq!(s, 201, "{r}");
        convs.push(conv);
    }
    let (conv_assigned, conv_other) = (convs[0], convs[1]);
    let (s, c) = admin.patch(&format!("{w}/conversations/{conv_assigned}"), json!({"assignee_id": alice_id})).await;
    assert_eq!(s, 200, "{c}");

    let admin_only: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("{w}/users"), Some(json!({"email": "new@demo.test", "name": "New", "password": "password123", "role": "agent"}))),
        // an existing account (no password needed): still admin-only
        (Method::POST, format!("{w}/users"), Some(json!({"email": "bob@demo.test", "name": "Bob", "role": "admin"}))),
        (Method::PATCH, format!("{w}/users/{bob_id}"), Some(json!({"role": "admin"}))),
        (Method::PATCH, format!("{w}/users/{alice_id}"), Some(json!({"role": "admin"}))),
        (Method::PATCH, format!("{w}/users/{bob_id}"), Some(json!({"name": "Renamed Bob"}))),
        (Method::DELETE, format!("{w}/users/{bob_id}"), None),
        (Method::POST, format!("{w}/teams"), Some(json!({"name": "Shadow team"}))),
        (Method::PATCH, format!("{w}/teams/{support}"), Some(json!({"name": "Renamed"}))),
        (Method::DELETE, format!("{w}/teams/{sales}"), None),
        (Method::PUT, format!("{w}/teams/{sales}/members/{alice_id}"), Some(json!({"capacity": 9}))),
        (Method::PUT, format!("{w}/teams/{support}/members/{alice_id}"), Some(json!({"capacity": 99}))),
        (Method::DELETE, format!("{w}/teams/{support}/members/{bob_id}"), None),
        (Method::POST, format!("{w}/inboxes"), Some(json!({"name": "Shadow inbox", "channel": "webchat", "config": {}}))),
        (Method::PATCH, format!("{w}/inboxes/{inbox}"), Some(json!({"name": "Renamed", "config": {"allowed_origins": ["https://evil.example"]}}))),
        (Method::DELETE, format!("{w}/inboxes/{inbox}"), None),
        (Method::POST, format!("{w}/api-tokens"), Some(json!({"name": "my token"}))),
        (Method::GET, format!("{w}/api-tokens"), None),
        (Method::DELETE, format!("{w}/api-tokens/{api_token}"), None),
        (Method::PUT, format!("{w}/business-hours"), Some(business_hours("Europe/Kyiv"))),
    ];
    let supervisor_only: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("{w}/tags"), Some(json!({"name": "agent-made", "color": "#ff0000"}))),
        (Method::DELETE, format!("{w}/tags/{tag}"), None),
        (Method::POST, format!("{w}/templates"), Some(json!({"name": "agent tpl", "content": "agent content"}))),
        (Method::PATCH, format!("{w}/templates/{template}"), Some(json!({"content": "changed by an agent"}))),
        (Method::DELETE, format!("{w}/templates/{template}"), None),
        (Method::POST, format!("{w}/conversations/{conv_assigned}/reviews"), Some(json!({"score": 5, "comment": "self-review"}))),
        (Method::POST, format!("{w}/conversations/{conv_other}/reviews"), Some(json!({"score": 1}))),
        // an agent reads the marks only of conversations assigned to them
        (Method::GET, format!("{w}/conversations/{conv_other}/reviews"), None),
    ];

    let before = snapshot(&admin, ws).await;
    for (m, p, b) in admin_only.iter().chain(&supervisor_only) {
        let res = call(&alice, m.clone(), p, b.as_ref()).await;
        checks.err(format!("agent: {m} {p} {}", b.clone().unwrap_or_default()), &res, 403, "forbidden");
    }
    for (m, p, b) in &admin_only {
        let res = call(&supervisor, m.clone(), p, b.as_ref()).await;
        checks.err(format!("supervisor: {m} {p} {}", b.clone().unwrap_or_default()), &res, 403, "forbidden");
    }
    checks.unchanged("after refused agent/supervisor writes", &before, &snapshot(&admin, ws).await);
    let (_, me) = alice.get("/api/v1/me").await;
    checks.that("alice is still an agent", me["workspaces"][0]["role"] == "agent", &me);

    // Reads stay open to agents.
    for p in ["", "/users", "/teams", "/inboxes", "/tags", "/templates", "/contacts", "/conversations"] {
        checks.status(format!("agent: GET {w}{p}"), &alice.get(&format!("{w}{p}")).await, 200);
    }
    let res = alice.get(&format!("{w}/inboxes/{inbox}")).await;
    checks.status("agent: GET inbox", &res, 200);
    checks.status("agent: GET business-hours", &alice.get(&format!("{w}/business-hours")).await, 200);
    let res = alice.get(&format!("{w}/conversations/{conv_assigned}/reviews")).await;
    checks.that("agent reads the reviews of her own conversation", res.0 == 200 && data_len(&res.1) == 1, &res.1);

    // The supervisor may manage tags and templates.
    let res = supervisor.post(&format!("{w}/tags"), json!({"name": "escalated", "color": "#AA0000"})).await;
    checks.status("supervisor: POST tags", &res, 201);
    let new_tag = res.1["id"].as_i64().unwrap_or(-1);
    checks.that("tag color normalised", res.1["color"] == "#aa0000", &res.1);
    let res = supervisor.get(&format!("{w}/tags")).await;
    checks.that("new tag listed", res.1.to_string().contains("escalated"), &res.1);
    let res = supervisor.delete(&format!("{w}/tags/{new_tag}")).await;
    checks.status("supervisor: DELETE tag", &res, 204);
    let res = supervisor.post(&format!("{w}/templates"), json!({"name": "sup tpl", "content": "v1"})).await;
    checks.status("supervisor: POST templates", &res, 201);
    let new_tpl = res.1["id"].as_i64().unwrap_or(-1);
    let res = supervisor.patch(&format!("{w}/templates/{new_tpl}"), json!({"content": "v2"})).await;
    checks.status("supervisor: PATCH template", &res, 200);
    checks.that("template updated", res.1["content"] == "v2", &res.1);
    let res = supervisor.delete(&format!("{w}/templates/{new_tpl}")).await;
    checks.status("supervisor: DELETE template", &res, 204);
    checks.err("supervisor: DELETE deleted template", &supervisor.delete(&format!("{w}/templates/{new_tpl}")).await, 404, "not_found");
    checks.err("supervisor: DELETE deleted tag", &supervisor.delete(&format!("{w}/tags/{new_tag}")).await, 404, "not_found");
    checks.unchanged("after supervisor create+delete round trips", &before, &snapshot(&admin, ws).await);

    // The admin may do the admin-only things (a sample, to prove the 403s
    // above were about the role).
    let res = admin.post(&format!("{w}/teams"), json!({"name": "Night shift"})).await;
    checks.status("admin: POST teams", &res, 201);
    let res = admin.post(&format!("{w}/api-tokens"), json!({"name": "ci"})).await;
    checks.status("admin: POST api-tokens", &res, 201);
    let ci_token = res.1["token"].as_str().unwrap_or("none").to_owned();
    let ci_id = res.1["id"].as_i64().unwrap_or(-1);
    let ci = server.api().with_token(&ci_token);
    checks.status("the new API token works", &ci.get(&format!("{w}/conversations")).await, 200);
    let res = admin.get(&format!("{w}/api-tokens")).await;
    checks.that(
        "the token list names the token but never shows a secret",
        res.0 == 200 && res.1.to_string().contains("\"ci\"") && !res.1.to_string().contains("sbt_") && !res.1.to_string().contains(&ci_token[4..]),
        &res.1,
    );
    let mut ci_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={ci_token}"))).await;
    expect_frame(&mut ci_feed, "ready", |v| v["type"] == "ready").await;
    checks.status("admin: DELETE api-tokens/{id}", &admin.delete(&format!("{w}/api-tokens/{ci_id}")).await, 204);
    checks.err("a revoked API token", &ci.get(&format!("{w}/conversations")).await, 401, "unauthorized");
    let v = visitor(&server, &website_token).await;
    let (s, b) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "after revoke", "echo_id": "rv-1"})).await;
    assert_eq!(s, 201, "{b}");
    let leaked = receives(&mut ci_feed, 500, |f| f["data"]["content"] == "after revoke").await;
    checks.that("a revoked API token's open socket receives no more events", !leaked, "it received the new message");
    checks.err("revoking it again", &admin.delete(&format!("{w}/api-tokens/{ci_id}")).await, 404, "not_found");
    // An admin cannot lower their own role or remove themselves.
    let admin_id = my_id(&admin).await;
    checks.err("admin: demote self", &admin.patch(&format!("{w}/users/{admin_id}"), json!({"role": "agent"})).await, 409, "last_admin");
    checks.err("admin: remove self", &admin.delete(&format!("{w}/users/{admin_id}")).await, 409, "last_admin");
    let (_, me) = admin.get("/api/v1/me").await;
    checks.that("admin is still admin", me["workspaces"][0]["role"] == "admin", &me);

    // Deleting an inbox that has conversations is refused and deletes nothing.
    let res = admin.delete(&format!("{w}/inboxes/{inbox}")).await;
    checks.err("admin: DELETE inbox with conversations", &res, 409, "inbox_has_conversations");
    checks.status("the inbox is still there", &admin.get(&format!("{w}/inboxes/{inbox}")).await, 200);

    // Agents only reach conversations they may see: one of a team they are
    // not in is "not found" for every conversation endpoint.
    let v = visitor(&server, &website_token).await;
    let (s, m) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "Sales question", "echo_id": "s-1"})).await;
    assert_eq!(s, 201, "{m}");
    let conv = m["conversation_id"].as_i64().expect("conversation id");
    let (s, c) = admin.patch(&format!("{w}/conversations/{conv}"), json!({"team_id": sales})).await;
    assert_eq!(s, 200, "{c}");
    let contact = c["contact"]["id"].as_i64().expect("contact id");
    let cbase = format!("{w}/conversations/{conv}");
    let hidden_before = json!([admin.get(&cbase).await.1, admin.get(&format!("{cbase}/messages")).await.1]);
    for (m, p, b) in [
        (Method::GET, cbase.clone(), None),
        (Method::PATCH, cbase.clone(), Some(json!({"status": "resolved"}))),
        (Method::PATCH, cbase.clone(), Some(json!({"assignee_id": alice_id}))),
        (Method::POST, format!("{cbase}/claim"), Some(json!({}))),
        (Method::POST, format!("{cbase}/tags"), Some(json!({"tag": "vip"}))),
        (Method::GET, format!("{cbase}/messages"), None),
        (Method::POST, format!("{cbase}/messages"), Some(json!({"content": "peek"}))),
        (Method::POST, format!("{cbase}/messages"), Some(json!({"content": "peek", "kind": "note"}))),
    ] {
        let res = call(&alice, m.clone(), &p, b.as_ref()).await;
        checks.err(format!("agent on another team's conversation: {m} {p}"), &res, 404, "not_found");
    }
    let res = alice.get(&format!("{w}/conversations?limit=200")).await;
    checks.that("agent's list hides another team's conversation", !res.1["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"] == conv)), &res.1);
    let res = alice.get(&format!("{w}/contacts/{contact}/conversations")).await;
    checks.that(
        "agent's contact history hides another team's conversation",
        res.0 == 200 && !res.1["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"] == conv)),
        &res.1,
    );
    let hidden_after = json!([admin.get(&cbase).await.1, admin.get(&format!("{cbase}/messages")).await.1]);
    checks.unchanged("another team's conversation after the agent's attempts", &hidden_before, &hidden_after);
    checks.status("the supervisor sees it", &supervisor.get(&cbase).await, 200);
    // …and its live events do not reach the agent's socket either.
    let mut alice_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&alice)))).await;
    expect_frame(&mut alice_feed, "ready", |v| v["type"] == "ready").await;
    let mut sup_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&supervisor)))).await;
    expect_frame(&mut sup_feed, "ready", |v| v["type"] == "ready").await;
    let (s, b) = admin.post(&format!("{cbase}/messages"), json!({"content": "secret sales note", "kind": "note"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "sales follow-up", "echo_id": "s-2"})).await;
    assert_eq!(s, 201, "{b}");
    expect_frame(&mut sup_feed, "supervisor sees the follow-up", |f| f["data"]["content"] == "sales follow-up").await;
    expect_no_frame(&mut alice_feed, 400, |f| f["data"]["conversation_id"] == conv || f["data"]["id"] == conv).await;

    // Role changes and removals take effect at once.
    let sup_id = my_id(&supervisor).await;
    let res = admin.patch(&format!("{w}/users/{sup_id}"), json!({"role": "agent"})).await;
    checks.that("admin demotes the supervisor", res.0 == 200 && res.1["role"] == "agent", &res.1);
    let res = supervisor.post(&format!("{w}/tags"), json!({"name": "after-demotion"})).await;
    checks.err("demoted supervisor: POST tags", &res, 403, "forbidden");
    checks.err("demoted supervisor: another team's conversation", &supervisor.get(&cbase).await, 404, "not_found");
    let res = admin.patch(&format!("{w}/users/{bob_id}"), json!({"role": "admin"})).await;
    checks.that("admin promotes bob", res.0 == 200 && res.1["role"] == "admin", &res.1);
    let bob = server.login("bob@demo.test").await;
    let (s, tok) = bob.post(&format!("{w}/api-tokens"), json!({"name": "bob-ci"})).await;
    assert_eq!(s, 201, "{tok}");
    let bob_token = server.api().with_token(tok["token"].as_str().unwrap_or("none"));
    checks.status("bob's API token works", &bob_token.get(&w).await, 200);
    let mut bob_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&bob)))).await;
    expect_frame(&mut bob_feed, "ready", |v| v["type"] == "ready").await;
    let res = admin.delete(&format!("{w}/users/{bob_id}")).await;
    checks.status("admin removes bob", &res, 204);
    // Open sockets follow role changes and removals too.
    let mut admin_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&admin)))).await;
    expect_frame(&mut admin_feed, "ready", |v| v["type"] == "ready").await;
    let (s, b) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "after the changes", "echo_id": "s-3"})).await;
    assert_eq!(s, 201, "{b}");
    expect_frame(&mut admin_feed, "admin sees the new message", |f| f["data"]["content"] == "after the changes").await;
    expect_no_frame(&mut sup_feed, 300, |f| f["data"]["content"] == "after the changes").await;
    expect_no_frame(&mut bob_feed, 300, |f| f["data"]["content"] == "after the changes").await;
    checks.err("removed member's API token", &bob_token.get(&w).await, 401, "unauthorized");
    checks.err("removed member: GET workspace", &bob.get(&w).await, 404, "not_found");
    checks.err("removed member: conversations", &bob.get(&format!("{w}/conversations")).await, 404, "not_found");
    let (_, me) = bob.get("/api/v1/me").await;
    checks.that("removed member: /me lists no workspace", me["workspaces"].as_array().is_some_and(Vec::is_empty), &me);
    let res = admin.get(&format!("{w}/teams")).await;
    checks.that("removed member left the teams", !res.1.to_string().contains(&format!("\"user_id\":{bob_id}")), &res.1);

    checks.finish();
    server.kill().await;
}
