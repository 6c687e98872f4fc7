//! SQLite backend: WAL, one writer task that batches commits, a read pool.
//!
//! Every write is a job sent to the writer. The writer takes the first job
//! and whatever else is already queued (up to `MAX_BATCH`), runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint (a failing
//! job rolls back alone), commits once and only then answers every caller.
//! So an acknowledged write is always committed, and under load many writes
//! share one commit.
//!
//! Jobs come in two kinds. Async jobs are the sqlx code of `ops.rs` on the
//! pool's one write connection, where every statement is a round trip to
//! sqlx's worker thread. Sync jobs are rusqlite code with cached prepared
//! statements (the inbound-message hot path, `sqlite_ingest.rs`) on a second
//! connection to the same file that only the writer task holds; they run on
//! the writer task itself, without thread hand-offs. Consecutive jobs of one
//! kind share a transaction; a batch that mixes kinds commits once per run,
//! in queue order, each run before the next starts (both connections are
//! the writer's, so they never wait on each other's lock). Each job still
//! has its savepoint, and every caller is answered after its commit.

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;

#[allow(dead_code)]
mod ops {
    type Db = sqlx::Sqlite;
    type Conn = sqlx::SqliteConnection;
    include!("ops.rs");
}

#[path = "sqlite_ingest.rs"]
mod ingest;

#[path = "sqlite_reads.rs"]
mod direct;

/// Most jobs committed together. Bounded so one commit never waits on an
/// unbounded queue and a failure's blast radius (a commit error fails the
/// whole batch) stays small. It also bounds how long a batch of sync jobs
/// holds a runtime thread (64 inbound messages: at most ~6 ms, as the
/// store-writes bench puts 10,000 messages/s through the one writer).
pub const MAX_BATCH: usize = 64;
const READ_CONNECTIONS: u32 = 4;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type AsyncJob = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, (bool, Completion)> + Send>;
type SyncJob = Box<dyn FnOnce(&rusqlite::Connection) -> (bool, Completion) + Send>;

enum Job {
    Async(AsyncJob),
    Sync(SyncJob),
}

enum Msg {
    Job(Job),
    /// Drop the writer's rusqlite connection and stop (`close`).
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    writes: SqlitePool,
    jobs: mpsc::Sender<Msg>,
    /// The hot point reads, answered synchronously (`sqlite_reads.rs`).
    direct: std::sync::Arc<direct::DirectReads>,
}

type Backend = SqliteStore;

/// Answers the caller of a job after the commit: the job's own error, or
/// the commit's, or its value.
fn completion<T: Send + 'static>(outcome: crate::Result<T>, tx: oneshot::Sender<crate::Result<T>>) -> (bool, Completion) {
    let ok = outcome.is_ok();
    let done: Completion = Box::new(move |commit: Result<(), String>| {
        let answer = match (outcome, commit) {
            (Err(e), _) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(msg)) => Err(StoreError::Database(sqlx::Error::Protocol(msg))),
        };
        let _ = tx.send(answer);
    });
    (ok, done)
}

impl SqliteStore {
    pub async fn open(path: &Path) -> crate::Result<SqliteStore> {
        Self::open_with_batch(path, MAX_BATCH).await
    }

