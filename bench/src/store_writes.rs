//! How many customer messages per second the store accepts, durably, with
//! many concurrent writers — SQLite's batched single writer against the same
//! writer committing every message on its own (the baseline, measured in the
//! same run), and PostgreSQL when reachable.
//!
//! `cargo run --release -p switchboard-bench --bin store-writes [writers] [messages_per_writer]`

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::*;
use switchboard_store::testing::{PgTestDb, TempDir};
use switchboard_store::*;

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(store: Store, writers: usize, per_writer: usize) -> Figures {
    let now = Timestamp(1_700_000_000_000);
    let ws = store.create_workspace("bench", "s", now).await.expect("workspace").id;
    let inbox = store
        .create_inbox(ws, NewInbox { name: "site".into(), channel: Channel::Webchat, config: Default::default(), website_token: None }, now)
        .await
        .expect("inbox")
        .id;
    let mut contacts = Vec::new();
    for i in 0..writers {
        let fields = ContactFields { name: Some(Some(format!("visitor {i}"))), ..Default::default() };
        contacts.push(store.create_contact(ws, fields, now).await.expect("contact").id);
    }
    let store = Arc::new(store);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, contact) in contacts.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer);
            for n in 0..per_writer {
                let t = Instant::now();
                let m = InboundMessage {
                    inbox_id: inbox,
                    contact_id: contact,
                    content: format!("message {n} from {w}"),
                    echo_id: None,
                    dedup_key: Some(format!("bench:{w}:{n}")),
                    attachment_ids: Vec::new(),
                };
                store.receive_message(ws, m, now).await.expect("receive");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer task"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize];
    Figures { per_sec: all.len() as f64 / elapsed.as_secs_f64(), p50: pick(0.5), p99: pick(0.99) }
}

fn row(name: &str, f: &Figures) {
    println!("{name:<34} {:>10.0} msg/s   p50 {:>7.2} ms   p99 {:>7.2} ms", f.per_sec, ms(f.p50), ms(f.p99));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let writers = args.first().copied().unwrap_or(32);
    let per_writer = args.get(1).copied().unwrap_or(100);
    println!("store-writes: {writers} concurrent writers x {per_writer} messages (each = message + conversation + 2 event rows, acknowledged after commit)");

    let dir = TempDir::new("sb-bench-base").expect("tmp");
    let baseline = run(Store::Sqlite(SqliteStore::open_with_batch(&dir.path().join("db"), 1).await.expect("open")), writers, per_writer).await;
    row("sqlite, commit per write (baseline)", &baseline);

    let dir = TempDir::new("sb-bench-batch").expect("tmp");
    let batched = run(Store::Sqlite(SqliteStore::open(&dir.path().join("db")).await.expect("open")), writers, per_writer).await;
    row("sqlite, batched writer", &batched);
    println!("ratio batched / baseline: {:.2}x throughput", batched.per_sec / baseline.per_sec);

    if PgTestDb::available().await {
        let db = PgTestDb::create().await.expect("pg db");
        let pg = run(Store::open(Some(&db.url), std::path::Path::new(".")).await.expect("open pg"), writers, per_writer).await;
        row("postgresql, pool of 16", &pg);
        println!("ratio postgresql / sqlite baseline: {:.2}x throughput", pg.per_sec / baseline.per_sec);
    } else {
        println!("postgresql: unreachable, skipped");
    }
}
