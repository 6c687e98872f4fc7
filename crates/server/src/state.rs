//! Shared application state and the injected clock.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_bus::Bus;
use switchboard_core::rate_limit::{RateLimit, RateLimiter};
use switchboard_core::{Timestamp, WorkspaceId};
use switchboard_store::Store;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted file upload, in bytes.
    pub max_upload_bytes: usize,
    /// Demo mode serves the widget demo page.
    pub demo: bool,
    /// How long a login session lasts.
    pub session_ttl_ms: i64,
    pub login_limit: RateLimit,
    pub public_limit: RateLimit,
    /// How often the SLA / auto-resolve scanner runs.
    pub scan_interval_ms: u64,
    /// The address customers' providers reach this server at (webhooks,
    /// file URLs); None: the Host the request came in with.
    pub public_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: None,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: crate::routes::files::DEFAULT_MAX_FILE_BYTES,
            demo: false,
            session_ttl_ms: 30 * 24 * 3600 * 1000,
            login_limit: RateLimit { max_events: 10, window_ms: 60_000 },
            public_limit: RateLimit { max_events: 120, window_ms: 60_000 },
            scan_interval_ms: 5_000,
        }
    }
}

/// Rate limiters keyed by client address (and login email).
pub struct Limiters {
    pub login: Mutex<RateLimiter<String>>,
    pub public: Mutex<RateLimiter<String>>,
}

/// What every handler and task shares, behind one `Arc`: handlers clone
/// the state several times per request (axum's `State`, spawned tasks), and
/// cloning a dozen `Arc`s each time was ≈2 % of max-ingest CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Store,
    pub bus: Bus,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub limiters: Arc<Limiters>,
    pub metrics: Arc<Metrics>,
    /// Flips to true when the server is shutting down: long-lived sockets
    /// close so the graceful shutdown can finish.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// This node's router (see `router.rs`); answers offers.
    pub router: crate::router::RouterHandle,
    /// This node's agent sockets, fed from the bus (see `fanout.rs`).
    pub fanout: crate::fanout::Fanout,
    signing_secrets: Arc<Mutex<HashMap<WorkspaceId, Arc<[u8]>>>>,
}

impl AppState {
    pub fn new(
        store: Store,
        bus: Bus,
        clock: Arc<dyn Clock>,
        settings: Settings,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> AppState {
        let limiters = Limiters {
            login: Mutex::new(RateLimiter::new(settings.login_limit)),
            public: Mutex::new(RateLimiter::new(settings.public_limit)),
        };
        AppState(Arc::new(Shared {
            store,
            bus,
            clock,
            settings: Arc::new(settings),
            limiters: Arc::new(limiters),
            metrics: Arc::new(Metrics::default()),
            shutdown,
            router: crate::router::RouterHandle::default(),
            fanout: crate::fanout::Fanout::default(),
            signing_secrets: Arc::new(Mutex::new(HashMap::new())),
        }))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The workspace's private key for visitor tokens. Secrets never change,
    /// so they are cached after the first read.
    pub async fn signing_secret(&self, ws: WorkspaceId) -> Result<Option<Arc<[u8]>>, switchboard_store::StoreError> {
        if let Some(s) = self.signing_secrets.lock().ok().and_then(|m| m.get(&ws).cloned()) {
            return Ok(Some(s));
        }
        let Some(secret) = self.store.workspace_signing_secret(ws).await? else { return Ok(None) };
        let secret: Arc<[u8]> = Arc::from(secret.into_bytes().into_boxed_slice());
        if let Ok(mut m) = self.signing_secrets.lock() {
            m.insert(ws, secret.clone());
        }
        Ok(Some(secret))
    }

    /// Publishes what a committed write produced.
    pub fn publish(&self, events: Vec<switchboard_core::events::Event>) {
        self.metrics.events_published.fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.bus.publish_all(events);
    }
}
