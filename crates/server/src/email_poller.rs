//! The IMAP poller: every few seconds, each email inbox's mailbox is read
//! for unseen mail. A mail is stored (threaded by its In-Reply-To and
//! References), then flagged \Seen; automatic mail (auto-replies, bounces,
//! lists) is flagged \Seen and not stored. A crash between the two leaves
//! the mail unseen: the next poll reads it again and the dedup key
//! (email:<inbox>:<Message-ID>) makes that a no-op.
//!
//! The IMAP server is reached over implicit TLS (IMAPS, port 993) unless
//! the inbox says `imap_security: none` (or the legacy `tls: false`).
//! Certificates are checked against the public roots plus the inbox's own
//! `ca_cert`; an untrusted certificate is never accepted. Each poll's
//! outcome is kept in the inbox's config as `mail_status` (`ok`, `at`,
//! and the reason in `error`) for the admin to see; it is written only
//! when it changes.

use crate::state::AppState;
use futures_util::TryStreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_channels::email;
use switchboard_core::*;
use switchboard_store::{ContactFields, ConversationPatch, EmailRecord, InboundMessage, InboxPatch, NewAttachment, ProviderIdentity, UploadOwner};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// One mailbox's whole poll (connect, login, fetch, store) may take this long.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// Mails read per mailbox per poll.
const BATCH: usize = 50;

pub fn spawn(st: AppState, poll: Duration) {
    tokio::spawn(run(st, poll));
}

async fn run(st: AppState, poll: Duration) {
    let mut stopping = st.shutdown.clone();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let inboxes = match st.store.email_inboxes().await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "email: cannot list email inboxes");
                continue;
            }
        };
        for inbox in inboxes {
            let outcome = match tokio::time::timeout(POLL_TIMEOUT, poll_inbox(&st, &inbox)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    tracing::warn!(inbox = inbox.id.0, error = %e, "email: polling the mailbox failed");
                    Err(format!("{e:#}"))
                }
                Err(_) => {
                    tracing::warn!(inbox = inbox.id.0, "email: polling the mailbox timed out");
                    Err("polling the mailbox timed out".to_owned())
                }
            };
            record_status(&st, &inbox, outcome).await;
        }
    }
}

fn config_port(inbox: &Inbox, key: &str, default: u16) -> u16 {
    inbox.config.get(key).and_then(|v| v.as_u64()).and_then(|p| u16::try_from(p).ok()).unwrap_or(default)
}

/// The legacy switch: `tls: false` means plain IMAP and SMTP.
fn legacy_tls(inbox: &Inbox) -> bool {
    inbox.config.get("tls").and_then(|v| v.as_bool()).unwrap_or(true)
}

/// How a mail server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain, upgraded with STARTTLS before anything else (SMTP 587).
    StartTls,
    /// Plain TCP.
    Plain,
}

pub fn imap_security(inbox: &Inbox) -> Security {
    match inbox.config_str("imap_security") {
        Some("none") => Security::Plain,
        Some(_) => Security::Tls,
        None if legacy_tls(inbox) => Security::Tls,
        None => Security::Plain,
    }
}

pub fn smtp_security(inbox: &Inbox) -> Security {
    match inbox.config_str("smtp_security") {
        Some("none") => Security::Plain,
        Some("starttls") => Security::StartTls,
        Some(_) => Security::Tls,
        None if legacy_tls(inbox) => Security::Tls,
        None => Security::Plain,
    }
}

/// The inbox's `ca_cert` (PEM) as certificates; none when unset.
pub fn ca_certs(inbox: &Inbox) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let Some(pem) = inbox.config_str("ca_cert") else { return Ok(Vec::new()) };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("ca_cert is not readable PEM: {e:?}"))?;
    if certs.is_empty() {
        anyhow::bail!("ca_cert holds no certificate");
    }
    Ok(certs)
}

