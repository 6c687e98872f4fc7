//! The routing adapter: feeds committed events to `core::routing::Engine`
//! (one per workspace) and carries out its decisions — assignments through
//! the store's compare-and-set claim, offers and queue positions as live
//! events. All state is rebuilt from the store on start.
//!
//! One task owns every engine, so decisions are made one event at a time
//! without locks. With several nodes, exactly one should run the router
//! (`--router off` on the others); should two run, the claim's
//! compare-and-set still lets only one assignment win, and the loser's
//! engine learns the winner from the bus.

use crate::state::AppState;
use std::collections::HashMap;
use std::time::Duration;
use switchboard_core::events::{ConversationScope, Event, EventPayload, QueuePosition, RoutingOffer, RoutingOfferEnded};
use switchboard_core::routing::team_select::RoutingRules;
use switchboard_core::routing::{
    AgentStatus, Decision, Engine, NewWork, RoutingEvent, SkillRequirement, TeamMemberRouting, TeamRouting, WorkId, WorkKind,
};
use switchboard_core::*;
use switchboard_store::{Claim, StoreError};
use tokio::sync::{broadcast::error::RecvError, mpsc, oneshot};

/// How often offers and overflow timers are checked.
const TICK: Duration = Duration::from_millis(250);

/// What an agent's answer to an offer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAnswer {
    Done,
    /// Nothing is offered to this agent (expired, taken, never offered).
    NotOffered,
    /// Routing does not run on this node.
    Unavailable,
}

/// A team's waiting line as supervisors see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TeamQueue {
    pub team_id: TeamId,
    pub waiting: Vec<QueuedConversation>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueuedConversation {
    pub conversation_id: ConversationId,
    pub position: usize,
    /// Agents it is offered to right now.
    pub offered_to: Vec<UserId>,
}

enum Command {
    Answer { ws: WorkspaceId, conversation: ConversationId, agent: UserId, accept: bool, reply: oneshot::Sender<OfferAnswer> },
    Queues { ws: WorkspaceId, reply: oneshot::Sender<Vec<TeamQueue>> },
    Offers { ws: WorkspaceId, agent: UserId, reply: oneshot::Sender<Vec<RoutingOffer>> },
    Position { ws: WorkspaceId, conversation: ConversationId, reply: oneshot::Sender<Option<QueuePosition>> },
}

/// The handle the HTTP handlers talk to; empty until `spawn` (and on
/// nodes that do not route).
#[derive(Clone, Default)]
pub struct RouterHandle {
    tx: std::sync::Arc<std::sync::OnceLock<mpsc::Sender<Command>>>,
}

impl RouterHandle {
    pub async fn answer(&self, ws: WorkspaceId, conversation: ConversationId, agent: UserId, accept: bool) -> OfferAnswer {
        let Some(tx) = self.tx.get() else { return OfferAnswer::Unavailable };
        let (reply, answer) = oneshot::channel();
        if tx.send(Command::Answer { ws, conversation, agent, accept, reply }).await.is_err() {
            return OfferAnswer::Unavailable;
        }
        answer.await.unwrap_or(OfferAnswer::Unavailable)
    }

    pub async fn queues(&self, ws: WorkspaceId) -> Option<Vec<TeamQueue>> {
        self.ask(|reply| Command::Queues { ws, reply }).await
    }

    /// What is offered to the agent now (a reloaded page shows it again).
    pub async fn offers(&self, ws: WorkspaceId, agent: UserId) -> Option<Vec<RoutingOffer>> {
        self.ask(|reply| Command::Offers { ws, agent, reply }).await
    }

