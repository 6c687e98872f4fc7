//! The automation runner: hears every committed event of this node, turns
//! it into a rule trigger, and carries out the actions of the workspace's
//! rules that match (decided by `core::automation::evaluate`), through the
//! same store methods the API uses. Every rule that matched leaves a run
//! row, whatever the outcome.
//!
//! Scale-out: the runner listens to `Bus::subscribe_own`, so the node that
//! committed a write is the only one that runs rules for it.
//!
//! Loop guard: a rule's own actions commit events too (an added tag, a
//! resolved status), and rules may rightly build on each other ("tag vip" →
//! "vip: priority urgent"). So the runner handles the events its actions
//! committed at once, as a chain, one level deeper than their cause, and
//! stops at `MAX_CHAIN_DEPTH` (the rules that would go deeper are logged as
//! skipped). The same events also come back over the bus, where the runner
//! drops them (it remembers what it published), so a chain can never restart
//! at depth 0 and loop forever. Tags only grow and `resolve` is idempotent,
//! so today's actions settle on their own; the limit is for whatever comes
//! next.

use crate::state::AppState;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::automation::{self, Action, AutomationRule, Facts, RunOutcome, Trigger};
use switchboard_core::events::{Event, EventPayload};
use switchboard_core::*;
use switchboard_store::{ConversationPatch, NewRuleRun, OutboundMessage, StoreError};
use tokio::sync::broadcast::error::RecvError;

/// How many times one event's consequences may trigger further rules.
pub const MAX_CHAIN_DEPTH: u8 = 3;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest run detail kept in the log.
const MAX_DETAIL_CHARS: usize = 2000;
/// Published events remembered to recognise their echo; more than a chain
/// can produce between two reads of the bus.
const MAX_ECHOES: usize = 4096;

/// Starts the runner. It subscribes before returning, so no event published
/// after this call is missed.
pub fn spawn(st: AppState) -> tokio::task::JoinHandle<()> {
    let events = st.bus.subscribe_own();
    let mut shutdown = st.shutdown.clone();
    let http = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        // A receiver must answer itself; following redirects would let a
        // URL that passed validation lead somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Switchboard-Webhook/1")
        .build()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "webhook client with defaults");
            reqwest::Client::new()
        });
    let mut runner = Runner { st, http, echoes: VecDeque::new(), rules: RulesMemo::default() };
    tokio::spawn(async move {
        let mut events = events;
        loop {
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) => {
                        runner.on_event(event).await;
                        // A backlog shares one read of each rule list; with
                        // none left, the next event reads them afresh.
                        if events.is_empty() {
                            runner.rules.clear();
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "automation runner fell behind; rules did not run for the missed events");
                        // What we published may be among the missed ones.
                        runner.echoes.clear();
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = shutdown.changed() => break,
            }
        }
    })
}

/// A trigger and what the event tells beyond the conversation itself.
#[derive(Debug, Clone)]
struct Occurrence {
    workspace_id: WorkspaceId,
    trigger: Trigger,
    conversation_id: ConversationId,
    message_content: Option<String>,
    previous_status: Option<ConversationStatus>,
    added_tag: Option<String>,
    sla_kind: Option<String>,
}

impl Occurrence {
    fn of(e: &Event) -> Option<Occurrence> {
        let base = |trigger, conversation_id| Occurrence {
            workspace_id: e.workspace_id,
            trigger,
            conversation_id,
            message_content: None,
            previous_status: None,
            added_tag: None,
            sla_kind: None,
        };
        Some(match &e.payload {
            EventPayload::ConversationCreated(c) => base(Trigger::ConversationCreated, c.id),
            EventPayload::MessageCreated(m) if m.kind == MessageKind::In => {
                Occurrence { message_content: Some(m.content.clone()), ..base(Trigger::MessageReceived, m.conversation_id) }
            }
            EventPayload::StatusChanged(s) => {
                Occurrence { previous_status: Some(s.from), ..base(Trigger::StatusChanged, s.conversation_id) }
            }
            EventPayload::TagAdded(t) => Occurrence { added_tag: Some(t.tag.clone()), ..base(Trigger::TagAdded, t.conversation_id) },
            EventPayload::SlaBreached(b) => Occurrence { sla_kind: Some(b.kind.clone()), ..base(Trigger::SlaBreached, b.conversation_id) },
            _ => return None,
        })
    }