    /// `max_batch = 1` commits every write on its own (the benchmark's
    /// baseline).
    pub async fn open_with_batch(path: &Path, max_batch: usize) -> crate::Result<SqliteStore> {
        let base = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Database)?
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone())
            .await
            .map_err(StoreError::Database)?;
        sqlx::migrate!("./migrations/sqlite").run(&writes).await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(base.read_only(true))
            .await
            .map_err(StoreError::Database)?;
        let (jobs, rx) = mpsc::channel(1024);
        tokio::spawn(run_writer(writes.clone(), path.to_owned(), rx, max_batch.max(1)));
        let direct = std::sync::Arc::new(direct::DirectReads::new(path.to_owned()));
        Ok(SqliteStore { reads, writes, jobs, direct })
    }

    pub async fn close(&self) {
        // The writer closes its own connection first.
        let (done, stopped) = oneshot::channel();
        if self.jobs.send(Msg::Close(done)).await.is_ok() {
            let _ = stopped.await;
        }
        self.direct.close();
        self.reads.close().await;
        self.writes.close().await;
    }

    async fn read(&self) -> crate::Result<sqlx::pool::PoolConnection<Db>> {
        self.reads.acquire().await.map_err(StoreError::Database)
    }

    /// Runs `f` inside the writer's transaction; answers after the commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, crate::Result<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<crate::Result<T>>();
        let job: AsyncJob = Box::new(move |c: &mut Conn| Box::pin(async move { completion(f(c).await, tx) }));
        self.jobs.send(Msg::Job(Job::Async(job))).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// `write` for synchronous rusqlite code: batched the same way (a
    /// savepoint per job, answered after the commit), no thread hand-off per
    /// statement. Keep `f` short (it runs on a runtime thread) and free of
    /// `BEGIN`/`COMMIT`.
    pub(crate) async fn write_sync<T, F>(&self, f: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> crate::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<crate::Result<T>>();
        let job: SyncJob = Box::new(move |c: &rusqlite::Connection| completion(f(c), tx));
        self.jobs.send(Msg::Job(Job::Sync(job))).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// `ops::receive_message` through the writer. File-less messages take
    /// the synchronous path (`sqlite_ingest.rs`); messages with files, and
    /// those it hands back (redeliveries, a contact's first message), take
    /// the general one.
    async fn write_received(&self, ws: WorkspaceId, m: InboundMessage, now: Timestamp) -> Result<Received> {
        let m = if m.attachment_ids.is_empty() {
            // A redelivery or a first message comes back for the general path.
            let sync = move |c: &rusqlite::Connection| -> Result<Result<Received, InboundMessage>> {
                Ok(ingest::receive_message(c, ws, &m, now)?.ok_or(m))
            };
            match self.write_sync(sync).await? {
                Ok(received) => return Ok(received),
                Err(m) => m,
            }
        } else {
            m
        };
        self.write(move |c| Box::pin(async move { ops::receive_message(c, ws, &m, now).await })).await
    }
}

/// The point reads on hot paths, on the caller's thread (`sqlite_reads.rs`
/// says why); PostgreSQL's are in `postgres.rs`.
impl SqliteStore {
    pub async fn webhook_inbox(&self, channel: Channel, id: InboxId) -> Result<Option<Inbox>> {
        self.direct.run(|c| direct::webhook_inbox(c, channel, id))
    }
    pub async fn get_inbox(&self, ws: WorkspaceId, id: InboxId) -> Result<Option<Inbox>> {
        self.direct.run(|c| direct::get_inbox(c, ws, id))
    }
    pub async fn identity_contact(&self, ws: WorkspaceId, inbox: InboxId, external_id: &str) -> Result<Option<Contact>> {
        self.direct.run(|c| direct::identity_contact(c, ws, inbox, external_id))
    }
    pub async fn dedup_key_seen(&self, ws: WorkspaceId, key: &str) -> Result<bool> {
        self.direct.run(|c| direct::dedup_key_seen(c, ws, key))
    }
    pub async fn effective_business_hours(&self, ws: WorkspaceId, team: Option<TeamId>) -> Result<Option<String>> {
        self.direct.run(|c| direct::effective_business_hours(c, ws, team))
    }
    pub async fn rules_for_trigger(&self, ws: WorkspaceId, trigger: automation::Trigger) -> Result<Vec<automation::AutomationRule>> {
        self.direct.run(|c| direct::rules_for_trigger(c, ws, trigger))
    }
}