    /// Where a waiting conversation is in its queue, if it waits.
    pub async fn position(&self, ws: WorkspaceId, conversation: ConversationId) -> Option<QueuePosition> {
        self.ask(|reply| Command::Position { ws, conversation, reply }).await.flatten()
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let tx = self.tx.get()?;
        let (reply, answer) = oneshot::channel();
        tx.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

/// Starts the router task on this node; it stops with the server.
pub fn spawn(st: AppState) {
    let (tx, rx) = mpsc::channel(1024);
    if st.router.tx.set(tx).is_ok() {
        tokio::spawn(run(st, rx));
    }
}

async fn run(st: AppState, mut commands: mpsc::Receiver<Command>) {
    let mut events = st.bus.subscribe();
    let mut stopping = st.shutdown.clone();
    let mut router = Router { st: st.clone(), workspaces: HashMap::new(), day: 0 };
    router.day = day_of(st.now());
    match st.store.routed_workspaces().await {
        Ok(list) => {
            for ws in list {
                router.load(ws).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "router: cannot list routed workspaces"),
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(e) => router.on_event(std::sync::Arc::unwrap_or_clone(e)).await,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "router lagged behind the bus; reloading");
                    let loaded: Vec<WorkspaceId> = router.workspaces.keys().copied().collect();
                    router.workspaces.clear();
                    for ws in loaded {
                        router.load(ws).await;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            Some(cmd) = commands.recv() => router.on_command(cmd).await,
            _ = tick.tick() => router.tick().await,
            _ = stopping.changed() => break,
        }
    }
}

fn day_of(t: Timestamp) -> i64 {
    t.0.div_euclid(86_400_000)
}

/// What the router last saw of an open conversation.
#[derive(Debug, Clone)]
struct Known {
    scope: ConversationScope,
    status: ConversationStatus,
    channel: Channel,
    priority: Priority,
    /// Since when the customer waits (FIFO order across restarts).
    since: Timestamp,
    skills: Vec<SkillRequirement>,
}

impl Known {
    fn of(c: &Conversation, skills: Vec<SkillRequirement>) -> Known {
        Known {
            scope: ConversationScope::of(c),
            status: c.status,
            channel: c.channel,
            priority: c.priority,
            since: c.waiting_since.unwrap_or(c.created_at),
            skills,
        }
    }
}

struct WorkspaceRouter {
    engine: Engine,
    rules: RoutingRules,
    teams: HashMap<TeamId, TeamRouting>,
    known: HashMap<ConversationId, Known>,
    /// `conversation.updated` events this router published and has not yet
    /// heard back. `known` already reflects them; hearing them again later,
    /// after newer changes, must not roll the router's view back.
    echoes: HashMap<ConversationId, u32>,
}

struct Router {
    st: AppState,
    workspaces: HashMap<WorkspaceId, WorkspaceRouter>,
    day: i64,
}

fn work_of(id: ConversationId) -> WorkId {
    WorkId::Conversation(id)
}

fn routable(status: ConversationStatus) -> bool {
    status == ConversationStatus::Open
}

/// A phone call's conversation is never offered or assigned here: the PBX
/// rings agents by the team's strategy and `answer_call` gives the
/// conversation to whoever picked up. Once assigned it counts as that
/// agent's load like any other (`TakenBy`).
fn routed_here(channel: Channel) -> bool {
    channel != Channel::Voice
}

impl Router {
    /// Builds a workspace's engine from the store: agents, teams, rules,
    /// then every open conversation (held ones first count as load, then
    /// waiting ones queue in arrival order).
    async fn load(&mut self, ws: WorkspaceId) {
        let seed = self.st.now().0 as u64 ^ (ws.0 as u64).rotate_left(32);
        let mut wr = WorkspaceRouter {
            engine: Engine::new(seed),
            rules: RoutingRules::default(),
            teams: HashMap::new(),
            known: HashMap::new(),
            echoes: HashMap::new(),
        };
        let mut out = Vec::new();
        if let Err(e) = self.configure(ws, &mut wr, &mut out).await {
            tracing::error!(workspace = %ws, error = %e, "router: cannot load routing settings");
            return;
        }
        let open = match self.st.store.open_work(ws).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(workspace = %ws, error = %e, "router: cannot load open conversations");
                return;
            }
        };
        let now = self.st.now();
        let (held, waiting): (Vec<_>, Vec<_>) = open.into_iter().partition(|w| w.assignee_id.is_some());
        for w in held.iter().chain(waiting.iter()) {
            let scope = ConversationScope {
                conversation_id: w.conversation_id,
                inbox_id: w.inbox_id,
                contact_id: w.contact_id,
                team_id: w.team_id,
                assignee_id: w.assignee_id,
            };
            let known = Known { scope, status: w.status, channel: w.channel, priority: w.priority, since: w.waiting_since, skills: w.skills.clone() };
            wr.known.insert(w.conversation_id, known);
            let kind = WorkKind::of_channel(w.channel);
            if let Some(agent) = w.assignee_id {
                let event = RoutingEvent::TakenBy { work: work_of(w.conversation_id), kind, team: w.team_id, agent, now };
                wr.engine.handle(event, &mut out);
            } else if let Some(team) = w.team_id.filter(|_| routable(w.status) && routed_here(w.channel)) {
                let work = new_work(w.conversation_id, w.channel, team, w.priority, w.skills.clone(), None, w.waiting_since);
                wr.engine.handle(RoutingEvent::Arrived { work, now }, &mut out);
            }
        }
        self.workspaces.insert(ws, wr);
        self.carry_out(ws, out).await;
    }

