//! Business hours and SLA automation around the store (SPEC §3.4): the away
//! message or greeting after a customer's message, and the periodic scanner
//! that records SLA breaches and resolves idle conversations.
//!
//! Decisions are core's (`business_hours`, `sla`); this module loads their
//! inputs, calls them and publishes what the store committed. Every write
//! here is decided in the store (a marker row, a unique breach key, a
//! conditional update), so several nodes may run all of it at once and each
//! reply, breach and resolution still happens exactly once.

use crate::state::AppState;
use std::collections::HashMap;
use std::time::Duration;
use switchboard_core::business_hours::{self, BusinessHours};
use switchboard_core::events::EventPayload;
use switchboard_core::sla::{self, AutomationSettings, SlaKind};
use switchboard_core::*;
use switchboard_store::{AutoReply, OutboundMessage, Received, StoreError};

/// Rows one scan handles per workspace and kind; the rest wait a tick.
const SCAN_PAGE: i64 = 200;
const WORKSPACE_PAGE: i64 = 100;

fn system_message(kind: MessageKind, content: String) -> OutboundMessage {
    OutboundMessage {
        kind,
        content,
        sender: Sender { kind: SenderType::System, id: None, name: None },
        echo_id: None,
        // Web chat has no provider in between; provider channels will queue
        // through the outbox like agents' replies.
        status: DeliveryStatus::Sent,
        attachment_ids: Vec::new(),
    }
}

/// A stored document, or `None` when there is none or it no longer parses
/// (logged: a bad row must not stop automation for everyone else).
fn parse_doc<T: serde::de::DeserializeOwned>(what: &str, ws: WorkspaceId, text: Option<String>) -> Option<T> {
    match serde_json::from_str(&text?) {
        Ok(doc) => Some(doc),
        Err(e) => {
            tracing::warn!(workspace = ws.0, error = %e, "stored {what} do not parse; ignored");
            None
        }
    }
}

/// The workspace's automation settings (defaults: nothing automatic).
pub async fn load_settings(st: &AppState, ws: WorkspaceId) -> Result<AutomationSettings, StoreError> {
    let text = st.store.get_automation_settings(ws).await?;
    Ok(parse_doc("automation settings", ws, text).unwrap_or_default())
}

/// The hours in effect for a conversation of `team`: the team's own, else
/// the workspace's; `None` when no admin ever set any, and then automation
/// treats the workspace as always open (no away messages out of the box).
pub async fn effective_hours(st: &AppState, ws: WorkspaceId, team: Option<TeamId>) -> Result<Option<BusinessHours>, StoreError> {
    Ok(checked_hours(ws, st.store.effective_business_hours(ws, team).await?))
}

/// A stored hours document that still passes today's checks. One saved
/// before zone names were verified may name a zone that does not exist; it
/// would read as "always closed" and send away messages around the clock,
/// so it counts as no hours instead.
fn checked_hours(ws: WorkspaceId, text: Option<String>) -> Option<BusinessHours> {
    let hours: BusinessHours = parse_doc("business hours", ws, text)?;
    match hours.check() {
        Ok(()) => Some(hours),
        Err(e) => {
            tracing::warn!(workspace = ws.0, error = %e, "stored business hours are invalid; ignored");
            None
        }
    }
}

/// After a customer's message was stored and published. Failures are only
/// logged: the customer's message is already safe.
pub async fn after_inbound(st: &AppState, ws: WorkspaceId, received: &Received) {
    if let Err(e) = auto_reply(st, ws, received).await {
        tracing::warn!(workspace = ws.0, conversation = received.conversation.id.0, error = %e, "automatic reply failed");
    }
}

/// Outside the conversation's hours: the away message, once per
/// conversation. Inside them, on a new conversation: the inbox's
/// `greeting_message`, if it has one.
async fn auto_reply(st: &AppState, ws: WorkspaceId, received: &Received) -> Result<(), StoreError> {
    let conv = &received.conversation;
    if !received.created || conv.status == ConversationStatus::Resolved {
        return Ok(());
    }
    let now = st.now();
    let is_new = received.events.iter().any(|e| matches!(e.payload, EventPayload::ConversationCreated(_)));
    let reply = match effective_hours(st, ws, conv.team_id).await? {
        Some(h) if !business_hours::is_open(&h, now) => Some((AutoReply::Away, business_hours::away_reply(&h, now))),
        _ if is_new => st
            .store
            .get_inbox(ws, conv.inbox_id)
            .await?
            .and_then(|i| i.config_str("greeting_message").map(str::to_owned))
            .map(|g| (AutoReply::Greeting, g)),
        _ => None,
    };
    let Some((kind, text)) = reply else { return Ok(()) };
    if let Some(written) = st.store.send_auto_reply(ws, conv.id, kind, system_message(MessageKind::Out, text), now).await? {
        st.publish(written.events);
    }
    Ok(())
}

