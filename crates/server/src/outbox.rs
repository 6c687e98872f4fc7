//! The outbox worker: sends agents' replies to the providers. Rows are
//! written in the reply's own transaction (store), so a reply the agent saw
//! accepted is never lost. The worker takes the oldest due row of each
//! conversation (order per conversation), claims it with a lease (one
//! sender across nodes), calls the provider, and records the outcome:
//! sent with the provider's id, retried later with exponential backoff
//! (honouring Retry-After), or failed with the provider's reason.
//!
//! A send whose outcome is unknown — the process died between the call and
//! storing its answer (the row's claim is still marked when the lease runs
//! out), or the provider never answered — leaves the row *in doubt*:
//!
//! - WhatsApp: exactly once. Every send carries the row's idempotency key
//!   as `biz_opaque_callback_data`, which Meta echoes on the message's
//!   status webhooks (retried by Meta until we answer 200). The webhook
//!   route settles a pending row named by such a status as sent with the
//!   wamid (`outbox_sent_by_key`), in flight or in doubt. The worker does
//!   not send an in-doubt WhatsApp row again until a grace period has
//!   passed without such a status; only a send Meta never took, or whose
//!   statuses are lost, is made again after it.
//! - Telegram, Viber, Messenger, Instagram: at least once. Their send APIs
//!   take no idempotency key and (but for Messenger's echoes, see the
//!   webhook route) report nothing that names an unanswered send, so an
//!   in-doubt row is sent again at once. The window is one HTTP round trip.
//!
//! A message sent again after a doubt carries a note for the agent ("may
//! have been sent twice", in `failure_reason`; its status stays sent).

use crate::state::AppState;
use std::time::Duration;
use switchboard_channels::provider::{self, SendOutcome, SendRequest};
use switchboard_channels::messenger::{self, Platform};
use switchboard_channels::{telegram, whatsapp};
use switchboard_core::*;
use switchboard_store::OutboxItem;

/// How long one send may take before its outcome counts as unknown.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: i64 = 50;
const MAX_BACKOFF_SECS: u64 = 300;

/// The worker's timing (tests shorten all of it).
#[derive(Debug, Clone, Copy)]
pub struct OutboxConfig {
    /// How often due rows are looked for.
    pub poll: Duration,
    /// A claimed row is left alone this long (longer than a send can take);
    /// a crash mid-send is found when it runs out.
    pub lease: Duration,
    /// How long an in-doubt WhatsApp row waits for a status webhook naming
    /// its earlier attempt before it is sent again.
    pub in_doubt_grace: Duration,
}

pub fn spawn(st: AppState, config: OutboxConfig) {
    tokio::spawn(run(st, config));
}

