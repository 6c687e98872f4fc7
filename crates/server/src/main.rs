//! `switchboard`: the omnichannel contact center in one binary.
//!
//! Owns: configuration, the CLI, HTTP/WebSocket adapters, authentication
//! and the wiring of every crate. Must never: hold business rules that can
//! live in `core`, or write SQL (that is `store`'s).

mod app;
mod assets;
mod auth;
mod automation;
mod automation_hooks;
mod demo;
mod dto;
mod email_poller;
mod error;
mod extract;
mod fanout;
mod media;
mod metrics;
mod outbox;
mod router;
mod routes;
mod state;
mod voice;

use anyhow::Context;
use clap::{Parser, Subcommand};
use state::{AppState, Settings, SystemClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_core::{validate, Role};
use switchboard_store::Store;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Omnichannel contact center: one inbox for chat, messengers, email and voice.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Directory for the SQLite database and other files.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// postgres://… to use PostgreSQL; absent means SQLite in the data dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on for HTTP and WebSockets (port 0 picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Largest accepted file upload (attachments) in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    max_upload_bytes: usize,
    /// The address providers reach this server at, e.g. https://cc.example.com
    /// (webhook URLs shown to admins, file URLs sent to Viber and Instagram);
    /// absent: the scheme and Host of each request.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// NATS server for fan-out between nodes (absent: in-process bus).
    #[arg(long, env = "NATS_URL")]
    nats_url: Option<String>,
    /// NATS subject prefix; deployments sharing a NATS server need distinct ones.
    #[arg(long, env = "SWITCHBOARD_NATS_SUBJECT", default_value = switchboard_bus::DEFAULT_SUBJECT_PREFIX)]
    nats_subject: String,
    /// How often SLA timers and idle conversations are checked, in ms
    /// (tests shorten it).
    #[arg(long, env = "SWITCHBOARD_SCAN_INTERVAL_MS", default_value_t = 5_000, hide = true)]
    scan_interval_ms: u64,
    /// Run the routing engine (automatic assignment, offers, queues) on this
    /// node. With several nodes, turn it on for exactly one.
    #[arg(long, env = "SWITCHBOARD_ROUTER", default_value = "on", value_parser = ["on", "off"])]
    router: String,
    /// Demo only: WhatsApp and Telegram inboxes served by a built-in
    /// emulator of both providers, with a few customers writing in.
    #[arg(long, env = "SWITCHBOARD_DEMO_CHANNELS", default_value = "on", value_parser = ["on", "off"])]
    demo_channels: String,
    /// How often the outbox is checked for replies to send, in ms.
    #[arg(long, env = "SWITCHBOARD_OUTBOX_POLL_MS", default_value_t = 250, hide = true)]
    outbox_poll_ms: u64,
    /// How long a claimed outbox row is left to its sender, in ms; a crash
    /// mid-send is noticed when it runs out.
    #[arg(long, env = "SWITCHBOARD_OUTBOX_LEASE_MS", default_value_t = 30_000, hide = true)]
    outbox_lease_ms: u64,
    /// How long a WhatsApp send whose outcome is unknown (a crash or no
    /// answer) waits for Meta's status webhook naming it before it is sent
    /// again, in ms.
    #[arg(long, env = "SWITCHBOARD_OUTBOX_IN_DOUBT_GRACE_MS", default_value_t = 120_000, hide = true)]
    outbox_in_doubt_grace_ms: u64,
    /// How often email inboxes' mailboxes are read (IMAP), in ms.
    #[arg(long, env = "SWITCHBOARD_EMAIL_POLL_MS", default_value_t = 30_000, hide = true)]
    email_poll_ms: u64,
    /// SIP server (UDP and TCP) address for phones and trunks; `off`
    /// disables voice. Default 0.0.0.0:5060 (if that port is taken, the
    /// server starts without voice and says so).
    #[arg(long, env = "SWITCHBOARD_SIP_LISTEN")]
    sip_listen: Option<String>,
    /// The IP address phones and trunks reach us at, put in SDP, Via and
    /// Contact (set it behind 1:1 NAT). Default: the SIP listen IP, or for
    /// 0.0.0.0 the address of the outward interface.
    #[arg(long, env = "SWITCHBOARD_SIP_PUBLIC_IP")]
    sip_public_ip: Option<std::net::IpAddr>,
    /// UDP port range for RTP (even ports) and RTCP (odd), `MIN-MAX`.
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS", default_value = "20000-30000", value_parser = parse_port_range)]
    rtp_ports: (u16, u16),
    #[command(flatten)]
    store: StoreArgs,
}

fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected MIN-MAX, e.g. 20000-30000")?;
    let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| "bad MIN port")?, b.trim().parse().map_err(|_| "bad MAX port")?);
    if a == 0 || b <= a {
        return Err("expected 0 < MIN < MAX".into());
    }
    Ok((a, b))
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a seeded demo workspace (and the widget demo page).
    Demo(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document and exit.
    Openapi,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user (or update their password) and add them to a workspace,
    /// creating the workspace if missing.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        workspace: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected admin, supervisor or agent".to_owned())
}

#[global_allocator]
static ALLOCATOR: switchboard_alloc::Allocator = switchboard_alloc::Allocator;

fn main() -> anyhow::Result<()> {
    // Already applied by the allocator crate's constructor before `main`;
    // the call also keeps that crate's object (and constructor) linked in.
    switchboard_alloc::tune();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args, false).await,
        Command::Demo(args) => serve(args, true).await,
        Command::Migrate(args) => {
            let store = open_store(&args).await?;
            println!("migrations applied ({})", store.backend());
            store.close().await;
            Ok(())
        }
        Command::Admin { command: AdminCommand::CreateUser { email, password, workspace, role, name, store } } => {
            create_user(store, email, password, workspace, role, name).await
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&app::openapi())?);
            Ok(())
        }
    }
}

async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    Store::open(args.database_url.as_deref(), &args.data_dir)
        .await
        .with_context(|| format!("opening the database (data dir {})", args.data_dir.display()))
}

async fn serve(args: ServeArgs, demo: bool) -> anyhow::Result<()> {
    // Every agent socket, call leg and database connection is a descriptor;
    // the usual soft limit (1,024) would cap a node long before its CPU does.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let store = open_store(&args.store).await?;
    let bus = match &args.nats_url {
        Some(url) => Bus::with_nats(url, &args.nats_subject).await.context("connecting to NATS")?,
        None => Bus::in_process(),
    };
    if bus.is_distributed() && store.backend() == "sqlite" {
        tracing::warn!("NATS_URL is set but the store is a local SQLite file: other nodes cannot share it; set DATABASE_URL=postgres://…");
    }
    let settings = Settings {
        max_body_bytes: args.max_body_bytes,
        max_upload_bytes: args.max_upload_bytes,
        demo,
        scan_interval_ms: args.scan_interval_ms.max(50),
        public_url: args.public_url.clone(),
        ..Settings::default()
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let st = AppState::new(store.clone(), bus.clone(), Arc::new(SystemClock), settings, stopping);
    let fresh_demo = if demo { demo::seed(&st).await.context("seeding the demo workspace")? } else { false };
    // Kept alive for the life of the server: the demo's inboxes point at it.
    let demo_channels = if demo && args.demo_channels == "on" {
        Some(Arc::new(demo::start_channels(&st).await.context("starting the demo's provider emulator")?))
    } else {
        None
    };
    automation_hooks::spawn_scanner(st.clone());
    automation::spawn(st.clone());
    if args.router == "on" {
        router::spawn(st.clone());
    }
    outbox::spawn(
        st.clone(),
        outbox::OutboxConfig {
            poll: std::time::Duration::from_millis(args.outbox_poll_ms.max(10)),
            lease: std::time::Duration::from_millis(args.outbox_lease_ms.max(1_000)),
            in_doubt_grace: std::time::Duration::from_millis(args.outbox_in_doubt_grace_ms),
        },
    );
    email_poller::spawn(st.clone(), std::time::Duration::from_millis(args.email_poll_ms.max(100)));
    start_voice(&st, &args).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    println!("Switchboard listening on {url}");
    if demo {
        println!("Demo workspace ready. Open {url}/ and sign in:");
        for (email, _, role) in demo::USERS {
            println!("  {:<10} {email}  password: {}", role.as_str(), demo::PASSWORD);
        }
        println!("Website widget demo page: {url}/demo/widget");
    }
    if let Some(channels) = &demo_channels {
        println!("WhatsApp and Telegram conversations come through a built-in provider emulator at {}", channels.emulator_url());
        if fresh_demo {
            let (channels, url) = (channels.clone(), url.clone());
            tokio::spawn(async move { channels.customers_write(&url).await });
        }
    }
    if !assets::has_ui() {
        println!("(web UI not built into this binary: see README)");
    }
    tracing::info!(store = store.backend(), bus = if bus.is_distributed() { "nats" } else { "in-process" }, %addr, "started");
    let app = app::router(st).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
        })
        .await?;
    store.close().await;
    Ok(())
}

