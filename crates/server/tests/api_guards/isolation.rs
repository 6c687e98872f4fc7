//! Cross-workspace isolation on every workspace-scoped endpoint: another
//! workspace's ids are "not found", never data, never a write.

use crate::common::*;
use crate::*;
use reqwest::Method;
use serde_json::{json, Value};

type Attack = (Method, String, Option<Value>);

fn get(p: String) -> Attack {
    (Method::GET, p, None)
}
fn post(p: String, b: Value) -> Attack {
    (Method::POST, p, Some(b))
}
fn patch(p: String, b: Value) -> Attack {
    (Method::PATCH, p, Some(b))
}
fn put(p: String, b: Value) -> Attack {
    (Method::PUT, p, Some(b))
}
fn delete(p: String) -> Attack {
    (Method::DELETE, p, None)
}

async fn expect_all_404(checks: &mut Checks, who: &str, api: &Api, attacks: &[Attack]) {
    for (m, p, b) in attacks {
        let res = call(api, m.clone(), p, b.as_ref()).await;
        checks.err(format!("{who}: {m} {p}"), &res, 404, "not_found");
    }
}

/// Ids of one workspace's resources.
struct Ids {
    ws: i64,
    conv: i64,
    contact: i64,
    inbox: i64,
    team: i64,
    team2: i64,
    tag: i64,
    tag_name: String,
    template: i64,
    member: i64,
    api_token: i64,
}

/// Every workspace-scoped route of app.rs, aimed at `t`'s resources, with
/// otherwise valid bodies; `intruder` is a user id of the caller's side.
fn every_endpoint(t: &Ids, intruder: i64) -> Vec<Attack> {
    let w = format!("/api/v1/workspaces/{}", t.ws);
    let (conv, contact, inbox, team, team2, tag, tpl, member, token) =
        (t.conv, t.contact, t.inbox, t.team, t.team2, t.tag, t.template, t.member, t.api_token);
    vec![
        get(w.clone()),
        get(format!("{w}/api-tokens")),
        delete(format!("{w}/api-tokens/{token}")),
        get(format!("{w}/business-hours")),
        put(format!("{w}/business-hours"), business_hours("Europe/Kyiv")),
        get(format!("{w}/conversations?channel=webchat")),
        get(format!("{w}/conversations/{conv}/reviews")),
        post(format!("{w}/conversations/{conv}/reviews"), json!({"score": 1, "comment": "evil"})),
        get(format!("{w}/users")),
        post(format!("{w}/users"), json!({"email": "mallory@evil.test", "name": "Mallory", "password": "password123", "role": "admin"})),
        patch(format!("{w}/users/{member}"), json!({"role": "admin", "name": "Pwned"})),
        delete(format!("{w}/users/{member}")),
        put(format!("{w}/presence"), json!({"status": "away"})),
        post(format!("{w}/api-tokens"), json!({"name": "steal"})),
        get(format!("{w}/teams")),
        post(format!("{w}/teams"), json!({"name": "Evil team"})),
        patch(format!("{w}/teams/{team}"), json!({"name": "Evil team"})),
        delete(format!("{w}/teams/{team2}")),
        put(format!("{w}/teams/{team}/members/{intruder}"), json!({"capacity": 3})),
        put(format!("{w}/teams/{team2}/members/{member}"), json!({"capacity": 3})),
        delete(format!("{w}/teams/{team}/members/{member}")),
        get(format!("{w}/inboxes")),
        post(format!("{w}/inboxes"), json!({"name": "Evil inbox", "channel": "webchat", "config": {}})),
        get(format!("{w}/inboxes/{inbox}")),
        patch(format!("{w}/inboxes/{inbox}"), json!({"name": "Evil inbox", "config": {"greeting": "pwned"}})),
        delete(format!("{w}/inboxes/{inbox}")),
        get(format!("{w}/contacts")),
        get(format!("{w}/contacts?q=a")),
        post(format!("{w}/contacts"), json!({"name": "Evil contact"})),
        get(format!("{w}/contacts/{contact}")),
        patch(format!("{w}/contacts/{contact}"), json!({"name": "Pwned", "email": "pwned@evil.test"})),
        get(format!("{w}/contacts/{contact}/conversations")),
        get(format!("{w}/conversations")),
        get(format!("{w}/conversations?status=open&assignee=none")),
        get(format!("{w}/conversations/{conv}")),
        patch(format!("{w}/conversations/{conv}"), json!({"status": "resolved", "priority": "urgent"})),
        post(format!("{w}/conversations/{conv}/claim"), json!({})),
        post(format!("{w}/conversations/{conv}/tags"), json!({"tag": "evil"})),
        delete(format!("{w}/conversations/{conv}/tags/{}", t.tag_name)),
        get(format!("{w}/conversations/{conv}/messages")),
        post(format!("{w}/conversations/{conv}/messages"), json!({"content": "evil reply", "kind": "out"})),
        post(format!("{w}/conversations/{conv}/messages"), json!({"content": "evil note", "kind": "note"})),
        get(format!("{w}/tags")),
        post(format!("{w}/tags"), json!({"name": "evil"})),
        delete(format!("{w}/tags/{tag}")),
        get(format!("{w}/templates")),
        post(format!("{w}/templates"), json!({"name": "evil", "content": "evil"})),
        patch(format!("{w}/templates/{tpl}"), json!({"content": "evil"})),
        delete(format!("{w}/templates/{tpl}")),
    ]
}

