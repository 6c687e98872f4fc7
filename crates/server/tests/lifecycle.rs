//! Process lifecycle: CLI conventions, graceful shutdown with open sockets.

mod common;

use common::*;

#[tokio::test]
async fn sigterm_closes_open_sockets_and_exits_cleanly() {
    let dir = TempDir::new("sb-life").unwrap();
    let server = Server::demo(&dir).await;
    let alice = server.login("alice@demo.test").await;
    let (_, website_token) = demo_workspace(&alice).await;
    let mut agent_ws = connect_ws(&server.ws_url(&format!("/api/v1/ws?token={}", alice.token.clone().unwrap()))).await;
    expect_frame(&mut agent_ws, "ready", |v| v["type"] == "ready").await;
    let visitor_token = visitor(&server, &website_token).await;
    let _visitor_ws = connect_ws(&server.ws_url(&format!("/api/v1/widget/ws?token={visitor_token}"))).await;
    let status = server.terminate(10).await;
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn admin_create_user_creates_the_workspace_and_the_login_works() {
    let dir = TempDir::new("sb-cli").unwrap();
    let (ok, out) = cli(
        dir.path(),
        None,
        &["admin", "create-user", "--email", "Owner@Acme.test", "--password", "owner-password", "--workspace", "Acme", "--role", "admin"],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = cli(dir.path(), None, &["admin", "create-user", "--email", "x@acme.test", "--password", "short", "--workspace", "Acme", "--role", "agent"]).await;
    assert!(!ok, "a short password is refused: {out}");
    let (ok, _) = cli(dir.path(), None, &["admin", "create-user", "--email", "x@acme.test", "--password", "long-enough", "--workspace", "Acme", "--role", "king"]).await;
    assert!(!ok, "an unknown role is refused");
    let server = Server::start("serve", dir.path(), None, &[]).await;
    let owner = server.login_with("owner@acme.test", "owner-password").await;
    let (status, me) = owner.get("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["workspaces"][0]["name"], "Acme");
    assert_eq!(me["workspaces"][0]["role"], "admin");
    // Not a demo: no demo page, no demo users.
    assert_eq!(server.api().get("/demo/widget").await.0, 404);
    let (status, _) = server.api().post("/api/v1/auth/login", serde_json::json!({"email": "admin@demo.test", "password": DEMO_PASSWORD})).await;
    assert_eq!(status, 401);
    server.kill().await;
    let (ok, out) = cli(dir.path(), None, &["migrate"]).await;
    assert!(ok && out.contains("migrations applied"), "{out}");
}

#[tokio::test]
async fn help_documents_every_setting() {
    let out = tokio::process::Command::new(BIN).args(["serve", "--help"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for setting in ["SWITCHBOARD_LISTEN", "SWITCHBOARD_DATA_DIR", "DATABASE_URL", "NATS_URL", "SWITCHBOARD_MAX_BODY_BYTES"] {
        assert!(text.contains(setting), "--help lacks {setting}:\n{text}");
    }
}

/// `--public-url` is what admins are told to give providers (webhook URLs),
/// whatever Host the admin's browser used; a malformed one stops the start
/// with a clear message.
#[tokio::test]
async fn public_url_sets_the_webhook_addresses_and_a_bad_one_is_refused() {
    let dir = TempDir::new("sb-public-url").unwrap();
    let server = Server::start("demo", dir.path(), None, &["--public-url", "https://cc.example.com/"]).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let (status, inboxes) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes")).await;
    assert_eq!(status, 200, "{inboxes}");
    let hooks: Vec<&str> = inboxes["data"].as_array().expect("inboxes").iter().filter_map(|i| i["webhook_url"].as_str()).collect();
    assert!(!hooks.is_empty());
    assert!(hooks.iter().all(|h| h.starts_with("https://cc.example.com/webhooks/")), "{hooks:?}");
    server.kill().await;

    for bad in ["ftp://cc.example.com", "cc.example.com", "https://cc.example.com/?x=1"] {
        let out = tokio::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--public-url", bad])
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--public-url"), "{bad}: {err}");
    }
}