/// A TLS client trusting the public (Mozilla) roots and the inbox's
/// `ca_cert`, and nothing else.
fn tls_connector(inbox: &Inbox) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in ca_certs(inbox)? {
        roots.add(cert).map_err(|e| anyhow::anyhow!("ca_cert cannot be used as a certificate authority: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Keeps the poll's outcome in the inbox's `mail_status` when it differs
/// from the one recorded.
async fn record_status(st: &AppState, inbox: &Inbox, outcome: Result<(), String>) {
    let recorded = inbox.config.get("mail_status");
    let was_ok = recorded.and_then(|r| r.get("ok")).and_then(|v| v.as_bool());
    let was_error = recorded.and_then(|r| r.get("error")).and_then(|v| v.as_str());
    if was_ok == Some(outcome.is_ok()) && was_error == outcome.as_ref().err().map(String::as_str) {
        return;
    }
    let mut record = serde_json::Map::new();
    record.insert("ok".into(), outcome.is_ok().into());
    record.insert("at".into(), st.now().0.into());
    if let Err(e) = outcome {
        record.insert("error".into(), e.into());
    }
    let mut config = serde_json::Map::new();
    config.insert("mail_status".into(), serde_json::Value::Object(record));
    if let Err(e) = st.store.update_inbox(inbox.workspace_id, inbox.id, InboxPatch { name: None, config: Some(config) }).await {
        tracing::warn!(inbox = inbox.id.0, error = %e, "email: mailbox status not stored");
    }
}

async fn poll_inbox(st: &AppState, inbox: &Inbox) -> anyhow::Result<()> {
    let host = inbox.config_str("imap_host").ok_or_else(|| anyhow::anyhow!("the inbox has no imap_host"))?;
    let security = imap_security(inbox);
    let port = config_port(inbox, "imap_port", if security == Security::Plain { 143 } else { 993 });
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("the IMAP server {host}:{port} cannot be reached: {e}"))?;
    if security == Security::Plain {
        return poll_mailbox(st, inbox, async_imap::Client::new(tcp)).await;
    }
    let connector = tls_connector(inbox)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|_| anyhow::anyhow!("imap_host {host:?} is not a host name"))?;
    let tls = connector.connect(name, tcp).await.map_err(|e| anyhow::anyhow!("TLS with the IMAP server {host}:{port} failed: {e}"))?;
    poll_mailbox(st, inbox, async_imap::Client::new(tls)).await
}

async fn poll_mailbox<T>(st: &AppState, inbox: &Inbox, client: async_imap::Client<T>) -> anyhow::Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let config = |key: &str| inbox.config_str(key).ok_or_else(|| anyhow::anyhow!("the inbox has no {key}"));
    let mut session = client.login(config("username")?, config("password")?).await.map_err(|(e, _)| e)?;
    session.select("INBOX").await?;
    let mut uids: Vec<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    uids.sort_unstable();
    uids.truncate(BATCH);
    for uid in uids {
        let fetched: Vec<_> = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?.try_collect().await?;
        let Some(raw) = fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)) else { continue };
        match email::parse(&raw) {
            Ok(parsed) if parsed.automatic => tracing::debug!(inbox = inbox.id.0, "email: automatic mail ignored"),
            // Our own replies, when the mailbox keeps a copy.
            Ok(parsed) if inbox.config_str("address").is_some_and(|a| a.trim().eq_ignore_ascii_case(&parsed.from_address)) => {}
            Ok(parsed) => store_mail(st, inbox, &parsed).await?,
            Err(e) => tracing::warn!(inbox = inbox.id.0, error = %e, "email: unreadable mail skipped"),
        }
        let _: Vec<_> = session.uid_store(uid.to_string(), "+FLAGS (\\Seen)").await?.try_collect().await?;
    }
    session.logout().await?;
    Ok(())
}

