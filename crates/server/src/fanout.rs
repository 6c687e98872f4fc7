//! Hands bus events to the agents' and the web chat visitors' sockets of
//! this node.
//!
//! One task reads the bus; for each event it finds the sockets of the
//! event's workspace whose viewer may see it (`agent_sees`), serializes the
//! frame once and queues it on each of those sockets. A socket that may not
//! see an event is never woken for it. Before, every socket subscribed to
//! the bus itself, so each event woke every socket of the node to find
//! that most could not see it: with 1,000 agents in 100 teams that was most
//! of the server's CPU (docs/BENCHMARKS.md, routing).
//!
//! Events already waiting on the bus are handled together (up to
//! `BATCH`): each socket gets the frames of the batch it may see as one
//! delivery, so it wakes once and writes them with one flush (one write
//! call) instead of one per frame. A customer's message is two or three
//! events (message, conversation, maybe its creation), so a broadcast to
//! 20,000 sockets is 20,000 wake-ups and writes, not 60,000.
//!
//! Visitors' sockets are registered by their contact: an event reaches only
//! the sockets of the customer its conversation belongs to (the widget then
//! picks what a customer may see), so a website with thousands of open chat
//! windows does not wake them all for every event.
//!
//! What a socket must act on rather than forward — its user's credentials
//! revoked, its user's memberships changed, frames it missed — is kept as
//! flags on the subscriber, so it is never lost to a full queue: the queue
//! holds frames, and a frame dropped because a slow client's queue is full
//! turns into one `resync` (the client refetches its lists), as the
//! broadcast channel's lag did before.

use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use switchboard_bus::Bus;
use switchboard_core::access::Viewer;
use switchboard_core::events::{Event, EventPayload};
use switchboard_core::{ContactId, UserId, WorkspaceId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Frames queued per socket before it counts as lagging: as many as the
/// bus holds for a lagging receiver. The queue allocates as it fills (in
/// blocks of 32), so an idle socket pays nothing for the room; with 256 a
/// burst of 2,000 messages/s made agent sockets resync.
const QUEUE: usize = 4096;

/// Most bus events handled as one batch.
const BATCH: usize = 64;

/// The frames of one batch that one socket may see, in bus order.
pub type Frames = Vec<Utf8Bytes>;

/// The node's socket registry; cheap to clone.
#[derive(Clone, Default)]
pub struct Fanout {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    by_workspace: RwLock<HashMap<WorkspaceId, Vec<Arc<Subscriber>>>>,
    visitors: RwLock<VisitorsByContact>,
    next_id: AtomicU64,
    started: OnceLock<()>,
}

/// Visitors' sockets by the contact whose conversations they show.
type VisitorsByContact = HashMap<(WorkspaceId, ContactId), Vec<Arc<VisitorSubscriber>>>;

/// A web chat visitor's socket: the events of its contact's conversations.
struct VisitorSubscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Event>>,
    lagged: AtomicBool,
    flagged: tokio::sync::Notify,
}

/// What a visitor's socket gets next.
#[derive(Debug, PartialEq)]
pub enum VisitorDelivery {
    /// An event of one of the visitor's conversations (the socket decides
    /// what of it the customer sees).
    Event(Arc<Event>),
    /// Events were missed: the widget refetches its thread.
    Resync,
}

/// A visitor socket's registration; unregisters when dropped.
pub struct VisitorSubscription {
    sub: Arc<VisitorSubscriber>,
    key: (WorkspaceId, ContactId),
    rx: mpsc::Receiver<Arc<Event>>,
    inner: Arc<Inner>,
}

struct Subscriber {
    id: u64,
    user: UserId,
    viewers: Mutex<HashMap<WorkspaceId, Viewer>>,
    tx: mpsc::Sender<Frames>,
    /// A frame was dropped (full queue, or the reader fell behind the bus).
    lagged: AtomicBool,
    credentials_changed: AtomicBool,
    membership_changed: AtomicBool,
    /// Wakes the socket for a flag when its queue has no frame to do it.
    flagged: tokio::sync::Notify,
}

/// What a socket gets next.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    /// One or more frames, to be written with one flush.
    Frames(Frames),
    /// Frames were missed: tell the client to refetch.
    Resync,
    /// The user's credentials may have been revoked: check them.
    CredentialsChanged,
    /// The user's teams or roles changed: reload the viewers.
    MembershipChanged,
}

