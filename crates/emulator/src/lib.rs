//! Emulators of the messaging providers' HTTP APIs on loopback, so tests
//! and the demo run without real accounts.
//!
//! It owns the provider side of the wire: the WhatsApp Cloud API (Graph
//! `/{version}/{phone_number_id}/messages`, media retrieval) and the
//! Telegram Bot API (`/bot{token}/sendMessage` …, `getFile`), answering in
//! the providers' formats, with injectable 429/5xx, closed messaging
//! windows and blocked chats; and it drives inbound traffic at the
//! product by posting signed webhooks built byte for byte like Meta's and
//! Telegram's.
//!
//! It must never depend on `switchboard-channels` or the server: it is
//! the other side of the wire, so it writes its own JSON, and a bug shared
//! with the product's parsers cannot hide here.
//!
//! All routes are in `router`; `/_emulator/…` is the control API through
//! which the demo and scripts drive the `switchboard-emulator` binary.

mod control;
mod messenger;
mod state;
mod telegram;
mod viber;
mod whatsapp;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
pub use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use state::{FailurePlan, Provider, SENT_CAP, SentMessage};
pub use viber::content_signature as viber_signature;
pub use whatsapp::hub_signature;

use state::Inner;

/// Access token the WhatsApp side accepts from the start.
pub const WHATSAPP_TOKEN: &str = "emulator-whatsapp-token";
/// Bot token the Telegram side accepts from the start (bot id 100000001).
pub const TELEGRAM_BOT_TOKEN: &str = "100000001:emulator-telegram-token";
/// Page access token the Messenger side accepts from the start.
pub const MESSENGER_PAGE_TOKEN: &str = "emulator-messenger-page-token";
/// Page access token of the Instagram account the emulator accepts.
pub const INSTAGRAM_PAGE_TOKEN: &str = "emulator-instagram-page-token";
/// Auth token the Viber side accepts from the start.
pub const VIBER_AUTH_TOKEN: &str = "4a0d0b1c2e3f4a5b-emulator-viber-token";

/// A webhook the emulator posted to the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// What the product answered.
    pub status: StatusCode,
    /// The provider id of the event: the `wamid.…` of an inbound WhatsApp
    /// message (or the status's message), the Telegram `update_id`.
    pub id: String,
    /// The exact bytes posted; replay them with `post_signed_whatsapp` /
    /// `post_telegram` to test redelivery.
    pub body: Vec<u8>,
}

/// A running emulator. The server stops when this is dropped.
pub struct Emulator {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            "/{version}/{phone_number_id}/messages",
            post(whatsapp::send_message),
        )
        .route(
            "/{version}/{phone_number_id}/media",
            post(whatsapp::upload_media),
        )
        .route("/{version}/me/messages", post(messenger::send_message))
        .route("/{version}/{media_id}", get(whatsapp::media_info))
        .route("/media/{media_id}", get(whatsapp::media_download))
        .route("/cdn/{media_id}", get(whatsapp::cdn_download))
        .route(
            "/bot{token}/{method}",
            get(telegram::bot_method).post(telegram::bot_method),
        )
        .route("/file/bot{token}/{*path}", get(telegram::file_download))
        .route("/pa/send_message", post(viber::send_message))
        .route("/pa/set_webhook", post(viber::set_webhook))
        .merge(control::routes())
        .merge(viber::control_routes())
        .with_state(inner)
}

impl Emulator {
    /// Starts on 127.0.0.1 with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound, which leaves a test nothing to do.
    pub async fn start() -> Emulator {
        match Self::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await {
            Ok(emulator) => emulator,
            Err(err) => panic!("switchboard-emulator: cannot bind a loopback port: {err}"),
        }
    }

