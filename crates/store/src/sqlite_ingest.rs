//! The inbound-message write (`receive_message`) for SQLite, as synchronous
//! rusqlite code with cached prepared statements. Its twin is
//! `ops::receive_message` in `ops.rs` (the one PostgreSQL runs, and SQLite
//! in the cases below); keep the two in step.
//!
//! Why a second copy: speed, measured. sqlx-sqlite runs every statement on
//! the connection's worker thread, so the ~12 statements of one message were
//! ~24 cross-thread hand-offs in series on the single writer, the ingest
//! ceiling. Here the writer task runs the whole write itself, on a rusqlite
//! connection of its own (see `sqlite.rs`, sync jobs): 7–8 cached statements
//! and no hand-off. Measured (docs/BENCHMARKS.md, "End to end"): max ingest
//! ×1.8–2.4 end to end (median 1,557 → 2,910 msg/s on 2 shared cores), and
//! 1,591–2,600 → 10,128 msg/s for the store alone (`store-writes`).
//!
//! What it covers is the hot path only: a new message without files in the
//! contact's open conversation. It answers `None` — "run the general path",
//! before writing anything — for a redelivery (the dedup key is stored) and
//! when the message opens a conversation (routing on arrival and the rest
//! stay in ops.rs alone); the caller never sends messages with files here.
//! The store suite (`store_suite/ingest.rs`) checks each branch on both
//! databases, and that what this path answers equals what is read back.

use rusqlite::{OptionalExtension, params};
use switchboard_core::events::{self, Event, EventPayload};
use switchboard_core::*;

use crate::model::*;
use crate::{Result, StoreError};

use crate::cols::rusqlite_error as db;

/// Same error as `ops::corrupt`.
fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("unexpected value {value:?} in column {column}").into()))
}

fn parse<T>(column: &str, value: String, f: impl Fn(&str) -> Option<T>) -> Result<T> {
    f(&value).ok_or_else(|| corrupt(column, &value))
}

fn opt_ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