async fn run(st: AppState, config: OutboxConfig) {
    let poll = config.poll;
    // A send must end well within its lease, or a second worker could
    // claim the row while the first is still waiting for the answer.
    let timeout = SEND_TIMEOUT.min(config.lease / 2);
    let http = match reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "outbox: no HTTP client; replies to providers will not be sent");
            return;
        }
    };
    let mut stopping = st.shutdown.clone();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let due = match st.store.due_outbox(st.now(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read due sends");
                continue;
            }
        };
        for item in due {
            if let Err(e) = deliver(&st, &http, &config, item).await {
                tracing::warn!(error = %e, "outbox: outcome not stored; the send will be retried");
            }
        }
    }
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s … capped, or what the
/// provider asked for if longer.
pub fn backoff_secs(attempts: i64, retry_after: Option<u64>) -> u64 {
    let exp = 1u64 << attempts.clamp(0, 16);
    exp.min(MAX_BACKOFF_SECS).max(retry_after.unwrap_or(0))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn deliver(st: &AppState, http: &reqwest::Client, config: &OutboxConfig, item: OutboxItem) -> Result<(), switchboard_store::StoreError> {
    let ws = item.workspace_id;
    let now = st.now();
    if !st.store.outbox_claim(ws, item.id, now.plus_millis(millis(config.lease)), now).await? {
        return Ok(()); // another worker has it
    }
    let Some(inbox) = st.store.get_inbox(ws, item.inbox_id).await? else { return Ok(()) };
    // A claim whose outcome was never stored: the claim just made recorded
    // the row as in doubt from now.
    let doubt_since = item.in_doubt_at.or(item.attempt_started_at.map(|_| now));
    let grace = millis(config.in_doubt_grace);
    if inbox.channel == Channel::Whatsapp
        && let Some(since) = doubt_since
        && now.0 < since.0.saturating_add(grace)
    {
        // Meta retries a status webhook until we take it; the route settles
        // the row when one names its key. Until then, hold.
        let note = "waiting for WhatsApp to report an earlier attempt whose outcome is unknown";
        return st.store.outbox_in_doubt(ws, item.id, since.plus_millis(grace), note, now).await;
    }
    let outcome = if inbox.channel == Channel::Email {
        Ok(send_email(st, &inbox, &item).await)
    } else {
        match st.store.message_files(ws, item.message_id).await {
            Err(e) => Ok(SendOutcome::Retry { after_secs: None, reason: format!("the message's files are unreadable: {e}") }),
            Ok(files) if files.is_empty() => match request_for(&inbox, &item, now) {
                Err(reason) => Ok(SendOutcome::Permanent { reason }),
                Ok(req) => call(http, &inbox, req).await,
            },
            Ok(files) => send_files(st, http, &inbox, &item, files, now).await,
        }
    };
    let now = st.now();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(unknown) => {
            let wait = if inbox.channel == Channel::Whatsapp { grace } else { (backoff_secs(item.attempts, None) * 1000) as i64 };
            return st.store.outbox_in_doubt(ws, item.id, now.plus_millis(wait), &unknown, now).await;
        }
    };
    match outcome {
        SendOutcome::Sent { external_id } => match st.store.outbox_sent(ws, item.id, &external_id, now).await {
            Ok(written) => st.publish(written.events),
            // A status webhook naming the send's key (WhatsApp) or its echo
            // settled the row while the answer was on its way.
            Err(switchboard_store::StoreError::Conflict { code: "outbox_settled", .. }) => {}
            Err(e) => return Err(e),
        },
        SendOutcome::Permanent { reason } => {
            let written = st.store.outbox_failed(ws, item.id, &reason, now).await?;
            st.publish(written.events);
        }
        SendOutcome::Retry { after_secs, reason } => {
            let wait = backoff_secs(item.attempts, after_secs);
            st.store.outbox_retry(ws, item.id, now.plus_millis((wait * 1000) as i64), &reason, now).await?;
        }
    }
    Ok(())
}