/// Starts the SIP server and media plane unless `--sip-listen off`. An
/// explicitly configured address that cannot be bound is fatal; the
/// default one (0.0.0.0:5060) only warns, so a second server on the same
/// host still serves HTTP.
async fn start_voice(st: &AppState, args: &ServeArgs) -> anyhow::Result<()> {
    let explicit = args.sip_listen.is_some();
    let raw = args.sip_listen.clone().unwrap_or_else(|| "0.0.0.0:5060".to_owned());
    if raw.trim().eq_ignore_ascii_case("off") {
        println!("SIP off");
        return Ok(());
    }
    let sip_listen: SocketAddr = raw.trim().parse().with_context(|| format!("--sip-listen {raw:?}: expected IP:PORT or off"))?;
    let cfg = voice::VoiceConfig {
        sip_listen,
        public_ip: args.sip_public_ip,
        rtp_port_min: args.rtp_ports.0,
        rtp_port_max: args.rtp_ports.1,
        work_dir: args.store.data_dir.join("voice"),
    };
    match voice::start(st.clone(), cfg).await {
        Ok(l) => {
            println!("SIP listening on udp:{} tcp:{}", l.udp, l.tcp);
            Ok(())
        }
        Err(e) if !explicit => {
            tracing::warn!(error = %e, %sip_listen, "SIP server not started (set --sip-listen to choose another address)");
            println!("SIP off ({sip_listen}: {e})");
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("starting the SIP server on {sip_listen}"))),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn create_user(
    args: StoreArgs,
    email: String,
    password: String,
    workspace: String,
    role: Role,
    name: Option<String>,
) -> anyhow::Result<()> {
    let email = validate::email("email", &email)?;
    let workspace = validate::name("workspace", &workspace)?;
    validate::password(&password)?;
    let name = match name {
        Some(n) => validate::name("name", &n)?,
        None => email.split('@').next().unwrap_or("user").to_owned(),
    };
    let store = open_store(&args).await?;
    let now = SystemClock.now_ts();
    let ws = match store.find_workspace_by_name(&workspace).await? {
        Some(w) => w,
        None => store.create_workspace(&workspace, &auth::random_secret(), now).await?,
    };
    let hash = auth::hash_password(&password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = match store.find_credentials(&email).await? {
        Some(c) => {
            store.set_password(c.user.id, &hash).await?;
            c.user
        }
        None => store.create_user(&email, &name, &hash, now).await?,
    };
    match store.get_member(ws.id, user.id).await? {
        Some(_) => {
            store.update_member(ws.id, user.id, switchboard_store::MemberPatch { role: Some(role), name: None }).await?;
        }
        None => {
            store.add_member(ws.id, user.id, role, now).await?;
        }
    }
    println!("user {} ({}) is {} of workspace {:?} (id {})", user.email, user.id, role, ws.name, ws.id);
    store.close().await;
    Ok(())
}

impl SystemClock {
    fn now_ts(&self) -> switchboard_core::Timestamp {
        use state::Clock;
        self.now()
    }
}

/// `--public-url`: an absolute http(s) URL without query or fragment.
fn parse_public_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an http:// or https:// address without query or fragment, e.g. https://cc.example.com".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}
