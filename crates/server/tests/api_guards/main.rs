//! API guards, end to end against the real binary: workspace isolation,
//! role checks, input validation, auth, the public widget, the claim lock
//! and the system endpoints. Every refused request must answer the JSON
//! error shape with the right status and code AND leave the data as it was
//! (each module re-reads the affected resources and compares).
//!
//! Each `#[tokio::test]` starts one server and runs a whole matrix of checks
//! against it; checks are collected (not panicking at the first) so one run
//! lists every broken guard.

#[path = "../common/mod.rs"]
mod common;

mod auth_system;
mod bad_input;
mod claim_lock;
mod isolation;
mod roles;
mod widget_guards;

use common::*;
use reqwest::Method;
use serde_json::{Map, Value};
use std::fmt::Display;

/// Collects check failures so a run reports all of them at once.
pub struct Checks {
    name: &'static str,
    count: usize,
    failures: Vec<String>,
}

pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 { format!("{}…", &s[..s.char_indices().take_while(|(i, _)| *i < 300).last().map_or(0, |(i, _)| i)]) } else { s }
}

impl Checks {
    pub fn new(name: &'static str) -> Checks {
        Checks { name, count: 0, failures: Vec::new() }
    }

    /// `res` must be the error `status` + `code`, in the documented shape
    /// `{"error":{"code","message"}}` and nothing else (no data alongside).
    pub fn err(&mut self, what: impl Display, res: &(u16, Value), status: u16, code: &str) {
        self.count += 1;
        let (got, body) = res;
        let shape_ok = body["error"]["code"].is_string()
            && body["error"]["message"].is_string()
            && body.as_object().is_some_and(|o| o.len() == 1);
        if *got != status || !shape_ok || body["error"]["code"] != code {
            self.failures.push(format!("{what}: expected {status} `{code}`, got {got} {}", short(body)));
        } else {
            // Same contract as the harness helper.
            error_code(body);
        }
    }

    /// `res` must have exactly this status.
    pub fn status(&mut self, what: impl Display, res: &(u16, Value), status: u16) {
        self.count += 1;
        if res.0 != status {
            self.failures.push(format!("{what}: expected {status}, got {} {}", res.0, short(&res.1)));
        }
    }

    pub fn that(&mut self, what: impl Display, ok: bool, detail: impl Display) {
        self.count += 1;
        if !ok {
            self.failures.push(format!("{what}: {detail}"));
        }
    }

    /// Two snapshots of the same resources must be equal; lists the keys
    /// that differ.
    pub fn unchanged(&mut self, what: impl Display, before: &Value, after: &Value) {
        self.count += 1;
        if before == after {
            return;
        }
        let mut diffs = Vec::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (k, bv) in b {
                match a.get(k) {
                    Some(av) if av == bv => {}
                    Some(av) => diffs.push(format!("  {k}:\n    before {}\n    after  {}", short(bv), short(av))),
                    None => diffs.push(format!("  {k}: missing after")),
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                diffs.push(format!("  {k}: new after"));
            }
        } else {
            diffs.push(format!("  before {}\n  after  {}", short(before), short(after)));
        }
        self.failures.push(format!("{what}: data changed\n{}", diffs.join("\n")));
    }

    pub fn finish(self) {
        eprintln!("{}: {} checks, {} failed", self.name, self.count, self.failures.len());
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} checks failed:\n- {}",
            self.name,
            self.failures.len(),
            self.count,
            self.failures.join("\n- ")
        );
    }
}

/// A request builder carrying the Api's bearer token, for custom headers.
pub fn rb(api: &Api, method: Method, path: &str) -> reqwest::RequestBuilder {
    let mut r = api.http.request(method, format!("{}{path}", api.base));
    if let Some(t) = &api.token {
        r = r.bearer_auth(t);
    }
    r
}

/// Any method, optional JSON body.
pub async fn call(api: &Api, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut r = rb(api, method, path);
    if let Some(b) = body {
        r = r.json(b);
    }
    api.send(r).await
}

/// The status of a WebSocket handshake (101 when upgraded).
pub async fn ws_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("websocket handshake to {url} failed oddly: {e}"),
    }
}