/// The provider call for this row, or why it can never be made.
fn request_for(inbox: &Inbox, item: &OutboxItem, now: Timestamp) -> Result<SendRequest, String> {
    let to = item.recipient.as_deref().ok_or("this contact has no address on this channel")?;
    let config = |key: &str| inbox.config_str(key).ok_or_else(|| format!("the inbox has no {key}"));
    if item.template.is_some() && inbox.channel != Channel::Whatsapp {
        return Err("a WhatsApp template can only be sent on WhatsApp".to_owned());
    }
    match inbox.channel {
        Channel::Whatsapp => {
            let base = inbox.config_str("api_base_url").unwrap_or(whatsapp::DEFAULT_API_BASE);
            let key = provider::idempotency_key(item.message_id.0);
            if let Some(raw) = &item.template {
                // Templates may be sent at any time, inside the window or not.
                let t: messaging_window::WhatsappTemplate =
                    serde_json::from_str(raw).map_err(|e| format!("the stored template is unreadable: {e}"))?;
                let template = whatsapp::Template { name: &t.name, language: &t.language, body_parameters: &t.parameters };
                return Ok(whatsapp::send_template(base, config("phone_number_id")?, config("access_token")?, to, &template, &key));
            }
            let last = item.last_inbound_at.map_or(0, |t| t.0 / 1000);
            if !whatsapp::window_open(last, now.0 / 1000) {
                return Err("outside WhatsApp's 24-hour window: only a template can be sent".to_owned());
            }
            Ok(whatsapp::send_text(base, config("phone_number_id")?, config("access_token")?, to, &item.content, &key))
        }
        Channel::Telegram => {
            let base = inbox.config_str("api_base_url").unwrap_or(telegram::DEFAULT_API_BASE);
            Ok(telegram::send_text(base, config("bot_token")?, to, &item.content))
        }
        Channel::Viber => {
            use switchboard_channels::viber;
            let base = inbox.config_str("api_base_url").unwrap_or(viber::DEFAULT_API_BASE);
            // Viber shows a sender name on every message (at most 28 characters).
            let sender = inbox.viber_sender_name();
            Ok(viber::send_text(base, config("auth_token")?, to, sender, &item.content))
        }
        Channel::Messenger | Channel::Instagram => {
            let platform = if inbox.channel == Channel::Instagram { Platform::Instagram } else { Platform::Messenger };
            let messaging = messenger::messaging_for(item.last_inbound_at.map(|t| t.0 / 1000), now.0 / 1000, platform)?;
            messenger::check_text(platform, &item.content)?;
            let base = inbox.config_str("api_base_url").unwrap_or(messenger::DEFAULT_API_BASE);
            let req = messenger::send_text(base, config("page_access_token")?, to, &item.content, messaging);
            // Messenger's echo of this send hands the key back (`metadata`);
            // Instagram's Send API documents no such field.
            Ok(match platform {
                Platform::Messenger => messenger::with_metadata(req, &provider::idempotency_key(item.message_id.0)),
                Platform::Instagram => req,
            })
        }
        other => Err(format!("sending on {other} is not built yet")),
    }
}