    /// Starts on `addr` (the binary's `--listen`).
    pub async fn bind(addr: SocketAddr) -> io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let inner = Arc::new(Inner::new(
            format!("http://{local_addr}"),
            WHATSAPP_TOKEN,
            TELEGRAM_BOT_TOKEN,
        ));
        let app = router(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            // Only fails if the listener dies; the emulator is then gone,
            // which the next request will show.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Emulator {
            inner,
            local_addr,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the `api_base_url` of WhatsApp and
    /// Telegram inboxes pointed at the emulator.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accept another WhatsApp access token (besides `WHATSAPP_TOKEN`).
    pub fn allow_whatsapp_token(&self, token: &str) {
        self.inner.lock().whatsapp_tokens.insert(token.to_owned());
    }

    /// Accept another bot token (`<bot id>:<secret>`, besides
    /// `TELEGRAM_BOT_TOKEN`).
    pub fn allow_telegram_token(&self, token: &str) {
        self.inner.lock().telegram_tokens.insert(token.to_owned());
    }

    /// Subscribes the app to the webhooks of WhatsApp number
    /// `phone_number_id`, as the app dashboard does: from now on every
    /// accepted send from that number gets its `sent` status (carrying the
    /// send's `biz_opaque_callback_data`) posted to `webhook_url`, signed
    /// with `app_secret`, and posted again until answered 2xx.
    pub fn subscribe_whatsapp(&self, phone_number_id: &str, webhook_url: &str, app_secret: &str) {
        let subscription = state::WebhookSubscription {
            url: webhook_url.to_owned(),
            app_secret: app_secret.to_owned(),
        };
        self.inner
            .lock()
            .whatsapp_webhooks
            .insert(phone_number_id.to_owned(), subscription);
    }

    /// Subscribes the app to the `message_echoes` of page `page_id` (whose
    /// sends use `page_access_token`): from now on every accepted send with
    /// that token is echoed to `webhook_url` — `is_echo`, `app_id` and the
    /// send's `metadata`, signed with `app_secret` — before it is answered.
    pub fn subscribe_page_echoes(
        &self,
        page_access_token: &str,
        page_id: &str,
        webhook_url: &str,
        app_secret: &str,
    ) {
        let subscription = state::WebhookSubscription {
            url: webhook_url.to_owned(),
            app_secret: app_secret.to_owned(),
        };
        self.inner.lock().page_webhooks.insert(
            page_access_token.to_owned(),
            (page_id.to_owned(), subscription),
        );
    }

    /// Accepted sends are answered only after `delay` (they are recorded
    /// and their webhooks posted first): a product that dies meanwhile
    /// never hears that the provider has the message. Zero turns it off.
    pub fn set_answer_delay(&self, delay: std::time::Duration) {
        self.inner.lock().answer_delay = delay;
    }

    /// Accepted sends whose answer is being held back (`set_answer_delay`).
    pub fn sends_in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    /// Accepted sends whose held answer never went out because the product
    /// closed the connection first (it died mid-send): the provider has
    /// these messages, the product never heard so.
    pub fn sends_abandoned(&self) -> usize {
        self.inner.abandoned()
    }

    /// Replace the failure plan; the PRNG restarts from `plan.seed`.
    pub fn set_failures(&self, plan: FailurePlan) {
        self.inner.set_failures(plan);
    }

    /// From now on, non-template sends to `wa_id` (digits compared) fail
    /// with 131047 "Re-engagement message"; templates still pass.
    pub fn set_window_closed(&self, wa_id: &str) {
        self.inner.set_window(wa_id, true);
    }

    pub fn set_window_open(&self, wa_id: &str) {
        self.inner.set_window(wa_id, false);
    }

    /// From now on, sends to `chat_id` fail with 403 "Forbidden: bot was
    /// blocked by the user".
    pub fn block_telegram_chat(&self, chat_id: i64) {
        self.inner.set_blocked(chat_id, true);
    }

    pub fn unblock_telegram_chat(&self, chat_id: i64) {
        self.inner.set_blocked(chat_id, false);
    }

    /// Hold a file as if a customer had sent it; returns its id, usable as
    /// a WhatsApp media id and as a Telegram `file_id`.
    pub fn add_media(&self, mime_type: &str, bytes: impl Into<Vec<u8>>) -> String {
        self.inner.add_media(mime_type, bytes.into())
    }

    /// Accepted sends (2xx answers), oldest first, at most `SENT_CAP`.
    /// The public CDN URL of a file added with `add_media` (Messenger,
    /// Instagram and Viber attachments point at such URLs).
    /// The MIME type and bytes of media the emulator holds (added by a
    /// test, or uploaded by the product in a multipart send).
    pub fn media_bytes(&self, media_id: &str) -> Option<(String, Vec<u8>)> {
        self.inner.media(media_id).map(|m| (m.mime_type, m.bytes))
    }

    pub fn cdn_url(&self, media_id: &str) -> String {
        format!("{}/cdn/{media_id}", self.base_url())
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.inner.lock().sent.to_vec()
    }

    /// Every call to a send endpoint, including rejected and failed ones.
    pub fn attempts(&self) -> usize {
        self.inner.attempts()
    }

    /// The URL the product registered with `setWebhook` for `bot_token`.
    pub fn telegram_webhook(&self, bot_token: &str) -> Option<String> {
        self.inner.lock().telegram_webhooks.get(bot_token).cloned()
    }

    /// The `secret_token` given with that `setWebhook` (if any).
    pub fn telegram_webhook_secret(&self, bot_token: &str) -> Option<String> {
        self.inner
            .lock()
            .telegram_webhook_secrets
            .get(bot_token)
            .cloned()
    }

    /// Posts a customer's text message webhook, signed with `app_secret`.
    pub async fn whatsapp_inbound_text(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        from_wa_id: &str,
        name: &str,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let content = serde_json::json!({ "type": "text", "text": { "body": text } });
        self.whatsapp_inbound(
            webhook_url,
            app_secret,
            phone_number_id,
            from_wa_id,
            name,
            content,
        )
        .await
    }

    /// Posts a customer's message of any type: `content` holds `type` and
    /// that type's object, e.g. from `whatsapp_media_content`; `from`,
    /// `id` and `timestamp` are filled in.
    pub async fn whatsapp_inbound(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        from_wa_id: &str,
        name: &str,
        content: Value,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .whatsapp_inbound(
                webhook_url,
                app_secret,
                phone_number_id,
                from_wa_id,
                name,
                content,
            )
            .await
    }

    /// `{"type":"image","image":{"id","mime_type","sha256","caption"}}` (or
    /// audio/video/document by MIME type) for media added with `add_media`.
    pub fn whatsapp_media_content(&self, media_id: &str, caption: Option<&str>) -> Option<Value> {
        whatsapp::media_content(&self.inner, media_id, caption)
    }

    /// Posts a `statuses` webhook (`sent`, `delivered`, `read`, `failed`)
    /// for a message the product sent.
    pub async fn whatsapp_status(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        wamid: &str,
        status: &str,
        recipient: &str,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .whatsapp_status(
                webhook_url,
                app_secret,
                phone_number_id,
                wamid,
                status,
                recipient,
            )
            .await
    }

    /// Posts exactly `raw` with its `X-Hub-Signature-256`.
    pub async fn post_signed_whatsapp(
        &self,
        url: &str,
        app_secret: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        self.inner.post_signed_whatsapp(url, app_secret, raw).await
    }

    /// Posts a coexistence echo (`smb_message_echoes`): `text` sent to
    /// `to_wa_id` from the WhatsApp Business app. `wamid` names the message
    /// (Meta echoes the product's own sends too), else a new one.
    pub async fn whatsapp_echo_text(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        to_wa_id: &str,
        wamid: Option<&str>,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let content = serde_json::json!({ "type": "text", "text": { "body": text } });
        let (id, body) =
            whatsapp::echo_payload(&self.inner, phone_number_id, to_wa_id, wamid, content);
        let status = self
            .inner
            .post_signed_whatsapp(webhook_url, app_secret, &body)
            .await?;
        Ok(Delivery { status, id, body })
    }

    /// Accept another Messenger Platform page access token, for Messenger
    /// or Instagram (`Provider::Instagram`) sends.
    pub fn allow_page_token(&self, token: &str, product: Provider) {
        self.inner
            .lock()
            .page_tokens
            .insert(token.to_owned(), product);
    }

    /// From now on, free-form (`RESPONSE`/`UPDATE`) Messenger and Instagram
    /// sends to `recipient` (PSID / IGSID) fail with code 10, subcode
    /// 2018278 "outside of allowed window"; `HUMAN_AGENT` tagged ones pass.
    pub fn set_messenger_window_closed(&self, recipient: &str) {
        self.inner.set_meta_window(recipient, true);
    }

    pub fn set_messenger_window_open(&self, recipient: &str) {
        self.inner.set_meta_window(recipient, false);
    }

    /// Posts a Messenger text message from `psid` to page `page_id`,
    /// signed with `app_secret`; `Delivery::id` is its `mid`.
    pub async fn messenger_inbound_text(
        &self,
        webhook_url: &str,
        app_secret: &str,
        page_id: &str,
        psid: &str,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        self.messenger_inbound(webhook_url, app_secret, page_id, psid, serde_json::json!({ "text": text }))
            .await
    }

    /// Posts a Messenger message of any shape (`text`, `attachments`,
    /// `quick_reply`…); `mid` is filled in.
    pub async fn messenger_inbound(
        &self,
        webhook_url: &str,
        app_secret: &str,
        page_id: &str,
        psid: &str,
        message: Value,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .meta_inbound(
                Provider::Messenger,
                webhook_url,
                app_secret,
                page_id,
                psid,
                message,
            )
            .await
    }

    /// Posts an Instagram Direct text message from `igsid` to the
    /// professional account `ig_account_id` (`object: "instagram"`).
    pub async fn instagram_inbound_text(
        &self,
        webhook_url: &str,
        app_secret: &str,
        ig_account_id: &str,
        igsid: &str,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let message = serde_json::json!({ "text": text });
        self.inner
            .meta_inbound(
                Provider::Instagram,
                webhook_url,
                app_secret,
                ig_account_id,
                igsid,
                message,
            )
            .await
    }

    /// An `is_echo` message: `text` sent by page `page_id` to `psid` (from
    /// Meta Business Suite, or an echo of the product's own send when `mid`
    /// names it; else a new mid).
    pub async fn messenger_echo_text(
        &self,
        webhook_url: &str,
        app_secret: &str,
        page_id: &str,
        psid: &str,
        mid: Option<&str>,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let mid = mid.map_or_else(
            || self.inner.new_wamid().replacen("wamid.", "m_", 1),
            str::to_owned,
        );
        let event = serde_json::json!({
            "sender": { "id": page_id },
            "recipient": { "id": psid },
            "timestamp": messenger::unix_ms(),
            "message": { "mid": mid, "is_echo": true, "text": text },
        });
        self.inner
            .meta_event(
                Provider::Messenger,
                webhook_url,
                app_secret,
                page_id,
                &mid,
                event,
            )
            .await
    }

    /// A `message_deliveries` event: `mids` delivered, and everything up to
    /// now (the watermark).
    pub async fn messenger_delivery(
        &self,
        webhook_url: &str,
        app_secret: &str,
        page_id: &str,
        psid: &str,
        mids: &[&str],
    ) -> reqwest::Result<Delivery> {
        let event = serde_json::json!({
            "sender": { "id": psid },
            "recipient": { "id": page_id },
            "delivery": { "mids": mids, "watermark": messenger::unix_ms() },
        });
        let id = mids.first().copied().unwrap_or_default();
        self.inner
            .meta_event(
                Provider::Messenger,
                webhook_url,
                app_secret,
                page_id,
                id,
                event,
            )
            .await
    }

    /// A `message_reads` event: everything sent to `psid` up to
    /// `watermark_ms` (now if `None`) was read.
    pub async fn messenger_read(
        &self,
        webhook_url: &str,
        app_secret: &str,
        page_id: &str,
        psid: &str,
        watermark_ms: Option<i64>,
    ) -> reqwest::Result<Delivery> {
        let now = messenger::unix_ms();
        let event = serde_json::json!({
            "sender": { "id": psid },
            "recipient": { "id": page_id },
            "timestamp": now,
            "read": { "watermark": watermark_ms.unwrap_or(now) },
        });
        self.inner
            .meta_event(
                Provider::Messenger,
                webhook_url,
                app_secret,
                page_id,
                "",
                event,
            )
            .await
    }

    /// Instagram's `messaging_seen`: the message `mid` was seen.
    pub async fn instagram_seen(
        &self,
        webhook_url: &str,
        app_secret: &str,
        ig_account_id: &str,
        igsid: &str,
        mid: &str,
    ) -> reqwest::Result<Delivery> {
        let event = serde_json::json!({
            "sender": { "id": igsid },
            "recipient": { "id": ig_account_id },
            "timestamp": messenger::unix_ms(),
            "read": { "mid": mid },
        });
        self.inner
            .meta_event(
                Provider::Instagram,
                webhook_url,
                app_secret,
                ig_account_id,
                mid,
                event,
            )
            .await
    }

    /// Posts an Update with a text message from private chat `chat_id`.
    pub async fn telegram_inbound_text(
        &self,
        webhook_url: &str,
        secret_token: &str,
        chat_id: i64,
        first_name: &str,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let content = serde_json::json!({ "text": text });
        self.telegram_inbound(webhook_url, secret_token, chat_id, first_name, content)
            .await
    }

    /// Posts an Update whose message carries `content` (`text`, or e.g.
    /// the output of `telegram_media_content`).
    pub async fn telegram_inbound(
        &self,
        webhook_url: &str,
        secret_token: &str,
        chat_id: i64,
        first_name: &str,
        content: Value,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .telegram_inbound(webhook_url, secret_token, chat_id, first_name, content)
            .await
    }

    /// `{"photo":[…],"caption":…}` (or audio/video/document by MIME type)
    /// for a file added with `add_media`.
    pub fn telegram_media_content(&self, file_id: &str, caption: Option<&str>) -> Option<Value> {
        telegram::media_content(&self.inner, file_id, caption)
    }

    /// Posts exactly `raw` with `X-Telegram-Bot-Api-Secret-Token`.
    pub async fn post_telegram(
        &self,
        url: &str,
        secret_token: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        self.inner.post_telegram(url, secret_token, raw).await
    }
}