    /// (Re)applies agents, teams and rules to the engine.
    async fn configure(&self, ws: WorkspaceId, wr: &mut WorkspaceRouter, out: &mut Vec<Decision>) -> Result<(), StoreError> {
        let store = &self.st.store;
        let now = self.st.now();
        let members = store.list_members(ws).await?;
        for m in &members {
            wr.engine.set_agent(m.id, m.routing.clone(), now, out);
        }
        let teams = store.list_teams(ws).await?;
        let gone: Vec<TeamId> = wr.teams.keys().filter(|t| !teams.iter().any(|x| x.id == **t)).copied().collect();
        for t in gone {
            wr.engine.remove_team(t, now, out);
            wr.teams.remove(&t);
        }
        for t in &teams {
            let members = t
                .members
                .iter()
                .map(|m| TeamMemberRouting {
                    agent: m.user_id,
                    priority: m.priority,
                    weight: m.weight,
                    team_capacity: u32::try_from(m.capacity).unwrap_or(0),
                })
                .collect();
            wr.engine.set_team(t.id, t.routing, members, now, out);
            wr.teams.insert(t.id, t.routing);
        }
        for m in &members {
            wr.engine.handle(RoutingEvent::PresenceChanged { agent: m.id, status: m.presence.into(), now }, out);
        }
        wr.rules = store.get_routing_rules(ws).await?;
        Ok(())
    }

    async fn on_event(&mut self, e: Event) {
        let ws = e.workspace_id;
        let now = self.st.now();
        match e.payload {
            EventPayload::ConversationCreated(c) => {
                self.ensure_loaded(ws).await;
                self.conversation_created(ws, *c, now).await;
            }
            EventPayload::ConversationUpdated(c) => {
                self.ensure_loaded(ws).await;
                if self.take_echo(ws, c.id) {
                    return;
                }
                self.conversation_updated(ws, *c, now).await;
            }
            EventPayload::PresenceUpdated(p) => {
                let status: AgentStatus = p.status.into();
                self.handle(ws, RoutingEvent::PresenceChanged { agent: p.user_id, status, now }).await;
            }
            EventPayload::RoutingChanged | EventPayload::MembershipChanged { .. } => {
                if !self.workspaces.contains_key(&ws) {
                    self.load(ws).await;
                    return;
                }
                let mut out = Vec::new();
                let result = match self.workspaces.remove(&ws) {
                    Some(mut wr) => {
                        let r = self.configure(ws, &mut wr, &mut out).await;
                        self.workspaces.insert(ws, wr);
                        r
                    }
                    None => Ok(()),
                };
                if let Err(err) = result {
                    tracing::error!(workspace = %ws, error = %err, "router: cannot reload routing settings");
                }
                self.adopt_waiting(ws, now, &mut out);
                self.carry_out(ws, out).await;
            }
            _ => {}
        }
    }