/// A message with a file, its text the caption. One file per message: a
/// row makes one customer-visible provider call, which keeps it
/// exactly-once. Telegram and Messenger take the bytes as
/// `multipart/form-data` (Messenger's `filedata`, no caption);
/// WhatsApp takes an upload to `/media` (invisible to the customer, so
/// repeating it is harmless), then a media message naming its id.
async fn send_files(st: &AppState, http: &reqwest::Client, inbox: &Inbox, item: &OutboxItem, mut files: Vec<switchboard_store::StoredFile>, now: Timestamp) -> Result<SendOutcome, String> {
    let permanent = |reason: String| Ok(SendOutcome::Permanent { reason });
    let Some(to) = item.recipient.as_deref() else { return permanent("this contact has no address on this channel".to_owned()) };
    let config = |key: &str| inbox.config_str(key).ok_or_else(|| format!("the inbox has no {key}"));
    if item.template.is_some() {
        return permanent("a template cannot carry a file".to_owned());
    }
    if files.len() > 1 {
        return permanent(format!("{} takes one file per message: send each file in its own message", inbox.channel));
    }
    let file = files.remove(0);
    let caption = item.content.trim();
    const MAX_CAPTION_CHARS: usize = 1024;
    if caption.chars().count() > MAX_CAPTION_CHARS {
        return permanent(format!("a file's caption is at most {MAX_CAPTION_CHARS} characters: send the text in its own message"));
    }
    // Messenger and Instagram: inside the messaging window, no text beside
    // the file (a Send API message is text or an attachment, never both),
    // the page token and API base.
    let meta_file_send = |platform: Platform| -> Result<(messenger::Messaging, &str, &str), String> {
        let messaging = messenger::messaging_for(item.last_inbound_at.map(|t| t.0 / 1000), now.0 / 1000, platform)?;
        if !caption.is_empty() {
            return Err(format!("{} shows no text with a file: send the text in its own message", platform.name()));
        }
        let token = config("page_access_token")?;
        Ok((messaging, token, inbox.config_str("api_base_url").unwrap_or(messenger::DEFAULT_API_BASE)))
    };
    match inbox.channel {
        Channel::Telegram => {
            let token = match config("bot_token") {
                Ok(t) => t,
                Err(reason) => return permanent(reason),
            };
            let base = inbox.config_str("api_base_url").unwrap_or(telegram::DEFAULT_API_BASE);
            let kind = telegram::MediaKind::for_mime(&file.content_type);
            call_upload(http, inbox, telegram::send_upload(base, token, to, kind, &file.filename, &file.content_type, file.data, Some(caption))).await
        }
        Channel::Whatsapp => {
            let last = item.last_inbound_at.map_or(0, |t| t.0 / 1000);
            if !whatsapp::window_open(last, now.0 / 1000) {
                return permanent("outside WhatsApp's 24-hour window: only a template can be sent".to_owned());
            }
            let (phone, token) = match (config("phone_number_id"), config("access_token")) {
                (Ok(p), Ok(t)) => (p, t),
                (Err(reason), _) | (_, Err(reason)) => return permanent(reason),
            };
            let kind = whatsapp::MediaKind::for_mime(&file.content_type);
            if !caption.is_empty() && !kind.takes_caption() {
                return permanent(format!("WhatsApp shows no text with {} files: send the text in its own message", kind.as_str()));
            }
            let base = inbox.config_str("api_base_url").unwrap_or(whatsapp::DEFAULT_API_BASE);
            let upload = whatsapp::upload_media(base, phone, token, &file.filename, &file.content_type, file.data);
            let (content_type, body) = upload.encode();
            let mut r = http.post(&upload.url).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
            for (k, v) in &upload.headers {
                r = r.header(k.as_str(), v.as_str());
            }
            let media_id = match r.send().await {
                Err(e) => return Ok(SendOutcome::Retry { after_secs: None, reason: format!("the file's upload failed: {}", e.without_url()) }),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let body = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => return Ok(SendOutcome::Retry { after_secs: None, reason: format!("the file's upload was cut off: {}", e.without_url()) }),
                    };
                    match whatsapp::parse_upload_response(status, retry_after.as_deref(), &body) {
                        Ok(id) => id,
                        Err(outcome) => return Ok(outcome),
                    }
                }
            };
            let media = whatsapp::OutboundMedia { kind, source: whatsapp::MediaSource::Id(&media_id), caption: Some(caption), filename: Some(&file.filename) };
            call(http, inbox, whatsapp::send_media(base, phone, token, to, &media, &provider::idempotency_key(item.message_id.0))).await
        }
        Channel::Messenger => {
            let (messaging, token, base) = match meta_file_send(Platform::Messenger) {
                Ok(p) => p,
                Err(reason) => return permanent(reason),
            };
            let key = provider::idempotency_key(item.message_id.0);
            call_upload(http, inbox, messenger::send_upload(base, token, to, messaging, &file.filename, &file.content_type, file.data, &key)).await
        }
        // Both take attachments by URL only: the provider fetches the file
        // from a signed URL of ours that expires in an hour, on
        // `--public-url`, else the public origin recorded when the inbox was
        // created or updated.
        Channel::Instagram | Channel::Viber => {
            let recorded = inbox.config_str(crate::routes::inboxes::PUBLIC_BASE_KEY);
            let Some(public_base) = st.settings.public_url.as_deref().or(recorded) else {
                return permanent(format!(
                    "sending files on {} needs a public URL for the file: set --public-url, or save the inbox once through the API so the server learns its public address",
                    inbox.channel
                ));
            };
            let secret = match st.signing_secret(inbox.workspace_id).await {
                Ok(Some(s)) => s,
                Ok(None) => return permanent("the workspace is gone".to_owned()),
                Err(e) => return Ok(SendOutcome::Retry { after_secs: None, reason: format!("the workspace's signing secret is unreadable: {e}") }),
            };
            let url = crate::routes::public_files::file_url(public_base, inbox.workspace_id, item.message_id, &secret, now.0 / 1000);
            if inbox.channel == Channel::Viber {
                use switchboard_channels::viber;
                let token = match config("auth_token") {
                    Ok(t) => t,
                    Err(reason) => return permanent(reason),
                };
                let base = inbox.config_str("api_base_url").unwrap_or(viber::DEFAULT_API_BASE);
                let sender = inbox.viber_sender_name();
                match viber::send_media(base, token, to, sender, &url, &file.content_type, &file.filename, file.data.len(), caption) {
                    Ok(req) => call(http, inbox, req).await,
                    Err(reason) => permanent(reason),
                }
            } else {
                let (messaging, token, base) = match meta_file_send(Platform::Instagram) {
                    Ok(p) => p,
                    Err(reason) => return permanent(reason),
                };
                // Instagram's Send API documents no `metadata`, as for text.
                call(http, inbox, messenger::send_attachment_url(base, token, to, messaging, &file.content_type, &url)).await
            }
        }
        other => permanent(format!("sending files on {other} is not built yet")),
    }
}