    fn facts(&self, c: &Conversation) -> Facts {
        Facts {
            message_content: self.message_content.clone(),
            previous_status: self.previous_status,
            added_tag: self.added_tag.clone(),
            sla_kind: self.sla_kind.clone(),
            ..Facts::of(self.trigger, c)
        }
    }
}

struct Runner {
    st: AppState,
    http: reqwest::Client,
    /// Events this runner published and has not yet heard back.
    echoes: VecDeque<Event>,
    rules: RulesMemo,
}

/// Most events one read of a workspace's rules serves while a backlog
/// lasts, so an edited rule applies within that many events under load.
const RULES_MEMO_EVENTS: u32 = 256;

/// The rule lists read while events are queued: under a burst (thousands
/// of messages a second) the runner reads each workspace's rules for a
/// trigger once per backlog instead of once per event, and keeps up.
#[derive(Default)]
struct RulesMemo {
    lists: HashMap<(WorkspaceId, Trigger), Arc<Vec<AutomationRule>>>,
    uses: u32,
}

impl RulesMemo {
    fn clear(&mut self) {
        self.lists.clear();
        self.uses = 0;
    }

    async fn get(&mut self, st: &AppState, ws: WorkspaceId, trigger: Trigger) -> Result<Arc<Vec<AutomationRule>>, StoreError> {
        self.uses += 1;
        if self.uses > RULES_MEMO_EVENTS {
            self.clear();
        }
        if let Some(rules) = self.lists.get(&(ws, trigger)) {
            return Ok(rules.clone());
        }
        let rules = Arc::new(st.store.rules_for_trigger(ws, trigger).await?);
        self.lists.insert((ws, trigger), rules.clone());
        Ok(rules)
    }
}

/// What one action did: the events it committed, or why it failed.
type ActionResult = Result<Vec<Event>, String>;

impl Runner {
    async fn on_event(&mut self, event: Arc<Event>) {
        if let Some(i) = self.echoes.iter().position(|e| *e == *event) {
            self.echoes.remove(i);
            return;
        }
        let Some(first) = Occurrence::of(&event) else { return };
        let mut queue = VecDeque::from([(first, 0u8)]);
        while let Some((occurrence, depth)) = queue.pop_front() {
            match self.run_rules(&occurrence, depth).await {
                Ok(committed) => {
                    queue.extend(committed.iter().filter_map(Occurrence::of).map(|next| (next, depth + 1)));
                }
                Err(e) => tracing::error!(error = %e, trigger = %occurrence.trigger, "automation rules could not run"),
            }
        }
    }

    fn publish(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.echoes.extend(events.iter().cloned());
        while self.echoes.len() > MAX_ECHOES {
            self.echoes.pop_front();
        }
        self.st.publish(events);
    }