async fn store_mail(st: &AppState, inbox: &Inbox, mail: &email::ParsedEmail) -> anyhow::Result<()> {
    let ws = inbox.workspace_id;
    let now = st.now();
    let address = mail.from_address.trim().to_lowercase();
    let name = mail.from_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| address.clone());
    let who = ProviderIdentity { external_id: address.clone(), name: Some(name), phone: None };
    let contact = st.store.contact_for_identity(ws, inbox.id, who, now).await?;
    if contact.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        let patch = ContactFields { email: Some(Some(address.clone())), ..ContactFields::default() };
        if let Err(e) = st.store.update_contact(ws, contact.id, patch, now).await {
            // Another card may hold the address already: the mail is stored anyway.
            tracing::debug!(error = %e, "email: contact's address not set");
        }
    }
    let dedup_key = email::dedup_key(&inbox.id.to_string(), &mail.message_id);
    // Files are stored once: never for a mail read again.
    let (attachment_ids, notes) =
        if mail.attachments.is_empty() || st.store.dedup_key_seen(ws, &dedup_key).await? { (Vec::new(), Vec::new()) } else { store_attachments(st, inbox, contact.id, mail).await? };
    let text = [mail.text.trim()].into_iter().chain(notes.iter().map(String::as_str)).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n\n");
    let text = match (text.is_empty(), attachment_ids.is_empty()) {
        (false, _) => text,
        // A file-only mail, as the widget stores them.
        (true, false) => String::new(),
        (true, true) => "[empty message]".to_owned(),
    };
    let content: String = text.chars().take(validate::MAX_MESSAGE_CHARS).collect();
    let inbound = InboundMessage { inbox_id: inbox.id, contact_id: contact.id, content, echo_id: None, dedup_key: Some(dedup_key), attachment_ids };
    reopen_thread(st, inbox, contact.id, mail).await?;
    let received = st.store.receive_message(ws, inbound, now).await?;
    let record = EmailRecord {
        message_id: mail.message_id.clone(),
        conversation_id: received.conversation.id,
        message_row_id: received.message.id.0,
        direction: "in",
        subject: mail.subject.clone(),
    };
    st.store.record_email_message(ws, inbox.id, record, now).await?;
    if received.created {
        st.metrics.messages_received.fetch_add(1, Ordering::Relaxed);
        st.publish(received.events.clone());
        let st = st.clone();
        tokio::spawn(async move { crate::automation_hooks::after_inbound(&st, ws, &received).await });
    }
    Ok(())
}

/// The mail's attached files (MIME parts) into the attachment store, served
/// to agents like any other attachment; at most as many per message as an
/// upload, each at most the upload size. A file left out becomes a line the
/// agent sees.
async fn store_attachments(st: &AppState, inbox: &Inbox, contact: ContactId, mail: &email::ParsedEmail) -> anyhow::Result<(Vec<AttachmentId>, Vec<String>)> {
    let (mut ids, mut notes) = (Vec::new(), Vec::new());
    let limit = st.settings.max_upload_bytes;
    let max = crate::routes::files::MAX_FILES_PER_MESSAGE;
    for (i, file) in mail.attachments.iter().enumerate() {
        let filename = file.filename.clone().filter(|f| !f.trim().is_empty()).unwrap_or_else(|| format!("attachment-{}", i + 1));
        if i >= max {
            notes.push(format!("[file not kept: {filename}: more than {max} files in one mail]"));
            continue;
        }
        if file.data.len() > limit {
            notes.push(format!("[file not kept: {filename}: larger than {limit} bytes]"));
            continue;
        }
        let new = NewAttachment {
            owner: UploadOwner::Visitor { contact },
            filename,
            content_type: file.mime_type.clone(),
            data: file.data.clone(),
            access_key: crate::auth::random_secret(),
        };
        ids.push(st.store.create_attachment(inbox.workspace_id, new, st.now()).await?.id);
    }
    Ok((ids, notes))
}

/// A customer's reply to a mail of a resolved conversation reopens it, so
/// the reply lands there (a new message goes to the contact's latest
/// conversation in the inbox, or a new one when that is resolved).
/// Only the contact's latest conversation is reopened; a reply naming an
/// older one lands where any new message would.
async fn reopen_thread(st: &AppState, inbox: &Inbox, contact: ContactId, mail: &email::ParsedEmail) -> anyhow::Result<()> {
    let ws = inbox.workspace_id;
    if st.store.dedup_key_seen(ws, &email::dedup_key(&inbox.id.to_string(), &mail.message_id)).await? {
        return Ok(());
    }
    let keys = email::thread_keys(mail);
    if keys.is_empty() {
        return Ok(());
    }
    let Some(id) = st.store.email_thread_conversation(ws, inbox.id, &keys).await? else { return Ok(()) };
    if st.store.latest_conversation(ws, inbox.id, contact).await? != Some(id) {
        return Ok(());
    }
    let Some(conversation) = st.store.get_conversation(ws, id).await? else { return Ok(()) };
    if conversation.contact.id != contact || conversation.status != ConversationStatus::Resolved {
        return Ok(());
    }
    let patch = ConversationPatch { status: Some(ConversationStatus::Open), ..ConversationPatch::default() };
    let written = st.store.update_conversation(ws, id, patch, None, st.now()).await?;
    st.publish(written.events);
    Ok(())
}