/// The victim's resource ids inside the attacker's own workspace path
/// (`own`: the attacker's ids, for the parts of the path that must be valid).
fn foreign_ids_in_own_path(own: &Ids, victim: &Ids) -> Vec<Attack> {
    let w = format!("/api/v1/workspaces/{}", own.ws);
    let (conv, contact, inbox, team, team2, tag, tpl, member, token) = (
        victim.conv,
        victim.contact,
        victim.inbox,
        victim.team,
        victim.team2,
        victim.tag,
        victim.template,
        victim.member,
        victim.api_token,
    );
    vec![
        delete(format!("{w}/api-tokens/{token}")),
        get(format!("{w}/conversations/{conv}/reviews")),
        post(format!("{w}/conversations/{conv}/reviews"), json!({"score": 1, "comment": "pwned"})),
        patch(format!("{w}/users/{member}"), json!({"role": "agent", "name": "Pwned"})),
        delete(format!("{w}/users/{member}")),
        patch(format!("{w}/teams/{team}"), json!({"name": "Pwned"})),
        delete(format!("{w}/teams/{team2}")),
        // a foreign user into an own team, an own user into a foreign team
        put(format!("{w}/teams/{}/members/{member}", own.team), json!({"capacity": 3})),
        put(format!("{w}/teams/{team}/members/{}", own.member), json!({"capacity": 3})),
        delete(format!("{w}/teams/{team}/members/{member}")),
        get(format!("{w}/inboxes/{inbox}")),
        patch(format!("{w}/inboxes/{inbox}"), json!({"name": "Pwned"})),
        delete(format!("{w}/inboxes/{inbox}")),
        get(format!("{w}/contacts/{contact}")),
        patch(format!("{w}/contacts/{contact}"), json!({"name": "Pwned"})),
        get(format!("{w}/contacts/{contact}/conversations")),
        get(format!("{w}/conversations/{conv}")),
        patch(format!("{w}/conversations/{conv}"), json!({"status": "resolved"})),
        post(format!("{w}/conversations/{conv}/claim"), json!({})),
        post(format!("{w}/conversations/{conv}/tags"), json!({"tag": "pwned"})),
        delete(format!("{w}/conversations/{conv}/tags/{}", victim.tag_name)),
        get(format!("{w}/conversations/{conv}/messages")),
        post(format!("{w}/conversations/{conv}/messages"), json!({"content": "pwned"})),
        post(format!("{w}/conversations/{conv}/messages"), json!({"content": "pwned note", "kind": "note"})),
        delete(format!("{w}/tags/{tag}")),
        patch(format!("{w}/templates/{tpl}"), json!({"name": "pwned", "content": "pwned"})),
        delete(format!("{w}/templates/{tpl}")),
    ]
}