    /// Conversations that wait in a team which only now assigns
    /// automatically (or got new members) join its queue.
    fn adopt_waiting(&mut self, ws: WorkspaceId, now: Timestamp, out: &mut Vec<Decision>) {
        let Some(wr) = self.workspaces.get_mut(&ws) else { return };
        let mut waiting: Vec<(&ConversationId, &Known)> = wr
            .known
            .iter()
            .filter(|(id, k)| {
                k.scope.assignee_id.is_none()
                    && routable(k.status)
                    && routed_here(k.channel)
                    && k.scope.team_id.and_then(|t| wr.teams.get(&t)).is_some_and(|r| r.auto_assign)
                    && !wr.engine.is_waiting(work_of(**id))
            })
            .collect();
        waiting.sort_by_key(|(id, k)| (k.since, **id));
        let arrivals: Vec<NewWork> = waiting
            .into_iter()
            .filter_map(|(id, k)| {
                let team = k.scope.team_id?;
                Some(new_work(*id, k.channel, team, k.priority, k.skills.clone(), None, k.since))
            })
            .collect();
        for work in arrivals {
            wr.engine.handle(RoutingEvent::Arrived { work, now }, out);
        }
    }

    async fn ensure_loaded(&mut self, ws: WorkspaceId) {
        if !self.workspaces.contains_key(&ws) {
            self.load(ws).await;
        }
    }

    async fn conversation_created(&mut self, ws: WorkspaceId, conv: Conversation, now: Timestamp) {
        let Some(wr) = self.workspaces.get_mut(&ws) else { return };
        if wr.known.contains_key(&conv.id) {
            return; // loaded from the store already
        }
        wr.known.insert(conv.id, Known::of(&conv, Vec::new()));
        if conv.assignee_id.is_some() || !routable(conv.status) {
            if let Some(agent) = conv.assignee_id {
                let kind = WorkKind::of_channel(conv.channel);
                self.handle(ws, RoutingEvent::TakenBy { work: work_of(conv.id), kind, team: conv.team_id, agent, now }).await;
            }
            return;
        }
        // Team selection: the conversation's own team, else the first rule
        // that matches, else the inbox's default team. A conversation a
        // customer's message opened was already given its team by the store
        // (the same rules, as it was created); its rule's skills apply here.
        let mut team = conv.team_id;
        let mut priority = conv.priority;
        let first = conv.last_message.as_ref().map(|m| m.content.as_str()).unwrap_or("");
        let choice = wr
            .rules
            .select_on_arrival(conv.inbox_id, conv.channel, first, &conv.contact.custom_fields)
            .map(|c| (c.team_id, c.rule.and_then(|r| r.priority), c.rule.map(|r| r.skills.clone()).unwrap_or_default()));
        let mut skills = Vec::new();
        match (team, choice) {
            (Some(born_in), Some((team_id, _, rule_skills))) if born_in == team_id => skills = rule_skills,
            (Some(_), _) | (None, None) => {}
            (None, Some((team_id, rule_priority, rule_skills))) => {
                skills = rule_skills;
                let raise = rule_priority.filter(|p| p.rank() > priority.rank());
                match self.st.store.route_to_team(ws, conv.id, team_id, raise, skills.clone(), now).await {
                    Ok(written) => {
                        if let Some(k) = self.known_mut(ws, conv.id) {
                            k.scope = ConversationScope::of(&written.value);
                            k.skills = skills.clone();
                        }
                        team = Some(team_id);
                        priority = written.value.priority;
                        self.publish_own(ws, written.events);
                    }
                    Err(e) => {
                        tracing::warn!(workspace = %ws, conversation = %conv.id, error = %e, "router: cannot give the conversation to its team");
                        return;
                    }
                }
            }
        }
        if let Some(k) = self.known_mut(ws, conv.id) {
            k.skills = skills.clone();
        }
        let Some(team) = team else { return };
        self.enqueue(ws, &conv, team, priority, skills, now).await;
    }

