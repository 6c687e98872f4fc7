//! Test harness: starts the real `switchboard` binary on a free port with a
//! fresh data directory (or PostgreSQL database) and talks HTTP/WS to it.
#![allow(dead_code, unused_imports)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use switchboard_store::testing::{PgTestDb, TempDir};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub const DEMO_PASSWORD: &str = "switchboard-demo";

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// The SIP server's UDP and TCP addresses (from "SIP listening on …";
    /// tests bind it to 127.0.0.1:0 unless they pass `--sip-listen`).
    pub sip_udp: Option<std::net::SocketAddr>,
    pub sip_tcp: Option<std::net::SocketAddr>,
}

impl Server {
    /// `switchboard demo` on a fresh SQLite data directory.
    pub async fn demo(dir: &TempDir) -> Server {
        Server::start("demo", dir.path(), None, &[]).await
    }

    pub async fn start(mode: &str, data_dir: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg(mode).args(["--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir).args(extra);
        cmd.env_remove("DATABASE_URL").env_remove("NATS_URL").env_remove("SWITCHBOARD_LISTEN");
        // Tests count conversations: the demo's sample WhatsApp/Telegram
        // customers stay out unless a test asks for them (`--demo-channels on`).
        cmd.env("SWITCHBOARD_DEMO_CHANNELS", "off");
        // Parallel tests must not fight over port 5060.
        cmd.env("SWITCHBOARD_SIP_LISTEN", "127.0.0.1:0");
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut sip_udp, mut sip_tcp) = (None, None);
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                // Printed before the HTTP line.
                if let Some(rest) = line.strip_prefix("SIP listening on ") {
                    for part in rest.split_whitespace() {
                        if let Some(a) = part.strip_prefix("udp:") {
                            sip_udp = a.parse().ok();
                        } else if let Some(a) = part.strip_prefix("tcp:") {
                            sip_tcp = a.parse().ok();
                        }
                    }
                }
                if let Some(url) = line.strip_prefix("Switchboard listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("switchboard exited before listening");
        })
        .await
        .expect("switchboard did not start within 60 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server { child, base, data_dir: data_dir.to_path_buf(), database_url: database_url.map(str::to_owned), sip_udp, sip_tcp }
    }

    /// Kills the process without a graceful shutdown, as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }

    /// Sends SIGTERM and waits (up to `secs`) for a clean exit.
    pub async fn terminate(mut self, secs: u64) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running child").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(secs), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("switchboard did not exit within {secs} s of SIGTERM"))
            .expect("wait")
    }

    pub fn api(&self) -> Api {
        Api { http: reqwest::Client::new(), base: self.base.clone(), token: None }
    }

    pub async fn login(&self, email: &str) -> Api {
        self.login_with(email, DEMO_PASSWORD).await
    }

    pub async fn login_with(&self, email: &str, password: &str) -> Api {
        let (status, body) = self.api().post("/api/v1/auth/login", json!({"email": email, "password": password})).await;
        assert_eq!(status, 200, "login {email}: {body}");
        let token = body["token"].as_str().expect("token").to_owned();
        Api { http: reqwest::Client::new(), base: self.base.clone(), token: Some(token) }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }
}

/// Runs a CLI subcommand against the same data directory / database.
pub async fn cli(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--data-dir").arg(data_dir).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().await.expect("run cli");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn with_token(&self, token: &str) -> Api {
        Api { token: Some(token.to_owned()), ..self.clone() }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    pub async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = r.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.req(reqwest::Method::GET, path)).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.req(reqwest::Method::POST, path).json(&body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.req(reqwest::Method::PATCH, path).json(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.req(reqwest::Method::DELETE, path)).await
    }
    /// Sends raw bytes with a content type, for malformed-input tests.
    pub async fn raw(&self, method: reqwest::Method, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        self.send(self.req(method, path).header("content-type", content_type).body(body)).await
    }
}

/// Asserts the JSON error shape and returns the code.
pub fn error_code(body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(body["error"]["message"].is_string(), "error without message: {body}");
    code.to_owned()
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect_ws(url: &str) -> Socket {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
    ws
}

pub async fn send_json(ws: &mut Socket, v: Value) {
    ws.send(WsMessage::Text(v.to_string().into())).await.expect("ws send");
}

/// Waits (up to 10 s) for a frame matching `pred`, skipping others.
pub async fn expect_frame(ws: &mut Socket, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json frame");
                    if pred(&v) {
                        return v;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended while waiting for {what}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Asserts no frame matching `pred` arrives within `ms`.
pub async fn expect_no_frame(ws: &mut Socket, ms: u64, pred: impl Fn(&Value) -> bool) {
    let _ = tokio::time::timeout(Duration::from_millis(ms), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json frame");
                    assert!(!pred(&v), "unexpected frame {v}");
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    })
    .await;
}

/// The demo workspace id and its website token.
pub async fn demo_workspace(admin: &Api) -> (i64, String) {
    let (_, me) = admin.get("/api/v1/me").await;
    let ws = me["workspaces"][0]["id"].as_i64().expect("workspace id");
    let (_, inboxes) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    let token = inboxes["data"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["channel"] == "webchat"))
        .and_then(|i| i["website_token"].as_str())
        .expect("webchat inbox")
        .to_owned();
    (ws, token)
}

/// Starts a widget visitor and returns their token.
pub async fn visitor(server: &Server, website_token: &str) -> String {
    let (status, body) = server.api().post("/api/v1/widget/session", json!({"website_token": website_token})).await;
    assert_eq!(status, 200, "{body}");
    body["visitor_token"].as_str().expect("visitor token").to_owned()
}

/// Creates an inbox of `channel` in workspace `ws` (as an admin) and
/// returns its webhook URL.
pub async fn webhook_of_new_inbox(admin: &Api, ws: i64, channel: &str, config: Value) -> String {
    let body = json!({"name": format!("{channel} inbox"), "channel": channel, "config": config});
    let (status, inbox) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), body).await;
    assert_eq!(status, 201, "{inbox}");
    inbox["webhook_url"].as_str().expect("webhook url").to_owned()
}
