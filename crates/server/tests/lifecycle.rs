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
