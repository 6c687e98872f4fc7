//! Reading a row's columns by name, the same way from sqlx's SQLite and
//! PostgreSQL rows and from rusqlite's: the row mappers that both the sqlx
//! queries (`ops.rs`) and SQLite's synchronous reads (`sqlite_reads.rs`)
//! use are written once against this trait.

use crate::{Result, StoreError};

pub(crate) trait Cols {
    fn i64(&self, col: &str) -> Result<i64>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn flag(&self, col: &str) -> Result<bool>;
}

macro_rules! sqlx_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn i64(&self, col: &str) -> Result<i64> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn text(&self, col: &str) -> Result<String> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn flag(&self, col: &str) -> Result<bool> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
        }
    };
}

sqlx_cols!(sqlx::sqlite::SqliteRow);
sqlx_cols!(sqlx::postgres::PgRow);

impl Cols for rusqlite::Row<'_> {
    fn i64(&self, col: &str) -> Result<i64> {
        self.get(col).map_err(rusqlite_error)
    }
    fn text(&self, col: &str) -> Result<String> {
        self.get(col).map_err(rusqlite_error)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col).map_err(rusqlite_error)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        self.get(col).map_err(rusqlite_error)
    }
}

/// A rusqlite failure as a store error, classified like `From<sqlx::Error>`
/// (unique → conflict, foreign key → invalid, no row → not found).
pub(crate) fn rusqlite_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::{
        ErrorCode, SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CONSTRAINT_PRIMARYKEY,
        SQLITE_CONSTRAINT_UNIQUE,
    };
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            match f.extended_code {
                SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::conflict(
                    "already_exists",
                    "a record with these values already exists",
                ),
                SQLITE_CONSTRAINT_FOREIGNKEY => {
                    StoreError::Invalid("a referenced record does not exist".into())
                }
                _ => StoreError::Database(sqlx::Error::Protocol(format!("sqlite: {e}"))),
            }
        }
        _ => StoreError::Database(sqlx::Error::Protocol(format!("sqlite: {e}"))),
    }
}
