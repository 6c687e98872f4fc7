//! Login, the login rate limit, logout, /me; and the system endpoints
//! (health, readiness, metrics, the OpenAPI document).

use crate::common::*;
use crate::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn login_raw(server: &Server, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login request")
}

async fn to_pair(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn auth_rate_limit_logout_me_and_system_endpoints() {
    let dir = TempDir::new("sb-guards-auth").expect("temp dir");
    let server = Server::demo(&dir).await;
    let mut checks = Checks::new("auth + system");
    let anon = server.api();

    // --- Wrong credentials.
    let res = anon.post("/api/v1/auth/login", json!({"email": "alice@demo.test", "password": "wrong-password"})).await;
    checks.err("wrong password", &res, 401, "invalid_credentials");
    let res = anon.post("/api/v1/auth/login", json!({"email": "nobody@demo.test", "password": DEMO_PASSWORD})).await;
    checks.err("unknown email", &res, 401, "invalid_credentials");
    let res = anon.post("/api/v1/auth/login", json!({"email": "alice@demo.test", "password": ""})).await;
    checks.err("empty password", &res, 401, "invalid_credentials");
    let res = anon.post("/api/v1/auth/login", json!({"email": "alice@demo.test"})).await;
    checks.err("missing password", &res, 400, "validation_failed");
    // The same message for a wrong password and an unknown account.
    let a = anon.post("/api/v1/auth/login", json!({"email": "alice@demo.test", "password": "nope-nope"})).await;
    let b = anon.post("/api/v1/auth/login", json!({"email": "ghost@demo.test", "password": "nope-nope"})).await;
    checks.that("no account enumeration via the message", a.1 == b.1, format!("{} vs {}", a.1, b.1));

    // --- The 11th failed login for one email within a minute is refused.
    for i in 1..=10 {
        let res = anon.post("/api/v1/auth/login", json!({"email": "bob@demo.test", "password": format!("guess-{i}")})).await;
        checks.err(format!("bob failed login #{i}"), &res, 401, "invalid_credentials");
    }
    let resp = login_raw(&server, "bob@demo.test", "guess-11").await;
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = to_pair(resp).await;
    checks.err("bob failed login #11", &res, 429, "rate_limited");
    let secs = retry_after.as_deref().and_then(|s| s.parse::<u64>().ok());
    checks.that("429 carries Retry-After in seconds (1-60)", secs.is_some_and(|s| (1..=60).contains(&s)), format!("{retry_after:?}"));
    // Even the right password is refused while limited (no brute-force oracle).
    let res = to_pair(login_raw(&server, "BOB@demo.test ", DEMO_PASSWORD).await).await;
    checks.err("bob right password while limited (email case/space variant)", &res, 429, "rate_limited");
    // Other accounts are not affected.
    let res = anon.post("/api/v1/auth/login", json!({"email": "alice@demo.test", "password": DEMO_PASSWORD})).await;
    checks.status("alice still logs in", &res, 200);
    let early = anon.with_token(res.1["token"].as_str().unwrap_or("none"));
    checks.status("alice's session works", &early.get("/api/v1/me").await, 200);

    // A second workspace for alice (the CLI also resets her password, which
    // ends her open sessions).
    let (ok, out) = cli(
        &server.data_dir,
        None,
        &["admin", "create-user", "--email", "alice@demo.test", "--password", DEMO_PASSWORD, "--workspace", "Other", "--role", "supervisor"],
    )
    .await;
    assert!(ok, "{out}");
    checks.err("a password reset ends open sessions", &early.get("/api/v1/me").await, 401, "unauthorized");

    // --- The session cookie set by login is HttpOnly and SameSite; logout
    // clears it.
    let resp = login_raw(&server, "supervisor@demo.test", DEMO_PASSWORD).await;
    let cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (_, body) = to_pair(resp).await;
    let token = body["token"].as_str().unwrap_or("none").to_owned();
    checks.that(
        "login sets sb_session=<token>; HttpOnly; SameSite",
        cookie.starts_with(&format!("sb_session={token};")) && cookie.contains("HttpOnly") && cookie.contains("SameSite="),
        &cookie,
    );
    let resp = rb(&anon, Method::POST, "/api/v1/auth/logout").bearer_auth(&token).send().await.expect("logout");
    let cleared = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    checks.that("logout answers 204 and clears the cookie", resp.status() == 204 && cleared.contains("Max-Age=0"), &cleared);

    // --- Sessions, /me and logout.
    let admin = server.login("admin@demo.test").await;
    let alice1 = server.login("alice@demo.test").await;
    let alice2 = server.login("alice@demo.test").await;
    let supervisor = server.login("supervisor@demo.test").await;
    for (api, email, role) in [(&admin, "admin@demo.test", "admin"), (&alice1, "alice@demo.test", "agent"), (&supervisor, "supervisor@demo.test", "supervisor")] {
        let (s, me) = api.get("/api/v1/me").await;
        checks.that(format!("/me of {email}"), s == 200 && me["user"]["email"] == email, &me);
        let ws = me["workspaces"].as_array().cloned().unwrap_or_default();
        checks.that(
            format!("/me of {email} lists Demo as {role}"),
            ws.iter().any(|w| w["name"] == "Demo" && w["role"] == role && w["id"].is_i64()),
            &me,
        );
        checks.that(format!("/me of {email} has no password hash"), !me.to_string().contains("argon2"), &me);
    }
    // The second workspace shows up with its own role.
    let (_, me) = alice1.get("/api/v1/me").await;
    let mut roles: Vec<(String, String)> = me["workspaces"]
        .as_array()
        .map(|a| a.iter().map(|w| (w["name"].as_str().unwrap_or("").to_owned(), w["role"].as_str().unwrap_or("").to_owned())).collect())
        .unwrap_or_default();
    roles.sort();
    checks.that(
        "/me lists both workspaces with their roles",
        roles == [("Demo".to_owned(), "agent".to_owned()), ("Other".to_owned(), "supervisor".to_owned())],
        &me,
    );

    // Live feeds opened with each of alice's sessions.
    let mut feed1 = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&alice1)))).await;
    expect_frame(&mut feed1, "ready", |v| v["type"] == "ready").await;
    let mut feed2 = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&alice2)))).await;
    expect_frame(&mut feed2, "ready", |v| v["type"] == "ready").await;

    let res = call(&alice1, Method::POST, "/api/v1/auth/logout", None).await;
    checks.status("logout", &res, 204);
    // The revoked session's socket must not keep streaming conversations.
    let (_, website_token) = demo_workspace(&admin).await;
    let v = visitor(&server, &website_token).await;
    let (s, b) = anon.with_token(&v).post("/api/v1/widget/messages", json!({"content": "after logout", "echo_id": "l-1"})).await;
    assert_eq!(s, 201, "{b}");
    expect_frame(&mut feed2, "the live session's socket gets the message", |f| f["data"]["content"] == "after logout").await;
    let leaked = receives(&mut feed1, 500, |f| f["data"]["content"] == "after logout").await;
    checks.that("a logged-out session's open socket receives no more events", !leaked, "it received the new message");
    checks.err("revoked session: /me", &alice1.get("/api/v1/me").await, 401, "unauthorized");
    let (ws_id, _) = demo_workspace(&admin).await;
    checks.err("revoked session: conversations", &alice1.get(&format!("/api/v1/workspaces/{ws_id}/conversations")).await, 401, "unauthorized");
    checks.err("revoked session: logout again", &call(&alice1, Method::POST, "/api/v1/auth/logout", None).await, 401, "unauthorized");
    let st = ws_status(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&alice1)))).await;
    checks.that("revoked session: agent socket", st == 401, format!("expected 401, got {st}"));
    let res = anon.send(rb(&anon, Method::GET, "/api/v1/me").header("cookie", format!("sb_session={}", token_of(&alice1)))).await;
    checks.err("revoked session as cookie", &res, 401, "unauthorized");
    checks.status("alice's other session still works", &alice2.get("/api/v1/me").await, 200);
    // The session cookie works like the bearer token.
    let res = anon.send(rb(&anon, Method::GET, "/api/v1/me").header("cookie", format!("theme=dark; sb_session={}", token_of(&alice2)))).await;
    checks.that("session cookie authenticates", res.0 == 200 && res.1["user"]["email"] == "alice@demo.test", &res.1);

    // --- System endpoints.
    let res = anon.get("/healthz").await;
    checks.that("/healthz", res.0 == 200 && res.1["status"] == "ok", &res.1);
    let res = anon.get("/readyz").await;
    checks.that("/readyz", res.0 == 200 && res.1["status"] == "ready", &res.1);
    // Unmatched paths are not metric labels (no cardinality explosion).
    for p in ["/api/v1/zzz-probe-4711", "/api/v1/workspaces/1/zzz-probe-4712", "/zzz-probe-4713.js"] {
        let _ = anon.get(p).await;
    }
    let resp = reqwest::get(format!("{}/metrics", server.base)).await.expect("metrics");
    let status = resp.status().as_u16();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.unwrap_or_default();
    checks.that("/metrics 200 text/plain", status == 200 && ctype.starts_with("text/plain"), format!("{status} {ctype}"));
    checks.that("/metrics has switchboard_http_requests_total", text.contains("switchboard_http_requests_total"), &text);
    checks.that("/metrics has no raw unmatched paths", !text.contains("zzz-probe"), &text);
    checks.that("/metrics labels routes by their pattern", text.contains("/api/v1/workspaces/{workspace_id}/conversations"), &text);
    checks.that(
        "/metrics lines are Prometheus text (comments or `name{labels} value`)",
        text.lines().filter(|l| !l.is_empty()).all(|l| {
            l.starts_with('#') || l.rsplit_once(' ').is_some_and(|(name, v)| !name.is_empty() && v.parse::<f64>().is_ok())
        }),
        &text,
    );
    let res = anon.get("/api/v1/openapi.json").await;
    checks.status("/api/v1/openapi.json", &res, 200);
    let doc = res.1;
    checks.that("OpenAPI 3.1", doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), &doc["openapi"]);
    for p in ["/api/v1/workspaces/{workspace_id}/conversations", "/api/v1/auth/login", "/api/v1/widget/session"] {
        checks.that(format!("OpenAPI has path {p}"), doc["paths"].get(p).is_some(), "missing");
    }
    checks.that(
        "OpenAPI documents the claim conflict",
        doc["paths"]["/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/claim"]["post"]["responses"]["409"].is_object(),
        "no 409 on claim",
    );

    checks.finish();
    server.kill().await;
}
