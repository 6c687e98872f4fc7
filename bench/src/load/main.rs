//! `switchboard-load`: end-to-end load on the real `switchboard` binary over
//! loopback, with a bare axum handler measured in the same run as the
//! baseline.
//!
//! ```text
//! cargo build --release -p switchboard -p switchboard-bench
//! target/release/switchboard-load all          # every scenario, full size
//! target/release/switchboard-load smoke        # seconds; what CI runs
//! target/release/switchboard-load ingest|pg|websockets|routing [--key value …]
//! ```
//! Options: `--bin PATH` (default: the `switchboard` beside this binary),
//! `--secs N` (drive time per phase), `--workers N` (closed-loop senders),
//! `--customers N`, `--agents N` (sockets listening during ingest),
//! `--sockets N` (scenario d), `--routing-agents N`, `--rate N` (scenario e,
//! conversations/s), `--database-url URL` (scenario c; default a fresh
//! database on the test server).
//!
//! Scenarios (issue "load harness"): a) max sustained ingest on SQLite,
//! b) latency at half that rate, c) a+b on PostgreSQL, d) idle sockets plus
//! a broadcast, e) agents online while conversations are routed.

mod baseline;
mod drive;
mod listen;
mod payload;
mod stats;
mod target;

use drive::{Customers, Routes, SendReport};
use stats::{cpu_cores, mib, sample, Latencies};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::{Http, Scratch, Target, Workspace};
use tokio::sync::watch;

#[derive(Clone)]
struct Options {
    bin: PathBuf,
    secs: u64,
    workers: usize,
    customers: u64,
    agents: usize,
    sockets: usize,
    routing_agents: usize,
    rate: f64,
    database_url: Option<String>,
    /// Smoke mode: any error or lost message fails the run (exit 1); sizes
    /// are tiny and no figure is judged.
    strict: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let default_bin = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("switchboard")))
            .unwrap_or_else(|| PathBuf::from("switchboard"));
        let mut o = Options {
            bin: default_bin,
            secs: 10,
            workers: 64,
            customers: 1000,
            agents: 4,
            sockets: 20_000,
            routing_agents: 1000,
            rate: 100.0,
            database_url: None,
            strict: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
            let num = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: not a number: {v}"));
            match flag.as_str() {
                "--bin" => o.bin = PathBuf::from(value()?),
                "--secs" => o.secs = num(value()?)?,
                "--workers" => o.workers = num(value()?)? as usize,
                "--customers" => o.customers = num(value()?)?,
                "--agents" => o.agents = num(value()?)? as usize,
                "--sockets" => o.sockets = num(value()?)? as usize,
                "--routing-agents" => o.routing_agents = num(value()?)? as usize,
                "--rate" => o.rate = num(value()?)? as f64,
                "--database-url" => o.database_url = Some(value()?),
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(o)
    }

    fn smoke(mut self) -> Options {
        self.secs = 2;
        self.workers = 8;
        self.customers = 50;
        self.agents = 2;
        self.sockets = 200;
        self.routing_agents = 20;
        self.rate = 20.0;
        self.strict = true;
        self
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first().cloned() else {
        eprintln!("usage: switchboard-load smoke|all|ingest|pg|websockets|routing [options]  (see the module doc)");
        std::process::exit(2);
    };
    if scenario == "baseline-server" {
        if let Err(e) = baseline::serve().await {
            eprintln!("baseline: {e}");
            std::process::exit(1);
        }
        return;
    }
    let opts = match Options::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // 20,000 sockets need more descriptors than the usual soft limit of
    // 1,024, in this process and in the server it starts (which inherits it).
    // As root the hard limit itself can be raised; otherwise up to it.
    if rlimit::setrlimit(rlimit::Resource::NOFILE, 200_000, 200_000).is_err()
        && let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
            eprintln!("note: could not raise the open-file limit: {e}");
        }
    let outcome = match scenario.as_str() {
        "smoke" => run_all(opts.smoke()).await,
        "all" => run_all(opts).await,
        "ingest" => ingest(&opts, false).await.map(|_| ()),
        "pg" => ingest(&opts, true).await.map(|_| ()),
        "websockets" => websockets(&opts).await,
        "routing" => routing(&opts).await,
        other => Err(format!("unknown scenario {other}")),
    };
    if let Err(e) = outcome {
        eprintln!("FAILED: {e}");
        std::process::exit(1);
    }
}