/// An agent's reply as an email over SMTP, threaded under the customer's
/// latest mail. Our Message-ID is recorded before the send (a later answer
/// names it) and is the provider id of the sent message.
async fn send_email(st: &AppState, inbox: &Inbox, item: &OutboxItem) -> SendOutcome {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    use switchboard_channels::email;
    let permanent = |reason: String| SendOutcome::Permanent { reason };
    let Some(to) = item.recipient.as_deref() else { return permanent("this contact has no email address on this inbox".to_owned()) };
    let (Some(from), Some(host)) = (inbox.config_str("address"), inbox.config_str("smtp_host")) else {
        return permanent("the inbox has no address or smtp_host".to_owned());
    };
    use crate::email_poller::Security;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let security = crate::email_poller::smtp_security(inbox);
    let default_port = match security {
        Security::Tls => 465,
        Security::StartTls => 587,
        Security::Plain => 25,
    };
    let port = inbox.config.get("smtp_port").and_then(|v| v.as_u64()).and_then(|p| u16::try_from(p).ok()).unwrap_or(default_port);
    // The public roots plus the inbox's own CA; never an unchecked certificate.
    let tls = match security {
        Security::Plain => Tls::None,
        Security::Tls | Security::StartTls => {
            let mut params = TlsParameters::builder(host.to_owned());
            let certs = match crate::email_poller::ca_certs(inbox) {
                Ok(c) => c,
                Err(e) => return permanent(format!("{e:#}")),
            };
            for der in certs {
                match Certificate::from_der(der.to_vec()) {
                    Ok(c) => params = params.add_root_certificate(c),
                    Err(e) => return permanent(format!("ca_cert cannot be used: {e}")),
                }
            }
            match params.build_rustls() {
                Ok(p) if security == Security::Tls => Tls::Wrapper(p),
                Ok(p) => Tls::Required(p),
                Err(e) => return permanent(format!("no TLS client for the SMTP server: {e}")),
            }
        }
    };
    let ws = item.workspace_id;
    let thread = match st.store.email_thread(ws, item.conversation_id).await {
        Ok(t) => t,
        Err(e) => return SendOutcome::Retry { after_secs: None, reason: format!("thread unreadable: {e}") },
    };
    let attachments = match st.store.message_files(ws, item.message_id).await {
        Ok(files) => files
            .into_iter()
            .map(|f| email::EmailAttachment { filename: Some(f.filename), mime_type: f.content_type, data: f.data })
            .collect(),
        Err(e) => return SendOutcome::Retry { after_secs: None, reason: format!("the message's files are unreadable: {e}") },
    };
    let message_id = email::new_message_id(&format!("sb-{}-{}", ws.0, item.message_id.0), from);
    let bare_id = message_id.trim_start_matches('<').trim_end_matches('>').to_owned();
    let mail = email::OutboundEmail {
        from_address: from.to_owned(),
        from_name: Some(inbox.name.clone()),
        to_address: to.to_owned(),
        to_name: None,
        subject: email::reply_subject(thread.first_subject.as_deref()),
        body: item.content.clone(),
        message_id,
        in_reply_to: thread.latest_inbound_id.clone(),
        references: Vec::new(),
        attachments,
    };
    let raw = match email::build(&mail) {
        Ok(r) => r,
        Err(e) => return permanent(format!("the email cannot be built: {e}")),
    };
    let envelope = match (from.parse(), to.parse()) {
        (Ok(f), Ok(t)) => match lettre::address::Envelope::new(Some(f), vec![t]) {
            Ok(e) => e,
            Err(e) => return permanent(format!("bad envelope: {e}")),
        },
        _ => return permanent(format!("bad address: {from} or {to}")),
    };
    let transport = |with_credentials: bool| {
        let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).tls(tls.clone()).timeout(Some(SEND_TIMEOUT));
        if with_credentials && let (Some(user), Some(pass)) = (inbox.config_str("username"), inbox.config_str("password")) {
            t = t.credentials(lettre::transport::smtp::authentication::Credentials::new(user.to_owned(), pass.to_owned()));
        }
        t.build()
    };
    let record = switchboard_store::EmailRecord {
        message_id: bare_id.clone(),
        conversation_id: item.conversation_id,
        message_row_id: item.message_id.0,
        direction: "out",
        subject: Some(mail.subject.clone()),
    };
    if let Err(e) = st.store.record_email_message(ws, inbox.id, record, st.now()).await {
        return SendOutcome::Retry { after_secs: None, reason: format!("Message-ID not recorded: {e}") };
    }
    let mut sent = transport(true).send_raw(&envelope, &raw).await;
    // A server that offers no AUTH (a local relay) takes the mail without it.
    if let Err(e) = &sent
        && e.to_string().contains("No compatible authentication mechanism")
    {
        sent = transport(false).send_raw(&envelope, &raw).await;
    }
    match sent {
        Ok(_) => SendOutcome::Sent { external_id: bare_id },
        Err(e) if e.is_permanent() => permanent(format!("the mail server refused the mail: {e}")),
        Err(e) => SendOutcome::Retry { after_secs: None, reason: format!("mail server: {e}") },
    }
}