/// Everything a supervisor or admin can read in a workspace, to prove
/// refused requests changed nothing.
pub async fn snapshot(api: &Api, ws: i64) -> Value {
    let base = format!("/api/v1/workspaces/{ws}");
    let mut out = Map::new();
    for p in ["", "/users", "/teams", "/inboxes", "/contacts?limit=200", "/conversations?limit=200", "/tags", "/templates", "/business-hours"] {
        let (s, b) = api.get(&format!("{base}{p}")).await;
        assert_eq!(s, 200, "snapshot GET {base}{p}: {b}");
        out.insert(format!("GET {p}"), b);
    }
    let convs = out["GET /conversations?limit=200"]["data"].as_array().cloned().unwrap_or_default();
    for c in convs {
        let id = c["id"].as_i64().expect("conversation id");
        let (s, b) = api.get(&format!("{base}/conversations/{id}/messages?limit=200")).await;
        assert_eq!(s, 200, "snapshot messages of {id}: {b}");
        out.insert(format!("GET /conversations/{id}/messages"), b);
        let (s, b) = api.get(&format!("{base}/conversations/{id}/reviews")).await;
        assert_eq!(s, 200, "snapshot reviews of {id}: {b}");
        out.insert(format!("GET /conversations/{id}/reviews"), b);
    }
    // Admin-only, so only when the caller may read it.
    let (s, b) = api.get(&format!("{base}/api-tokens")).await;
    if s == 200 {
        out.insert("GET /api-tokens".into(), b);
    }
    Value::Object(out)
}

/// Creates (via the CLI, against the running server's database) a user in
/// workspace `workspace` (created if missing) and logs them in.
pub async fn cli_user(server: &Server, email: &str, workspace: &str, role: &str) -> Api {
    let (ok, out) = cli(
        &server.data_dir,
        server.database_url.as_deref(),
        &["admin", "create-user", "--email", email, "--password", "password123", "--workspace", workspace, "--role", role],
    )
    .await;
    assert!(ok, "cli create-user {email}: {out}");
    server.login_with(email, "password123").await
}

/// The id of the workspace named `name` among the caller's.
pub async fn workspace_id(api: &Api, name: &str) -> i64 {
    let (_, me) = api.get("/api/v1/me").await;
    me["workspaces"]
        .as_array()
        .and_then(|a| a.iter().find(|w| w["name"] == name))
        .and_then(|w| w["id"].as_i64())
        .unwrap_or_else(|| panic!("no workspace {name} in {me}"))
}

pub async fn my_id(api: &Api) -> i64 {
    api.get("/api/v1/me").await.1["user"]["id"].as_i64().expect("user id")
}

/// The id of the member with `email`.
pub async fn user_id(api: &Api, ws: i64, email: &str) -> i64 {
    let (_, users) = api.get(&format!("/api/v1/workspaces/{ws}/users")).await;
    users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == email))
        .and_then(|u| u["id"].as_i64())
        .unwrap_or_else(|| panic!("no user {email} in {users}"))
}

/// The id of the item named `name` in a `{"data":[…]}` list.
pub async fn id_by_name(api: &Api, path: &str, name: &str) -> i64 {
    let (_, list) = api.get(path).await;
    list["data"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .and_then(|i| i["id"].as_i64())
        .unwrap_or_else(|| panic!("no {name} in {path}: {list}"))
}

pub fn data_len(v: &Value) -> usize {
    v["data"].as_array().map_or(usize::MAX, Vec::len)
}

/// A valid business-hours body that differs from the defaults.
pub fn business_hours(timezone: &str) -> Value {
    let days: Vec<Value> = (0..7)
        .map(|d| serde_json::json!({"day": d, "open": "08:00", "close": "20:00", "enabled": d != 0}))
        .collect();
    serde_json::json!({"timezone": timezone, "days": days, "away_message": "Closed, back soon.", "holidays": ["2026-12-25"]})
}

/// Whether a frame matching `pred` arrives within `ms` (false when the
/// socket ends first).
pub async fn receives(ws: &mut Socket, ms: u64, pred: impl Fn(&Value) -> bool) -> bool {
    use futures_util::StreamExt;
    tokio::time::timeout(std::time::Duration::from_millis(ms), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg
                && serde_json::from_str::<Value>(&t).is_ok_and(|v| pred(&v))
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

/// The session (or API) token of an `Api`.
pub fn token_of(api: &Api) -> &str {
    api.token.as_deref().expect("a logged-in Api")
}