async fn run_all(opts: Options) -> Result<(), String> {
    println!("machine: {} cores; server: {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), opts.bin.display());
    let sqlite_rate = ingest(&opts, false).await?;
    let pg_rate = if pg_available(&opts).await { Some(ingest(&opts, true).await?) } else { None };
    websockets(&opts).await?;
    routing(&opts).await?;
    println!("\n== summary");
    println!("ingest SQLite {sqlite_rate:.0} msg/s; PostgreSQL {}", pg_rate.map(|r| format!("{r:.0} msg/s")).unwrap_or_else(|| "not reachable".into()));
    Ok(())
}

async fn pg_available(opts: &Options) -> bool {
    if opts.database_url.is_some() {
        return true;
    }
    switchboard_store::testing::PgTestDb::available().await
}

/// Starts the product on SQLite or a fresh PostgreSQL database and prepares
/// the demo workspace. The PostgreSQL guard drops the database at the end.
async fn start(opts: &Options, postgres: bool, name: &str) -> Result<(Target, Workspace, Scratch, Option<switchboard_store::testing::PgTestDb>), String> {
    let scratch = Scratch::new(name);
    let (pg_guard, url) = if postgres {
        match &opts.database_url {
            Some(u) => (None, Some(u.clone())),
            None => {
                let db = switchboard_store::testing::PgTestDb::create().await.map_err(|e| format!("postgres: {e}"))?;
                let url = db.url.clone();
                (Some(db), Some(url))
            }
        }
    } else {
        (None, None)
    };
    let server = Target::switchboard(&opts.bin, &scratch.0, url.as_deref()).await.map_err(|e| format!("{}: {e}", opts.bin.display()))?;
    let http = Http::new(&server.base);
    let ws = target::prepare(&http).await?;
    Ok((server, ws, scratch, pg_guard))
}

async fn widget_visitors(http: &Http, website_token: &str, count: usize) -> Result<Vec<String>, String> {
    let mut visitors = Vec::new();
    for _ in 0..count {
        let v = http
            .call(reqwest::Method::POST, "/api/v1/widget/session", None, Some(serde_json::json!({"website_token": website_token})))
            .await?;
        visitors.push(v["visitor_token"].as_str().ok_or("no visitor token")?.to_owned());
    }
    Ok(visitors)
}

fn print_drive(label: &str, r: &SendReport) {
    println!(
        "  {label}: sent {} acked {} errors {} in {:.1}s = {:.0} msg/s{}",
        r.sent,
        r.acked,
        r.errors,
        r.elapsed.as_secs_f64(),
        r.rate(),
        r.first_error.as_ref().map(|e| format!(" (first error: {e})")).unwrap_or_default()
    );
}

/// Latency of the marked messages with seq in `range`, as heard by the
/// sockets; also how many distinct ones the first socket heard.
fn heard_in(heard: &[listen::Heard], range: std::ops::Range<u64>) -> (Latencies, usize) {
    let mut lat = Latencies::default();
    for h in heard {
        for &(seq, us) in &h.marked {
            if range.contains(&seq) {
                lat.push(Duration::from_micros(us));
            }
        }
    }
    let first: std::collections::HashSet<u64> =
        heard.first().map(|h| h.marked.iter().map(|m| m.0).filter(|s| range.contains(s)).collect()).unwrap_or_default();
    (lat, first.len())
}

/// Scenarios a and b (c with `postgres`): the sustained closed-loop ingest
/// rate, then latency at half that rate; the baseline handler driven the
/// same way. Returns the product's rate.
async fn ingest(opts: &Options, postgres: bool) -> Result<f64, String> {
    let db = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("\n== ingest on {db}: {} workers closed loop, then half that rate open loop; {} customers, {} agent sockets", opts.workers, opts.customers, opts.agents);
    let (server, ws, _scratch, _pg) = start(opts, postgres, if postgres { "pg" } else { "sqlite" }).await?;
    let prepared = sample(server.pid);
    println!(
        "  start to ready {:.0} ms; idle RSS {:.1} MiB (after the admin's login and setup: {:.1} MiB)",
        server.ready_after.as_secs_f64() * 1000.0,
        mib(server.idle_rss),
        mib(prepared.rss_bytes)
    );
    let http = Http::new(&server.base);
    let visitors = widget_visitors(&http, &ws.website_token, 50.min(opts.customers as usize)).await?;
    let routes = Routes {
        whatsapp: ws.whatsapp_hook.clone(),
        telegram: ws.telegram_hook.clone(),
        widget_messages: format!("{}/api/v1/widget/messages", server.base),
        visitors: Arc::new(visitors),
    };
    let epoch = Instant::now();
    let customers = Customers::new(routes, opts.customers, 10, epoch);
    let (stop_tx, stop_rx) = watch::channel(false);
    let url = server.ws_url(&format!("/api/v1/ws?token={}", ws.admin_token));
    let sockets = listen::open_many(vec![url; opts.agents.max(1)], 16).await?;
    let listeners: Vec<_> =
        sockets.into_iter().map(|s| tokio::spawn(listen::listen(s, listen::Mode::Messages, epoch, stop_rx.clone()))).collect();

    // Warm-up: every customer's contact and conversation exist afterwards.
    let warm = customers.closed_loop(opts.workers, Duration::from_secs(opts.secs.div_ceil(4).max(1))).await;
    if warm.errors > 0 {
        return Err(format!("warm-up errors: {:?}", warm.first_error));
    }
    let a_from = customers.sent_so_far() + 1;
    let before = sample(server.pid);
    let a = customers.closed_loop(opts.workers, Duration::from_secs(opts.secs)).await;
    let after = sample(server.pid);
    let a_to = customers.sent_so_far() + 1;
    print_drive("a) max sustained", &a);
    println!("     server CPU {:.2} cores, RSS {:.1} MiB; ack latency {}", cpu_cores(before, after), mib(after.rss_bytes), a.ack_summary());

    // Let the sockets drain before the latency phase.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let half = (a.rate() / 2.0).max(1.0);
    let b_from = customers.sent_so_far() + 1;
    let before = sample(server.pid);
    let b = customers.open_loop(half, Duration::from_secs(opts.secs), 4096).await;
    let after = sample(server.pid);
    let b_to = customers.sent_so_far() + 1;
    print_drive(&format!("b) open loop at {half:.0}/s"), &b);
    println!("     server CPU {:.2} cores, RSS {:.1} MiB; {} sends started late; ack latency {}", cpu_cores(before, after), mib(after.rss_bytes), b.late, b.ack_summary());

    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_tx.send(true);
    let mut heard = Vec::new();
    for l in listeners {
        heard.push(l.await.map_err(|e| e.to_string())?);
    }
    let resyncs: u64 = heard.iter().map(|h| h.resyncs).sum();
    let (a_lat, a_seen) = heard_in(&heard, a_from..a_to);
    let (b_lat, b_seen) = heard_in(&heard, b_from..b_to);
    println!("     a) webhook → agent socket: {} ({a_seen}/{} delivered to socket 1)", a_lat.summary(), a.acked);
    println!("     b) webhook → agent socket: {} ({b_seen}/{} delivered to socket 1)", b_lat.summary(), b.acked);
    if resyncs > 0 {
        println!("     sockets asked to resync {resyncs} times (fell behind the event bus)");
    }
    server.stop().await;

    // The baseline, driven identically.
    let base = Target::baseline().await?;
    let routes = Routes {
        whatsapp: format!("{}/webhooks/whatsapp/1", base.base),
        telegram: format!("{}/webhooks/telegram/2", base.base),
        widget_messages: format!("{}/api/v1/widget/messages", base.base),
        visitors: Arc::new(vec!["visitor".to_owned()]),
    };
    let bare = Customers::new(routes, opts.customers, 10, Instant::now());
    let _ = bare.closed_loop(opts.workers, Duration::from_secs(1)).await;
    let before = sample(base.pid);
    let r = bare.closed_loop(opts.workers, Duration::from_secs(opts.secs)).await;
    let after = sample(base.pid);
    print_drive("baseline bare axum handler", &r);
    println!("     baseline CPU {:.2} cores; ack latency {}", cpu_cores(before, after), r.ack_summary());
    base.stop().await;
    println!("  ratio: switchboard {:.0} msg/s = {:.1}% of the bare handler's {:.0} req/s", a.rate(), 100.0 * a.rate() / r.rate().max(1e-9), r.rate());

    if opts.strict {
        let lost_a = a.acked as usize - a_seen.min(a.acked as usize);
        let lost_b = b.acked as usize - b_seen.min(b.acked as usize);
        if a.errors + b.errors + r.errors > 0 || lost_a + lost_b > 0 || resyncs > 0 {
            return Err(format!(
                "ingest on {db}: {} errors, {lost_a}+{lost_b} acknowledged messages never reached the agent socket, {resyncs} resyncs",
                a.errors + b.errors + r.errors
            ));
        }
    }
    Ok(a.rate())
}

/// Scenario d: many idle agent sockets, then broadcasts: memory per socket
/// and how long one message takes to reach all of them.
async fn websockets(opts: &Options) -> Result<(), String> {
    println!("\n== websockets: {} idle agent sockets, then 5 broadcasts", opts.sockets);
    let (server, ws, _scratch, _pg) = start(opts, false, "ws").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = sample(server.pid);
    let url = server.ws_url(&format!("/api/v1/ws?token={}", ws.admin_token));
    let started = Instant::now();
    let sockets = listen::open_many(vec![url; opts.sockets], 64).await?;
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let full = sample(server.pid);
    println!(
        "  {} sockets connected in {:.1}s; server RSS {:.1} → {:.1} MiB ({:.1} KiB per socket)",
        sockets.len(),
        connected_in.as_secs_f64(),
        mib(idle.rss_bytes),
        mib(full.rss_bytes),
        (full.rss_bytes.saturating_sub(idle.rss_bytes)) as f64 / 1024.0 / sockets.len().max(1) as f64
    );
    let epoch = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let listeners: Vec<_> =
        sockets.into_iter().map(|s| tokio::spawn(listen::listen(s, listen::Mode::Messages, epoch, stop_rx.clone()))).collect();
    let routes = Routes {
        whatsapp: ws.whatsapp_hook.clone(),
        telegram: ws.telegram_hook.clone(),
        widget_messages: String::new(),
        visitors: Arc::new(Vec::new()),
    };
    let customer = Customers::new(routes, 1, 0, epoch);
    let before = sample(server.pid);
    let me_before = sample(std::process::id());
    let broadcasts = 5;
    for _ in 0..broadcasts {
        let seq = customer.next_seq();
        customer.send(seq, Instant::now()).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sample(server.pid);
    let me_after = sample(std::process::id());
    let _ = stop_tx.send(true);
    let mut fanout = Latencies::default();
    let mut resyncs = 0;
    for l in listeners {
        let h = l.await.map_err(|e| e.to_string())?;
        resyncs += h.resyncs;
        for (_, us) in h.marked {
            fanout.push(Duration::from_micros(us));
        }
    }
    let expected = broadcasts as usize * opts.sockets;
    let got = fanout.len();
    println!(
        "  fan-out webhook → every socket: {} ({got}/{expected} frames), server CPU {:.2} cores, this tool's CPU {:.2} cores (same 2 cores), peak RSS {:.1} MiB",
        fanout.summary(),
        cpu_cores(before, after),
        cpu_cores(me_before, me_after),
        mib(after.rss_bytes)
    );
    server.stop().await;
    if opts.strict && (got != expected || resyncs > 0) {
        return Err(format!("websockets: {got}/{expected} broadcast frames arrived, {resyncs} resyncs"));
    }
    Ok(())
}

/// Scenario e: agents online in one auto-assigning team while new
/// conversations arrive at a fixed rate; the time from the webhook to the
/// assigned agent's socket hearing about it.
async fn routing(opts: &Options) -> Result<(), String> {
    use reqwest::Method;
    println!("\n== routing: {} agents online in teams of 10, {:.0} new conversations/s for {} s", opts.routing_agents, opts.rate, opts.secs);
    let (server, ws, _scratch, _pg) = start(opts, false, "routing").await?;
    let http = Arc::new(Http::new(&server.base));
    let admin = ws.admin_token.clone();
    let w = ws.id;
    // Teams of ten, as a contact center of this size is organised: each
    // conversation's events go to its team (and supervisors), not to all
    // 1,000 agents. A keyword in the first message picks the team.
    let team_count = opts.routing_agents.div_ceil(10).max(1);
    let mut team_ids = Vec::with_capacity(team_count);
    let mut rules = Vec::with_capacity(team_count);
    for t in 0..team_count {
        let team = http.call(Method::POST, &format!("/api/v1/workspaces/{w}/teams"), Some(&admin), Some(serde_json::json!({"name": format!("load {t}")}))).await?;
        let id = team["id"].as_i64().ok_or("no team id")?;
        http.call(
            Method::PATCH,
            &format!("/api/v1/workspaces/{w}/teams/{id}"),
            Some(&admin),
            Some(serde_json::json!({"routing": {"auto_assign": true, "strategy": "round_robin"}})),
        )
        .await?;
        rules.push(serde_json::json!({"name": format!("team {t}"), "team_id": id,
            "conditions": [{"type": "keywords", "keywords": [drive::team_keyword(t as u64)]}]}));
        team_ids.push(id);
    }
    let team_ids = Arc::new(team_ids);
    let setup_started = Instant::now();
    let agents: Vec<Result<(i64, String), String>> = futures_util::StreamExt::collect(futures_util::StreamExt::buffered(
        futures_util::stream::iter((0..opts.routing_agents).map(|i| {
            let http = http.clone();
            let admin = admin.clone();
            let team_id = team_ids[i / 10 % team_ids.len()];
            async move {
                let email = format!("load-agent-{i}@load.test");
                let body = serde_json::json!({"email": email, "name": format!("Agent {i}"), "password": "load-password-1", "role": "agent"});
                let user = http.call(Method::POST, &format!("/api/v1/workspaces/{w}/users"), Some(&admin), Some(body)).await?;
                let uid = user["id"].as_i64().or_else(|| user["user_id"].as_i64()).ok_or_else(|| format!("no user id in {user}"))?;
                // Room for the whole run, so capacity never caps the figure.
                let routing = serde_json::json!({"routing": {"capacity": {"chat": 50, "email": 10, "voice": 1}}});
                http.call(Method::PATCH, &format!("/api/v1/workspaces/{w}/users/{uid}"), Some(&admin), Some(routing)).await?;
                http.call(Method::PUT, &format!("/api/v1/workspaces/{w}/teams/{team_id}/members/{uid}"), Some(&admin), Some(serde_json::json!({"capacity": 20})))
                    .await?;
                let token = http.login(&email, "load-password-1").await?;
                http.call(Method::PUT, &format!("/api/v1/workspaces/{w}/presence"), Some(&token), Some(serde_json::json!({"status": "online"}))).await?;
                Ok((uid, token))
            }
        })),
        4,
    ))
    .await;
    let agents: Vec<(i64, String)> = agents.into_iter().collect::<Result<_, _>>()?;
    http.call(Method::PUT, &format!("/api/v1/workspaces/{w}/routing/rules"), Some(&admin), Some(serde_json::json!({"rules": rules})))
        .await?;
    let epoch = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut urls: Vec<(String, listen::Mode)> =
        agents.iter().map(|(uid, token)| (server.ws_url(&format!("/api/v1/ws?token={token}")), listen::Mode::Assignments { user_id: *uid })).collect();
    // The supervisor's socket maps each marked message to its conversation.
    urls.push((server.ws_url(&format!("/api/v1/ws?token={admin}")), listen::Mode::Assignments { user_id: -1 }));
    let sockets = listen::open_many(urls.iter().map(|u| u.0.clone()).collect(), 32).await?;
    println!("  setup ({} agents created, logged in, online, connected) took {:.1}s", agents.len(), setup_started.elapsed().as_secs_f64());
    let listeners: Vec<_> =
        sockets.into_iter().zip(urls).map(|(s, (_, mode))| tokio::spawn(listen::listen(s, mode, epoch, stop_rx.clone()))).collect();
    // The router reloads a workspace's members on each membership change,
    // so 1,000 agents joining leave it a backlog; measure the steady state.
    let settle = Instant::now();
    loop {
        let a = sample(server.pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if cpu_cores(a, sample(server.pid)) < 0.05 || settle.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    println!("  server settled {:.1}s after setup", settle.elapsed().as_secs_f64());
    let routes = Routes {
        whatsapp: ws.whatsapp_hook.clone(),
        telegram: ws.telegram_hook.clone(),
        widget_messages: String::new(),
        visitors: Arc::new(Vec::new()),
    };
    // Every message from a new customer: one new conversation each.
    let mut customers = Customers::new(routes, u64::MAX, 0, epoch);
    customers.route_teams = team_count as u64;
    let before = sample(server.pid);
    let drive = customers.open_loop(opts.rate, Duration::from_secs(opts.secs), 1024).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = sample(server.pid);
    let _ = stop_tx.send(true);
    let mut sent_at: HashMap<i64, u64> = HashMap::new();
    let mut assigned: Vec<(i64, u64)> = Vec::new();
    for l in listeners {
        let h = l.await.map_err(|e| e.to_string())?;
        sent_at.extend(h.conversation_sent);
        assigned.extend(h.assigned);
    }
    // First assignment per conversation.
    let mut first: HashMap<i64, u64> = HashMap::new();
    for (conv, at) in assigned {
        first.entry(conv).and_modify(|t| *t = (*t).min(at)).or_insert(at);
    }
    let mut lat = Latencies::default();
    for (conv, at) in &first {
        if let Some(sent) = sent_at.get(conv) {
            lat.push(Duration::from_micros(at.saturating_sub(*sent)));
        }
    }
    print_drive("conversations", &drive);
    println!(
        "  webhook → assigned agent's socket: {} ({} of {} conversations assigned); server CPU {:.2} cores, RSS {:.1} MiB",
        lat.summary(),
        first.len(),
        drive.acked,
        cpu_cores(before, after),
        mib(after.rss_bytes)
    );
    server.stop().await;
    if opts.strict && (drive.errors > 0 || first.len() as u64 != drive.acked) {
        return Err(format!("routing: {} errors, {} of {} conversations assigned", drive.errors, first.len(), drive.acked));
    }
    Ok(())
}
