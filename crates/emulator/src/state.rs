//! The emulator's shared state: credentials, failure plan, the record of
//! accepted sends, media it holds, and the id counters. Handlers and the
//! public `Emulator` both go through `Inner`; the mutex is never held
//! across an `.await`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// At most this many accepted sends are remembered; the oldest go first.
pub const SENT_CAP: usize = 100_000;

/// How long an undelivered webhook is retried.
const WEBHOOK_RETRY_FOR: Duration = Duration::from_secs(600);

/// Which provider's API accepted a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    WhatsApp,
    Telegram,
    Viber,
    Messenger,
    Instagram,
}

/// One send the emulator accepted (answered 2xx), in acceptance order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub provider: Provider,
    /// The business side: WhatsApp `phone_number_id` from the URL, or the
    /// Telegram bot id (the part of the token before `:`).
    pub account: String,
    /// WhatsApp: the `to` field as sent. Telegram: the chat id.
    pub to: String,
    /// The request body exactly as the product sent it.
    pub body: serde_json::Value,
    /// The provider's id of the message: the `wamid.…` it answered, or for
    /// Telegram `"<chat_id>:<message_id>"` (a `message_id` alone is unique
    /// only within its chat).
    pub external_id: String,
}

/// Injected failures for send calls. Each send call (after the credential
/// check) draws one number from a PRNG seeded with `seed`: below
/// `rate_429` it is answered 429, below `rate_429 + rate_5xx` 500 or 503.
/// The n-th call after `set_failures` gets the same answer for the same
/// seed. Media and file downloads are never failed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FailurePlan {
    pub rate_429: f64,
    pub rate_5xx: f64,
    /// Sent as `Retry-After` (WhatsApp) / `parameters.retry_after` (Telegram).
    pub retry_after_secs: u64,
    pub seed: u64,
}

/// An injected failure, before it is dressed in a provider's error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    TooManyRequests { retry_after_secs: u64 },
    ServerError(StatusCode),
}

/// splitmix64: tiny, deterministic, good enough to spread failures.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl FailurePlan {
    pub(crate) fn draw(&self, rng: &mut SplitMix64) -> Option<Injected> {
        let u = rng.next_f64();
        if u < self.rate_429 {
            Some(Injected::TooManyRequests {
                retry_after_secs: self.retry_after_secs,
            })
        } else if u < self.rate_429 + self.rate_5xx {
            let status = if rng.next_u64() & 1 == 0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Some(Injected::ServerError(status))
        } else {
            None
        }
    }
}

/// A bounded FIFO record: pushing past `cap` drops the oldest entry.
#[derive(Debug)]
pub(crate) struct Record<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T: Clone> Record<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            items: VecDeque::new(),
            cap,
        }
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn to_vec(&self) -> Vec<T> {
        self.items.iter().cloned().collect()
    }
}

/// A file the emulator holds as if a customer had sent it.
#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`, as WhatsApp reports it.
    pub sha256: String,
}

/// A Telegram private chat as the emulator sees it.
#[derive(Debug, Default)]
pub(crate) struct Chat {
    pub last_message_id: i64,
    pub first_name: Option<String>,
    pub blocked: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub whatsapp_tokens: HashSet<String>,
    pub telegram_tokens: HashSet<String>,
    pub failures: Option<(FailurePlan, SplitMix64)>,
    /// wa_ids (digits only) whose 24-hour window is closed.
    pub closed_windows: HashSet<String>,
    pub chats: HashMap<i64, Chat>,
    pub media: HashMap<String, Media>,
    pub sent: Record<SentMessage>,
    pub last_update_id: i64,
    /// bot token → URL given to setWebhook.
    pub telegram_webhooks: HashMap<String, String>,
    /// bot token → `secret_token` given to setWebhook.
    pub telegram_webhook_secrets: HashMap<String, String>,
    /// Viber auth token → URL given to set_webhook.
    pub viber_webhooks: HashMap<String, String>,
    /// Page access tokens of the Messenger Platform and which product
    /// (Messenger or Instagram) each speaks for.
    pub page_tokens: HashMap<String, Provider>,
    /// PSIDs / IGSIDs whose 24-hour window is closed: only `HUMAN_AGENT`
    /// tagged sends pass.
    pub meta_closed_windows: HashSet<String>,
    /// Viber auth tokens accepted in `X-Viber-Auth-Token`.
    pub viber_tokens: HashSet<String>,
    /// Viber user ids sends to which answer status 6 (not subscribed).
    pub viber_unsubscribed: HashSet<String>,
    /// The last Viber `message_token` handed out (int64, like Viber's).
    pub viber_last_token: i64,
    /// WhatsApp phone_number_id → the app's webhook subscription: accepted
    /// sends from that number get their `sent` status posted there.
    pub whatsapp_webhooks: HashMap<String, WebhookSubscription>,
    /// Page access token → (page id, subscription): accepted Messenger /
    /// Instagram sends with that token get their echo posted there before
    /// they are answered.
    pub page_webhooks: HashMap<String, (String, WebhookSubscription)>,
    /// How long accepted sends wait before they are answered (the send is
    /// recorded, and its webhooks go out, first): a product killed during
    /// the wait never learns the outcome of a send the provider has.
    pub answer_delay: Duration,
}

