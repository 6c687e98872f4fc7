//! The processes under load: the real `switchboard demo` binary on a fresh
//! SQLite directory or PostgreSQL database, and the bare baseline handler
//! (this same executable re-run as `baseline-server`). Both print the URL
//! they listen on; the time until that line is the start-to-ready figure.

use crate::payload;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Target {
    child: Child,
    pub base: String,
    pub pid: u32,
    pub ready_after: Duration,
    /// RSS three seconds after ready, before any request (no login yet):
    /// the server at rest, after the demo seed's password hash has released
    /// its Argon2 memory (it does after 2 s idle).
    pub idle_rss: u64,
}

impl Target {
    async fn spawn(mut cmd: Command, prefix: &str) -> Result<Target, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
        let pid = child.id().ok_or("no pid")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix(prefix) {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .map_err(|_| "did not start within 120 s".to_owned())?
        .ok_or("exited before listening")?;
        let ready_after = started.elapsed();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle_rss = crate::stats::sample(pid).rss_bytes;
        Ok(Target { child, base, pid, ready_after, idle_rss })
    }

    /// `switchboard demo` with the demo's sample channel traffic off, so the
    /// only messages are the ones this tool sends.
    pub async fn switchboard(bin: &Path, data_dir: &Path, database_url: Option<&str>) -> Result<Target, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
        cmd.env_remove("DATABASE_URL").env_remove("NATS_URL").env("SWITCHBOARD_DEMO_CHANNELS", "off");
        // Voice is not part of these figures; port 5060 may be anyone's.
        cmd.env("SWITCHBOARD_SIP_LISTEN", "off");
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        Self::spawn(cmd, "Switchboard listening on ").await
    }

    pub async fn baseline() -> Result<Target, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(me);
        cmd.arg("baseline-server");
        Self::spawn(cmd, "baseline listening on ").await
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}

/// The demo workspace prepared for a run: where to post each provider's
/// webhooks and an admin token for the agents' sockets.
pub struct Workspace {
    pub id: i64,
    pub admin_token: String,
    pub whatsapp_hook: String,
    pub telegram_hook: String,
    pub website_token: String,
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Http {
        let client = reqwest::Client::builder().pool_max_idle_per_host(4096).build().expect("reqwest client");
        Http { client, base: base.to_owned() }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Value, String> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut req = self.client.request(method.clone(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}"));
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) })
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<String, String> {
        let v = self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await?;
        v["token"].as_str().map(str::to_owned).ok_or_else(|| format!("no token in {v}"))
    }
}

pub const DEMO_ADMIN: &str = "admin@demo.test";
pub const DEMO_PASSWORD: &str = "switchboard-demo";

pub async fn prepare(http: &Http) -> Result<Workspace, String> {
    use reqwest::Method;
    let admin_token = http.login(DEMO_ADMIN, DEMO_PASSWORD).await?;
    let me = http.call(Method::GET, "/api/v1/me", Some(&admin_token), None).await?;
    let id = me["workspaces"][0]["id"].as_i64().ok_or("no workspace")?;
    let inboxes = format!("/api/v1/workspaces/{id}/inboxes");
    // Replies are not part of the ingest figures; the provider base URL
    // points at a closed port so a stray send fails fast instead of leaving
    // the machine.
    let wa = json!({"name": "load WhatsApp", "channel": "whatsapp", "config": {
        "phone_number_id": payload::WA_PHONE_NUMBER_ID, "access_token": "load", "app_secret": payload::WA_APP_SECRET,
        "verify_token": "load", "api_base_url": "http://127.0.0.1:9"}});
    let wa = http.call(Method::POST, &inboxes, Some(&admin_token), Some(wa)).await?;
    let tg = json!({"name": "load Telegram", "channel": "telegram", "config": {
        "bot_token": "1:load", "secret_token": payload::TG_SECRET, "api_base_url": "http://127.0.0.1:9"}});
    let tg = http.call(Method::POST, &inboxes, Some(&admin_token), Some(tg)).await?;
    let all = http.call(Method::GET, &inboxes, Some(&admin_token), None).await?;
    let website_token = all["data"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["channel"] == "webchat"))
        .and_then(|i| i["website_token"].as_str())
        .ok_or("no webchat inbox")?
        .to_owned();
    let hook = |v: &Value| v["webhook_url"].as_str().map(str::to_owned).ok_or_else(|| format!("no webhook_url in {v}"));
    Ok(Workspace { id, admin_token, whatsapp_hook: hook(&wa)?, telegram_hook: hook(&tg)?, website_token })
}

/// A fresh data directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("switchboard-load-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::create_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
