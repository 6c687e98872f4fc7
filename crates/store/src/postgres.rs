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

impl PgStore {
    /// `receive_message`'s write (SQLite has its own, see sqlite.rs).
    async fn write_received(&self, ws: WorkspaceId, m: InboundMessage, now: Timestamp) -> Result<Received> {
        self.write(move |c| Box::pin(async move { ops::receive_message(c, ws, &m, now).await })).await
    }
}

include!("api.rs");