/// Filters naming the victim's ids in the attacker's lists find nothing.
async fn filters_find_nothing(checks: &mut Checks, who: &str, api: &Api, own: &Ids, victim: &Ids) {
    let w = format!("/api/v1/workspaces/{}", own.ws);
    for q in [
        format!("inbox={}", victim.inbox),
        format!("assignee={}", victim.member),
        format!("team={}", victim.team),
        format!("tag={}", victim.tag_name),
    ] {
        let res = api.get(&format!("{w}/conversations?{q}")).await;
        checks.status(format!("{who}: GET conversations?{q}"), &res, 200);
        checks.that(format!("{who}: GET conversations?{q} is empty"), data_len(&res.1) == 0, format!("{}", res.1));
    }
}

async fn ids_of(api: &Api, ws: i64, team: &str, team2: &str, member_email: &str) -> Ids {
    let w = format!("/api/v1/workspaces/{ws}");
    let (_, convs) = api.get(&format!("{w}/conversations")).await;
    let conv = &convs["data"][0];
    let (_, tags) = api.get(&format!("{w}/tags")).await;
    let (_, tpls) = api.get(&format!("{w}/templates")).await;
    let (_, inboxes) = api.get(&format!("{w}/inboxes")).await;
    let (_, tokens) = api.get(&format!("{w}/api-tokens")).await;
    Ids {
        api_token: tokens["data"][0]["id"].as_i64().expect("an API token"),
        ws,
        conv: conv["id"].as_i64().expect("a conversation"),
        contact: conv["contact"]["id"].as_i64().expect("its contact"),
        inbox: inboxes["data"][0]["id"].as_i64().expect("an inbox"),
        team: id_by_name(api, &format!("{w}/teams"), team).await,
        team2: id_by_name(api, &format!("{w}/teams"), team2).await,
        tag: tags["data"][0]["id"].as_i64().expect("a tag"),
        tag_name: tags["data"][0]["name"].as_str().expect("tag name").to_owned(),
        template: tpls["data"][0]["id"].as_i64().expect("a template"),
        member: user_id(api, ws, member_email).await,
    }
}

#[tokio::test]
async fn cross_workspace_ids_are_not_found_and_change_nothing_on_sqlite() {
    isolation(None, "isolation (sqlite)").await;
}

#[tokio::test]
async fn cross_workspace_ids_are_not_found_and_change_nothing_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        eprintln!("PostgreSQL unreachable: skipping");
        return;
    }
    let db = PgTestDb::create().await.expect("test database");
    isolation(Some(&db.url), "isolation (postgres)").await;
}