/// `ops::receive_message` for a file-less message to an open conversation;
/// `None`, having written nothing, when the dedup key is already stored or
/// no conversation is open (the caller then runs `ops::receive_message`).
/// Runs inside the writer's transaction.
pub(crate) fn receive_message(c: &rusqlite::Connection, ws: WorkspaceId, m: &InboundMessage, now: Timestamp) -> Result<Option<Received>> {
    debug_assert!(m.attachment_ids.is_empty(), "messages with files take ops::receive_message");
    if let Some(key) = &m.dedup_key {
        let seen = c
            .prepare_cached("SELECT 1 FROM messages WHERE workspace_id = ?1 AND dedup_key = ?2")
            .and_then(|mut s| s.query_row(params![ws.0, key], |_| Ok(())).optional())
            .map_err(db)?;
        if seen.is_some() {
            return Ok(None);
        }
    }
    let channel: Option<String> = c
        .prepare_cached("SELECT channel FROM inboxes WHERE workspace_id = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![ws.0, m.inbox_id.0], |r| r.get(0)).optional())
        .map_err(db)?;
    let channel = parse("channel", channel.ok_or(StoreError::NotFound)?, Channel::parse)?;
    let contact = c
        .prepare_cached(
            "SELECT id, name, email, phone, custom_fields, created_at, updated_at FROM contacts
              WHERE workspace_id = ?1 AND id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![ws.0, m.contact_id.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()
        })
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
    let (contact_id, name, email, phone, fields, created_at, updated_at) = contact;
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fields).map_err(|_| corrupt("custom_fields", &fields))?;
    let contact = Contact {
        id: ContactId(contact_id),
        name,
        email,
        phone,
        custom_fields: fields.into_iter().collect(),
        created_at: Timestamp(created_at),
        updated_at: Timestamp(updated_at),
    };

    // The contact's latest conversation in the inbox unless resolved
    // (`ops::conversation_to_write`); opening one is the general path's.
    let latest: Option<(i64, String)> = c
        .prepare_cached(
            "SELECT id, status FROM conversations WHERE workspace_id = ?1 AND contact_id = ?2 AND inbox_id = ?3
              ORDER BY id DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![ws.0, m.contact_id.0, m.inbox_id.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db)?;
    let (conversation_id, before) = match latest {
        Some((id, status)) if status != ConversationStatus::Resolved.as_str() => (id, parse("status", status, ConversationStatus::parse)?),
        _ => return Ok(None),
    };

    let sender = Sender {
        kind: SenderType::Contact,
        id: Some(contact.id.0),
        name: contact.name.clone(),
    };
    let message_id: Option<i64> = c
        .prepare_cached(
            "INSERT INTO messages (workspace_id, conversation_id, kind, content, sender_type, sender_id, sender_name,
                                   status, echo_id, dedup_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (workspace_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
             RETURNING id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    ws.0,
                    conversation_id,
                    MessageKind::In.as_str(),
                    m.content,
                    sender.kind.as_str(),
                    sender.id,
                    sender.name,
                    DeliveryStatus::Delivered.as_str(),
                    m.echo_id,
                    m.dedup_key,
                    now.0
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(db)?;
    // Unreachable with one writer and the check above; kept like ops.rs.
    let message_id = message_id.ok_or_else(|| StoreError::conflict("duplicate_race", "the same message was stored concurrently"))?;
    // What `get_message_without_files` would read back: the row just written.
    let message = Message {
        id: MessageId(message_id),
        conversation_id: ConversationId(conversation_id),
        kind: MessageKind::In,
        content: m.content.clone(),
        sender,
        status: DeliveryStatus::Delivered,
        failure_reason: None,
        echo_id: m.echo_id.clone(),
        attachments: Vec::new(),
        created_at: now,
    };

    // The same update as ops.rs (a snoozed conversation wakes up), reading
    // the conversation back in the same statement.
    let conversation = c
        .prepare_cached(
            "UPDATE conversations
                SET last_message_id = ?1, last_activity_at = ?2, waiting_since = COALESCE(waiting_since, ?2),
                    status = CASE WHEN status = 'snoozed' THEN 'open' ELSE status END,
                    snoozed_until = CASE WHEN status = 'snoozed' THEN NULL ELSE snoozed_until END
              WHERE workspace_id = ?3 AND id = ?4
              RETURNING status, priority, assignee_id, team_id, last_activity_at, created_at,
                        waiting_since, snoozed_until, first_reply_at, resolved_at",
        )
        .and_then(|mut s| {
            s.query_row(params![message_id, now.0, ws.0, conversation_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    (
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<i64>>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                    ),
                ))
            })
        })
        .map_err(db)?;
    let (status, priority, assignee, team, last_activity_at, created_at, (waiting, snoozed, first_reply, resolved)) = conversation;
    let tags = c
        .prepare_cached(
            "SELECT t.name FROM conversation_tags x JOIN tags t ON t.id = x.tag_id WHERE x.conversation_id = ?1 ORDER BY t.name",
        )
        .and_then(|mut s| s.query_map(params![conversation_id], |r| r.get::<_, String>(0))?.collect())
        .map_err(db)?;
    let conversation = Conversation {
        id: ConversationId(conversation_id),
        inbox_id: m.inbox_id,
        channel,
        contact,
        status: parse("status", status, ConversationStatus::parse)?,
        priority: parse("priority", priority, Priority::parse)?,
        assignee_id: assignee.map(UserId),
        team_id: team.map(TeamId),
        tags,
        // The conversation's last message is now this one (no files).
        last_message: Some(message.clone()),
        last_activity_at: Timestamp(last_activity_at),
        created_at: Timestamp(created_at),
        waiting_since: opt_ts(waiting),
        snoozed_until: opt_ts(snoozed),
        first_reply_at: opt_ts(first_reply),
        resolved_at: opt_ts(resolved),
    };

    let mut events = vec![
        Event::conversation(ws, &conversation, EventPayload::ConversationUpdated(Box::new(conversation.clone()))),
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message.clone())),
    ];
    // A snoozed conversation woken by the customer (`ops::status_change`).
    if before != conversation.status {
        let change = events::StatusChange {
            conversation_id: conversation.id,
            from: before,
            to: conversation.status,
        };
        events.push(Event::conversation(ws, &conversation, EventPayload::StatusChanged(change)));
    }
    record(c, &events, now)?;
    Ok(Some(Received {
        message,
        conversation,
        created: true,
        events,
    }))
}

/// `ops::record`: a write's events in one statement (2 or 3 rows here).
fn record(c: &rusqlite::Connection, events: &[Event], now: Timestamp) -> Result<()> {
    const ONE: &str = "INSERT INTO events (workspace_id, kind, payload, created_at) VALUES (?, ?, ?, ?)";
    const TWO: &str = "INSERT INTO events (workspace_id, kind, payload, created_at) VALUES (?, ?, ?, ?), (?, ?, ?, ?)";
    const THREE: &str = "INSERT INTO events (workspace_id, kind, payload, created_at) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)";
    let sql = match events.len() {
        0 => return Ok(()),
        1 => ONE,
        2 => TWO,
        3 => THREE,
        n => return Err(StoreError::Invalid(format!("{n} events for one inbound message"))),
    };
    let mut s = c.prepare_cached(sql).map_err(db)?;
    let mut i = 1;
    for e in events {
        let payload = serde_json::to_string(e).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))?;
        s.raw_bind_parameter(i, e.workspace_id.0).map_err(db)?;
        s.raw_bind_parameter(i + 1, e.payload.kind()).map_err(db)?;
        s.raw_bind_parameter(i + 2, payload).map_err(db)?;
        s.raw_bind_parameter(i + 3, now.0).map_err(db)?;
        i += 4;
    }
    s.raw_execute().map_err(db)?;
    Ok(())
}
