//! Routing end to end against the real binary: team selection by the inbox's
//! default team, round-robin assignment with capacity, queueing with the
//! customer's position, re-offer when capacity frees up, offers that move on
//! when an agent goes offline, and bad input that changes nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

struct Demo {
    server: Server,
    admin: Api,
    ws: i64,
    website_token: String,
    team: i64,
    alice: (i64, Api),
    bob: (i64, Api),
}

async fn demo(dir: &TempDir, database_url: Option<&str>) -> Demo {
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let (_, teams) = admin.get(&format!("/api/v1/workspaces/{ws}/teams")).await;
    let team = teams["data"].as_array().unwrap().iter().find(|t| t["name"] == "Support").unwrap()["id"].as_i64().unwrap();
    let (_, users) = admin.get(&format!("/api/v1/workspaces/{ws}/users")).await;
    let id_of = |email: &str| users["data"].as_array().unwrap().iter().find(|u| u["email"] == email).unwrap()["id"].as_i64().unwrap();
    let (alice_id, bob_id) = (id_of("alice@demo.test"), id_of("bob@demo.test"));
    let alice = server.login("alice@demo.test").await;
    let bob = server.login("bob@demo.test").await;
    Demo { server, admin, ws, website_token, team, alice: (alice_id, alice), bob: (bob_id, bob) }
}

impl Demo {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    async fn route_webchat_to_support(&self, routing: Value) {
        let (status, body) = self.admin.patch(&self.path(&format!("/teams/{}", self.team)), json!({"routing": routing})).await;
        assert_eq!(status, 200, "{body}");
        let (_, inboxes) = self.admin.get(&self.path("/inboxes")).await;
        let inbox = inboxes["data"].as_array().unwrap().iter().find(|i| i["channel"] == "webchat").unwrap()["id"].as_i64().unwrap();
        let rules = json!({"rules": [], "inbox_default_team": {inbox.to_string(): self.team}});
        let (status, body) = self.admin.put(&self.path("/routing/rules"), rules).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn online(&self, who: &Api, status: &str) {
        let (code, body) = who.put(&self.path("/presence"), json!({"status": status})).await;
        assert_eq!(code, 200, "{body}");
    }

    /// A new visitor writes; returns their token and conversation id.
    async fn customer_writes(&self, text: &str) -> (String, i64) {
        let token = visitor(&self.server, &self.website_token).await;
        let widget = self.server.api().with_token(&token);
        let (status, body) = widget.post("/api/v1/widget/messages", json!({"content": text, "echo_id": "m-1"})).await;
        assert_eq!(status, 201, "{body}");
        (token, body["conversation_id"].as_i64().unwrap())
    }

