//! Files on messages: agents and visitors upload, send, and fetch each
//! other's files by URL; every misuse is refused and stores nothing.

mod common;

use common::*;
use serde_json::json;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRfake-image-bytes";

#[tokio::test]
async fn files_travel_both_ways_and_misuse_is_refused() {
    let dir = TempDir::new("sb-files").unwrap();
    // A small upload limit, so the oversize case is sent whole before the
    // server answers (a 10 MiB body would be cut off mid-send by the early
    // 413, which the client reports as a broken connection).
    let server = Server::start("demo", dir.path(), None, &["--max-upload-bytes", "1500000"]).await;
    let alice = server.login("alice@demo.test").await;
    let (ws, website_token) = demo_workspace(&alice).await;
    let visitor_token = visitor(&server, &website_token).await;
    let widget = server.api().with_token(&visitor_token);
    let mut visitor_ws = connect_ws(&server.ws_url(&format!("/api/v1/widget/ws?token={visitor_token}"))).await;
    let mut agent_ws = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", alice.token.clone().unwrap()))).await;
    expect_frame(&mut agent_ws, "ready", |v| v["type"] == "ready").await;

    // Visitor: upload a file, then send it with no text over the socket.
    let (status, up) = widget
        .raw(reqwest::Method::POST, "/api/v1/widget/attachments?filename=..%2Freceipt.txt", "text/plain", b"order 1042".to_vec())
        .await;
    assert_eq!(status, 201, "{up}");
    assert_eq!(up["filename"], "receipt.txt", "path parts are stripped");
    send_json(&mut visitor_ws, json!({"type": "message", "echo_id": "f-1", "attachment_ids": [up["id"]]})).await;
    let got = expect_frame(&mut agent_ws, "visitor's file", |v| v["type"] == "message.created" && v["data"]["kind"] == "in").await;
    let file = &got["data"]["attachments"][0];
    assert_eq!(file["filename"], "receipt.txt");
    assert_eq!(file["size"], 10);
    let conv = got["data"]["conversation_id"].as_i64().unwrap();
    // Anyone with the URL can fetch it; it downloads and cannot run.
    let resp = reqwest::get(format!("{}{}", server.base, file["url"].as_str().unwrap())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"order 1042");

    // Agent: upload an image into the conversation and reply with it.
    let upload = format!("/api/v1/workspaces/{ws}/conversations/{conv}/attachments?filename=label.png");
    let (status, img) = alice.raw(reqwest::Method::POST, &upload, "image/png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{img}");
    let messages = format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages");
    let (status, sent) = alice.post(&messages, json!({"content": "Here is your label", "attachment_ids": [img["id"]]})).await;
    assert_eq!(status, 201, "{sent}");
    let seen = expect_frame(&mut visitor_ws, "agent's image", |v| v["type"] == "message.created" && v["data"]["kind"] == "out").await;
    let url = seen["data"]["attachments"][0]["url"].as_str().unwrap().to_owned();
    let resp = reqwest::get(format!("{}{url}", server.base)).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "image/png", "images display inline");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
    // History carries the files too.
    let (_, history) = widget.get("/api/v1/widget/messages").await;
    assert_eq!(history["data"].as_array().unwrap().iter().filter(|m| m["attachments"].as_array().is_some_and(|a| !a.is_empty())).count(), 2);

    // Misuse: each refused, nothing stored.
    let count = |v: &serde_json::Value| v["data"].as_array().map(|a| a.len()).unwrap_or(0);
    let before = count(&alice.get(&messages).await.1);
    let (status, body) = alice.post(&messages, json!({"content": "again", "attachment_ids": [img["id"]]})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "a sent file cannot be sent twice");
    let (status, body) = alice.post(&messages, json!({"content": "theirs", "attachment_ids": [up["id"]]})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "used by the visitor already");
    let other_visitor = server.api().with_token(&visitor(&server, &website_token).await);
    let (_, fresh) = widget.raw(reqwest::Method::POST, "/api/v1/widget/attachments?filename=a.txt", "text/plain", b"x".to_vec()).await;
    let (status, body) = other_visitor.post("/api/v1/widget/messages", json!({"echo_id": "steal", "attachment_ids": [fresh["id"]]})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "another visitor's upload");
    assert_eq!(count(&other_visitor.get("/api/v1/widget/messages").await.1), 0);
    let (status, body) = alice.post(&messages, json!({"content": "  "})).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "no text and no file");
    let (status, body) = alice.raw(reqwest::Method::POST, &upload, "image/png", Vec::new()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "validation_failed"), "empty file");
    let (status, body) = alice.raw(reqwest::Method::POST, &upload, "image/png", vec![0u8; 1_500_001]).await;
    assert_eq!((status, error_code(&body).as_str()), (413, "payload_too_large"));
    let (status, body) = alice.raw(reqwest::Method::POST, &format!("/api/v1/workspaces/{ws}/conversations/{conv}/attachments"), "image/png", PNG.to_vec()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"), "filename is required");
    assert_eq!(count(&alice.get(&messages).await.1), before);
    // A wrong key or another workspace's id is not found.
    let wrong = url.replacen(&url.split('/').nth(4).unwrap().to_owned(), "0000", 1);
    assert_eq!(reqwest::get(format!("{}{wrong}", server.base)).await.unwrap().status(), 404);
    let foreign = url.replacen(&format!("/files/{ws}/"), "/files/999/", 1);
    assert_eq!(reqwest::get(format!("{}{foreign}", server.base)).await.unwrap().status(), 404);
    // A larger file than the JSON limit (1 MiB) is fine for uploads.
    let (status, _) = alice.raw(reqwest::Method::POST, &upload, "application/pdf", vec![7u8; 1_200_000]).await;
    assert_eq!(status, 201);
    server.kill().await;
}
