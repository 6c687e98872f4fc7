//! Role checks: admin-only and supervisor-only writes refuse lower roles
//! with 403 `forbidden` and write nothing; the allowed role succeeds.

use crate::common::*;
use crate::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn lower_roles_are_forbidden_and_write_nothing() {
    let dir = TempDir::new("sb-guards-roles").unwrap();
    let server = Server::demo(&dir).await;
    let mut checks = Checks::new("roles");
    let admin = server.login("admin@demo.test").await;
    let supervisor = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let w = format!("/api/v1/workspaces/{ws}");
    let alice_id = user_id(&admin, ws, "alice@demo.test").await;
    let bob_id = user_id(&admin, ws, "bob@demo.test").await;
    let support = id_by_name(&admin, &format!("{w}/teams"), "Support").await;
    let sales = id_by_name(&admin, &format!("{w}/teams"), "Sales").await;
    let inbox = id_by_name(&admin, &format!("{w}/inboxes"), "Website").await;
    let tag = id_by_name(&admin, &format!("{w}/tags"), "vip").await;
    let template = id_by_name(&admin, &format!("{w}/templates"), "thanks").await;

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
    ];
    let supervisor_only: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("{w}/tags"), Some(json!({"name": "agent-made", "color": "#ff0000"}))),
        (Method::DELETE, format!("{w}/tags/{tag}"), None),
        (Method::POST, format!("{w}/templates"), Some(json!({"name": "agent tpl", "content": "agent content"}))),
        (Method::PATCH, format!("{w}/templates/{template}"), Some(json!({"content": "changed by an agent"}))),
        (Method::DELETE, format!("{w}/templates/{template}"), None),
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
    // An admin cannot lower their own role or remove themselves.
    let admin_id = my_id(&admin).await;
    checks.err("admin: demote self", &admin.patch(&format!("{w}/users/{admin_id}"), json!({"role": "agent"})).await, 409, "last_admin");
    checks.err("admin: remove self", &admin.delete(&format!("{w}/users/{admin_id}")).await, 409, "last_admin");
    let (_, me) = admin.get("/api/v1/me").await;
    checks.that("admin is still admin", me["workspaces"][0]["role"] == "admin", &me);

    checks.finish();
    server.kill().await;
}
