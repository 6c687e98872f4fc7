//! Fresh databases for tests: a SQLite file in a new temporary directory, or
//! a new PostgreSQL database on the test server. Both are removed when the
//! returned guard drops.

use crate::{Result, Store};
use std::path::PathBuf;

/// The PostgreSQL server tests use; override with `SWITCHBOARD_TEST_PG`.
pub fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG").unwrap_or_else(|_| "postgres://127.0.0.1:5432/test".to_owned())
}

fn unique_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{}_{n:016x}", std::process::id())
}

/// A temporary directory, deleted on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", unique_suffix()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PostgreSQL database created for one test, dropped on drop.
pub struct PgTestDb {
    pub url: String,
    name: String,
}

impl PgTestDb {
    pub async fn create() -> Result<PgTestDb> {
        use sqlx::Connection;
        let admin = pg_admin_url();
        let name = format!("sbtest_{}", unique_suffix());
        let mut conn = sqlx::PgConnection::connect(&admin).await.map_err(crate::StoreError::Database)?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(crate::StoreError::Database)?;
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
        Ok(PgTestDb { url: format!("{base}/{name}"), name })
    }

    /// Whether the test server answers at all.
    pub async fn available() -> bool {
        use sqlx::Connection;
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(3), sqlx::PgConnection::connect(&pg_admin_url())).await,
            Ok(Ok(_))
        )
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Keeps whatever backs a test store alive for the test's duration.
pub enum TestDbGuard {
    Sqlite(TempDir),
    Postgres(PgTestDb),
}

pub async fn sqlite_store() -> Result<(Store, TestDbGuard)> {
    let dir = TempDir::new("switchboard-test").map_err(|e| crate::StoreError::Config(e.to_string()))?;
    let store = Store::open(None, dir.path()).await?;
    Ok((store, TestDbGuard::Sqlite(dir)))
}

/// `Ok(None)` when PostgreSQL is unreachable and we are not in CI; in CI
/// (`CI` set) an unreachable server is an error, so the suite cannot
/// silently skip its PostgreSQL half.
pub async fn postgres_store() -> Result<Option<(Store, TestDbGuard)>> {
    if !PgTestDb::available().await {
        if std::env::var_os("CI").is_some() {
            return Err(crate::StoreError::Config(format!("PostgreSQL at {} is unreachable in CI", pg_admin_url())));
        }
        eprintln!("PostgreSQL unreachable at {}: skipping", pg_admin_url());
        return Ok(None);
    }
    let db = PgTestDb::create().await?;
    let store = Store::open(Some(&db.url), std::path::Path::new(".")).await?;
    Ok(Some((store, TestDbGuard::Postgres(db))))
}
