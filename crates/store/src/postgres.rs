//! PostgreSQL backend: a connection pool; each write is its own transaction.

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

use crate::StoreError;

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;

#[allow(dead_code)]
mod ops {
    type Db = sqlx::Postgres;
    type Conn = sqlx::PgConnection;
    include!("ops.rs");
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

type Backend = PgStore;

impl PgStore {
    pub async fn connect(url: &str) -> crate::Result<PgStore> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Database)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        // The migrator holds an advisory lock: nodes starting together
        // apply each migration once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn read(&self) -> crate::Result<sqlx::pool::PoolConnection<Db>> {
        self.pool.acquire().await.map_err(StoreError::Database)
    }

    pub(crate) async fn write<T, F>(&self, f: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, crate::Result<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::Database)?;
        match f(&mut tx).await {
            Ok(v) => {
                tx.commit().await.map_err(StoreError::Database)?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}

/// The point reads on hot paths (a webhook's inbox and sender, the hours
/// and rules after each message). SQLite answers these synchronously, see
/// `sqlite_reads.rs`; here they are ordinary pooled reads.
impl PgStore {
    pub async fn webhook_inbox(&self, channel: Channel, id: InboxId) -> Result<Option<Inbox>> {
        ops::webhook_inbox(&mut *self.read().await?, channel, id).await
    }
    pub async fn get_inbox(&self, ws: WorkspaceId, id: InboxId) -> Result<Option<Inbox>> {
        ops::get_inbox(&mut *self.read().await?, ws, id).await
    }
    pub async fn identity_contact(&self, ws: WorkspaceId, inbox: InboxId, external_id: &str) -> Result<Option<Contact>> {
        ops::identity_contact(&mut *self.read().await?, ws, inbox, external_id).await
    }
    pub async fn dedup_key_seen(&self, ws: WorkspaceId, key: &str) -> Result<bool> {
        ops::dedup_key_seen(&mut *self.read().await?, ws, key).await
    }
    pub async fn effective_business_hours(&self, ws: WorkspaceId, team: Option<TeamId>) -> Result<Option<String>> {
        ops::effective_business_hours(&mut *self.read().await?, ws, team).await
    }
    pub async fn rules_for_trigger(&self, ws: WorkspaceId, trigger: automation::Trigger) -> Result<Vec<automation::AutomationRule>> {
        ops::rules_for_trigger(&mut *self.read().await?, ws, trigger).await
    }
}

impl PgStore {
    /// `receive_message`'s write (SQLite has its own, see sqlite.rs).
    async fn write_received(&self, ws: WorkspaceId, m: InboundMessage, now: Timestamp) -> Result<Received> {
        self.write(move |c| Box::pin(async move { ops::receive_message(c, ws, &m, now).await })).await
    }
}

include!("api.rs");