/// The provider's answer, or `Err` when the outcome is unknown: the request
/// may have reached the provider but no answer was read (a timeout, a
/// connection cut mid-exchange).
async fn call(http: &reqwest::Client, inbox: &Inbox, req: SendRequest) -> Result<SendOutcome, String> {
    let mut r = http.post(&req.url).json(&req.body);
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    answer(inbox, r).await
}

/// [`call`] with a `multipart/form-data` body.
async fn call_upload(http: &reqwest::Client, inbox: &Inbox, req: provider::MultipartRequest) -> Result<SendOutcome, String> {
    let (content_type, body) = req.encode();
    let mut r = http.post(&req.url).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    answer(inbox, r).await
}

async fn answer(inbox: &Inbox, r: reqwest::RequestBuilder) -> Result<SendOutcome, String> {
    let resp = match r.send().await {
        Ok(resp) => resp,
        // Never connected: the provider has nothing.
        Err(e) if e.is_connect() => {
            return Ok(SendOutcome::Retry { after_secs: None, reason: format!("provider unreachable: {}", e.without_url()) });
        }
        Err(e) => return Err(format!("no answer from the provider (it may have the message): {}", e.without_url())),
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Err(format!("answer cut off (the provider may have the message): {}", e.without_url())),
    };
    Ok(match inbox.channel {
        Channel::Whatsapp => whatsapp::parse_send_response(status, retry_after.as_deref(), &body),
        Channel::Telegram => telegram::parse_send_response(status, &body),
        Channel::Viber => switchboard_channels::viber::parse_send_response(status, retry_after.as_deref(), &body),
        Channel::Messenger => switchboard_channels::messenger::parse_send_response(switchboard_channels::messenger::Platform::Messenger, status, retry_after.as_deref(), &body),
        Channel::Instagram => switchboard_channels::messenger::parse_send_response(switchboard_channels::messenger::Platform::Instagram, status, retry_after.as_deref(), &body),
        other => SendOutcome::Permanent { reason: format!("sending on {other} is not built yet") },
    })
}

#[cfg(test)]
mod tests {
    use super::backoff_secs;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        assert_eq!((0..5).map(|a| backoff_secs(a, None)).collect::<Vec<_>>(), vec![1, 2, 4, 8, 16]);
        assert_eq!(backoff_secs(20, None), 300);
        assert_eq!(backoff_secs(0, Some(30)), 30);
        assert_eq!(backoff_secs(9, Some(30)), 300);
    }
}
