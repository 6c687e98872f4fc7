//! NATS transport: events travel as JSON envelopes on the subjects
//! `<prefix>.<workspace_id>` (prefix `switchboard.events` by default), tagged with the sending node's id so
//! a node ignores its own.

use futures_util::StreamExt;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::events::Event;
use tokio::sync::{broadcast, mpsc};

/// Default subject prefix; deployments sharing one NATS server use their own.
pub const DEFAULT_SUBJECT_PREFIX: &str = "switchboard.events";

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot subscribe on NATS: {0}")]
    Subscribe(String),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    event: Event,
}

pub(crate) async fn link(
    url: &str,
    prefix: &str,
    local: broadcast::Sender<Arc<Event>>,
) -> Result<mpsc::UnboundedSender<Arc<Event>>, NatsError> {
    let prefix = prefix.trim_end_matches('.').to_owned();
    let connect_err = |e: &dyn std::fmt::Display| NatsError::Connect { url: url.to_owned(), reason: e.to_string() };
    let client = tokio::time::timeout(
        Duration::from_secs(10),
        async_nats::ConnectOptions::new().name("switchboard").retry_on_initial_connect().connect(url),
    )
    .await
    .map_err(|e| connect_err(&e))?
    .map_err(|e| connect_err(&e))?;
    let node: String = format!("{:016x}", rand::rng().random::<u64>());
    let mut inbound = client
        .subscribe(format!("{prefix}.>"))
        .await
        .map_err(|e| NatsError::Subscribe(e.to_string()))?;
    // Make sure the server registered the subscription before we report
    // ready, so nothing published right after start-up is missed.
    client.flush().await.map_err(|e| NatsError::Subscribe(e.to_string()))?;

    let me = node.clone();
    tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            match serde_json::from_slice::<Envelope>(&msg.payload) {
                Ok(env) if env.origin != me => {
                    let _ = local.send(Arc::new(env.event));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, subject = %msg.subject, "ignoring a malformed event from NATS"),
            }
        }
        tracing::error!("NATS subscription ended");
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Arc<Event>>();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let subject = format!("{prefix}.{}", event.workspace_id);
            let env = Envelope { origin: node.clone(), event: (*event).clone() };
            match serde_json::to_vec(&env) {
                Ok(bytes) => {
                    if let Err(e) = client.publish(subject, bytes.into()).await {
                        tracing::warn!(error = %e, "NATS publish failed; remote nodes will resync");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode event"),
            }
        }
    });
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::events::{EventPayload, PresenceChange};
    use switchboard_core::*;

    #[test]
    fn envelope_round_trips_every_field() {
        let event = Event {
            workspace_id: WorkspaceId(4),
            scope: None,
            payload: EventPayload::PresenceUpdated(PresenceChange { user_id: UserId(2), status: Presence::Dnd, since: Timestamp(5) }),
        };
        let bytes = serde_json::to_vec(&Envelope { origin: "n1".into(), event: event.clone() }).unwrap();
        let back: Envelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.origin, "n1");
        assert_eq!(back.event, event);
    }
}
