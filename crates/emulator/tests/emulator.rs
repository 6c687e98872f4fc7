//! The emulator over real HTTP: each endpoint's success and failure
//! shapes, failure injection, and the webhooks it posts to a stand-in
//! product (a tiny axum app that records what it receives).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_emulator::{
    Emulator, FailurePlan, Provider, StatusCode, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN,
};

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A stand-in for the product's webhook endpoint: records every POST.
async fn receiver() -> (String, Received) {
    async fn record(
        State(received): State<Received>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        received.lock().unwrap().push((headers, body));
        StatusCode::OK
    }
    let received = Received::default();
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn wa_send(
    emu: &Emulator,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = client()
        .post(format!("{}/v21.0/106540352242922/messages", emu.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.json().await.unwrap())
}

fn text(to: &str, body: &str) -> String {
    json!({"messaging_product":"whatsapp","recipient_type":"individual","to":to,"type":"text","text":{"body":body}}).to_string()
}

async fn tg_call(emu: &Emulator, token: &str, method: &str, body: Value) -> (StatusCode, Value) {
    let res = client()
        .post(format!("{}/bot{token}/{method}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

fn assert_graph_error(body: &Value, code: u64) {
    let error = &body["error"];
    assert_eq!(error["code"], json!(code), "{body}");
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error["fbtrace_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn whatsapp_send_text_is_accepted_and_recorded() {
    let emu = Emulator::start().await;
    let (status, _, body) = wa_send(
        &emu,
        Some(WHATSAPP_TOKEN),
        &text("+1 (650) 555-1234", "hello"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(
        body["contacts"],
        json!([{"input": "+1 (650) 555-1234", "wa_id": "16505551234"}])
    );
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."));

    let (_, _, second) = wa_send(&emu, Some(WHATSAPP_TOKEN), &text("16505551234", "again")).await;
    assert_ne!(second["messages"][0]["id"].as_str().unwrap(), wamid);

    let sent = emu.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].provider, Provider::WhatsApp);
    assert_eq!(sent[0].account, "106540352242922");
    assert_eq!(sent[0].to, "+1 (650) 555-1234");
    assert_eq!(sent[0].external_id, wamid);
    assert_eq!(sent[0].body["text"]["body"], "hello");
    assert_eq!(sent[1].body["text"]["body"], "again");
    assert_eq!(emu.attempts(), 2);
}

#[tokio::test]
async fn whatsapp_every_documented_type_is_accepted() {
    let emu = Emulator::start().await;
    let bodies = [
        json!({"messaging_product":"whatsapp","to":"1555","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}),
        json!({"messaging_product":"whatsapp","to":"1555","type":"image","image":{"link":"https://example.com/a.jpg","caption":"c"}}),
        json!({"messaging_product":"whatsapp","to":"1555","type":"document","document":{"id":"123","filename":"a.pdf"}}),
        json!({"messaging_product":"whatsapp","to":"1555","type":"audio","audio":{"id":"123"}}),
        json!({"messaging_product":"whatsapp","to":"1555","type":"video","video":{"link":"https://example.com/a.mp4"}}),
    ];
    for body in &bodies {
        let (status, _, answer) = wa_send(&emu, Some(WHATSAPP_TOKEN), &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body} → {answer}");
    }
    assert_eq!(emu.sent().len(), bodies.len());
}

#[tokio::test]
async fn whatsapp_rejects_bad_tokens_with_graph_error_190() {
    let emu = Emulator::start().await;
    for token in [None, Some("wrong")] {
        let (status, _, body) = wa_send(&emu, token, &text("1555", "x")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_graph_error(&body, 190);
        assert_eq!(body["error"]["type"], "OAuthException");
    }
    emu.allow_whatsapp_token("another-inbox-token");
    let (status, _, _) = wa_send(&emu, Some("another-inbox-token"), &text("1555", "x")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(emu.attempts(), 3);
    assert_eq!(emu.sent().len(), 1);
}

#[tokio::test]
async fn whatsapp_rejects_malformed_bodies_with_code_100() {
    let emu = Emulator::start().await;
    let bad = [
        "not json".to_owned(),
        json!({"to":"1555","type":"text","text":{"body":"no product"}}).to_string(),
        json!({"messaging_product":"whatsapp","to":"1555","type":"image","image":{}}).to_string(),
        json!({"messaging_product":"whatsapp","to":"1555","type":"text","text":{"body":""}})
            .to_string(),
    ];
    for body in &bad {
        let (status, _, answer) = wa_send(&emu, Some(WHATSAPP_TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_graph_error(&answer, 100);
        assert!(answer["error"]["error_data"]["details"].is_string());
    }
    assert!(emu.sent().is_empty());
    assert_eq!(emu.attempts(), bad.len());
}

#[tokio::test]
async fn whatsapp_closed_window_refuses_free_form_but_not_templates() {
    let emu = Emulator::start().await;
    emu.set_window_closed("+1 650 555 1234");
    let (status, _, body) = wa_send(
        &emu,
        Some(WHATSAPP_TOKEN),
        &text("16505551234", "late reply"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, 131047);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Re-engagement message")
    );

    let template = json!({"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}});
    let (status, _, _) = wa_send(&emu, Some(WHATSAPP_TOKEN), &template.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    // Other recipients are unaffected; reopening lets text through.
    assert_eq!(
        wa_send(&emu, Some(WHATSAPP_TOKEN), &text("4420", "x"))
            .await
            .0,
        StatusCode::OK
    );
    emu.set_window_open("16505551234");
    assert_eq!(
        wa_send(&emu, Some(WHATSAPP_TOKEN), &text("16505551234", "x"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(emu.sent().len(), 3);
}

#[tokio::test]
async fn whatsapp_injected_failures_have_meta_shapes() {
    let emu = Emulator::start().await;
    emu.set_failures(FailurePlan {
        rate_429: 1.0,
        rate_5xx: 0.0,
        retry_after_secs: 7,
        seed: 1,
    });
    let (status, headers, body) = wa_send(&emu, Some(WHATSAPP_TOKEN), &text("1555", "x")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_graph_error(&body, 130429);

    emu.set_failures(FailurePlan {
        rate_429: 0.0,
        rate_5xx: 1.0,
        retry_after_secs: 0,
        seed: 1,
    });
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (status, _, body) = wa_send(&emu, Some(WHATSAPP_TOKEN), &text("1555", "x")).await;
        assert!(status.is_server_error());
        assert!(body["error"]["code"].is_u64());
        seen.insert(status.as_u16());
    }
    assert_eq!(seen, [500, 503].into());
    assert!(emu.sent().is_empty());
    assert_eq!(emu.attempts(), 21);
}

/// Statuses of `n` sequential sends under `plan`, WhatsApp and Telegram
/// alternating, on a fresh emulator.
async fn outcomes(plan: FailurePlan, n: usize) -> Vec<u16> {
    let emu = Emulator::start().await;
    emu.set_failures(plan);
    let mut statuses = Vec::new();
    for i in 0..n {
        let status = if i % 2 == 0 {
            wa_send(&emu, Some(WHATSAPP_TOKEN), &text("1555", "x"))
                .await
                .0
        } else {
            tg_call(
                &emu,
                TELEGRAM_BOT_TOKEN,
                "sendMessage",
                json!({"chat_id": 5, "text": "x"}),
            )
            .await
            .0
        };
        statuses.push(status.as_u16());
    }
    assert_eq!(emu.attempts(), n);
    assert_eq!(
        emu.sent().len(),
        statuses.iter().filter(|s| **s == 200).count()
    );
    statuses
}

#[tokio::test]
async fn failure_injection_follows_rates_and_seed() {
    let plan = FailurePlan {
        rate_429: 0.2,
        rate_5xx: 0.1,
        retry_after_secs: 1,
        seed: 42,
    };
    let a = outcomes(plan, 400).await;
    let failures = a.iter().filter(|s| **s != 200).count();
    let n429 = a.iter().filter(|s| **s == 429).count();
    assert!(
        (80..160).contains(&failures),
        "{failures} of 400 failed, want ~120"
    );
    assert!(
        (50..115).contains(&n429),
        "{n429} of 400 were 429, want ~80"
    );
    assert!(a.iter().all(|s| [200, 429, 500, 503].contains(s)));
    assert_eq!(a, outcomes(plan, 400).await, "same seed, same answers");
    assert_ne!(a, outcomes(FailurePlan { seed: 43, ..plan }, 400).await);
}

#[tokio::test]
async fn whatsapp_media_can_be_looked_up_and_downloaded() {
    let emu = Emulator::start().await;
    let bytes = b"\xff\xd8\xff fake jpeg".to_vec();
    let id = emu.add_media("image/jpeg", bytes.clone());

    let info: Value = client()
        .get(format!("{}/v21.0/{id}", emu.base_url()))
        .bearer_auth(WHATSAPP_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["id"], json!(id));
    assert_eq!(info["mime_type"], "image/jpeg");
    assert_eq!(info["messaging_product"], "whatsapp");
    assert_eq!(info["file_size"], json!(bytes.len()));
    assert_eq!(
        info["sha256"],
        json!(hex::encode(<Sha256 as sha2::Digest>::digest(&bytes)))
    );
    let url = info["url"].as_str().unwrap();
    assert!(url.starts_with(&emu.base_url()));

    let res = client()
        .get(url)
        .bearer_auth(WHATSAPP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());

    assert_eq!(
        client().get(url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let res = client()
        .get(format!("{}/v21.0/{id}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client()
        .get(format!("{}/v21.0/999", emu.base_url()))
        .bearer_auth(WHATSAPP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_graph_error(&res.json().await.unwrap(), 100);
    assert_eq!(emu.attempts(), 0, "media calls are not send attempts");
}

#[tokio::test]
async fn telegram_send_message_answers_a_message_with_per_chat_ids() {
    let emu = Emulator::start().await;
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 42, "text": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true);
    let msg = &body["result"];
    assert_eq!(msg["chat"], json!({"id": 42, "type": "private"}));
    assert_eq!(msg["text"], "hi");
    assert_eq!(msg["from"]["is_bot"], true);
    assert_eq!(msg["from"]["id"], 100000001);
    assert!(msg["date"].as_i64().unwrap() > 1_600_000_000);
    let first = msg["message_id"].as_i64().unwrap();

    let (_, second) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": "42", "text": "again"}),
    )
    .await;
    assert_eq!(second["result"]["message_id"].as_i64().unwrap(), first + 1);
    let (_, other) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 7, "text": "x"}),
    )
    .await;
    assert_eq!(
        other["result"]["message_id"].as_i64().unwrap(),
        first,
        "ids count per chat"
    );

    let sent = emu.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].provider, Provider::Telegram);
    assert_eq!(sent[0].account, "100000001");
    assert_eq!(
        (sent[0].to.as_str(), sent[0].external_id.clone()),
        ("42", format!("42:{first}"))
    );
    assert_eq!(sent[1].body, json!({"chat_id": "42", "text": "again"}));
}

#[tokio::test]
async fn telegram_errors_have_bot_api_shapes() {
    let emu = Emulator::start().await;
    let (status, body) = tg_call(
        &emu,
        "1:unknown",
        "sendMessage",
        json!({"chat_id": 1, "text": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );

    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 1, "text": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"})
    );

    let (status, _) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": "@nobody", "text": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    emu.block_telegram_chat(99);
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 99, "text": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
    );
    emu.unblock_telegram_chat(99);
    assert_eq!(
        tg_call(
            &emu,
            TELEGRAM_BOT_TOKEN,
            "sendMessage",
            json!({"chat_id": 99, "text": "x"})
        )
        .await
        .0,
        StatusCode::OK
    );

    emu.set_failures(FailurePlan {
        rate_429: 1.0,
        rate_5xx: 0.0,
        retry_after_secs: 3,
        seed: 9,
    });
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 1, "text": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})
    );
    emu.set_failures(FailurePlan {
        rate_429: 0.0,
        rate_5xx: 1.0,
        retry_after_secs: 0,
        seed: 9,
    });
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendPhoto",
        json!({"chat_id": 1, "photo": "https://x/y.jpg"}),
    )
    .await;
    assert!(status.is_server_error());
    assert_eq!(body["ok"], false);
    assert_eq!(body["error_code"], status.as_u16());

    let (status, body) = tg_call(&emu, TELEGRAM_BOT_TOKEN, "frobnicate", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], 404);
    assert_eq!(
        emu.attempts(),
        7,
        "every send call counts, unknown methods do not"
    );
    assert_eq!(emu.sent().len(), 1);
}

#[tokio::test]
async fn telegram_media_sends_and_file_downloads() {
    let emu = Emulator::start().await;
    let pdf = emu.add_media("application/pdf", b"%PDF-1.4".to_vec());

    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendPhoto",
        json!({"chat_id": 5, "photo": "https://example.com/p.jpg", "caption": "look"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["result"]["photo"][0]["file_id"].is_string());
    assert_eq!(body["result"]["caption"], "look");

    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendDocument",
        json!({"chat_id": 5, "document": pdf}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["document"]["file_id"], json!(pdf));
    assert_eq!(body["result"]["document"]["mime_type"], "application/pdf");

    for (method, field) in [
        ("sendAudio", "audio"),
        ("sendVideo", "video"),
        ("sendVoice", "voice"),
    ] {
        let (status, body) = tg_call(
            &emu,
            TELEGRAM_BOT_TOKEN,
            method,
            json!({"chat_id": 5, field: "https://example.com/f"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["result"][field]["file_id"].is_string());
    }
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendDocument",
        json!({"chat_id": 5}),
    )
    .await;
    assert_eq!(
        (status, body["description"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Bad Request: there is no document in the request")
        )
    );
    let (status, _) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendDocument",
        json!({"chat_id": 5, "document": "no-such-file"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // getFile as GET with a query string, as many clients call it.
    let file: Value = client()
        .get(format!(
            "{}/bot{TELEGRAM_BOT_TOKEN}/getFile?file_id={pdf}",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(file["ok"], true);
    assert_eq!(file["result"]["file_id"], json!(pdf));
    assert_eq!(file["result"]["file_size"], 8);
    let path = file["result"]["file_path"].as_str().unwrap();
    let res = client()
        .get(format!(
            "{}/file/bot{TELEGRAM_BOT_TOKEN}/{path}",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF-1.4");
    let res = client()
        .get(format!("{}/file/bot1:wrong/{path}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "getFile",
        json!({"file_id": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let ids: Vec<i64> = emu
        .sent()
        .iter()
        .map(|m| m.external_id.strip_prefix("5:").unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
}

#[tokio::test]
async fn telegram_get_me_and_set_webhook() {
    let emu = Emulator::start().await;
    let (_, me) = tg_call(&emu, TELEGRAM_BOT_TOKEN, "getMe", json!({})).await;
    assert_eq!(me["result"]["is_bot"], true);
    let (status, answered) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "answerCallbackQuery",
        json!({"callback_query_id": "1"}),
    )
    .await;
    assert_eq!(
        (status, answered["result"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(emu.attempts(), 0, "only send methods are attempts");
    let (status, body) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "setWebhook",
        json!({"url": "http://127.0.0.1:1/webhooks/telegram/x", "secret_token": "s"}),
    )
    .await;
    assert_eq!(
        (status, body["result"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(
        emu.telegram_webhook(TELEGRAM_BOT_TOKEN).as_deref(),
        Some("http://127.0.0.1:1/webhooks/telegram/x")
    );
    tg_call(&emu, TELEGRAM_BOT_TOKEN, "deleteWebhook", json!({})).await;
    assert_eq!(emu.telegram_webhook(TELEGRAM_BOT_TOKEN), None);
}

#[tokio::test]
async fn whatsapp_inbound_webhook_is_meta_shaped_and_signed() {
    let emu = Emulator::start().await;
    let (url, received) = receiver().await;
    let delivery = emu
        .whatsapp_inbound_text(
            &url,
            "app-secret",
            "106540352242922",
            "16505551234",
            "Sheena Nelson",
            "Hi there",
        )
        .await
        .unwrap();
    assert_eq!(delivery.status, StatusCode::OK);

    let (headers, body) = received.lock().unwrap()[0].clone();
    assert_eq!(body.as_ref(), delivery.body.as_slice());
    assert_eq!(headers["content-type"], "application/json");
    let signature = headers["x-hub-signature-256"].to_str().unwrap();
    assert_eq!(
        signature,
        format!("sha256={}", hmac_hex("app-secret", &body))
    );
    assert_ne!(
        signature,
        format!("sha256={}", hmac_hex("other-secret", &body))
    );

    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["object"], "whatsapp_business_account");
    let change = &payload["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    let value = &change["value"];
    assert_eq!(value["messaging_product"], "whatsapp");
    assert_eq!(value["metadata"]["phone_number_id"], "106540352242922");
    assert!(value["metadata"]["display_phone_number"].is_string());
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}])
    );
    let message = &value["messages"][0];
    assert_eq!(message["from"], "16505551234");
    assert_eq!(message["id"], json!(delivery.id));
    assert!(delivery.id.starts_with("wamid."));
    assert!(
        message["timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 1_600_000_000
    );
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"], json!({"body": "Hi there"}));

    // Redelivery: the same bytes, same signature, twice more.
    for _ in 0..2 {
        let status = emu
            .post_signed_whatsapp(&url, "app-secret", &delivery.body)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|(h, b)| b == &body && h["x-hub-signature-256"] == signature)
    );
    assert_eq!(emu.attempts(), 0);
}

#[tokio::test]
async fn whatsapp_inbound_media_and_status_webhooks() {
    let emu = Emulator::start().await;
    let (url, received) = receiver().await;
    let id = emu.add_media("image/jpeg", b"jpeg".to_vec());
    let content = emu.whatsapp_media_content(&id, Some("my receipt")).unwrap();
    emu.whatsapp_inbound(&url, "s", "1", "4477", "Ann", content)
        .await
        .unwrap();
    let status = emu
        .whatsapp_status(&url, "s", "1", "wamid.X", "delivered", "4477")
        .await
        .unwrap();
    emu.whatsapp_status(&url, "s", "1", "wamid.Y", "failed", "4477")
        .await
        .unwrap();
    assert_eq!(status.id, "wamid.X");

    let received = received.lock().unwrap();
    let parse = |i: usize| -> Value { serde_json::from_slice(&received[i].1).unwrap() };
    let image = &parse(0)["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(image["type"], "image");
    assert_eq!(image["image"]["id"], json!(id));
    assert_eq!(image["image"]["mime_type"], "image/jpeg");
    assert_eq!(image["image"]["caption"], "my receipt");

    let delivered = &parse(1)["entry"][0]["changes"][0]["value"];
    assert!(delivered.get("messages").is_none());
    let entry = &delivered["statuses"][0];
    assert_eq!(
        (
            entry["id"].clone(),
            entry["status"].clone(),
            entry["recipient_id"].clone()
        ),
        (json!("wamid.X"), json!("delivered"), json!("4477"))
    );
    assert!(entry["timestamp"].is_string());
    let failed = &parse(2)["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(failed["status"], "failed");
    assert!(failed["errors"][0]["code"].is_u64());
    for (headers, body) in received.iter() {
        assert_eq!(
            headers["x-hub-signature-256"].to_str().unwrap(),
            format!("sha256={}", hmac_hex("s", body))
        );
    }
}

#[tokio::test]
async fn telegram_inbound_updates_carry_secret_and_increasing_ids() {
    let emu = Emulator::start().await;
    let (url, received) = receiver().await;
    let mut deliveries = Vec::new();
    for text in ["one", "two", "three"] {
        deliveries.push(
            emu.telegram_inbound_text(&url, "tg-secret", 555, "Alice", text)
                .await
                .unwrap(),
        );
    }
    // The bot's reply shares the chat's message id sequence.
    let (_, reply) = tg_call(
        &emu,
        TELEGRAM_BOT_TOKEN,
        "sendMessage",
        json!({"chat_id": 555, "text": "hello Alice"}),
    )
    .await;
    assert_eq!(reply["result"]["chat"]["first_name"], "Alice");

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 3);
    let updates: Vec<Value> = received
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    for ((headers, _), delivery) in received.iter().zip(&deliveries) {
        assert_eq!(headers["x-telegram-bot-api-secret-token"], "tg-secret");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(delivery.status, StatusCode::OK);
    }
    let update_ids: Vec<i64> = updates
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert!(update_ids.windows(2).all(|w| w[1] > w[0]), "{update_ids:?}");
    assert_eq!(deliveries[0].id, update_ids[0].to_string());
    let message_ids: Vec<i64> = updates
        .iter()
        .map(|u| u["message"]["message_id"].as_i64().unwrap())
        .collect();
    assert!(message_ids.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(
        reply["result"]["message_id"].as_i64().unwrap(),
        message_ids[2] + 1
    );

    let message = &updates[0]["message"];
    assert_eq!(message["text"], "one");
    assert_eq!(
        message["chat"],
        json!({"id": 555, "first_name": "Alice", "type": "private"})
    );
    assert_eq!(message["from"]["id"], 555);
    assert_eq!(message["from"]["is_bot"], false);
    assert!(message["date"].is_i64());

    let file = emu.add_media("application/pdf", b"%PDF".to_vec());
    let content = emu.telegram_media_content(&file, Some("invoice")).unwrap();
    assert_eq!(content["document"]["file_id"], json!(file));
    assert_eq!(content["caption"], "invoice");
}

#[tokio::test]
async fn control_api_drives_the_emulator_over_http() {
    let emu = Emulator::start().await;
    let (url, received) = receiver().await;
    let base = emu.base_url();
    let res = client()
        .post(format!("{base}/_emulator/whatsapp/inbound"))
        .json(&json!({"webhook_url": url, "app_secret": "s", "phone_number_id": "1", "from": "4477", "name": "Ann", "text": "hi"}))
        .send()
        .await
        .unwrap();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["status"], 200);
    assert!(answer["id"].as_str().unwrap().starts_with("wamid."));
    let res = client()
        .post(format!("{base}/_emulator/telegram/inbound"))
        .json(&json!({"webhook_url": url, "secret_token": "t", "chat_id": 9, "first_name": "Bo", "text": "yo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], 200);
    assert_eq!(received.lock().unwrap().len(), 2);

    let res = client()
        .post(format!("{base}/_emulator/tokens"))
        .json(&json!({"telegram": "777:abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        tg_call(
            &emu,
            "777:abc",
            "sendMessage",
            json!({"chat_id": 9, "text": "x"})
        )
        .await
        .0,
        StatusCode::OK
    );

    let res = client()
        .post(format!("{base}/_emulator/failures"))
        .json(&json!({"rate_429": 1.0, "retry_after_secs": 2, "seed": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        wa_send(&emu, Some(WHATSAPP_TOKEN), &text("1", "x")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let sent: Value = client()
        .get(format!("{base}/_emulator/sent"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent.as_array().unwrap().len(), 1);
    assert_eq!(sent[0]["provider"], "telegram");
    assert_eq!(sent[0]["to"], "9");
    let stats: Value = client()
        .get(format!("{base}/_emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, json!({"attempts": 2, "sent": 1}));

    // Window and block switches.
    client()
        .post(format!("{base}/_emulator/failures"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    client()
        .post(format!("{base}/_emulator/whatsapp/window"))
        .json(&json!({"wa_id": "4477", "closed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wa_send(&emu, Some(WHATSAPP_TOKEN), &text("4477", "x"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    client()
        .post(format!("{base}/_emulator/telegram/block"))
        .json(&json!({"chat_id": 9, "blocked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tg_call(
            &emu,
            "777:abc",
            "sendMessage",
            json!({"chat_id": 9, "text": "x"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn webhook_to_a_dead_product_is_an_error_not_a_hang() {
    let emu = Emulator::start().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    assert!(
        emu.whatsapp_inbound_text(&dead, "s", "1", "2", "n", "t")
            .await
            .is_err()
    );
}

#[test]
fn binary_prints_its_base_url_and_serves() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard-emulator"))
        .args(["--listen", "127.0.0.1:0", "--whatsapp-token", "extra"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    let result = std::panic::catch_unwind(|| {
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let res = client()
                .post(format!("{base}/v21.0/1/messages"))
                .bearer_auth("extra")
                .body(text("1555", "x"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let sent: Value = client()
                .get(format!("{base}/_emulator/sent"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(sent.as_array().unwrap().len(), 1);
        });
    });
    child.kill().unwrap();
    child.wait().unwrap();
    result.unwrap();
}
