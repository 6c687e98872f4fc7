use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// No such row in this workspace (also: it exists, in another one).
    #[error("not found")]
    NotFound,
    /// A uniqueness or state rule refused the write; `code` is stable.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The write referenced something invalid (e.g. an assignee who is not
    /// a member of the workspace).
    #[error("{0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// The writer task is gone (shutdown).
    #[error("store is shut down")]
    Closed,
}

impl StoreError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict { code, message: message.into() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return StoreError::conflict("already_exists", "a record with these values already exists");
            }
            if db.is_foreign_key_violation() {
                return StoreError::Invalid("a referenced record does not exist".into());
            }
        }
        if matches!(e, sqlx::Error::RowNotFound) {
            return StoreError::NotFound;
        }
        StoreError::Database(e)
    }
}
