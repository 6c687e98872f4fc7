//! Event fan-out after commit.
//!
//! Owns: delivering committed `Event`s to every interested task of every
//! node. In-process it is a tokio broadcast channel; when scaled out, the
//! same events also travel over NATS so that a WebSocket on node B hears
//! what was written on node A.
//!
//! Must never: be the only record of a change (the store's `events` table
//! is), decide who may see an event (the realtime hub does), block a
//! publisher (slow subscribers lag and resync).

use std::sync::Arc;
use switchboard_core::events::Event;
use tokio::sync::broadcast;

/// Capacity of each subscriber's backlog before it lags.
const LOCAL_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Arc<Event>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::in_process()
    }
}

impl Bus {
    pub fn in_process() -> Bus {
        let (local, _) = broadcast::channel(LOCAL_CAPACITY);
        Bus { local }
    }

    /// Delivers to every subscriber of this process. Having no subscriber
    /// is not an error: nobody is listening right now.
    pub fn publish(&self, event: Event) {
        let _ = self.local.send(Arc::new(event));
    }

    pub fn publish_all(&self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.publish(e);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
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

    #[test]
    fn publishing_without_subscribers_is_fine() {
        Bus::in_process().publish(presence(1));
    }
}
