//! Event fan-out after commit.
//!
//! Owns: delivering committed `Event`s to every interested task of every
//! node. In-process it is a tokio broadcast channel; when scaled out, the
//! same events also travel over NATS so that a WebSocket on node B hears
//! what was written on node A.
//!
//! Must never: be the only record of a change (the store's `events` table
//! is), decide who may see an event (the realtime hub does), block a
//! publisher (slow subscribers lag and resync; NATS sends are queued to one
//! forwarding task).

use std::sync::Arc;
use switchboard_core::events::Event;
use tokio::sync::{broadcast, mpsc};

mod nats;

pub use nats::{NatsError, DEFAULT_SUBJECT_PREFIX};

/// Capacity of each subscriber's backlog before it lags.
const LOCAL_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Arc<Event>>,
    /// Set when scaled out: every published event is also sent to the other
    /// nodes, in order, by one forwarding task.
    remote: Option<mpsc::UnboundedSender<Arc<Event>>>,
    /// Only the events published by this process (see `subscribe_own`).
    own: broadcast::Sender<Arc<Event>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::in_process()
    }
}

impl Bus {
    pub fn in_process() -> Bus {
        let (local, _) = broadcast::channel(LOCAL_CAPACITY);
        let (own, _) = broadcast::channel(LOCAL_CAPACITY);
        Bus { local, remote: None, own }
    }

    /// A bus that also exchanges events with the other nodes through the
    /// NATS server at `url`. Local subscribers get local events at once and
    /// remote ones as they arrive; a node never receives its own events
    /// twice.
    pub async fn with_nats(url: &str, subject_prefix: &str) -> Result<Bus, NatsError> {
        let (local, _) = broadcast::channel(LOCAL_CAPACITY);
        let remote = nats::link(url, subject_prefix, local.clone()).await?;
        let (own, _) = broadcast::channel(LOCAL_CAPACITY);
        Ok(Bus { local, remote: Some(remote), own })
    }

    pub fn is_distributed(&self) -> bool {
        self.remote.is_some()
    }

    /// Delivers to every subscriber of this process (and, when scaled out,
    /// of every other node). Having no subscriber is not an error.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(remote) = &self.remote {
            let _ = remote.send(event.clone());
        }
        if self.own.receiver_count() > 0 {
            let _ = self.own.send(event.clone());
        }
        let _ = self.local.send(event);
    }

    pub fn publish_all(&self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.publish(e);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }

    /// Only the events published by this process, not those heard from
    /// other nodes: for work that must happen once per committed write in
    /// the whole deployment (automation rules), done by the node that
    /// committed it.
    pub fn subscribe_own(&self) -> broadcast::Receiver<Arc<Event>> {
        self.own.subscribe()
    }

    pub fn subscriber_count(&self) -> usize {
        self.local.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::events::{EventPayload, PresenceChange};
    use switchboard_core::*;

    fn presence(user: i64) -> Event {
        Event {
            workspace_id: WorkspaceId(1),
            scope: None,
            payload: EventPayload::PresenceUpdated(PresenceChange {
                user_id: UserId(user),
                status: Presence::Online,
                since: Timestamp(0),
            }),
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = Bus::in_process();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish_all([presence(1), presence(2)]);
        for rx in [&mut a, &mut b] {
            assert_eq!(*rx.recv().await.unwrap(), presence(1));
            assert_eq!(*rx.recv().await.unwrap(), presence(2));
        }
    }

    #[tokio::test]
    async fn own_subscribers_get_this_process_events() {
        let bus = Bus::in_process();
        let mut own = bus.subscribe_own();
        bus.publish(presence(1));
        assert_eq!(*own.recv().await.expect("event"), presence(1));
    }

    #[test]
    fn publishing_without_subscribers_is_fine() {
        Bus::in_process().publish(presence(1));
    }
}

/// Two buses on one NATS server behave as two nodes of one deployment.
#[cfg(test)]
mod nats_tests {
    use super::*;
    use std::time::Duration;
    use switchboard_core::events::{EventPayload, PresenceChange};
    use switchboard_core::*;

    fn nats_url() -> String {
        std::env::var("SWITCHBOARD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    }

    async fn reachable() -> bool {
        let url = nats_url();
        let addr = url.trim_start_matches("nats://").to_owned();
        matches!(
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_cross_nodes_once_and_in_order() {
        if !reachable().await {
            assert!(std::env::var_os("CI").is_none(), "NATS must be reachable in CI");
            eprintln!("NATS unreachable: skipping");
            return;
        }
        // A private subject prefix: other test runs on this NATS server
        // cannot interfere.
        let prefix = format!("sbtest.{:x}", rand::random::<u64>());
        let a = Bus::with_nats(&nats_url(), &prefix).await.unwrap();
        let b = Bus::with_nats(&nats_url(), &prefix).await.unwrap();
        let mut on_a = a.subscribe();
        let mut on_b = b.subscribe();
        // Distinct workspace ids so parallel test runs do not interfere.
        let ws = WorkspaceId(rand::random::<u32>() as i64 + 1_000_000);
        let event = |user: i64| Event {
            workspace_id: ws,
            scope: None,
            payload: EventPayload::PresenceUpdated(PresenceChange { user_id: UserId(user), status: Presence::Online, since: Timestamp(0) }),
        };
        a.publish_all([event(1), event(2), event(3)]);
        for n in 1..=3 {
            let got = tokio::time::timeout(Duration::from_secs(5), on_b.recv()).await.unwrap().unwrap();
            assert_eq!(*got, event(n), "node B gets A's events in order");
            let local = on_a.recv().await.unwrap();
            assert_eq!(*local, event(n));
        }
        // A does not hear its own events a second time via NATS.
        let echo = tokio::time::timeout(Duration::from_millis(500), on_a.recv()).await;
        assert!(echo.is_err(), "unexpected echo {echo:?}");
    }
}
