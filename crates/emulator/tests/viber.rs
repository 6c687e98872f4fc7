//! The Viber side of the emulator over real HTTP: `/pa/send_message`
//! answers in Viber's format (HTTP 200 with a `status`), failure injection,
//! and signed callbacks posted to a stand-in product.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use switchboard_emulator::{Emulator, FailurePlan, Provider, VIBER_AUTH_TOKEN, viber_signature};

async fn send(emu: &Emulator, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/pa/send_message", emu.base_url()))
        .json(&body);
    if let Some(token) = token {
        req = req.header("X-Viber-Auth-Token", token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn text(receiver: &str) -> Value {
    json!({"receiver": receiver, "min_api_version": 1, "sender": {"name": "Acme"}, "type": "text", "text": "Hello"})
}

#[tokio::test]
async fn send_message_answers_like_viber() {
    let emu = Emulator::start().await;
    let (status, ok) = send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await;
    assert_eq!(
        (status, ok["status"].as_i64(), ok["status_message"].as_str()),
        (200, Some(0), Some("ok"))
    );
    let token = ok["message_token"].as_i64().unwrap();
    let sent = emu.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            sent[0].provider,
            sent[0].to.as_str(),
            sent[0].external_id.clone()
        ),
        (Provider::Viber, "u1==", token.to_string())
    );

    assert_eq!(send(&emu, None, text("u1==")).await.1["status"], 2);
    assert_eq!(send(&emu, Some("guess"), text("u1==")).await.1["status"], 2);
    emu.allow_viber_token("guess");
    assert_eq!(send(&emu, Some("guess"), text("u1==")).await.1["status"], 0);
    assert_eq!(
        send(
            &emu,
            Some(VIBER_AUTH_TOKEN),
            json!({"type": "text", "text": "x", "sender": {"name": "A"}})
        )
        .await
        .1["status"],
        4
    );
    assert_eq!(
        send(
            &emu,
            Some(VIBER_AUTH_TOKEN),
            json!({"receiver": "u1==", "type": "text", "text": "x"})
        )
        .await
        .1["status"],
        4
    );

    emu.viber_unsubscribe("u1==");
    let (status, refused) = send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await;
    assert_eq!((status, refused["status"].as_i64()), (200, Some(6)));
    emu.viber_subscribe("u1==");
    assert_eq!(
        send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await.1["status"],
        0
    );

    emu.set_failures(FailurePlan {
        rate_429: 1.0,
        ..FailurePlan::default()
    });
    let (status, limited) = send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await;
    assert_eq!((status, limited["status"].as_i64()), (200, Some(12)));
    emu.set_failures(FailurePlan {
        rate_5xx: 1.0,
        ..FailurePlan::default()
    });
    assert_eq!(
        send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await.0,
        500
    );
    assert_eq!(emu.sent().len(), 3);
    assert_eq!(emu.attempts(), 10);
}

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn record(State(got): State<Received>, headers: HeaderMap, body: Bytes) -> &'static str {
    got.lock().unwrap().push((headers, body));
    "ok"
}

#[tokio::test]
async fn callbacks_are_signed_viber_json() {
    let got: Received = Arc::default();
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let emu = Emulator::start().await;
    let d = emu
        .viber_inbound_text(&url, "secret", "u1==", "Olena", "hi")
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    let d2 = emu
        .viber_event(&url, "secret", "seen", "u1==", Some("4912661846655238145"))
        .await
        .unwrap();
    assert_eq!(d2.id, "4912661846655238145");
    emu.viber_event(&url, "secret", "unsubscribed", "u1==", None)
        .await
        .unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    for (headers, body) in &got {
        let sig = headers
            .get("x-viber-content-signature")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(sig, viber_signature("secret", body));
    }
    let message: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(
        (
            message["event"].as_str(),
            message["message"]["text"].as_str()
        ),
        (Some("message"), Some("hi"))
    );
    assert_eq!(
        message["message_token"].as_i64().map(|t| t.to_string()),
        Some(d.id)
    );
    let seen: Value = serde_json::from_slice(&got[1].1).unwrap();
    assert_eq!(seen["message_token"].as_i64(), Some(4912661846655238145));
    let unsubscribed: Value = serde_json::from_slice(&got[2].1).unwrap();
    assert_eq!(unsubscribed["user_id"], "u1==");
    // The unsubscribed callback also unsubscribes the user for sends.
    let (_, refused) = send(&emu, Some(VIBER_AUTH_TOKEN), text("u1==")).await;
    assert_eq!(refused["status"], 6);
}
