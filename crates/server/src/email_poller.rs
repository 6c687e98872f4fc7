//! The IMAP poller: every few seconds, each email inbox's mailbox is read
//! for unseen mail. A mail is stored (threaded by its In-Reply-To and
//! References), then flagged \Seen; automatic mail (auto-replies, bounces,
//! lists) is flagged \Seen and not stored. A crash between the two leaves
//! the mail unseen: the next poll reads it again and the dedup key
//! (email:<inbox>:<Message-ID>) makes that a no-op.
//!
//! Connections are plain TCP: an inbox with `tls` on (the default) is
//! reported as failing on every poll until TLS is built.

use crate::state::AppState;
use futures_util::TryStreamExt;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_channels::email;
use switchboard_core::*;
use switchboard_store::{ContactFields, ConversationPatch, EmailRecord, InboundMessage, NewAttachment, ProviderIdentity, UploadOwner};

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
            match tokio::time::timeout(POLL_TIMEOUT, poll_inbox(&st, &inbox)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(inbox = inbox.id.0, error = %e, "email: polling the mailbox failed"),
                Err(_) => tracing::warn!(inbox = inbox.id.0, "email: polling the mailbox timed out"),
            }
        }
    }
}

fn config_port(inbox: &Inbox, key: &str, default: u16) -> u16 {
    inbox.config.get(key).and_then(|v| v.as_u64()).and_then(|p| u16::try_from(p).ok()).unwrap_or(default)
}

/// Whether the inbox's mail servers are reached over TLS (the default).
pub fn uses_tls(inbox: &Inbox) -> bool {
    inbox.config.get("tls").and_then(|v| v.as_bool()).unwrap_or(true)
}

async fn poll_inbox(st: &AppState, inbox: &Inbox) -> anyhow::Result<()> {
    if uses_tls(inbox) {
        anyhow::bail!("TLS connections to mail servers are not built yet: set tls to false (plain IMAP/SMTP)");
    }
    let config = |key: &str| inbox.config_str(key).ok_or_else(|| anyhow::anyhow!("the inbox has no {key}"));
    let host = config("imap_host")?;
    let port = config_port(inbox, "imap_port", 143);
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let client = async_imap::Client::new(tcp);
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