async fn isolation(database_url: Option<&str>, name: &'static str) {
    let dir = TempDir::new("sb-guards-iso").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let mut checks = Checks::new(name);
    let admin = server.login("admin@demo.test").await;
    let (demo_ws, demo_website_token) = demo_workspace(&admin).await;

    // A second workspace, "Other", with one of everything.
    let oadmin = cli_user(&server, "owner@other.test", "Other", "admin").await;
    let other_ws = workspace_id(&oadmin, "Other").await;
    assert_ne!(other_ws, demo_ws);
    let oadmin_id = my_id(&oadmin).await;
    let o = format!("/api/v1/workspaces/{other_ws}");
    let d = format!("/api/v1/workspaces/{demo_ws}");
    for (path, body) in [
        ("users", json!({"email": "oagent@other.test", "name": "Otto Agent", "password": "password123", "role": "agent"})),
        ("teams", json!({"name": "Other Support"})),
        ("teams", json!({"name": "Other Sales"})),
        ("tags", json!({"name": "other-tag"})),
        ("templates", json!({"name": "other tpl", "content": "Hello from Other"})),
        ("contacts", json!({"name": "Olga Other", "email": "olga@other.test"})),
    ] {
        let (s, b) = oadmin.post(&format!("{o}/{path}"), body).await;
        assert_eq!(s, 201, "Other: POST {path}: {b}");
    }
    let (s, inbox) = oadmin.post(&format!("{o}/inboxes"), json!({"name": "Other Web", "channel": "webchat", "config": {}})).await;
    assert_eq!(s, 201, "{inbox}");
    let other_website_token = inbox["website_token"].as_str().expect("website token").to_owned();
    let other_visitor = visitor(&server, &other_website_token).await;
    let (s, b) = server
        .api()
        .with_token(&other_visitor)
        .post("/api/v1/widget/messages", json!({"content": "Other's secret question", "echo_id": "o-1"}))
        .await;
    assert_eq!(s, 201, "{b}");
    let oagent = user_id(&oadmin, other_ws, "oagent@other.test").await;
    let other_team = id_by_name(&oadmin, &format!("{o}/teams"), "Other Support").await;
    let (s, b) = oadmin.put(&format!("{o}/teams/{other_team}/members/{oagent}"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    for (api, w) in [(&oadmin, &o), (&admin, &d)] {
        let (s, b) = api.post(&format!("{w}/api-tokens"), json!({"name": "existing"})).await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = api.put(&format!("{w}/business-hours"), business_hours("UTC")).await;
        assert_eq!(s, 200, "{b}");
    }
    let other = ids_of(&oadmin, other_ws, "Other Support", "Other Sales", "oagent@other.test").await;
    let (s, b) = oadmin.post(&format!("{o}/conversations/{}/reviews", other.conv), json!({"score": 4, "comment": "fine"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = oadmin.post(&format!("{o}/conversations/{}/tags", other.conv), json!({"tag": "other-tag"})).await;
    assert_eq!(s, 200, "{b}");

    let demo = ids_of(&admin, demo_ws, "Support", "Sales", "alice@demo.test").await;
    let (s, b) = admin.post(&format!("{d}/conversations/{}/tags", demo.conv), json!({"tag": demo.tag_name})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = admin.post(&format!("{d}/conversations/{}/reviews", demo.conv), json!({"score": 5, "comment": "great"})).await;
    assert_eq!(s, 201, "{b}");
    let admin_id = my_id(&admin).await;

    let demo_before = snapshot(&admin, demo_ws).await;
    let other_before = snapshot(&oadmin, other_ws).await;
    assert!(demo_before.to_string().contains("Maria Lopez"), "the demo has data to protect");
    assert!(other_before.to_string().contains("Other's secret question"));

    // 1. Other's admin, Demo's workspace id: every endpoint is 404.
    expect_all_404(&mut checks, "Other admin in Demo", &oadmin, &every_endpoint(&demo, oadmin_id)).await;
    // 2. Other's admin, own workspace path, Demo's ids.
    expect_all_404(&mut checks, "Other admin, Demo ids", &oadmin, &foreign_ids_in_own_path(&other, &demo)).await;
    filters_find_nothing(&mut checks, "Other admin", &oadmin, &other, &demo).await;
    let res = oadmin.get(&format!("{o}/contacts?q=maria")).await;
    checks.that("Other admin: contact search does not find Demo's Maria", res.0 == 200 && data_len(&res.1) == 0, &res.1);
    // 3. Demo's admin, Demo's path, Other's ids; Demo's admin in Other.
    expect_all_404(&mut checks, "Demo admin, Other ids", &admin, &foreign_ids_in_own_path(&demo, &other)).await;
    expect_all_404(&mut checks, "Demo admin in Other", &admin, &every_endpoint(&other, admin_id)).await;
    filters_find_nothing(&mut checks, "Demo admin", &admin, &demo, &other).await;
    // 4. Ids in bodies: another workspace's user or team cannot be assigned.
    for body in [json!({"assignee_id": oagent}), json!({"team_id": other.team})] {
        let res = admin.patch(&format!("{d}/conversations/{}", demo.conv), body.clone()).await;
        checks.err(format!("Demo admin: PATCH Demo conversation {body}"), &res, 400, "validation_failed");
    }
    for body in [json!({"assignee_id": demo.member}), json!({"team_id": demo.team})] {
        let res = oadmin.patch(&format!("{o}/conversations/{}", other.conv), body.clone()).await;
        checks.err(format!("Other admin: PATCH Other conversation {body}"), &res, 400, "validation_failed");
    }
    // 5. Workspaces that do not exist look the same as foreign ones.
    for p in ["/api/v1/workspaces/999999", "/api/v1/workspaces/999999/conversations", "/api/v1/workspaces/0/users"] {
        checks.err(format!("Other admin: GET {p}"), &oadmin.get(p).await, 404, "not_found");
    }
    // 6. The agents' live feed cannot be opened for a foreign workspace.
    let url = server.ws_url(&format!("/api/v1/ws?token={}&workspace_id={demo_ws}", token_of(&oadmin)));
    let st = ws_status(&url).await;
    checks.that("Other admin: /api/v1/ws?workspace_id=Demo", st == 404, format!("expected 404, got {st}"));

    checks.unchanged("Demo after all foreign requests", &demo_before, &snapshot(&admin, demo_ws).await);
    checks.unchanged("Other after all foreign requests", &other_before, &snapshot(&oadmin, other_ws).await);
    let (_, me) = oadmin.get("/api/v1/me").await;
    checks.that("Other admin is still only in Other", me["workspaces"].as_array().is_some_and(|a| a.len() == 1), &me);

    // 7. Realtime: Demo's events never reach Other's admin, and Other's admin
    // cannot type into a Demo conversation.
    let mut demo_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&admin)))).await;
    expect_frame(&mut demo_feed, "ready", |v| v["type"] == "ready").await;
    let mut other_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&oadmin)))).await;
    expect_frame(&mut other_feed, "ready", |v| v["type"] == "ready").await;
    send_json(&mut other_feed, json!({"type": "typing", "conversation_id": demo.conv, "on": true})).await;
    send_json(&mut other_feed, json!({"type": "typing", "conversation_id": demo.conv, "on": true, "workspace_id": demo_ws})).await;
    let demo_visitor = visitor(&server, &demo_website_token).await;
    let (s, b) = server
        .api()
        .with_token(&demo_visitor)
        .post("/api/v1/widget/messages", json!({"content": "Demo-only news", "echo_id": "d-1"}))
        .await;
    assert_eq!(s, 201, "{b}");
    expect_frame(&mut demo_feed, "Demo admin sees the Demo message", |v| {
        v["type"] == "message.created" && v["data"]["content"] == "Demo-only news"
    })
    .await;
    expect_no_frame(&mut other_feed, 400, |v| v["workspace_id"] == demo_ws || v.to_string().contains("Demo-only news")).await;
    expect_no_frame(&mut demo_feed, 300, |v| v["type"] == "typing").await;
    // A Demo visitor token cannot resume a session in Other's inbox.
    let res = server
        .api()
        .post("/api/v1/widget/session", json!({"website_token": other_website_token, "visitor_token": demo_visitor}))
        .await;
    checks.err("Demo visitor token on Other's website token", &res, 401, "invalid_visitor_token");

    // 8. API tokens act only inside the workspace they were made in — even
    // for a user who is a member of both.
    let dual = cli_user(&server, "dual@other.test", "Other", "admin").await;
    let (s, b) = admin.post(&format!("{d}/users"), json!({"email": "dual@other.test", "name": "Dual", "role": "admin"})).await;
    assert_eq!(s, 201, "adding dual to Demo: {b}");
    let (s, tok) = dual.post(&format!("{o}/api-tokens"), json!({"name": "other-ci"})).await;
    assert_eq!(s, 201, "{tok}");
    let other_token = tok["token"].as_str().expect("token").to_owned();
    checks.that("API token has the sbt_ prefix", other_token.starts_with("sbt_"), &other_token);
    let (s, tok) = oadmin.post(&format!("{o}/api-tokens"), json!({"name": "owner-ci"})).await;
    assert_eq!(s, 201, "{tok}");
    let owner_token = tok["token"].as_str().expect("token").to_owned();
    let (s, tok) = dual.post(&format!("{d}/api-tokens"), json!({"name": "demo-ci"})).await;
    assert_eq!(s, 201, "{tok}");
    let demo_token = tok["token"].as_str().expect("token").to_owned();

    let demo_before = snapshot(&admin, demo_ws).await;
    let other_before = snapshot(&oadmin, other_ws).await;
    for (label, token) in [("dual's Other token", &other_token), ("Other owner's token", &owner_token)] {
        let t = server.api().with_token(token);
        // every endpoint of Demo refuses it
        expect_all_404(&mut checks, &format!("{label} in Demo"), &t, &every_endpoint(&demo, oadmin_id)).await;
        let url = server.ws_url(&format!("/api/v1/ws?token={token}&workspace_id={demo_ws}"));
        let st = ws_status(&url).await;
        checks.that(format!("{label}: /api/v1/ws for Demo"), st == 404, format!("expected 404, got {st}"));
        // and it works at home
        let res = t.get(&format!("{o}/contacts")).await;
        checks.status(format!("{label}: GET Other contacts"), &res, 200);
        checks.that(format!("{label}: sees Other's contact"), res.1.to_string().contains("Olga Other"), &res.1);
        let res = t.get("/api/v1/me").await;
        let names: Vec<&str> = res.1["workspaces"].as_array().map(|a| a.iter().filter_map(|w| w["name"].as_str()).collect()).unwrap_or_default();
        checks.that(format!("{label}: /me lists only Other"), names == ["Other"], &res.1);
    }
    checks.unchanged("Demo after Other's API tokens", &demo_before, &snapshot(&admin, demo_ws).await);
    // The live feed of an API token carries only its own workspace, even
    // for a user who is a member of both.
    let mut token_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={other_token}"))).await;
    let ready = expect_frame(&mut token_feed, "ready", |v| v["type"] == "ready").await;
    checks.that("API token feed: ready lists only Other", ready["data"]["workspaces"] == json!([other_ws]), &ready);
    let mut dual_feed = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", token_of(&dual)))).await;
    expect_frame(&mut dual_feed, "ready", |v| v["type"] == "ready").await;
    let (s, b) = server
        .api()
        .with_token(&demo_visitor)
        .post("/api/v1/widget/messages", json!({"content": "Demo news for dual", "echo_id": "d-2"}))
        .await;
    assert_eq!(s, 201, "{b}");
    expect_frame(&mut dual_feed, "dual's session feed sees Demo", |v| v["data"]["content"] == "Demo news for dual").await;
    expect_no_frame(&mut token_feed, 300, |v| v["workspace_id"] == demo_ws || v.to_string().contains("Demo news for dual")).await;
    let demo_before = snapshot(&admin, demo_ws).await; // with the new message

    let dual_demo = server.api().with_token(&demo_token);
    checks.status("dual's Demo token: GET Demo", &dual_demo.get(&d).await, 200);
    expect_all_404(&mut checks, "dual's Demo token in Other", &dual_demo, &every_endpoint(&other, admin_id)).await;
    checks.status("dual's session: GET Demo (control)", &dual.get(&d).await, 200);
    checks.status("dual's session: GET Other (control)", &dual.get(&o).await, 200);
    checks.unchanged("Demo after foreign API tokens", &demo_before, &snapshot(&admin, demo_ws).await);
    checks.unchanged("Other after foreign API tokens", &other_before, &snapshot(&oadmin, other_ws).await);

    // 9. Users are global accounts shared by workspaces: what Demo's admin
    // does to a shared member must not reach into Other.
    let dual_id = my_id(&dual).await;
    let other_users_before = oadmin.get(&format!("{o}/users")).await;
    let res = admin.patch(&format!("{d}/users/{dual_id}"), json!({"name": "Renamed by Demo"})).await;
    checks.that("Demo admin may edit their member", res.0 == 200 || res.0 == 403 || res.0 == 409, &res.1);
    checks.unchanged(
        "Other's member list after Demo's admin renamed a member shared with Other",
        &other_users_before.1,
        &oadmin.get(&format!("{o}/users")).await.1,
    );
    // Role changes and removal in Demo leave the Other membership and its
    // API token alone.
    let res = admin.patch(&format!("{d}/users/{dual_id}"), json!({"role": "agent"})).await;
    checks.that("Demo admin demotes dual in Demo", res.0 == 200 && res.1["role"] == "agent", &res.1);
    let roles = |me: &Value| -> Vec<(String, String)> {
        let mut r: Vec<(String, String)> = me["workspaces"]
            .as_array()
            .map(|a| a.iter().map(|w| (w["name"].as_str().unwrap_or("").to_owned(), w["role"].as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        r.sort();
        r
    };
    let (_, me) = dual.get("/api/v1/me").await;
    checks.that(
        "dual: agent in Demo, still admin in Other",
        roles(&me) == [("Demo".to_owned(), "agent".to_owned()), ("Other".to_owned(), "admin".to_owned())],
        &me,
    );
    checks.status("Demo admin removes dual from Demo", &admin.delete(&format!("{d}/users/{dual_id}")).await, 204);
    let (_, me) = dual.get("/api/v1/me").await;
    checks.that("dual: still admin of Other only", roles(&me) == [("Other".to_owned(), "admin".to_owned())], &me);
    checks.status("dual's Other API token still works", &server.api().with_token(&other_token).get(&o).await, 200);
    checks.err("dual's Demo API token is gone", &server.api().with_token(&demo_token).get(&d).await, 401, "unauthorized");

    // Adding an existing account by email ignores the password and name
    // given (otherwise any admin could take over any account).
    let res = admin
        .post(&format!("{d}/users"), json!({"email": "owner@other.test", "name": "Hijacked", "password": "hijacked-pass-1", "role": "agent"}))
        .await;
    checks.status("Demo admin adds an existing account by email", &res, 201);
    let res = server.api().post("/api/v1/auth/login", json!({"email": "owner@other.test", "password": "hijacked-pass-1"})).await;
    checks.err("the password given when adding an existing account is ignored", &res, 401, "invalid_credentials");
    checks.status("the owner's own password still works", &oadmin.get(&o).await, 200);
    let res = server.api().post("/api/v1/auth/login", json!({"email": "owner@other.test", "password": "password123"})).await;
    checks.status("the owner can still log in", &res, 200);
    let (_, ousers) = oadmin.get(&format!("{o}/users")).await;
    checks.that("the owner's name is not overwritten", !ousers.to_string().contains("Hijacked"), &ousers);
    let (_, me) = oadmin.get("/api/v1/me").await;
    let role_in_other = me["workspaces"].as_array().and_then(|a| a.iter().find(|w| w["name"] == "Other")).map(|w| w["role"].clone());
    checks.that("the owner is still admin of Other", role_in_other == Some(json!("admin")), &me);

    checks.finish();
    server.kill().await;
}
