//! The public widget API: website tokens, visitor tokens, thread isolation
//! between visitors, echo-id deduplication, identity verification and
//! allowed origins.

use crate::common::*;
use crate::*;
use base64::Engine;
use futures_util::future::join_all;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{json, Value};
use switchboard_channels::webchat::identity_hash;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn contact_count(admin: &Api, ws: i64) -> usize {
    let (s, b) = admin.get(&format!("/api/v1/workspaces/{ws}/contacts?limit=200")).await;
    assert_eq!(s, 200, "{b}");
    data_len(&b)
}

fn contents(thread: &Value) -> Vec<String> {
    thread["data"].as_array().map(|a| a.iter().filter_map(|m| m["content"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

async fn with_origin(api: &Api, method: Method, path: &str, origin: &str, body: Option<&Value>) -> (u16, Value) {
    let mut r = rb(api, method, path).header("origin", origin);
    if let Some(b) = body {
        r = r.json(b);
    }
    api.send(r).await
}

#[tokio::test]
async fn widget_tokens_threads_identity_and_origins() {
    let dir = TempDir::new("sb-guards-widget").expect("temp dir");
    let server = Server::demo(&dir).await;
    let mut checks = Checks::new("widget");
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let w = format!("/api/v1/workspaces/{ws}");
    let anon = server.api();

    // --- Unknown website token.
    let contacts0 = contact_count(&admin, ws).await;
    for t in ["nope", "", "0000000000000000000000000"] {
        let res = anon.post("/api/v1/widget/session", json!({"website_token": t})).await;
        checks.err(format!("session with website_token {t:?}"), &res, 404, "not_found");
    }
    checks.that("unknown website tokens create no contact", contact_count(&admin, ws).await == contacts0, "contact added");

    // --- Two visitors; echo-id dedup.
    let va = visitor(&server, &website_token).await;
    let vb = visitor(&server, &website_token).await;
    let a = anon.with_token(&va);
    let b = anon.with_token(&vb);
    let (s, a_card) = a.patch("/api/v1/widget/contact", json!({"name": "Anna A", "email": "anna@example.com"})).await;
    assert_eq!(s, 200, "{a_card}");
    let first = a.post("/api/v1/widget/messages", json!({"content": "Anna's private question", "echo_id": "a-1"})).await;
    checks.status("first send of echo a-1", &first, 201);
    let again = a.post("/api/v1/widget/messages", json!({"content": "Anna's private question", "echo_id": "a-1"})).await;
    checks.status("resend of echo a-1", &again, 200);
    checks.that("resend answers the same message", again.1["id"] == first.1["id"] && first.1["id"].is_i64(), format!("{} vs {}", first.1, again.1));
    // Same echo id, different text: still the stored message, no new one.
    let third = a.post("/api/v1/widget/messages", json!({"content": "edited text", "echo_id": "a-1"})).await;
    checks.that("same echo id with other text → same message", third.0 == 200 && third.1["id"] == first.1["id"], &third.1);
    let conv_a = first.1["conversation_id"].as_i64().expect("conversation id");
    let (_, msgs) = admin.get(&format!("{w}/conversations/{conv_a}/messages")).await;
    checks.that("one stored message for echo a-1", data_len(&msgs) == 1, &msgs);
    let res = b.post("/api/v1/widget/messages", json!({"content": "Bruno's question", "echo_id": "a-1"})).await;
    checks.status("another visitor may use the same echo id", &res, 201);
    let conv_b = res.1["conversation_id"].as_i64().unwrap_or(-1);
    checks.that("visitors have separate conversations", conv_a != conv_b, format!("{conv_a} {conv_b}"));
    let mut b_socket = connect_ws(&server.ws_url(&format!("/api/v1/widget/ws?token={vb}"))).await;
    let mut a_socket = connect_ws(&server.ws_url(&format!("/api/v1/widget/ws?token={va}"))).await;
    send_json(&mut a_socket, json!({"type": "typing", "on": true})).await;
    let (s, reply) = admin.post(&format!("{w}/conversations/{conv_a}/messages"), json!({"content": "Answer for Anna only"})).await;
    assert_eq!(s, 201, "{reply}");
    let (s, note) = admin.post(&format!("{w}/conversations/{conv_a}/messages"), json!({"content": "internal note on Anna", "kind": "note"})).await;
    assert_eq!(s, 201, "{note}");

    expect_frame(&mut a_socket, "Anna's socket gets her answer", |f| f["data"]["content"] == "Answer for Anna only").await;
    expect_no_frame(&mut a_socket, 200, |f| f["data"]["content"] == "internal note on Anna").await;
    expect_no_frame(&mut b_socket, 300, |f| f["type"] != "pong").await;
    let (_, ta) = a.get("/api/v1/widget/messages").await;
    let (_, tb) = b.get("/api/v1/widget/messages").await;
    checks.that(
        "Anna sees her thread without notes",
        contents(&ta) == ["Anna's private question", "Answer for Anna only"],
        &ta,
    );
    checks.that("Bruno sees only his own thread", contents(&tb) == ["Bruno's question"], &tb);

    // --- Garbage, tampered and forged visitor tokens: 401 everywhere.
    let (payload_a, sig_a) = va.split_once('.').expect("token is payload.signature");
    let (payload_b, _) = vb.split_once('.').expect("token is payload.signature");
    let mut flipped = sig_a.to_owned();
    let last = flipped.pop().unwrap_or('A');
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let claims_a = String::from_utf8(URL_SAFE_NO_PAD.decode(payload_a).unwrap_or_default()).unwrap_or_default();
    let bad_tokens = vec![
        ("garbage", "garbage".to_owned()),
        ("empty signature", format!("{payload_a}.")),
        ("flipped signature", format!("{payload_a}.{flipped}")),
        ("B's claims with A's signature", format!("{payload_b}.{sig_a}")),
        ("edited claims", format!("{}.{sig_a}", URL_SAFE_NO_PAD.encode(claims_a.replace(':', ":9")))),
        ("agent session token", token_of(&admin).to_owned()),
    ];
    for (label, t) in &bad_tokens {
        let v = anon.with_token(t);
        checks.err(format!("{label}: GET widget/messages"), &v.get("/api/v1/widget/messages").await, 401, "invalid_visitor_token");
        let res = v.post("/api/v1/widget/messages", json!({"content": "forged", "echo_id": "f-1"})).await;
        checks.err(format!("{label}: POST widget/messages"), &res, 401, "invalid_visitor_token");
        let res = v.patch("/api/v1/widget/contact", json!({"name": "Forged"})).await;
        checks.err(format!("{label}: PATCH widget/contact"), &res, 401, "invalid_visitor_token");
        let res = anon.post("/api/v1/widget/session", json!({"website_token": website_token, "visitor_token": t})).await;
        checks.err(format!("{label}: resume session"), &res, 401, "invalid_visitor_token");
        let st = ws_status(&server.ws_url(&format!("/api/v1/widget/ws?token={t}"))).await;
        checks.that(format!("{label}: widget socket"), st == 401, format!("expected 401, got {st}"));
    }
    for (label, res) in [
        ("no token: GET widget/messages", anon.get("/api/v1/widget/messages").await),
        ("no token: POST widget/messages", anon.post("/api/v1/widget/messages", json!({"content": "x", "echo_id": "n-1"})).await),
        ("no token: PATCH widget/contact", anon.patch("/api/v1/widget/contact", json!({"name": "x"})).await),
    ] {
        checks.err(label, &res, 401, "unauthorized");
    }
    let st = ws_status(&server.ws_url("/api/v1/widget/ws")).await;
    checks.that("no token: widget socket", st == 401, format!("expected 401, got {st}"));
    let (_, ta2) = a.get("/api/v1/widget/messages").await;
    let (_, tb2) = b.get("/api/v1/widget/messages").await;
    checks.unchanged("threads after forged requests", &json!([ta, tb]), &json!([ta2, tb2]));
    let (_, card) = admin.get(&format!("{w}/conversations/{conv_a}")).await;
    checks.that("Anna's card untouched", card["contact"]["name"] == "Anna A", &card);
    // Resuming with one's own token gives one's own card and thread.
    let res = anon.post("/api/v1/widget/session", json!({"website_token": website_token, "visitor_token": va})).await;
    checks.that("resume with own token", res.0 == 200 && res.1["contact"]["name"] == "Anna A", &res.1);

    // --- Identity verification.
    let secret = "test-identity-secret-42";
    let (s, shop) = admin.post(&format!("{w}/inboxes"), json!({"name": "Shop", "channel": "webchat", "config": {"identity_secret": secret}})).await;
    assert_eq!(s, 201, "{shop}");
    checks.that("identity_secret is not shown back", !shop.to_string().contains(secret), &shop);
    let shop_id = shop["id"].as_i64().expect("inbox id");
    let (_, shop_read) = admin.get(&format!("{w}/inboxes/{shop_id}")).await;
    checks.that("identity_secret is not readable", !shop_read.to_string().contains(secret) && shop_read["id"] == shop_id, &shop_read);
    let shop_token = shop["website_token"].as_str().expect("website token").to_owned();
    let contacts1 = contact_count(&admin, ws).await;
    let good = identity_hash(secret, "user-42");
    let wrong = [
        ("wrong hash", json!({"identifier": "user-42", "identifier_hash": "00".repeat(32)})),
        ("hash of another identifier", json!({"identifier": "user-42", "identifier_hash": identity_hash(secret, "user-43")})),
        ("hash with another secret", json!({"identifier": "user-42", "identifier_hash": identity_hash("other-secret", "user-42")})),
        ("no hash", json!({"identifier": "user-42"})),
        ("not hex", json!({"identifier": "user-42", "identifier_hash": "zz"})),
        ("truncated hash", json!({"identifier": "user-42", "identifier_hash": &good[..32]})),
    ];
    for (label, extra) in &wrong {
        let mut body = extra.clone();
        body["website_token"] = json!(shop_token);
        let res = anon.post("/api/v1/widget/session", body).await;
        checks.err(format!("identity: {label}"), &res, 401, "invalid_identity");
    }
    // The demo inbox has no identity secret: identifiers cannot be vouched for.
    let res = anon
        .post("/api/v1/widget/session", json!({"website_token": website_token, "identifier": "user-42", "identifier_hash": good}))
        .await;
    checks.err("identity on an inbox without identity_secret", &res, 401, "invalid_identity");
    checks.that("refused identities create no contact", contact_count(&admin, ws).await == contacts1, "contact added");

    let s1 = anon.post("/api/v1/widget/session", json!({"website_token": shop_token, "identifier": "user-42", "identifier_hash": good})).await;
    checks.status("identity: correct hash", &s1, 200);
    let t1 = s1.1["visitor_token"].as_str().unwrap_or("").to_owned();
    let i1 = anon.with_token(&t1);
    checks.status("identified visitor fills the card", &i1.patch("/api/v1/widget/contact", json!({"name": "Ida Identified"})).await, 200);
    checks.status("identified visitor writes", &i1.post("/api/v1/widget/messages", json!({"content": "Ida on laptop", "echo_id": "i-1"})).await, 201);
    let s2 = anon
        .post("/api/v1/widget/session", json!({"website_token": shop_token, "identifier": "user-42", "identifier_hash": good.to_uppercase()}))
        .await;
    checks.status("identity: second device (upper-case hash)", &s2, 200);
    checks.that("second session has the same contact", s2.1["contact"]["name"] == "Ida Identified", &s2.1);
    let i2 = anon.with_token(s2.1["visitor_token"].as_str().unwrap_or(""));
    let (_, thread) = i2.get("/api/v1/widget/messages").await;
    checks.that("second session continues the same thread", contents(&thread) == ["Ida on laptop"], &thread);
    checks.that("two identified sessions → exactly one new contact", contact_count(&admin, ws).await == contacts1 + 1, "count");
    let other = anon
        .post("/api/v1/widget/session", json!({"website_token": shop_token, "identifier": "user-43", "identifier_hash": identity_hash(secret, "user-43")}))
        .await;
    checks.that("another identifier is another contact", other.0 == 200 && other.1["contact"]["name"].is_null(), &other.1);
    let (_, thread) = anon.with_token(other.1["visitor_token"].as_str().unwrap_or("")).get("/api/v1/widget/messages").await;
    checks.that("…with an empty thread", data_len(&thread) == 0, &thread);
    // A Shop visitor token cannot resume in the Website inbox.
    let res = anon.post("/api/v1/widget/session", json!({"website_token": website_token, "visitor_token": t1})).await;
    checks.err("Shop visitor token on the Website inbox", &res, 401, "invalid_visitor_token");

    // --- Allowed origins.
    let (s, guarded) = admin
        .post(&format!("{w}/inboxes"), json!({"name": "Guarded", "channel": "webchat", "config": {"allowed_origins": ["https://shop.example"]}}))
        .await;
    assert_eq!(s, 201, "{guarded}");
    let guarded_token = guarded["website_token"].as_str().expect("website token").to_owned();
    let contacts2 = contact_count(&admin, ws).await;
    let session = json!({"website_token": guarded_token});
    for evil in ["https://evil.example", "https://shop.example.evil.example", "http://shop.example", "null"] {
        let res = with_origin(&anon, Method::POST, "/api/v1/widget/session", evil, Some(&session)).await;
        checks.err(format!("session from Origin {evil}"), &res, 403, "forbidden");
    }
    checks.that("refused origins create no contact", contact_count(&admin, ws).await == contacts2, "contact added");
    let res = with_origin(&anon, Method::POST, "/api/v1/widget/session", "https://shop.example", Some(&session)).await;
    checks.status("session from the allowed origin", &res, 200);
    let gt = res.1["visitor_token"].as_str().unwrap_or("").to_owned();
    let g = anon.with_token(&gt);
    let send = json!({"content": "from the shop", "echo_id": "g-1"});
    let res = with_origin(&g, Method::POST, "/api/v1/widget/messages", "https://evil.example", Some(&send)).await;
    checks.err("POST widget/messages from an evil origin", &res, 403, "forbidden");
    let res = with_origin(&g, Method::GET, "/api/v1/widget/messages", "https://evil.example", None).await;
    checks.err("GET widget/messages from an evil origin", &res, 403, "forbidden");
    let res = with_origin(&g, Method::PATCH, "/api/v1/widget/contact", "https://evil.example", Some(&json!({"name": "Evil"}))).await;
    checks.err("PATCH widget/contact from an evil origin", &res, 403, "forbidden");
    let mut req = format!("{}/api/v1/widget/ws?token={gt}", server.base.replacen("http://", "ws://", 1))
        .into_client_request()
        .expect("ws request");
    req.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
    let st = match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{e}"),
    };
    checks.that("widget socket from an evil origin", st == 403, format!("expected 403, got {st}"));
    let res = with_origin(&g, Method::GET, "/api/v1/widget/messages", "https://shop.example", None).await;
    checks.that("nothing was written from the evil origin", res.0 == 200 && data_len(&res.1) == 0, &res.1);
    let res = with_origin(&g, Method::POST, "/api/v1/widget/messages", "https://shop.example", Some(&send)).await;
    checks.status("POST widget/messages from the allowed origin", &res, 201);
    let res = with_origin(&g, Method::PATCH, "/api/v1/widget/contact", "https://shop.example", Some(&json!({"name": "Gina"}))).await;
    checks.that("PATCH widget/contact from the allowed origin", res.0 == 200 && res.1["name"] == "Gina", &res.1);

    dedup_bursts(&mut checks, &server, &admin, ws, &website_token).await;

    // Starting sessions is rate limited per client address.
    let contacts3 = contact_count(&admin, ws).await;
    let mut limited = None;
    for i in 0..200 {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/widget/session", server.base))
            .json(&json!({"website_token": website_token}))
            .send()
            .await
            .expect("session request");
        if resp.status().as_u16() != 200 {
            let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or_default();
            limited = Some((i, status, retry, body));
            break;
        }
    }
    match limited {
        None => checks.that("widget sessions are rate limited", false, "200 sessions in a row were accepted"),
        Some((i, status, retry, body)) => {
            checks.err(format!("widget session #{i} of this burst"), &(status, body), 429, "rate_limited");
            checks.that("429 carries Retry-After", retry.is_some_and(|s| (1..=60).contains(&s)), format!("{retry:?}"));
            let made = contact_count(&admin, ws).await - contacts3;
            checks.that("the refused session created no contact", made == i, format!("{made} contacts for {i} sessions"));
        }
    }

    checks.finish();
    server.kill().await;
}

/// The same echo id sent 10 times at once (a flaky network retrying) stores
/// one message, for visitors and for agents.
async fn dedup_bursts(checks: &mut Checks, server: &Server, admin: &Api, ws: i64, website_token: &str) {
    let v = server.api().with_token(&visitor(server, website_token).await);
    let burst = join_all((0..10).map(|_| v.post("/api/v1/widget/messages", json!({"content": "retrying", "echo_id": "burst-1"})))).await;
    let created = burst.iter().filter(|r| r.0 == 201).count();
    let ids: std::collections::BTreeSet<String> = burst.iter().map(|r| r.1["id"].to_string()).collect();
    checks.that(
        "10 concurrent visitor sends of one echo id: one 201, nine 200, one id",
        created == 1 && burst.iter().all(|r| r.0 == 201 || r.0 == 200) && ids.len() == 1,
        format!("{:?}", burst.iter().map(|r| (r.0, short(&r.1))).collect::<Vec<_>>()),
    );
    let Some(conv) = burst.iter().find_map(|r| r.1["conversation_id"].as_i64()) else { return };
    let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages");
    let burst = join_all((0..10).map(|_| admin.post(&path, json!({"content": "one answer", "echo_id": "agent-burst-1"})))).await;
    let ids: std::collections::BTreeSet<String> = burst.iter().map(|r| r.1["id"].to_string()).collect();
    checks.that(
        "10 concurrent agent sends of one echo id: all succeed with one id",
        burst.iter().all(|r| r.0 == 201 || r.0 == 200) && ids.len() == 1,
        format!("{:?}", burst.iter().map(|r| (r.0, short(&r.1))).collect::<Vec<_>>()),
    );
    let (_, msgs) = admin.get(&path).await;
    let count = |echo: &str| msgs["data"].as_array().map_or(0, |a| a.iter().filter(|m| m["echo_id"] == echo).count());
    checks.that("one stored visitor message for the burst", count("burst-1") == 1, &msgs);
    checks.that("one stored agent message for the burst", count("agent-burst-1") == 1, &msgs);
    let (_, thread) = v.get("/api/v1/widget/messages").await;
    checks.that("the visitor sees one question and one answer", contents(&thread) == ["retrying", "one answer"], &thread);
}

#[tokio::test]
async fn echo_id_dedup_under_concurrency_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        eprintln!("PostgreSQL unreachable: skipping");
        return;
    }
    let db = PgTestDb::create().await.expect("test database");
    let dir = TempDir::new("sb-guards-dedup-pg").expect("temp dir");
    let server = Server::start("demo", dir.path(), Some(&db.url), &[]).await;
    let mut checks = Checks::new("echo dedup (postgres)");
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    dedup_bursts(&mut checks, &server, &admin, ws, &website_token).await;
    checks.finish();
    server.kill().await;
}
