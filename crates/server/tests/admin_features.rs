//! Business hours, spot-check reviews and API token management, through the
//! real binary.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn business_hours_reviews_and_api_tokens() {
    let dir = TempDir::new("sb-admin").unwrap();
    let server = Server::demo(&dir).await;
    let admin = server.login("admin@demo.test").await;
    let sup = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let hours = format!("/api/v1/workspaces/{ws}/business-hours");

    // Defaults until set: weekdays 09:00-18:00.
    let (status, default) = alice.get(&hours).await;
    assert_eq!(status, 200);
    assert_eq!(default["days"].as_array().unwrap().iter().filter(|d| d["enabled"] == true).count(), 5);
    let mut wanted = default.clone();
    wanted["timezone"] = json!("Europe/Kyiv");
    wanted["holidays"] = json!(["2026-12-25"]);
    let (status, body) = alice.put(&hours, wanted.clone()).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    let mut bad = wanted.clone();
    bad["days"][1]["open"] = json!("19:00");
    let (status, body) = admin.put(&hours, bad).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"));
    assert_eq!(alice.get(&hours).await.1, default, "a refused update changes nothing");
    let (status, saved) = admin.put(&hours, wanted.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(saved, wanted);
    assert_eq!(alice.get(&hours).await.1, wanted);

    // Spot checks: supervisors mark, agents cannot; scores are 1-5.
    let (_, convs) = sup.get(&format!("/api/v1/workspaces/{ws}/conversations")).await;
    let conv = convs["data"][0]["id"].as_i64().unwrap();
    let reviews = format!("/api/v1/workspaces/{ws}/conversations/{conv}/reviews");
    let (status, body) = alice.post(&reviews, json!({"score": 5})).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    let (status, body) = sup.post(&reviews, json!({"score": 9, "comment": "x"})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"));
    let (status, review) = sup.post(&reviews, json!({"score": 4, "comment": "Good tone, slow first reply"})).await;
    assert_eq!(status, 201, "{review}");
    let (status, list) = sup.get(&reviews).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["comment"], "Good tone, slow first reply");

    // API tokens: listed without the secret, revocable.
    let tokens = format!("/api/v1/workspaces/{ws}/api-tokens");
    let (status, created) = admin.post(&tokens, json!({"name": "CRM sync"})).await;
    assert_eq!(status, 201);
    let secret = created["token"].as_str().unwrap().to_owned();
    let crm = server.api().with_token(&secret);
    assert_eq!(crm.get(&format!("/api/v1/workspaces/{ws}/contacts")).await.0, 200);
    let (_, list) = admin.get(&tokens).await;
    assert_eq!(list["data"][0]["name"], "CRM sync");
    assert!(!list.to_string().contains(&secret), "the secret is shown once only");
    assert_eq!(alice.get(&tokens).await.0, 403);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(admin.delete(&format!("{tokens}/{id}")).await.0, 204);
    let (status, body) = crm.get(&format!("/api/v1/workspaces/{ws}/contacts")).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "unauthorized"));
    server.kill().await;
}

#[tokio::test]
async fn live_stats_follow_waiting_and_claimed_conversations() {
    let dir = TempDir::new("sb-live").unwrap();
    let server = Server::demo(&dir).await;
    let sup = server.login("supervisor@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&sup).await;
    let stats = format!("/api/v1/workspaces/{ws}/stats/live");
    let (status, body) = alice.get(&stats).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    let (status, before) = sup.get(&stats).await;
    assert_eq!(status, 200, "{before}");

    let visitor = server.api().with_token(&visitor(&server, &website_token).await);
    let (status, msg) = visitor.post("/api/v1/widget/messages", json!({"content": "Anyone there?", "echo_id": "live-1"})).await;
    assert_eq!(status, 201);
    let (_, waiting) = sup.get(&stats).await;
    assert_eq!(waiting["waiting"], before["waiting"].as_i64().unwrap() + 1);
    assert!(waiting["longest_waiting_since"].is_string());

    let conv = msg["conversation_id"].as_i64().unwrap();
    assert_eq!(alice.post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/claim"), json!({})).await.0, 200);
    let (_, claimed) = sup.get(&stats).await;
    assert_eq!(claimed["waiting"], before["waiting"]);
    assert_eq!(claimed["active"], before["active"].as_i64().unwrap() + 1);
    let alice_id = alice.get("/api/v1/me").await.1["user"]["id"].clone();
    let load = |stats: &serde_json::Value| {
        stats["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == alice_id).unwrap()["active_conversations"].as_i64().unwrap()
    };
    assert_eq!(load(&claimed), load(&before) + 1);
    let webchat = claimed["by_channel"].as_array().unwrap().iter().find(|c| c["channel"] == "webchat").unwrap().clone();
    assert!(webchat["active"].as_i64().unwrap() >= 1);
    server.kill().await;
}
