//! SQLite backend: WAL, one writer task that batches commits, a read pool.
//!
//! Every write is a job sent to the writer. The writer takes the first job
//! and whatever else is already queued (up to `MAX_BATCH`), runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint (a failing
//! job rolls back alone), commits once and only then answers every caller.
//! So an acknowledged write is always committed, and under load many writes
//! share one commit.

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use std::path::Path;
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

/// Most jobs committed together. Bounded so one commit never waits on an
/// unbounded queue and a failure's blast radius (a commit error fails the
/// whole batch) stays small.
pub const MAX_BATCH: usize = 64;
const READ_CONNECTIONS: u32 = 4;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, (bool, Completion)> + Send>;

#[derive(Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    writes: SqlitePool,
    jobs: mpsc::Sender<Job>,
}

type Backend = SqliteStore;

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
        tokio::spawn(run_writer(writes.clone(), rx, max_batch.max(1)));
        Ok(SqliteStore { reads, writes, jobs })
    }

    pub async fn close(&self) {
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
        let job: Job = Box::new(move |c: &mut Conn| {
            Box::pin(async move {
                let outcome = f(c).await;
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
            })
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run_writer(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&pool, batch).await;
    }
}

async fn run_batch(pool: &SqlitePool, mut batch: Vec<Job>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let commit = async {
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // A lone job needs no savepoint: on failure the whole transaction
        // is its own to roll back (two round trips fewer when idle-ish).
        if batch.len() == 1 && let Some(job) = batch.pop() {
            let (ok, done) = job(&mut tx).await;
            completions.push(done);
            return if ok { tx.commit().await } else { tx.rollback().await };
        }
        for job in batch {
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
    let result = commit.map_err(|e| e.to_string());
    if let Err(e) = &result {
        tracing::error!(error = %e, "sqlite write batch failed");
    }
    for done in completions {
        done(result.clone());
    }
}

include!("api.rs");