    /// Runs every matching rule for one occurrence, publishing what each
    /// action commits as it goes; answers those events for the chain.
    async fn run_rules(&mut self, o: &Occurrence, depth: u8) -> Result<Vec<Event>, StoreError> {
        let ws = o.workspace_id;
        let rules = self.rules.get(&self.st, ws, o.trigger).await?;
        let mut committed = Vec::new();
        for rule in rules.iter().cloned() {
            // Fresh facts for every rule: an earlier rule may have changed
            // the conversation.
            let Some(mut conv) = self.st.store.get_conversation(ws, o.conversation_id).await? else { return Ok(committed) };
            if !automation::evaluate(&rule.rule, &o.facts(&conv)) {
                continue;
            }
            if depth > MAX_CHAIN_DEPTH {
                let detail = format!("not run: caused by other rules' actions {depth} levels deep (limit {MAX_CHAIN_DEPTH})");
                log_run(&self.st, &rule, o, RunOutcome::Skipped, detail).await;
                continue;
            }
            let mut lines = Vec::new();
            let mut failed = false;
            let mut webhooks = Vec::new();
            for action in &rule.rule.actions {
                if let Action::SendWebhook { url } = action {
                    webhooks.push(url.clone());
                    continue;
                }
                match self.apply(ws, &conv, action).await {
                    Ok(events) => {
                        lines.push(format!("{}: ok", describe(action)));
                        // The next action (a template naming the agent just
                        // assigned) sees what this one did.
                        if let Some(latest) = events.iter().rev().find_map(|e| match &e.payload {
                            EventPayload::ConversationUpdated(c) => Some(c.as_ref().clone()),
                            _ => None,
                        }) {
                            conv = latest;
                        }
                        committed.extend(events.iter().cloned());
                        self.publish(events);
                    }
                    Err(why) => {
                        failed = true;
                        lines.push(format!("{}: failed: {why}", describe(action)));
                    }
                }
            }
            if webhooks.is_empty() {
                let outcome = if failed { RunOutcome::Failed } else { RunOutcome::Applied };
                log_run(&self.st, &rule, o, outcome, lines.join("; ")).await;
            } else {
                // A slow receiver must not hold up every other rule: the
                // calls and the run's log entry finish on their own task.
                let (st, http, o) = (self.st.clone(), self.http.clone(), o.clone());
                tokio::spawn(async move {
                    for url in webhooks {
                        match send_webhook(&st, &http, &rule, &o, &conv, &url).await {
                            Ok(status) => lines.push(format!("send_webhook {url}: HTTP {status}")),
                            Err(why) => {
                                failed = true;
                                lines.push(format!("send_webhook {url}: failed: {why}"));
                            }
                        }
                    }
                    let outcome = if failed { RunOutcome::Failed } else { RunOutcome::Applied };
                    log_run(&st, &rule, &o, outcome, lines.join("; ")).await;
                });
            }
        }
        Ok(committed)
    }

    async fn apply(&self, ws: WorkspaceId, conv: &Conversation, action: &Action) -> ActionResult {
        let store = &self.st.store;
        let now = self.st.now();
        let patch = |patch: ConversationPatch| async move {
            store.update_conversation(ws, conv.id, patch, None, now).await.map(|w| w.events).map_err(|e| e.to_string())
        };
        match action {
            Action::AssignTeam { team_id } => patch(ConversationPatch { team: Some(Some(*team_id)), ..Default::default() }).await,
            Action::AssignAgent { user_id } => {
                patch(ConversationPatch { assignee: Some(Some(*user_id)), ..Default::default() }).await
            }
            Action::SetPriority { priority } => patch(ConversationPatch { priority: Some(*priority), ..Default::default() }).await,
            Action::Resolve {} => patch(ConversationPatch { status: Some(ConversationStatus::Resolved), ..Default::default() }).await,
            Action::AddTag { tag } => {
                store.tag_conversation(ws, conv.id, tag, true, now).await.map(|w| w.events).map_err(|e| e.to_string())
            }
            Action::SendTemplate { template_id } => {
                let template = store
                    .get_template(ws, *template_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("template {template_id} no longer exists"))?;
                let agent = match conv.assignee_id {
                    Some(user) => store.get_member(ws, user).await.map_err(|e| e.to_string())?.map(|m| m.name),
                    None => None,
                };
                let content = template::render(&template.content, |k| automation::template_value(k, &conv.contact, agent.as_deref()));
                if content.trim().is_empty() {
                    return Err("the template renders empty for this contact".into());
                }
                let message = OutboundMessage {
                    kind: MessageKind::Out,
                    content,
                    sender: Sender { kind: SenderType::System, id: None, name: None },
                    echo_id: None,
                    // As agents' replies: web chat has no provider in between.
                    status: DeliveryStatus::Sent,
                    attachment_ids: Vec::new(),
                };
                store.send_message(ws, conv.id, message, now).await.map(|w| w.events).map_err(|e| e.to_string())
            }
            // Sent apart, see `run_rules`.
            Action::SendWebhook { .. } => Ok(Vec::new()),
        }
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::AssignTeam { team_id } => format!("assign_team {team_id}"),
        Action::AssignAgent { user_id } => format!("assign_agent {user_id}"),
        Action::AddTag { tag } => format!("add_tag {tag}"),
        Action::SetPriority { priority } => format!("set_priority {priority}"),
        Action::SendTemplate { template_id } => format!("send_template {template_id}"),
        Action::SendWebhook { url } => format!("send_webhook {url}"),
        Action::Resolve {} => "resolve".to_owned(),
    }
}