/// The writer's rusqlite connection: the same file and settings as the sqlx
/// write connection (WAL is the file's, set by the pool).
fn open_direct(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let c = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

async fn run_writer(pool: SqlitePool, path: PathBuf, mut rx: mpsc::Receiver<Msg>, max_batch: usize) {
    // Opened at the first sync job, again after a failed sync run.
    let mut direct: Option<rusqlite::Connection> = None;
    let mut closing = None;
    while closing.is_none() {
        let first = match rx.recv().await {
            Some(Msg::Job(job)) => job,
            Some(Msg::Close(done)) => {
                closing = Some(done);
                break;
            }
            None => break,
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Close(done)) => {
                    closing = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        // Runs of one kind, in queue order.
        let mut jobs = batch.into_iter().peekable();
        while let Some(job) = jobs.next() {
            match job {
                Job::Sync(job) => {
                    let mut run = vec![job];
                    while let Some(Job::Sync(_)) = jobs.peek() {
                        if let Some(Job::Sync(job)) = jobs.next() {
                            run.push(job);
                        }
                    }
                    run_sync(&mut direct, &path, run);
                }
                Job::Async(job) => {
                    let mut run = vec![job];
                    while let Some(Job::Async(_)) = jobs.peek() {
                        if let Some(Job::Async(job)) = jobs.next() {
                            run.push(job);
                        }
                    }
                    run_async(&pool, run).await;
                }
            }
        }
    }
    drop(direct);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn answer(completions: Vec<Completion>, result: Result<(), String>) {
    if let Err(e) = &result {
        tracing::error!(error = %e, "sqlite write batch failed");
    }
    for done in completions {
        done(result.clone());
    }
}

/// Sync jobs in one rusqlite transaction, on the writer task.
fn run_sync(direct: &mut Option<rusqlite::Connection>, path: &Path, run: Vec<SyncJob>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(run.len());
    let exec = |c: &rusqlite::Connection, sql: &str| c.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop);
    let lone = run.len() == 1;
    let commit = || -> rusqlite::Result<()> {
        if direct.is_none() {
            *direct = Some(open_direct(path)?);
        }
        let Some(c) = direct.as_ref() else { return Ok(()) };
        exec(c, "BEGIN IMMEDIATE")?;
        let outcome = (|| {
            for job in run {
                // A lone job needs no savepoint: the transaction is its own.
                if lone {
                    let (ok, done) = job(c);
                    completions.push(done);
                    return exec(c, if ok { "COMMIT" } else { "ROLLBACK" });
                }
                exec(c, "SAVEPOINT sb_job")?;
                let (ok, done) = job(c);
                completions.push(done);
                if !ok {
                    exec(c, "ROLLBACK TO sb_job")?;
                }
                exec(c, "RELEASE sb_job")?;
            }
            exec(c, "COMMIT")
        })();
        if outcome.is_err() && !c.is_autocommit() {
            let _ = exec(c, "ROLLBACK");
        }
        outcome
    };
    let result = commit().map_err(|e| format!("sqlite: {e}"));
    if result.is_err() {
        // Start from a fresh connection next time.
        *direct = None;
    }
    answer(completions, result);
}

/// Async jobs in one sqlx transaction.
async fn run_async(pool: &SqlitePool, mut run: Vec<AsyncJob>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(run.len());
    let commit = async {
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // A lone job needs no savepoint: on failure the whole transaction
        // is its own to roll back (two round trips fewer when idle-ish).
        if run.len() == 1 && let Some(job) = run.pop() {
            let (ok, done) = job(&mut tx).await;
            completions.push(done);
            return if ok { tx.commit().await } else { tx.rollback().await };
        }
        for job in run {
            let mut savepoint = tx.begin().await?;
            let (ok, done) = job(&mut savepoint).await;
            if ok {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            completions.push(done);
        }
        tx.commit().await
    }
    .await;
    answer(completions, commit.map_err(|e| e.to_string()));
}

include!("api.rs");