/// Where the provider posts webhooks for one business account.
#[derive(Debug, Clone)]
pub(crate) struct WebhookSubscription {
    pub url: String,
    pub app_secret: String,
}

pub(crate) struct Inner {
    pub base_url: String,
    pub client: reqwest::Client,
    /// Unix milliseconds at start: makes ids of a restarted emulator differ
    /// from the last run's, so a product's dedup does not swallow them.
    started_ms: u64,
    seq: AtomicU64,
    attempts: AtomicUsize,
    /// Accepted sends whose answer has not gone out yet.
    in_flight: AtomicUsize,
    /// Accepted sends whose held answer never went out: the product closed
    /// the connection (died) while waiting.
    abandoned: AtomicUsize,
    state: Mutex<State>,
}

/// Counts a send as in flight until dropped: answered, or abandoned when
/// the product closed its connection (the server drops the handler).
pub(crate) struct InFlight<'a> {
    inner: &'a Inner,
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.answered {
            self.inner.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds between 1970 and 2024-01-01: Telegram message ids start from
/// "seconds since 2024" so they stay 32-bit for decades.
const EPOCH_2024: u64 = 1_704_067_200;

impl Inner {
    pub(crate) fn new(base_url: String, whatsapp_token: &str, telegram_token: &str) -> Self {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let state = State {
            whatsapp_tokens: HashSet::from([whatsapp_token.to_owned()]),
            telegram_tokens: HashSet::from([telegram_token.to_owned()]),
            failures: None,
            closed_windows: HashSet::new(),
            chats: HashMap::new(),
            media: HashMap::new(),
            sent: Record::new(SENT_CAP),
            last_update_id: started_ms as i64,
            telegram_webhooks: HashMap::new(),
            telegram_webhook_secrets: HashMap::new(),
            viber_webhooks: HashMap::new(),
            page_tokens: HashMap::from([
                (crate::MESSENGER_PAGE_TOKEN.to_owned(), Provider::Messenger),
                (crate::INSTAGRAM_PAGE_TOKEN.to_owned(), Provider::Instagram),
            ]),
            meta_closed_windows: HashSet::new(),
            viber_tokens: HashSet::from([crate::VIBER_AUTH_TOKEN.to_owned()]),
            viber_unsubscribed: HashSet::new(),
            // ~1.8e18 today: large like Viber's tokens, below i64::MAX, and
            // different after a restart.
            viber_last_token: (started_ms as i64) << 20,
            whatsapp_webhooks: HashMap::new(),
            page_webhooks: HashMap::new(),
            answer_delay: Duration::ZERO,
        };
        Self {
            base_url,
            client,
            started_ms,
            seq: AtomicU64::new(0),
            attempts: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not wedge the whole emulator.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn new_wamid(&self) -> String {
        format!("wamid.EMU{:X}{:08X}", self.started_ms, self.next_seq())
    }

    pub(crate) fn new_fbtrace_id(&self) -> String {
        format!(
            "AEmu{:X}",
            self.started_ms ^ self.next_seq().rotate_left(32)
        )
    }

    /// Numeric like Meta's media ids; also used as Telegram `file_id`.
    pub(crate) fn new_media_id(&self) -> String {
        format!("{}{:06}", self.started_ms, self.next_seq())
    }

    pub(crate) fn first_message_id(&self) -> i64 {
        (self.started_ms / 1000).saturating_sub(EPOCH_2024) as i64
    }

    pub(crate) fn count_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn attempts(&self) -> usize {
        self.attempts.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Holds an accepted send's answer for the configured delay, counted
    /// as in flight meanwhile.
    pub(crate) async fn delay_answer(&self) {
        let delay = self.lock().answer_delay;
        if delay.is_zero() {
            return;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut guard = InFlight {
            inner: self,
            answered: false,
        };
        tokio::time::sleep(delay).await;
        guard.answered = true;
    }

    pub(crate) fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Posts a signed webhook for WhatsApp number `phone_number_id`, `after`
    /// a pause, the way Meta does when the receiver is down or refuses it: again, with
    /// growing pauses, until a 2xx (for at most `WEBHOOK_RETRY_FOR`; Meta
    /// keeps trying for days). Each try goes to the number's subscription
    /// as it is then, so a product that moved is still reached.
    pub(crate) fn deliver_until_taken(
        self: &std::sync::Arc<Self>,
        phone_number_id: String,
        body: Vec<u8>,
        after: Duration,
    ) {
        let inner = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let deadline = tokio::time::Instant::now() + WEBHOOK_RETRY_FOR;
            let mut pause = Duration::from_millis(100);
            loop {
                let subscription = inner
                    .lock()
                    .whatsapp_webhooks
                    .get(&phone_number_id)
                    .cloned();
                let Some(subscription) = subscription else {
                    return;
                };
                match inner
                    .post_signed_whatsapp(&subscription.url, &subscription.app_secret, &body)
                    .await
                {
                    Ok(status) if status.is_success() => return,
                    _ if tokio::time::Instant::now() >= deadline => return,
                    _ => {}
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
    }

    pub(crate) fn draw_failure(&self) -> Option<Injected> {
        let mut state = self.lock();
        let (plan, rng) = state.failures.as_mut()?;
        plan.draw(rng)
    }

    pub(crate) fn set_failures(&self, plan: FailurePlan) {
        self.lock().failures = Some((plan, SplitMix64::new(plan.seed)));
    }

    pub(crate) fn add_media(&self, mime_type: &str, bytes: Vec<u8>) -> String {
        let id = self.new_media_id();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let media = Media {
            id: id.clone(),
            mime_type: mime_type.to_owned(),
            bytes,
            sha256,
        };
        self.lock().media.insert(id.clone(), media);
        id
    }

    pub(crate) fn media(&self, id: &str) -> Option<Media> {
        self.lock().media.get(id).cloned()
    }

    /// Closes (or reopens) the 24-hour window of a WhatsApp user. Sticky:
    /// the emulator does not model the clock, and an inbound message does
    /// not reopen it, so a test can set it up in any order.
    pub(crate) fn set_window(&self, wa_id: &str, closed: bool) {
        let wa_id: String = wa_id.chars().filter(char::is_ascii_digit).collect();
        let mut state = self.lock();
        if closed {
            state.closed_windows.insert(wa_id);
        } else {
            state.closed_windows.remove(&wa_id);
        }
    }

    /// Sticky like `set_window`: inbound updates do not unblock.
    pub(crate) fn set_blocked(&self, chat_id: i64, blocked: bool) {
        self.lock().chats.entry(chat_id).or_default().blocked = blocked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_drops_oldest_beyond_cap() {
        let mut record = Record::new(3);
        for i in 0..5 {
            record.push(i);
        }
        assert_eq!(record.to_vec(), vec![2, 3, 4]);
    }

    #[test]
    fn failure_draws_match_rates_and_repeat_per_seed() {
        let plan = FailurePlan {
            rate_429: 0.2,
            rate_5xx: 0.1,
            retry_after_secs: 2,
            seed: 7,
        };
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..10_000).map(|_| plan.draw(&mut rng)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let n429 = a
            .iter()
            .filter(|d| matches!(d, Some(Injected::TooManyRequests { .. })))
            .count();
        let n5xx = a
            .iter()
            .filter(|d| matches!(d, Some(Injected::ServerError(_))))
            .count();
        assert!((1_800..2_200).contains(&n429), "429s: {n429}");
        assert!((850..1_150).contains(&n5xx), "5xx: {n5xx}");
        let n500 = a
            .iter()
            .filter(|d| **d == Some(Injected::ServerError(StatusCode::INTERNAL_SERVER_ERROR)))
            .count();
        assert!(n500 > 0 && n500 < n5xx, "both 500 and 503 occur");
    }

    #[test]
    fn zero_plan_never_fails() {
        let mut rng = SplitMix64::new(1);
        let plan = FailurePlan::default();
        assert!((0..1_000).all(|_| plan.draw(&mut rng).is_none()));
    }

    #[test]
    fn ids_are_unique() {
        let inner = Inner::new("http://x".into(), "a", "b");
        let ids: HashSet<String> = (0..1_000).map(|_| inner.new_wamid()).collect();
        assert_eq!(ids.len(), 1_000);
        assert!(inner.new_media_id().bytes().all(|b| b.is_ascii_digit()));
    }
}