/// One socket's registration; unregisters when dropped.
pub struct Subscription {
    sub: Arc<Subscriber>,
    rx: mpsc::Receiver<Frames>,
    inner: Arc<Inner>,
}

impl Fanout {
    /// Registers a socket of `user` with a viewer per workspace; starts the
    /// node's delivery task on first use.
    pub fn subscribe(&self, bus: &Bus, user: UserId, viewers: HashMap<WorkspaceId, Viewer>) -> Subscription {
        self.start(bus);
        self.register(user, viewers)
    }

    /// Registers a web chat visitor's socket for its contact's events.
    pub fn subscribe_visitor(&self, bus: &Bus, ws: WorkspaceId, contact: ContactId) -> VisitorSubscription {
        self.start(bus);
        self.register_visitor(ws, contact)
    }

    /// Starts the node's delivery task, once.
    fn start(&self, bus: &Bus) {
        if self.inner.started.set(()).is_ok() {
            tokio::spawn(run(self.clone(), bus.clone()));
        }
    }

    fn register_visitor(&self, ws: WorkspaceId, contact: ContactId) -> VisitorSubscription {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sub = Arc::new(VisitorSubscriber {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
            lagged: AtomicBool::new(false),
            flagged: tokio::sync::Notify::new(),
        });
        if let Ok(mut map) = self.inner.visitors.write() {
            map.entry((ws, contact)).or_default().push(sub.clone());
        }
        VisitorSubscription { sub, key: (ws, contact), rx, inner: self.inner.clone() }
    }

    fn register(&self, user: UserId, viewers: HashMap<WorkspaceId, Viewer>) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE);
        let workspaces: Vec<WorkspaceId> = viewers.keys().copied().collect();
        let sub = Arc::new(Subscriber {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            user,
            viewers: Mutex::new(viewers),
            tx,
            lagged: AtomicBool::new(false),
            credentials_changed: AtomicBool::new(false),
            membership_changed: AtomicBool::new(false),
            flagged: tokio::sync::Notify::new(),
        });
        if let Ok(mut map) = self.inner.by_workspace.write() {
            for ws in workspaces {
                map.entry(ws).or_default().push(sub.clone());
            }
        }
        Subscription { sub, rx, inner: self.inner.clone() }
    }

    /// Queues the event's frame on every socket that may see it.
    #[cfg(test)]
    fn deliver(&self, e: &Event) {
        self.deliver_all(&[Arc::new(e.clone())]);
    }

    /// Queues on every agent socket the frames of `events` it may see, as
    /// one delivery (each event serialized at most once), and each event of
    /// a conversation on its customer's visitor sockets.
    fn deliver_all(&self, events: &[Arc<Event>]) {
        self.deliver_to_visitors(events);
        let Ok(map) = self.inner.by_workspace.read() else { return };
        let mut frames: Vec<Option<Option<Utf8Bytes>>> = vec![None; events.len()];
        let mut workspaces: Vec<WorkspaceId> = Vec::new();
        for e in events.iter().map(|e| &**e) {
            let Some(subs) = map.get(&e.workspace_id) else { continue };
            match e.payload {
                EventPayload::CredentialsRevoked { user_id } => flag(subs, user_id, |s| &s.credentials_changed),
                EventPayload::MembershipChanged { user_id } => flag(subs, user_id, |s| &s.membership_changed),
                _ if !workspaces.contains(&e.workspace_id) => workspaces.push(e.workspace_id),
                _ => {}
            }
        }
        for ws in workspaces {
            let Some(subs) = map.get(&ws) else { continue };
            for sub in subs {
                let Ok(viewers) = sub.viewers.lock() else { continue };
                let Some(viewer) = viewers.get(&ws) else { continue };
                let mut out: Frames = Vec::new();
                for (i, e) in events.iter().map(|e| &**e).enumerate() {
                    if e.workspace_id != ws || !crate::routes::realtime::agent_sees(viewer, e) {
                        continue;
                    }
                    if let Some(frame) = frames[i].get_or_insert_with(|| crate::routes::realtime::frame_json(e).map(Utf8Bytes::from)) {
                        out.push(frame.clone());
                    }
                }
                drop(viewers);
                if !out.is_empty() && sub.tx.try_send(out).is_err() {
                    sub.lagged.store(true, Ordering::Relaxed);
                    sub.flagged.notify_one();
                }
            }
        }
    }

    fn deliver_to_visitors(&self, events: &[Arc<Event>]) {
        let Ok(map) = self.inner.visitors.read() else { return };
        if map.is_empty() {
            return;
        }
        for e in events {
            let Some(scope) = &e.scope else { continue };
            let Some(subs) = map.get(&(e.workspace_id, scope.contact_id)) else { continue };
            for sub in subs {
                if sub.tx.try_send(e.clone()).is_err() {
                    sub.lagged.store(true, Ordering::Relaxed);
                    sub.flagged.notify_one();
                }
            }
        }
    }

    /// Every socket missed events (the delivery task fell behind the bus).
    fn all_lagged(&self) {
        if let Ok(map) = self.inner.by_workspace.read() {
            for sub in map.values().flatten() {
                sub.lagged.store(true, Ordering::Relaxed);
                sub.flagged.notify_one();
            }
        }
        if let Ok(map) = self.inner.visitors.read() {
            for sub in map.values().flatten() {
                sub.lagged.store(true, Ordering::Relaxed);
                sub.flagged.notify_one();
            }
        }
    }
}