/// Runs `scan` every `scan_interval_ms` until shutdown.
pub fn spawn_scanner(st: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(st.settings.scan_interval_ms));
        // A slow scan must not be followed by a burst of catch-up scans.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping = st.shutdown.clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.changed() => break,
            }
            if let Err(e) = scan(&st).await {
                tracing::warn!(error = %e, "automation scan failed");
            }
        }
    });
}

/// One pass over every workspace that has automation settings.
pub async fn scan(st: &AppState) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = st.store.automation_settings_page(after, WORKSPACE_PAGE).await?;
        for (ws, text) in &page {
            let Some(settings) = parse_doc::<AutomationSettings>("automation settings", *ws, Some(text.clone())) else { continue };
            if let Err(e) = scan_workspace(st, *ws, &settings).await {
                tracing::warn!(workspace = ws.0, error = %e, "automation scan of a workspace failed");
            }
        }
        match page.last() {
            Some((last, _)) if page.len() as i64 == WORKSPACE_PAGE => after = Some(*last),
            _ => return Ok(()),
        }
    }
}

/// Every hours document of one workspace, for SLA clocks that count only
/// business time.
struct WorkspaceHours {
    workspace: Option<BusinessHours>,
    teams: HashMap<TeamId, BusinessHours>,
}

impl WorkspaceHours {
    async fn load(st: &AppState, ws: WorkspaceId) -> Result<WorkspaceHours, StoreError> {
        let workspace = checked_hours(ws, st.store.get_business_hours(ws).await?);
        let teams = st
            .store
            .list_team_business_hours(ws)
            .await?
            .into_iter()
            .filter_map(|(team, text)| Some((team, checked_hours(ws, Some(text))?)))
            .collect();
        Ok(WorkspaceHours { workspace, teams })
    }

    fn of(&self, team: Option<TeamId>) -> Option<&BusinessHours> {
        team.and_then(|t| self.teams.get(&t)).or(self.workspace.as_ref())
    }
}

async fn scan_workspace(st: &AppState, ws: WorkspaceId, settings: &AutomationSettings) -> Result<(), StoreError> {
    let now = st.now();
    let policy = &settings.sla;
    if !policy.is_empty() {
        let hours = if policy.business_hours_only { Some(WorkspaceHours::load(st, ws).await?) } else { None };
        for kind in SlaKind::ALL {
            let Some(limit) = policy.limit_millis(kind) else { continue };
            // Business time never runs faster than wall time, so a clock
            // cannot be due before `limit` of wall time has passed.
            for conv in st.store.sla_candidates(ws, kind, now.plus_millis(-limit), SCAN_PAGE).await? {
                let conv_hours = hours.as_ref().and_then(|h| h.of(conv.team_id));
                // The query left out clocks already recorded for this kind.
                for due in sla::due_breaches(policy, conv_hours, &conv, &[], now).into_iter().filter(|b| b.kind == kind) {
                    if let Some(written) = st.store.record_sla_breach(ws, due, now).await? {
                        st.publish(written.events);
                    }
                }
            }
        }
    }
    if let (Some(after_ms), Some(after_hours)) = (settings.auto_resolve_after_millis(), settings.auto_resolve_after_hours) {
        let idle_before = now.plus_millis(-after_ms);
        for conv in st.store.idle_conversations(ws, idle_before, SCAN_PAGE).await? {
            if !sla::should_auto_resolve(conv.last_activity_at, conv.status, after_ms, now) {
                continue;
            }
            let line = format!("Resolved automatically after {after_hours} h without activity");
            if let Some(written) = st.store.auto_resolve(ws, conv.id, idle_before, system_message(MessageKind::System, line), now).await? {
                st.publish(written.events);
            }
        }
    }
    Ok(())
}
