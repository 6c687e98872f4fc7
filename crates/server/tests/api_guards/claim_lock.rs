//! The claim lock over HTTP: of 20 agents claiming one conversation at the
//! same moment exactly one wins; the others get 409 `already_assigned`.

use crate::common::*;
use crate::*;
use futures_util::future::join_all;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;

const AGENTS: usize = 20;

#[tokio::test]
async fn twenty_concurrent_claims_have_exactly_one_winner_on_sqlite() {
    claim_race(None, "claim lock (sqlite)").await;
}

#[tokio::test]
async fn twenty_concurrent_claims_have_exactly_one_winner_on_postgres() {
    if !PgTestDb::available().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL must be reachable in CI");
        eprintln!("PostgreSQL unreachable: skipping");
        return;
    }
    let db = PgTestDb::create().await.expect("test database");
    claim_race(Some(&db.url), "claim lock (postgres)").await;
}

async fn claim_race(database_url: Option<&str>, name: &'static str) {
    let dir = TempDir::new("sb-guards-claim").expect("temp dir");
    let server = Server::start("demo", dir.path(), database_url, &[]).await;
    let mut checks = Checks::new(name);
    let admin = server.login("admin@demo.test").await;
    let (ws, website_token) = demo_workspace(&admin).await;
    let w = format!("/api/v1/workspaces/{ws}");

    // 20 agents in no team: they all see unassigned conversations without a team.
    let created = join_all((0..AGENTS).map(|i| {
        let admin = admin.clone();
        let w = w.clone();
        async move {
            admin
                .post(
                    &format!("{w}/users"),
                    json!({"email": format!("racer{i}@demo.test"), "name": format!("Racer {i}"), "password": format!("racer-password-{i}"), "role": "agent"}),
                )
                .await
        }
    }))
    .await;
    for (i, (s, b)) in created.iter().enumerate() {
        assert_eq!(*s, 201, "create racer{i}: {b}");
        assert_eq!(b["role"], "agent", "{b}");
    }
    let agents: Vec<(i64, Api)> = join_all((0..AGENTS).map(|i| {
        let server = &server;
        async move {
            let api = server.login_with(&format!("racer{i}@demo.test"), &format!("racer-password-{i}")).await;
            (my_id(&api).await, api)
        }
    }))
    .await;

    // A visitor's message opens an unassigned conversation without a team.
    let v = visitor(&server, &website_token).await;
    let (s, m) = server.api().with_token(&v).post("/api/v1/widget/messages", json!({"content": "Who is first?", "echo_id": "race-1"})).await;
    assert_eq!(s, 201, "{m}");
    let conv = m["conversation_id"].as_i64().expect("conversation id");
    let path = format!("{w}/conversations/{conv}");
    let (_, c) = admin.get(&path).await;
    assert!(c["assignee_id"].is_null() && c["team_id"].is_null(), "{c}");
    for (id, api) in &agents {
        let res = api.get(&path).await;
        assert_eq!(res.0, 200, "racer {id} must see the conversation before the race: {}", res.1);
    }

    let barrier = Arc::new(Barrier::new(AGENTS));
    let results = join_all(agents.iter().map(|(id, api)| {
        let barrier = barrier.clone();
        let claim = format!("{path}/claim");
        async move {
            barrier.wait().await;
            (*id, api.post(&claim, json!({})).await)
        }
    }))
    .await;
    let winners: Vec<i64> = results.iter().filter(|(_, r)| r.0 == 200).map(|(id, _)| *id).collect();
    checks.that("exactly one claim wins", winners.len() == 1, format!("winners {winners:?}"));
    for (id, res) in &results {
        if res.0 == 200 {
            checks.that(format!("winner {id} gets the conversation assigned to them"), res.1["assignee_id"] == *id, &res.1);
        } else {
            checks.err(format!("racer {id} loses"), res, 409, "already_assigned");
        }
    }
    let (_, after) = admin.get(&path).await;
    if let [winner] = winners[..] {
        checks.that("the stored assignee is the winner", after["assignee_id"] == winner, &after);
        // Claiming again: a no-op for the winner, still 409 for the others.
        let (_, wapi) = agents.iter().find(|(id, _)| *id == winner).expect("winner");
        let res = wapi.post(&format!("{path}/claim"), json!({})).await;
        checks.that("the winner may claim again (no-op)", res.0 == 200 && res.1["assignee_id"] == winner, &res.1);
        let (loser_id, loser) = agents.iter().find(|(id, _)| *id != winner).expect("a loser");
        let res = loser.post(&format!("{path}/claim"), json!({})).await;
        checks.err(format!("racer {loser_id} claims later"), &res, 409, "already_assigned");
        let res = admin.post(&format!("{path}/claim"), json!({})).await;
        checks.err("even an admin cannot claim a taken conversation", &res, 409, "already_assigned");
    }
    let (_, again) = admin.get(&path).await;
    checks.that("the assignee did not move", again["assignee_id"] == after["assignee_id"], &again);
    let (_, msgs) = admin.get(&format!("{path}/messages")).await;
    let inbound = msgs["data"].as_array().map_or(0, |a| a.iter().filter(|m| m["kind"] == "in").count());
    checks.that("the race wrote no extra customer messages", inbound == 1, &msgs);

    checks.finish();
    server.kill().await;
}