    /// Puts an unassigned open conversation into its team's queue.
    async fn enqueue(&mut self, ws: WorkspaceId, conv: &Conversation, team: TeamId, priority: Priority, skills: Vec<SkillRequirement>, now: Timestamp) {
        if !routed_here(conv.channel) {
            return;
        }
        let Some(wr) = self.workspaces.get(&ws) else { return };
        let Some(settings) = wr.teams.get(&team).copied() else { return };
        if !settings.auto_assign {
            return;
        }
        let previous = if settings.sticky {
            self.st.store.previous_assignee(ws, conv.contact.id, conv.id).await.ok().flatten()
        } else {
            None
        };
        let since = conv.waiting_since.unwrap_or(conv.created_at);
        let work = new_work(conv.id, conv.channel, team, priority, skills, previous, since);
        self.handle(ws, RoutingEvent::Arrived { work, now }).await;
    }

    async fn conversation_updated(&mut self, ws: WorkspaceId, conv: Conversation, now: Timestamp) {
        let Some(wr) = self.workspaces.get_mut(&ws) else { return };
        let kind = WorkKind::of_channel(conv.channel);
        let work = work_of(conv.id);
        let before = wr.known.get(&conv.id).cloned();
        let open = matches!(conv.status, ConversationStatus::Open | ConversationStatus::Pending);
        if !open {
            if wr.known.remove(&conv.id).is_some() {
                self.handle(ws, RoutingEvent::Withdrawn { work, now }).await;
            }
            return;
        }
        let skills = before.as_ref().map(|k| k.skills.clone()).unwrap_or_default();
        wr.known.insert(conv.id, Known::of(&conv, skills.clone()));
        let unchanged = before.as_ref().is_some_and(|k| {
            k.scope.assignee_id == conv.assignee_id && k.scope.team_id == conv.team_id && k.status == conv.status
        });
        if unchanged {
            return;
        }
        match (conv.assignee_id, conv.team_id) {
            (Some(agent), team) => self.handle(ws, RoutingEvent::TakenBy { work, kind, team, agent, now }).await,
            // Unassigned, transferred to a team, or reopened: route again.
            (None, Some(team)) if routable(conv.status) => self.enqueue(ws, &conv, team, conv.priority, skills, now).await,
            (None, _) => self.handle(ws, RoutingEvent::Withdrawn { work, now }).await,
        }
    }

    /// Publishes what the router's own write committed, noting the echoes.
    fn publish_own(&mut self, ws: WorkspaceId, events: Vec<Event>) {
        if let Some(wr) = self.workspaces.get_mut(&ws) {
            for e in &events {
                if let EventPayload::ConversationUpdated(c) = &e.payload {
                    *wr.echoes.entry(c.id).or_insert(0) += 1;
                }
            }
        }
        self.st.publish(events);
    }

