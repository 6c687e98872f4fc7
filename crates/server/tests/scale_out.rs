//! Two nodes sharing one PostgreSQL database and one NATS server behave as
//! one product: a visitor on node A reaches an agent on node B and back.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

async fn nats_reachable() -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect("127.0.0.1:4222")).await,
        Ok(Ok(_))
    )
}

#[tokio::test]
async fn visitor_on_one_node_reaches_agent_on_another() {
    if !PgTestDb::available().await || !nats_reachable().await {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL and NATS must be reachable in CI");
        eprintln!("PostgreSQL or NATS unreachable: skipping");
        return;
    }
    let db = PgTestDb::create().await.unwrap();
    let (dir_a, dir_b) = (TempDir::new("sb-node-a").unwrap(), TempDir::new("sb-node-b").unwrap());
    // A private subject prefix keeps parallel test runs on this NATS apart.
    let subject = format!("sbtest.{}", std::process::id());
    let nats = ["--nats-url", "nats://127.0.0.1:4222", "--nats-subject", subject.as_str()];
    let node_a = Server::start("demo", dir_a.path(), Some(&db.url), &nats).await;
    // Node B seeds nothing new: the demo workspace already exists.
    let node_b = Server::start("demo", dir_b.path(), Some(&db.url), &nats).await;

    let alice_b = node_b.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&alice_b).await;
    let mut agent_ws = connect_ws(&node_b.ws_url(&format!("/api/v1/ws?token={}", alice_b.token.clone().unwrap()))).await;
    expect_frame(&mut agent_ws, "ready", |v| v["type"] == "ready").await;

    let visitor_token = visitor(&node_a, &website_token).await;
    let mut visitor_ws = connect_ws(&node_a.ws_url(&format!("/api/v1/widget/ws?token={visitor_token}"))).await;
    send_json(&mut visitor_ws, json!({"type": "message", "content": "Hello from node A", "echo_id": "n-1"})).await;
    let seen = expect_frame(&mut agent_ws, "node B hears node A", |v| {
        v["type"] == "message.created" && v["data"]["content"] == "Hello from node A"
    })
    .await;
    let conv = seen["data"]["conversation_id"].as_i64().unwrap();

    let (status, _) = alice_b
        .post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"), json!({"content": "Answered on node B"}))
        .await;
    assert_eq!(status, 201);
    expect_frame(&mut visitor_ws, "node A hears node B", |v| {
        v["type"] == "message.created" && v["data"]["content"] == "Answered on node B"
    })
    .await;
    // Exactly one copy of each reached the agent.
    expect_no_frame(&mut agent_ws, 500, |v| v["type"] == "message.created" && v["data"]["content"] == "Hello from node A").await;
    node_a.kill().await;
    node_b.kill().await;
}