    async fn conversation(&self, id: i64) -> Value {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls until the conversation's assignee satisfies `pred` (10 s).
    async fn wait_assignee(&self, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let c = self.conversation(id).await;
            if pred(&c["assignee_id"]) {
                return c["assignee_id"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {c}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn round_robin_with_capacity_queue_and_release(database_url: Option<&str>) {
    let dir = TempDir::new("sb-routing").unwrap();
    let d = demo(&dir, database_url).await;
    for (id, _) in [&d.alice, &d.bob] {
        let (status, body) = d.admin.put(&d.path(&format!("/teams/{}/members/{id}", d.team)), json!({"capacity": 2})).await;
        assert_eq!(status, 200, "{body}");
    }
    d.route_webchat_to_support(json!({"auto_assign": true, "strategy": "round_robin", "sticky": false})).await;
    d.online(&d.alice.1, "online").await;
    d.online(&d.bob.1, "online").await;

    let mut assignees = Vec::new();
    let mut conversations = Vec::new();
    for n in 1..=4 {
        let (_, id) = d.customer_writes(&format!("question {n}")).await;
        assignees.push(d.wait_assignee(id, "assignment", |a| !a.is_null()).await.as_i64().unwrap());
        conversations.push(id);
    }
    // Round robin in member order (alice was created before bob).
    let (a, b) = (d.alice.0, d.bob.0);
    assert_eq!(assignees, vec![a, b, a, b]);
    let conv = d.conversation(conversations[0]).await;
    assert_eq!(conv["team_id"], d.team, "the inbox default team was applied");

    // Both agents are full: the fifth customer waits and is told their place.
    let token = visitor(&d.server, &d.website_token).await;
    let mut widget_ws = connect_ws(&d.server.ws_url(&format!("/api/v1/widget/ws?token={token}"))).await;
    let widget = d.server.api().with_token(&token);
    let (status, body) = widget.post("/api/v1/widget/messages", json!({"content": "anyone there?", "echo_id": "m-5"})).await;
    assert_eq!(status, 201, "{body}");
    let fifth = body["conversation_id"].as_i64().unwrap();
    let position = expect_frame(&mut widget_ws, "queue position", |v| v["type"] == "queue.position").await;
    assert_eq!(position["data"]["position"], 1);
    let (status, queues) = d.admin.get(&d.path("/routing/queues")).await;
    assert_eq!(status, 200, "{queues}");
    let support = queues["data"].as_array().unwrap().iter().find(|q| q["team_id"] == d.team).unwrap().clone();
    assert_eq!(support["waiting"], json!([{"conversation_id": fifth, "position": 1, "offered_to": []}]));
    assert!(d.conversation(fifth).await["assignee_id"].is_null());

    // A reloaded widget learns its place at once.
    drop(widget_ws);
    let mut widget_ws = connect_ws(&d.server.ws_url(&format!("/api/v1/widget/ws?token={token}"))).await;
    let position = expect_frame(&mut widget_ws, "queue position on connect", |v| v["type"] == "queue.position").await;
    assert_eq!(position["data"]["position"], 1);

    // Alice resolves one of hers: the waiting conversation becomes hers, and
    // the widget hears it is out of the line.
    let (status, body) = d.alice.1.patch(&d.path(&format!("/conversations/{}", conversations[0])), json!({"status": "resolved"})).await;
    assert_eq!(status, 200, "{body}");
    let got = d.wait_assignee(fifth, "the queued conversation to be assigned", |a| !a.is_null()).await;
    assert_eq!(got, a);
    let left = expect_frame(&mut widget_ws, "out of the line", |v| v["type"] == "queue.position").await;
    assert_eq!(left["data"]["position"], 0);
    // Everyone is full again: a new customer waits.
    let (_, sixth) = d.customer_writes("one more").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(d.conversation(sixth).await["assignee_id"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_assigns_queues_and_releases_on_sqlite() {
    round_robin_with_capacity_queue_and_release(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_assigns_queues_and_releases_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        eprintln!("PostgreSQL unreachable: skipping");
        return;
    }
    let db = PgTestDb::create().await.unwrap();
    round_robin_with_capacity_queue_and_release(Some(&db.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_move_on_when_the_agent_goes_offline() {
    let dir = TempDir::new("sb-routing-offers").unwrap();
    let d = demo(&dir, None).await;
    let (a, b) = (d.alice.0, d.bob.0);
    d.admin.put(&d.path(&format!("/teams/{}/members/{a}", d.team)), json!({"capacity": 5, "priority": 0})).await;
    d.admin.put(&d.path(&format!("/teams/{}/members/{b}", d.team)), json!({"capacity": 5, "priority": 1})).await;
    d.route_webchat_to_support(json!({"auto_assign": true, "strategy": "ordered", "offer_timeout_secs": 30})).await;
    let mut alice_ws = connect_ws(&d.server.ws_url(&format!("/api/v1/ws?token={}", d.alice.1.token.clone().unwrap()))).await;
    let mut bob_ws = connect_ws(&d.server.ws_url(&format!("/api/v1/ws?token={}", d.bob.1.token.clone().unwrap()))).await;
    expect_frame(&mut alice_ws, "ready", |v| v["type"] == "ready").await;
    expect_frame(&mut bob_ws, "ready", |v| v["type"] == "ready").await;
    d.online(&d.alice.1, "online").await;
    d.online(&d.bob.1, "online").await;

    let (_, conv) = d.customer_writes("hello").await;
    let offer = expect_frame(&mut alice_ws, "offer to alice (top priority)", |v| v["type"] == "offer.created").await;
    assert_eq!(offer["data"]["conversation_id"], conv);
    assert_eq!(offer["data"]["agent_id"], a);
    expect_no_frame(&mut bob_ws, 300, |v| v["type"] == "offer.created").await;
    assert!(d.conversation(conv).await["assignee_id"].is_null(), "an offer is not an assignment");
    let (status, offers) = d.alice.1.get(&d.path("/routing/offers")).await;
    assert_eq!(status, 200, "{offers}");
    assert_eq!(offers["data"][0]["conversation_id"], conv);
    let (_, offers) = d.bob.1.get(&d.path("/routing/offers")).await;
    assert_eq!(offers["data"], json!([]));

    // Alice steps away: her offer moves on to Bob.
    d.online(&d.alice.1, "offline").await;
    let ended = expect_frame(&mut alice_ws, "alice's offer ends", |v| v["type"] == "offer.ended").await;
    assert_eq!(ended["data"]["reason"], "agent_unavailable");
    let offer = expect_frame(&mut bob_ws, "offer to bob", |v| v["type"] == "offer.created").await;
    assert_eq!(offer["data"]["conversation_id"], conv);
    let (_, offers) = d.alice.1.get(&d.path("/routing/offers")).await;
    assert_eq!(offers["data"], json!([]));
    let (_, offers) = d.bob.1.get(&d.path("/routing/offers")).await;
    assert_eq!(offers["data"][0]["conversation_id"], conv);

    // Alice cannot take what is no longer offered to her; Bob accepts.
    let accept = d.path(&format!("/conversations/{conv}/offer/accept"));
    let (status, body) = d.alice.1.post(&accept, json!({})).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "offer_not_found"));
    let (status, body) = d.bob.1.post(&accept, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assignee_id"], b);
    // A second accept is a conflict, and declining someone else's is too.
    let (status, _) = d.bob.1.post(&accept, json!({})).await;
    assert_eq!(status, 409);

    // Bob declines the next one: nobody else is online, so it waits for the
    // next round rather than being assigned.
    let (_, next) = d.customer_writes("second").await;
    expect_frame(&mut bob_ws, "offer of the second", |v| v["type"] == "offer.created" && v["data"]["conversation_id"] == next).await;
    let (status, _) = d.bob.1.post(&d.path(&format!("/conversations/{next}/offer/decline")), json!({})).await;
    assert_eq!(status, 204);
    let ended = expect_frame(&mut bob_ws, "declined offer ends", |v| v["type"] == "offer.ended" && v["data"]["conversation_id"] == next).await;
    assert_eq!(ended["data"]["reason"], "declined");
    assert!(d.conversation(next).await["assignee_id"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_routing_input_is_refused_and_changes_nothing() {
    let dir = TempDir::new("sb-routing-bad").unwrap();
    let d = demo(&dir, None).await;
    let team_path = d.path(&format!("/teams/{}", d.team));
    let (_, before) = d.admin.get(&d.path("/teams")).await;

    for (body, code) in [
        (json!({"routing": {"strategy": "telepathy"}}), 400),
        (json!({"routing": {"auto_assign": true, "strategy": "ring_all"}}), 400), // ring_all needs a timeout
        (json!({"routing": {"offer_timeout_secs": 1}}), 400),
        (json!({"routing": {"overflow": {"after_secs": 60, "to_team_id": 999999}}}), 400),
        (json!({"routing": {"overflow": {"after_secs": 60, "to_team_id": d.team}}}), 400),
        (json!({"routing": {"colour": "blue"}}), 400),
        (json!({"name": "", "routing": {"auto_assign": true}}), 400), // nothing written, not even the routing
    ] {
        let (status, resp) = d.admin.patch(&team_path, body.clone()).await;
        assert_eq!(status, code, "{body} → {resp}");
        error_code(&resp);
    }
    let (status, resp) = d.admin.raw(reqwest::Method::PATCH, &team_path, "application/json", b"{\"routing\": {".to_vec()).await;
    assert_eq!(status, 400, "{resp}");
    let (status, resp) = d.alice.1.patch(&team_path, json!({"routing": {"auto_assign": true}})).await;
    assert_eq!((status, error_code(&resp).as_str()), (403, "forbidden"));
    let (_, after) = d.admin.get(&d.path("/teams")).await;
    assert_eq!(before, after, "refused writes changed a team");

    let rules_path = d.path("/routing/rules");
    for body in [
        json!({"rules": [{"conditions": [], "team_id": 999999}]}),
        json!({"inbox_default_team": {"999999": d.team}}),
        json!({"rules": [{"conditions": [{"type": "keywords", "keywords": []}], "team_id": d.team}]}),
        json!({"rules": [{"conditions": [{"type": "moon_phase"}], "team_id": d.team}]}),
        json!({"rules": "all of them"}),
    ] {
        let (status, resp) = d.admin.put(&rules_path, body.clone()).await;
        assert_eq!(status, 400, "{body} → {resp}");
        error_code(&resp);
    }
    let (status, resp) = d.alice.1.put(&rules_path, json!({"rules": []})).await;
    assert_eq!(status, 403, "{resp}");
    let (status, resp) = d.alice.1.get(&rules_path).await;
    assert_eq!(status, 403, "{resp}");
    let (_, rules) = d.admin.get(&rules_path).await;
    assert_eq!(rules, json!({"rules": [], "inbox_default_team": {}}));

    // Member and agent settings out of range.
    let member = d.path(&format!("/teams/{}/members/{}", d.team, d.alice.0));
    for body in [json!({"priority": 5000}), json!({"weight": 100000}), json!({"weight": -1})] {
        let (status, resp) = d.admin.put(&member, body.clone()).await;
        assert_eq!(status, 400, "{body} → {resp}");
    }
    let user = d.path(&format!("/users/{}", d.alice.0));
    for body in [
        json!({"routing": {"capacity": {"chat": 1000, "email": 1, "voice": 1}}}),
        json!({"routing": {"skills": {"": 3}}}),
        json!({"routing": {"skills": {"english": 11}}}),
        json!({"routing": {"skills": {"english": "fluent"}}}),
    ] {
        let (status, resp) = d.admin.patch(&user, body.clone()).await;
        assert_eq!(status, 400, "{body} → {resp}");
    }
    let (status, resp) = d.admin.patch(&user, json!({"routing": {"capacity": {"chat": 3, "email": 5, "voice": 1}, "skills": {"english": 7}}})).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["routing"]["skills"]["english"], 7);

    // Offers: foreign or unknown conversations are not found.
    let (status, resp) = d.alice.1.post(&d.path("/conversations/999999/offer/accept"), json!({})).await;
    assert_eq!((status, error_code(&resp).as_str()), (404, "not_found"));
}

/// The router keeps nothing it cannot rebuild: after a crash, queued
/// conversations are still queued in order and agents' loads still count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_and_loads_are_rebuilt_after_a_crash() {
    let dir = TempDir::new("sb-routing-restart").unwrap();
    let d = demo(&dir, None).await;
    let (a, b) = (d.alice.0, d.bob.0);
    for id in [a, b] {
        d.admin.put(&d.path(&format!("/teams/{}/members/{id}", d.team)), json!({"capacity": 1})).await;
    }
    d.route_webchat_to_support(json!({"auto_assign": true, "strategy": "ordered", "sticky": false})).await;
    d.online(&d.alice.1, "online").await;
    d.online(&d.bob.1, "online").await;
    let (_, first) = d.customer_writes("one").await;
    assert_eq!(d.wait_assignee(first, "first", |x| !x.is_null()).await, a);
    let (_, second) = d.customer_writes("two").await;
    assert_eq!(d.wait_assignee(second, "second", |x| !x.is_null()).await, b);
    let (_, third) = d.customer_writes("three").await;
    let (_, fourth) = d.customer_writes("four").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let Demo { server, admin, ws, website_token, team, alice, bob } = d;
    server.kill().await;
    let server = Server::start("demo", dir.path(), None, &[]).await;
    // Same sessions (they are in the database), new port.
    let moved = |api: Api| Api { base: server.base.clone(), ..api };
    let (admin, alice, bob) = (moved(admin), (alice.0, moved(alice.1)), (bob.0, moved(bob.1)));
    let d = Demo { server, admin, ws, website_token, team, alice, bob };
    let (_, queues) = d.admin.get(&d.path("/routing/queues")).await;
    let support = queues["data"].as_array().unwrap().iter().find(|q| q["team_id"] == d.team).unwrap().clone();
    let waiting: Vec<i64> = support["waiting"].as_array().unwrap().iter().map(|w| w["conversation_id"].as_i64().unwrap()).collect();
    assert_eq!(waiting, vec![third, fourth], "queue order survives the crash");
    // Bob finishes: the oldest waiting conversation is his, the next still waits.
    let (status, _) = d.bob.1.patch(&d.path(&format!("/conversations/{second}")), json!({"status": "resolved"})).await;
    assert_eq!(status, 200);
    assert_eq!(d.wait_assignee(third, "third after restart", |x| !x.is_null()).await, b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(d.conversation(fourth).await["assignee_id"].is_null(), "alice still holds her first conversation");
}

/// Waiting too long in one team moves the conversation to the overflow
/// team, whose agent gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_moves_waiting_work_to_another_team() {
    let dir = TempDir::new("sb-routing-overflow").unwrap();
    let d = demo(&dir, None).await;
    let (a, b) = (d.alice.0, d.bob.0);
    let (_, teams) = d.admin.get(&d.path("/teams")).await;
    let sales = teams["data"].as_array().unwrap().iter().find(|t| t["name"] == "Sales").unwrap()["id"].as_i64().unwrap();
    // Support: only alice, one chat at a time. Sales: bob.
    let (status, _) = d.admin.delete(&d.path(&format!("/teams/{}/members/{b}", d.team))).await;
    assert_eq!(status, 200);
    d.admin.put(&d.path(&format!("/teams/{}/members/{a}", d.team)), json!({"capacity": 1})).await;
    d.admin.put(&d.path(&format!("/teams/{sales}/members/{b}")), json!({"capacity": 5})).await;
    let (status, body) = d.admin.patch(&d.path(&format!("/teams/{sales}")), json!({"routing": {"auto_assign": true}})).await;
    assert_eq!(status, 200, "{body}");
    d.route_webchat_to_support(json!({"auto_assign": true, "overflow": {"after_secs": 1, "to_team_id": sales}})).await;
    d.online(&d.alice.1, "online").await;
    d.online(&d.bob.1, "online").await;

    let (_, first) = d.customer_writes("first").await;
    assert_eq!(d.wait_assignee(first, "alice takes the first", |x| !x.is_null()).await, a);
    let (_, second) = d.customer_writes("second").await;
    assert!(d.conversation(second).await["assignee_id"].is_null(), "alice is full: the second waits");
    assert_eq!(d.wait_assignee(second, "overflow to bob's team", |x| !x.is_null()).await, b);
    assert_eq!(d.conversation(second).await["team_id"], sales);
}

/// A returning customer goes back to the agent who served them, although
/// the team's strategy would pick someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_customer_gets_their_previous_agent() {
    let dir = TempDir::new("sb-routing-sticky").unwrap();
    let d = demo(&dir, None).await;
    let (a, b) = (d.alice.0, d.bob.0);
    d.admin.put(&d.path(&format!("/teams/{}/members/{a}", d.team)), json!({"priority": 1})).await;
    d.admin.put(&d.path(&format!("/teams/{}/members/{b}", d.team)), json!({"priority": 0})).await;
    d.route_webchat_to_support(json!({"auto_assign": true, "strategy": "ordered", "sticky": true})).await;
    // Bob (top priority) is away, so Vera's first conversation is alice's.
    d.online(&d.alice.1, "online").await;
    let (vera, first) = d.customer_writes("first").await;
    assert_eq!(d.wait_assignee(first, "alice serves vera", |x| !x.is_null()).await, a);
    let (status, _) = d.alice.1.patch(&d.path(&format!("/conversations/{first}")), json!({"status": "resolved"})).await;
    assert_eq!(status, 200);
    d.online(&d.bob.1, "online").await;
    // A new customer goes to bob, the top of the order...
    let (_, other) = d.customer_writes("someone else").await;
    assert_eq!(d.wait_assignee(other, "ordered picks bob", |x| !x.is_null()).await, b);
    // ...but Vera, writing again, goes back to alice.
    let widget = d.server.api().with_token(&vera);
    let (status, body) = widget.post("/api/v1/widget/messages", json!({"content": "me again", "echo_id": "m-2"})).await;
    assert_eq!(status, 201, "{body}");
    let again = body["conversation_id"].as_i64().unwrap();
    assert_ne!(again, first);
    assert_eq!(d.wait_assignee(again, "sticky return to alice", |x| !x.is_null()).await, a);
}

/// Conversations already waiting in a team are picked up when the team
/// starts assigning automatically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_on_auto_assign_picks_up_waiting_conversations() {
    let dir = TempDir::new("sb-routing-adopt").unwrap();
    let d = demo(&dir, None).await;
    d.route_webchat_to_support(json!({"auto_assign": false})).await;
    d.online(&d.alice.1, "online").await;
    let (_, first) = d.customer_writes("first").await;
    let (_, second) = d.customer_writes("second").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in [first, second] {
        let c = d.conversation(id).await;
        assert_eq!((c["team_id"].as_i64(), c["assignee_id"].is_null()), (Some(d.team), true), "waits in Support for a claim");
    }
    let (status, body) = d.admin.patch(&d.path(&format!("/teams/{}", d.team)), json!({"routing": {"auto_assign": true}})).await;
    assert_eq!(status, 200, "{body}");
    for id in [first, second] {
        assert_eq!(d.wait_assignee(id, "picked up", |x| !x.is_null()).await, d.alice.0);
    }
}