    fn take_echo(&mut self, ws: WorkspaceId, id: ConversationId) -> bool {
        let Some(wr) = self.workspaces.get_mut(&ws) else { return false };
        match wr.echoes.get_mut(&id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                wr.echoes.remove(&id);
                true
            }
            None => false,
        }
    }

    fn known_mut(&mut self, ws: WorkspaceId, id: ConversationId) -> Option<&mut Known> {
        self.workspaces.get_mut(&ws)?.known.get_mut(&id)
    }

    async fn handle(&mut self, ws: WorkspaceId, event: RoutingEvent) {
        let Some(wr) = self.workspaces.get_mut(&ws) else { return };
        let mut out = Vec::new();
        wr.engine.handle(event, &mut out);
        self.carry_out(ws, out).await;
    }

    async fn tick(&mut self) {
        let now = self.st.now();
        let new_day = day_of(now) != self.day;
        self.day = day_of(now);
        let due: Vec<WorkspaceId> = self
            .workspaces
            .iter()
            .filter(|(_, wr)| new_day || wr.engine.has_retries() || wr.engine.next_wake().is_some_and(|t| t <= now))
            .map(|(ws, _)| *ws)
            .collect();
        for ws in due {
            if new_day {
                self.handle(ws, RoutingEvent::NewDay { now }).await;
            }
            self.handle(ws, RoutingEvent::Tick { now }).await;
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Answer { ws, conversation, agent, accept, reply } => {
                self.ensure_loaded(ws).await;
                let work = work_of(conversation);
                let offered = self.workspaces.get(&ws).is_some_and(|wr| wr.engine.offered_to(work).contains(&agent));
                if !offered {
                    let _ = reply.send(OfferAnswer::NotOffered);
                    return;
                }
                let now = self.st.now();
                let event = if accept {
                    RoutingEvent::OfferAccepted { work, agent, now }
                } else {
                    RoutingEvent::OfferDeclined { work, agent, now }
                };
                self.handle(ws, event).await;
                let _ = reply.send(OfferAnswer::Done);
            }
            Command::Offers { ws, agent, reply } => {
                self.ensure_loaded(ws).await;
                let offers = self.workspaces.get(&ws).map(|wr| {
                    wr.engine
                        .offers_of(agent)
                        .into_iter()
                        .filter_map(|(w, team_id, expires_at)| match w {
                            WorkId::Conversation(conversation_id) => {
                                Some(RoutingOffer { conversation_id, agent_id: agent, team_id, expires_at })
                            }
                            WorkId::Call(_) => None,
                        })
                        .collect()
                });
                let _ = reply.send(offers.unwrap_or_default());
            }
            Command::Position { ws, conversation, reply } => {
                self.ensure_loaded(ws).await;
                let position = self.workspaces.get(&ws).and_then(|wr| {
                    let team_id = wr.known.get(&conversation)?.scope.team_id?;
                    let position = wr.engine.position(work_of(conversation))?;
                    Some(QueuePosition { conversation_id: conversation, team_id, position })
                });
                let _ = reply.send(position);
            }
            Command::Queues { ws, reply } => {
                self.ensure_loaded(ws).await;
                let queues = self.workspaces.get(&ws).map(|wr| {
                    let mut teams: Vec<TeamId> = wr.teams.keys().copied().collect();
                    teams.sort();
                    teams
                        .into_iter()
                        .map(|team_id| TeamQueue {
                            team_id,
                            waiting: wr
                                .engine
                                .queue(team_id)
                                .into_iter()
                                .enumerate()
                                .filter_map(|(i, w)| match w {
                                    WorkId::Conversation(c) => Some(QueuedConversation {
                                        conversation_id: c,
                                        position: i + 1,
                                        offered_to: wr.engine.offered_to(w),
                                    }),
                                    WorkId::Call(_) => None,
                                })
                                .collect(),
                        })
                        .collect()
                });
                let _ = reply.send(queues.unwrap_or_default());
            }
        }
    }

    /// Carries out decisions; a failed assignment (someone claimed it
    /// first, or it was resolved) is fed back so the engine agrees with the
    /// store, and whatever that decides is carried out in turn.
    async fn carry_out(&mut self, ws: WorkspaceId, decisions: Vec<Decision>) {
        let mut queue = std::collections::VecDeque::from(decisions);
        while let Some(d) = queue.pop_front() {
            let WorkId::Conversation(id) = d.work() else { continue };
            let scope = self.workspaces.get(&ws).and_then(|wr| wr.known.get(&id)).map(|k| k.scope);
            let now = self.st.now();
            let mut feedback = None;
            match d {
                Decision::Assigned { agent, .. } => match self.st.store.claim_conversation(ws, id, agent, now).await {
                    Ok(Claim::Claimed(written)) => {
                        if let Some(k) = self.known_mut(ws, id) {
                            k.scope = ConversationScope::of(&written.value);
                        }
                        let out_of_line = (written.value.channel == Channel::Webchat).then(|| {
                            let team_id = written.value.team_id.unwrap_or(TeamId(0));
                            let p = QueuePosition { conversation_id: id, team_id, position: 0 };
                            Event::conversation(ws, &written.value, EventPayload::QueuePosition(p))
                        });
                        self.publish_own(ws, written.events);
                        // The widget's "you are number N" ends here.
                        self.st.publish(out_of_line.into_iter().collect());
                    }
                    Ok(Claim::AlreadyYours(_)) => {}
                    Ok(Claim::Taken { assignee }) => {
                        let kind = self.known_kind(ws, id);
                        let team = scope.and_then(|s| s.team_id);
                        feedback = Some(RoutingEvent::TakenBy { work: work_of(id), kind, team, agent: assignee, now });
                    }
                    Err(StoreError::NotFound) => feedback = Some(RoutingEvent::Withdrawn { work: work_of(id), now }),
                    Err(e) => tracing::error!(workspace = %ws, conversation = %id, error = %e, "router: assignment not stored"),
                },
                Decision::Offered { agent, team, expires_at, .. } => {
                    let offer = RoutingOffer { conversation_id: id, agent_id: agent, team_id: team, expires_at };
                    self.st.publish(vec![Event { workspace_id: ws, scope, payload: EventPayload::OfferCreated(offer) }]);
                }
                Decision::OfferRetracted { agent, reason, .. } => {
                    let ended = RoutingOfferEnded { conversation_id: id, agent_id: agent, reason };
                    self.st.publish(vec![Event { workspace_id: ws, scope, payload: EventPayload::OfferEnded(ended) }]);
                }
                Decision::Queued { team, position, .. } | Decision::PositionChanged { team, position, .. } => {
                    let p = QueuePosition { conversation_id: id, team_id: team, position };
                    self.st.publish(vec![Event { workspace_id: ws, scope, payload: EventPayload::QueuePosition(p) }]);
                }
                Decision::Overflowed { to, .. } => {
                    let skills = self.known_mut(ws, id).map(|k| k.skills.clone()).unwrap_or_default();
                    match self.st.store.route_to_team(ws, id, to, None, skills, now).await {
                        Ok(written) => {
                            if let Some(k) = self.known_mut(ws, id) {
                                k.scope = ConversationScope::of(&written.value);
                            }
                            self.publish_own(ws, written.events);
                        }
                        Err(e) => tracing::warn!(workspace = %ws, conversation = %id, error = %e, "router: overflow not stored"),
                    }
                }
            }
            if let Some(event) = feedback
                && let Some(wr) = self.workspaces.get_mut(&ws)
            {
                let mut more = Vec::new();
                wr.engine.handle(event, &mut more);
                queue.extend(more);
            }
        }
    }

    fn known_kind(&self, ws: WorkspaceId, id: ConversationId) -> WorkKind {
        self.workspaces
            .get(&ws)
            .and_then(|wr| wr.known.get(&id))
            .map_or(WorkKind::Chat, |k| WorkKind::of_channel(k.channel))
    }
}

fn new_work(
    id: ConversationId,
    channel: Channel,
    team: TeamId,
    priority: Priority,
    skills: Vec<SkillRequirement>,
    previous_agent: Option<UserId>,
    waiting_since: Timestamp,
) -> NewWork {
    NewWork {
        id: work_of(id),
        kind: WorkKind::of_channel(channel),
        team,
        priority: priority.rank(),
        skills,
        previous_agent,
        // The widget shows the customer their place in line; messengers
        // would get a message per move, which is noise.
        notify_position: channel == Channel::Webchat,
        waiting_since,
    }
}
