//! SQLite's point reads on the hot paths, answered synchronously on the
//! caller's thread by rusqlite connections with cached prepared statements.
//!
//! Why: sqlx-sqlite runs every statement on the connection's own worker
//! thread, so a read costs two cross-thread wake-ups (there and back) plus
//! the pool's. Each inbound message made 3–4 such reads (the webhook's inbox,
//! the known sender, the business hours, the automation rules), and a
//! profile of max ingest had about half of all samples in the kernel's
//! scheduler (docs/BENCHMARKS.md). One of these lookups by key takes a few
//! microseconds in SQLite itself, which is cheaper than the wake-ups, so it
//! runs where it is asked for; in WAL mode a reader never waits for the
//! writer.
//!
//! The SQL and the row mappers are `ops.rs`'s (`$n` parameters bind by
//! position in rusqlite as in sqlx; mappers read through `cols::Cols`), so
//! what these answer is what the sqlx reads answer; PostgreSQL runs those
//! (`postgres.rs`). The store suite runs every one of them on both.

use rusqlite::{OpenFlags, params};
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use switchboard_core::automation::{AutomationRule, Trigger};
use switchboard_core::*;

use super::ops;
use crate::Result;
use crate::cols::rusqlite_error as db;

/// Idle connections kept for reuse; more are opened when more threads read
/// at once (and closed after).
const KEEP_IDLE: usize = 4;

/// A small pool of read-only rusqlite connections to the store's file.
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl DirectReads {
    pub(crate) fn new(path: PathBuf) -> DirectReads {
        DirectReads {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(Duration::from_secs(10))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    /// Runs `f` on an idle connection (or a new one), then keeps it.
    pub(crate) fn run<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let c = match taken {
            Some(c) => c,
            None => self.open().map_err(db)?,
        };
        let out = f(&c);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(c);
        }
        out
    }

    /// Closes the idle connections (the store is closing).
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

fn one<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&rusqlite::Row) -> Result<T>,
) -> Result<Option<T>> {
    let mut statement = c.prepare_cached(sql).map_err(db)?;
    let mut rows = statement.query(params).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

/// `ops::webhook_inbox`.
pub(crate) fn webhook_inbox(
    c: &rusqlite::Connection,
    channel: Channel,
    id: InboxId,
) -> Result<Option<Inbox>> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{} WHERE id = $1 AND channel = $2", ops::INBOX_SELECT));
    one(c, &SQL, params![id.0, channel.as_str()], |r| {
        ops::inbox_row(r)
    })
}

/// `ops::get_inbox`.
pub(crate) fn get_inbox(
    c: &rusqlite::Connection,
    ws: WorkspaceId,
    id: InboxId,
) -> Result<Option<Inbox>> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{} WHERE workspace_id = $1 AND id = $2", ops::INBOX_SELECT));
    one(c, &SQL, params![ws.0, id.0], |r| ops::inbox_row(r))
}

/// `ops::identity_contact`, in one statement.
pub(crate) fn identity_contact(
    c: &rusqlite::Connection,
    ws: WorkspaceId,
    inbox: InboxId,
    external_id: &str,
) -> Result<Option<Contact>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} WHERE workspace_id = $1 AND id = (SELECT contact_id FROM contact_identities
               WHERE workspace_id = $1 AND inbox_id = $2 AND external_id = $3)",
            ops::CONTACT_SELECT
        )
    });
    one(c, &SQL, params![ws.0, inbox.0, external_id], |r| {
        ops::contact_row(r)
    })
}

/// `ops::dedup_key_seen`.
pub(crate) fn dedup_key_seen(c: &rusqlite::Connection, ws: WorkspaceId, key: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM messages WHERE workspace_id = $1 AND dedup_key = $2";
    Ok(one(c, sql, params![ws.0, key], |_| Ok(()))?.is_some())
}

/// `ops::effective_business_hours`, in one statement: the team's own hours,
/// else the workspace's.
pub(crate) fn effective_business_hours(
    c: &rusqlite::Connection,
    ws: WorkspaceId,
    team: Option<TeamId>,
) -> Result<Option<String>> {
    let sql = "SELECT COALESCE(
                 (SELECT config FROM team_business_hours WHERE workspace_id = $1 AND team_id = $2),
                 (SELECT config FROM business_hours WHERE workspace_id = $1))";
    let found = one(c, sql, params![ws.0, team.map(|t| t.0)], |r| r.get::<_, Option<String>>(0).map_err(db))?;
    Ok(found.flatten())
}

/// `ops::rules_for_trigger`.
pub(crate) fn rules_for_trigger(
    c: &rusqlite::Connection,
    ws: WorkspaceId,
    trigger: Trigger,
) -> Result<Vec<AutomationRule>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM automation_rules WHERE workspace_id = $1 AND trigger_kind = $2 AND enabled = $3 ORDER BY position, id",
            ops::RULE_COLUMNS
        )
    });
    let mut statement = c.prepare_cached(&SQL).map_err(db)?;
    let mut rows = statement
        .query(params![ws.0, trigger.as_str(), true])
        .map_err(db)?;
    let mut rules = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        rules.push(ops::rule_row(row)?);
    }
    Ok(rules)
}