fn flag(subs: &[Arc<Subscriber>], user: UserId, which: impl Fn(&Subscriber) -> &AtomicBool) {
    for sub in subs.iter().filter(|s| s.user == user) {
        which(sub).store(true, Ordering::Relaxed);
        sub.flagged.notify_one();
    }
}

async fn run(fanout: Fanout, bus: Bus) {
    use tokio::sync::broadcast::error::TryRecvError;
    let mut events = bus.subscribe();
    let mut batch: Vec<Arc<Event>> = Vec::with_capacity(BATCH);
    let lagged = |n: u64| {
        tracing::warn!(missed = n, "socket delivery fell behind the bus; clients resync");
        fanout.all_lagged();
    };
    loop {
        match events.recv().await {
            Ok(e) => batch.push(e),
            Err(RecvError::Lagged(n)) => lagged(n),
            Err(RecvError::Closed) => return,
        }
        // Whatever else is already waiting goes in the same batch.
        while batch.len() < BATCH {
            match events.try_recv() {
                Ok(e) => batch.push(e),
                Err(TryRecvError::Lagged(n)) => lagged(n),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        fanout.deliver_all(&batch);
        batch.clear();
    }
}

impl Subscription {
    /// The next thing for the socket: flags first (so a revoked credential
    /// or changed membership is acted on before more frames), then frames.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            if let Some(d) = self.take_flag() {
                return Some(d);
            }
            tokio::select! {
                biased;
                _ = self.sub.flagged.notified() => continue,
                frames = self.rx.recv() => return frames.map(Delivery::Frames),
            }
        }
    }

    fn take_flag(&self) -> Option<Delivery> {
        let s = &self.sub;
        if s.credentials_changed.swap(false, Ordering::Relaxed) {
            return Some(Delivery::CredentialsChanged);
        }
        if s.membership_changed.swap(false, Ordering::Relaxed) {
            return Some(Delivery::MembershipChanged);
        }
        if s.lagged.swap(false, Ordering::Relaxed) {
            return Some(Delivery::Resync);
        }
        None
    }

    /// Replaces the viewers (after a membership change); a workspace the
    /// user left keeps its registration but no viewer, so nothing of it is
    /// delivered.
    pub fn set_viewers(&self, viewers: HashMap<WorkspaceId, Viewer>) {
        if let Ok(mut v) = self.sub.viewers.lock() {
            *v = viewers;
        }
    }

    pub fn viewers(&self) -> HashMap<WorkspaceId, Viewer> {
        self.sub.viewers.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl VisitorSubscription {
    /// The next event of the visitor's conversations, or a resync after
    /// missed ones.
    pub async fn recv(&mut self) -> Option<VisitorDelivery> {
        loop {
            if self.sub.lagged.swap(false, Ordering::Relaxed) {
                return Some(VisitorDelivery::Resync);
            }
            tokio::select! {
                biased;
                _ = self.sub.flagged.notified() => continue,
                event = self.rx.recv() => return event.map(VisitorDelivery::Event),
            }
        }
    }
}

impl Drop for VisitorSubscription {
    fn drop(&mut self) {
        let id = self.sub.id;
        if let Ok(mut map) = self.inner.visitors.write()
            && let Some(subs) = map.get_mut(&self.key)
        {
            subs.retain(|s| s.id != id);
            if subs.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.sub.id;
        if let Ok(mut map) = self.inner.by_workspace.write() {
            map.retain(|_, subs| {
                subs.retain(|s| s.id != id);
                !subs.is_empty()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::events::ConversationScope;
    use switchboard_core::{ContactId, ConversationId, InboxId, Role, TeamId};

    fn viewer(ws: i64, user: i64, role: Role, teams: &[i64]) -> HashMap<WorkspaceId, Viewer> {
        let v = Viewer { workspace_id: WorkspaceId(ws), user_id: UserId(user), role, team_ids: teams.iter().copied().map(TeamId).collect() };
        [(WorkspaceId(ws), v)].into()
    }

    fn team_event(ws: i64, team: Option<i64>) -> Event {
        let scope = ConversationScope {
            conversation_id: ConversationId(1),
            inbox_id: InboxId(1),
            contact_id: ContactId(1),
            team_id: team.map(TeamId),
            assignee_id: None,
        };
        Event { workspace_id: WorkspaceId(ws), scope: Some(scope), payload: EventPayload::RoutingChanged }
    }

    fn scoped(ws: i64, team: Option<i64>) -> Event {
        let mut e = team_event(ws, team);
        e.payload = EventPayload::Typing(switchboard_core::events::TypingChange {
            conversation_id: ConversationId(1),
            actor: switchboard_core::Sender { kind: switchboard_core::SenderType::Contact, id: Some(1), name: None },
            on: true,
        });
        e
    }

    fn queued(s: &mut Subscription) -> usize {
        let mut n = 0;
        while let Ok(frames) = s.rx.try_recv() {
            n += frames.len();
        }
        n
    }

    #[test]
    fn only_sockets_that_may_see_an_event_get_its_frame() {
        let hub = Fanout::default();
        let mut team1 = hub.register(UserId(1), viewer(1, 1, Role::Agent, &[1]));
        let mut team2 = hub.register(UserId(2), viewer(1, 2, Role::Agent, &[2]));
        let mut boss = hub.register(UserId(3), viewer(1, 3, Role::Supervisor, &[]));
        let mut elsewhere = hub.register(UserId(4), viewer(2, 4, Role::Admin, &[]));
        hub.deliver(&scoped(1, Some(1)));
        assert_eq!((queued(&mut team1), queued(&mut team2), queued(&mut boss), queued(&mut elsewhere)), (1, 0, 1, 0));
        // The shared pool (no team) is everyone's in the workspace.
        hub.deliver(&scoped(1, None));
        assert_eq!((queued(&mut team1), queued(&mut team2), queued(&mut boss), queued(&mut elsewhere)), (1, 1, 1, 0));
        // Control events are never frames.
        hub.deliver(&team_event(1, Some(1)));
        assert_eq!(queued(&mut boss), 0);
    }

    #[tokio::test]
    async fn membership_and_credential_changes_are_flags_for_their_user_only() {
        let hub = Fanout::default();
        let mut ann = hub.register(UserId(1), viewer(1, 1, Role::Agent, &[1]));
        let mut bob = hub.register(UserId(2), viewer(1, 2, Role::Agent, &[1]));
        hub.deliver(&Event { workspace_id: WorkspaceId(1), scope: None, payload: EventPayload::MembershipChanged { user_id: UserId(1) } });
        hub.deliver(&Event { workspace_id: WorkspaceId(1), scope: None, payload: EventPayload::CredentialsRevoked { user_id: UserId(1) } });
        hub.deliver(&scoped(1, Some(1)));
        assert_eq!(ann.recv().await, Some(Delivery::CredentialsChanged));
        assert_eq!(ann.recv().await, Some(Delivery::MembershipChanged));
        assert!(matches!(ann.recv().await, Some(Delivery::Frames(_))));
        assert!(matches!(bob.recv().await, Some(Delivery::Frames(_))), "bob got the frame and no flag");
        assert!(bob.take_flag().is_none());
        // New viewers take effect on the next event.
        ann.set_viewers(viewer(1, 1, Role::Agent, &[2]));
        hub.deliver(&scoped(1, Some(1)));
        assert_eq!(queued(&mut ann), 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_frames_and_asks_for_one_resync() {
        let hub = Fanout::default();
        let mut slow = hub.register(UserId(1), viewer(1, 1, Role::Agent, &[]));
        for _ in 0..QUEUE + 10 {
            hub.deliver(&scoped(1, None));
        }
        assert_eq!(slow.recv().await, Some(Delivery::Resync));
        assert_eq!(queued(&mut slow), QUEUE);
        assert!(slow.take_flag().is_none(), "one resync, not one per dropped frame");
    }

    #[test]
    fn a_batch_is_one_delivery_per_socket_of_the_frames_it_may_see_in_order() {
        let hub = Fanout::default();
        let mut team1 = hub.register(UserId(1), viewer(1, 1, Role::Agent, &[1]));
        let mut boss = hub.register(UserId(3), viewer(1, 3, Role::Supervisor, &[]));
        let mut elsewhere = hub.register(UserId(4), viewer(2, 4, Role::Admin, &[]));
        let mut typing = |conversation: i64, team: Option<i64>, ws: i64| {
            let mut e = scoped(ws, team);
            if let EventPayload::Typing(t) = &mut e.payload {
                t.conversation_id = ConversationId(conversation);
            }
            e
        };
        let batch = [typing(1, Some(1), 1), typing(2, Some(2), 1), team_event(1, None), typing(3, None, 2), typing(4, None, 1)];
        hub.deliver_all(&batch.map(Arc::new));
        let ids = |d: Frames| -> Vec<i64> {
            d.iter().map(|f| serde_json::from_str::<serde_json::Value>(f).ok().and_then(|v| v["data"]["conversation_id"].as_i64()).unwrap_or(-1)).collect()
        };
        assert_eq!(team1.rx.try_recv().map(ids), Ok(vec![1, 4]), "its team's and the pool's, in order");
        assert_eq!(boss.rx.try_recv().map(ids), Ok(vec![1, 2, 4]));
        assert_eq!(elsewhere.rx.try_recv().map(ids), Ok(vec![3]));
        assert_eq!((queued(&mut team1), queued(&mut boss), queued(&mut elsewhere)), (0, 0, 0), "one delivery each");
    }

    #[tokio::test]
    async fn a_visitor_socket_gets_only_its_contacts_events_and_is_forgotten_when_dropped() {
        let hub = Fanout::default();
        let for_contact = |ws: i64, contact: i64| {
            let mut e = scoped(ws, None);
            if let Some(scope) = &mut e.scope {
                scope.contact_id = ContactId(contact);
            }
            e
        };
        let mut ann = hub.register_visitor(WorkspaceId(1), ContactId(7));
        let mut bob = hub.register_visitor(WorkspaceId(1), ContactId(8));
        hub.deliver_all(&[Arc::new(for_contact(1, 7)), Arc::new(for_contact(1, 8)), Arc::new(for_contact(2, 7)), Arc::new(team_event(1, None))]);
        match ann.recv().await {
            Some(VisitorDelivery::Event(e)) => assert_eq!((e.workspace_id, e.scope.map(|s| s.contact_id)), (WorkspaceId(1), Some(ContactId(7)))),
            other => panic!("expected ann's event, got {other:?}"),
        }
        assert!(ann.rx.try_recv().is_err(), "another workspace's contact 7 and another contact's events are not ann's");
        assert!(matches!(bob.recv().await, Some(VisitorDelivery::Event(_))));
        assert!(bob.rx.try_recv().is_err());
        // A full queue turns into one resync.
        for _ in 0..QUEUE + 5 {
            hub.deliver(&for_contact(1, 7));
        }
        assert_eq!(ann.recv().await, Some(VisitorDelivery::Resync));
        drop((ann, bob));
        assert_eq!(hub.inner.visitors.read().map(|m| m.len()).unwrap_or(1), 0);
    }

    #[test]
    fn a_dropped_subscription_is_forgotten() {
        let hub = Fanout::default();
        let s = hub.register(UserId(1), viewer(1, 1, Role::Agent, &[]));
        assert_eq!(hub.inner.by_workspace.read().map(|m| m.len()).unwrap_or(0), 1);
        drop(s);
        assert_eq!(hub.inner.by_workspace.read().map(|m| m.len()).unwrap_or(1), 0);
    }
}