async fn log_run(st: &AppState, rule: &AutomationRule, o: &Occurrence, outcome: RunOutcome, detail: String) {
    let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    if outcome == RunOutcome::Failed {
        tracing::warn!(rule = rule.id.0, workspace = o.workspace_id.0, %detail, "automation rule failed");
    }
    let run = NewRuleRun {
        rule_id: rule.id,
        rule_name: rule.rule.name.clone(),
        conversation_id: Some(o.conversation_id),
        trigger: o.trigger,
        outcome,
        detail,
    };
    if let Err(e) = st.store.record_rule_run(o.workspace_id, run, st.now()).await {
        // The rule was deleted meanwhile, or the store is shutting down.
        tracing::warn!(error = %e, rule = rule.id.0, "automation run not logged");
    }
}

/// POSTs `{event, workspace_id, rule_id, conversation}` signed with the
/// workspace's webhook key; answers the receiver's status if it was 2xx.
async fn send_webhook(
    st: &AppState,
    http: &reqwest::Client,
    rule: &AutomationRule,
    o: &Occurrence,
    conv: &Conversation,
    url: &str,
) -> Result<u16, String> {
    let body = serde_json::json!({
        "event": o.trigger,
        "workspace_id": o.workspace_id,
        "rule_id": rule.id,
        "conversation": conv,
    });
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let secret = st.signing_secret(o.workspace_id).await.map_err(|e| e.to_string())?.ok_or("workspace is gone")?;
    let key = switchboard_channels::webhook::signing_key(&secret);
    let signature = switchboard_channels::webhook::signature(&key, &body);
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(switchboard_channels::webhook::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { format!("{e}") })?;
    let status = resp.status();
    if status.is_success() { Ok(status.as_u16()) } else { Err(format!("HTTP {}", status.as_u16())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::events::{StatusChange, TagAdded};

    fn event(payload: EventPayload) -> Event {
        Event { workspace_id: WorkspaceId(1), scope: None, payload }
    }

    fn message(kind: MessageKind) -> Message {
        Message {
            id: MessageId(1),
            conversation_id: ConversationId(9),
            kind,
            content: "refund".into(),
            sender: Sender { kind: SenderType::Contact, id: None, name: None },
            status: DeliveryStatus::Delivered,
            failure_reason: None,
            echo_id: None,
            attachments: Vec::new(),
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn only_customer_messages_and_real_changes_are_triggers() {
        let received = Occurrence::of(&event(EventPayload::MessageCreated(message(MessageKind::In)))).expect("trigger");
        assert_eq!((received.trigger, received.conversation_id), (Trigger::MessageReceived, ConversationId(9)));
        assert_eq!(received.message_content.as_deref(), Some("refund"));
        for kind in [MessageKind::Out, MessageKind::Note, MessageKind::System] {
            assert!(Occurrence::of(&event(EventPayload::MessageCreated(message(kind)))).is_none());
        }
        assert!(Occurrence::of(&event(EventPayload::MessageUpdated(message(MessageKind::In)))).is_none());
        let change = StatusChange { conversation_id: ConversationId(9), from: ConversationStatus::Open, to: ConversationStatus::Resolved };
        let status = Occurrence::of(&event(EventPayload::StatusChanged(change))).expect("trigger");
        assert_eq!((status.trigger, status.previous_status), (Trigger::StatusChanged, Some(ConversationStatus::Open)));
        let tag = Occurrence::of(&event(EventPayload::TagAdded(TagAdded { conversation_id: ConversationId(9), tag: "vip".into() })))
            .expect("trigger");
        assert_eq!((tag.trigger, tag.added_tag.as_deref()), (Trigger::TagAdded, Some("vip")));
        assert!(Occurrence::of(&event(EventPayload::MembershipChanged { user_id: UserId(1) })).is_none());
    }
}
