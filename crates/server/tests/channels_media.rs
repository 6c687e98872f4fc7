//! Inbound media end to end: files a customer sends on WhatsApp or
//! Telegram are fetched from the provider (the emulator) into the
//! attachment store and downloadable by agents from the message; a
//! redelivery fetches nothing again; a file that cannot be fetched still
//! leaves the message, with a visible line.

mod common;

use common::*;
use serde_json::{json, Value};
use switchboard_emulator::{Emulator, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN};

const WA_SECRET: &str = "wa-app-secret";
const WA_PHONE_ID: &str = "106540352242922";
const TG_SECRET: &str = "tg-secret-token";

struct World {
    server: Server,
    emu: Emulator,
    admin: Api,
    ws: i64,
    wa_hook: String,
    tg_hook: String,
}

async fn world(dir: &TempDir, extra: &[&str]) -> World {
    let emu = Emulator::start().await;
    let mut args = vec!["--outbox-poll-ms", "50"];
    args.extend_from_slice(extra);
    let server = Server::start("demo", dir.path(), None, &args).await;
    let admin = server.login("admin@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let wa_hook = webhook_of_new_inbox(&admin, ws, "whatsapp",
        json!({"phone_number_id": WA_PHONE_ID, "access_token": WHATSAPP_TOKEN, "app_secret": WA_SECRET,
               "verify_token": "wa-verify", "api_base_url": emu.base_url()}),
    )
    .await;
    let tg_hook =
        webhook_of_new_inbox(&admin, ws, "telegram", json!({"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TG_SECRET, "api_base_url": emu.base_url()})).await;
    World { server, emu, admin, ws, wa_hook, tg_hook }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    /// The messages of the one conversation of the contact called `name`
    /// on `channel` (the demo may hold others).
    async fn thread(&self, channel: &str, name: &str) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations?channel={channel}"))).await;
        assert_eq!(status, 200, "{body}");
        let conversations: Vec<&Value> = body["data"].as_array().unwrap().iter().filter(|c| c["contact"]["name"] == name).collect();
        assert_eq!(conversations.len(), 1, "one conversation for {name}: {body}");
        let id = conversations[0]["id"].as_i64().unwrap();
        let (status, body) = self.admin.get(&self.path(&format!("/conversations/{id}/messages?limit=200"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap()
    }

    /// GET a message attachment's URL as an agent's browser would.
    async fn download(&self, attachment: &Value) -> (u16, Vec<u8>) {
        let url = format!("{}{}", self.server.base, attachment["url"].as_str().expect("attachment url"));
        let resp = reqwest::get(url).await.unwrap();
        (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
    }
}

fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_image_with_caption_is_downloaded_once() {
    let dir = TempDir::new("sb-wa-media").unwrap();
    let w = world(&dir, &[]).await;
    let image = png();
    let media_id = w.emu.add_media("image/png", image.clone());
    let content = w.emu.whatsapp_media_content(&media_id, Some("My boarding pass")).unwrap();
    let delivery = w.emu.whatsapp_inbound(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380501112233", "Oksana", content).await.unwrap();
    assert_eq!(delivery.status, 200);

    let messages = w.thread("whatsapp", "Oksana").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "My boarding pass", "the caption is the text");
    let files = messages[0]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{}", messages[0]);
    assert_eq!((files[0]["content_type"].as_str(), files[0]["size"].as_i64()), (Some("image/png"), Some(image.len() as i64)));
    let (status, bytes) = w.download(&files[0]).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, image, "the same bytes the customer sent");

    // Redelivered: still one message with one file.
    for _ in 0..2 {
        assert_eq!(w.emu.post_signed_whatsapp(&w.wa_hook, WA_SECRET, &delivery.body).await.unwrap(), 200);
    }
    let again = w.thread("whatsapp", "Oksana").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["attachments"], messages[0]["attachments"]);

    // A file-only document: no caption, the file name the customer gave.
    let pdf = b"%PDF-1.4 invoice".to_vec();
    let doc_id = w.emu.add_media("application/pdf", pdf.clone());
    let content = w.emu.whatsapp_media_content(&doc_id, None).unwrap();
    let d = w.emu.whatsapp_inbound(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380501112233", "Oksana", content).await.unwrap();
    assert_eq!(d.status, 200);
    let messages = w.thread("whatsapp", "Oksana").await;
    let last = messages.iter().find(|m| m["id"] != again[0]["id"]).expect("the document message");
    assert_eq!(last["content"], "");
    assert_eq!(last["attachments"][0]["filename"], format!("file_{doc_id}"));
    assert_eq!(w.download(&last["attachments"][0]).await, (200, pdf));
    // Ids are sequential: the redeliveries stored no (orphan) copy.
    let first = files[0]["id"].as_i64().unwrap();
    assert_eq!(last["attachments"][0]["id"].as_i64(), Some(first + 1), "redeliveries stored no file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_document_is_downloaded_once() {
    let dir = TempDir::new("sb-tg-media").unwrap();
    let w = world(&dir, &[]).await;
    let pdf = b"%PDF-1.7 CV of Ivan".repeat(50);
    let file_id = w.emu.add_media("application/pdf", pdf.clone());
    let content = w.emu.telegram_media_content(&file_id, Some("My CV")).unwrap();
    let delivery = w.emu.telegram_inbound(&w.tg_hook, TG_SECRET, 5550002, "Ivan", content).await.unwrap();
    assert_eq!(delivery.status, 200);
    assert_eq!(w.emu.post_telegram(&w.tg_hook, TG_SECRET, &delivery.body).await.unwrap(), 200);

    let messages = w.thread("telegram", "Ivan").await;
    assert_eq!(messages.len(), 1, "redelivery stored nothing");
    assert_eq!(messages[0]["content"], "My CV");
    let files = messages[0]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{}", messages[0]);
    assert_eq!(files[0]["filename"], format!("file_{file_id}.pdf"));
    assert_eq!(files[0]["content_type"], "application/pdf");
    assert_eq!(w.download(&files[0]).await, (200, pdf));

    // A photo without caption: a file-only message named by Telegram's path.
    let image = png();
    let photo_id = w.emu.add_media("image/jpeg", image.clone());
    let content = w.emu.telegram_media_content(&photo_id, None).unwrap();
    assert_eq!(w.emu.telegram_inbound(&w.tg_hook, TG_SECRET, 5550002, "Ivan", content).await.unwrap().status, 200);
    let messages = w.thread("telegram", "Ivan").await;
    assert_eq!(messages.len(), 2);
    let photo = messages.iter().find(|m| m["content"] == "").expect("the photo message");
    assert_eq!(photo["attachments"][0]["content_type"], "image/jpeg");
    assert_eq!(w.download(&photo["attachments"][0]).await, (200, image));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_cannot_be_fetched_leave_a_visible_line() {
    let dir = TempDir::new("sb-media-fail").unwrap();
    let w = world(&dir, &["--max-upload-bytes", "2048"]).await;

    // Larger than the server's upload limit.
    let big = w.emu.add_media("image/png", png());
    let content = w.emu.whatsapp_media_content(&big, Some("Look at this")).unwrap();
    assert_eq!(w.emu.whatsapp_inbound(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380509998877", "Petro", content).await.unwrap().status, 200);
    // A media id the provider does not know (expired, say).
    let gone = json!({"type": "image", "image": {"id": "404404404", "mime_type": "image/jpeg", "sha256": "x"}});
    let d = w.emu.whatsapp_inbound(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380509998877", "Petro", gone).await.unwrap();
    assert_eq!(d.status, 200);
    // Redelivered: still one message for it.
    assert_eq!(w.emu.post_signed_whatsapp(&w.wa_hook, WA_SECRET, &d.body).await.unwrap(), 200);

    let messages = w.thread("whatsapp", "Petro").await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let contents: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(contents.contains(&"Look at this\n[image could not be downloaded: larger than 2 KB]"), "{contents:?}");
    assert!(contents.contains(&"[image could not be downloaded]"), "{contents:?}");
    assert!(messages.iter().all(|m| m["attachments"].as_array().is_none_or(Vec::is_empty)), "{messages:?}");

    // Telegram: getFile refuses an unknown file_id; a small file still fits.
    let content = json!({"document": {"file_id": "nope", "file_unique_id": "unope", "file_name": "scan.pdf", "mime_type": "application/pdf"}});
    assert_eq!(w.emu.telegram_inbound(&w.tg_hook, TG_SECRET, 5550003, "Mariia", content).await.unwrap().status, 200);
    let small = w.emu.add_media("text/plain", b"fits".to_vec());
    let content = w.emu.telegram_media_content(&small, None).unwrap();
    assert_eq!(w.emu.telegram_inbound(&w.tg_hook, TG_SECRET, 5550003, "Mariia", content).await.unwrap().status, 200);
    let messages = w.thread("telegram", "Mariia").await;
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().any(|m| m["content"] == "[file scan.pdf could not be downloaded]"), "{messages:?}");
    let fits = messages.iter().find(|m| m["content"] == "").expect("the file that fits");
    assert_eq!(w.download(&fits["attachments"][0]).await, (200, b"fits".to_vec()));
}

/// Messenger attachments are URLs on Meta's CDN: fetched with a plain GET
/// into the attachment store, same bytes for the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_attachment_url_is_downloaded() {
    let dir = TempDir::new("sb-fb-media").unwrap();
    let w = world(&dir, &[]).await;
    let config = json!({"page_id": "1234567890", "page_access_token": "fb-page-token", "app_secret": "fb-secret",
                        "verify_token": "fb-verify", "api_base_url": w.emu.base_url()});
    let (status, inbox) =
        w.admin.post(&w.path("/inboxes"), json!({"name": "Page", "channel": "messenger", "config": config})).await;
    assert_eq!(status, 201, "{inbox}");
    let hook = inbox["webhook_url"].as_str().unwrap().to_owned();
    let image = png();
    let id = w.emu.add_media("image/png", image.clone());
    let message = json!({"attachments": [{"type": "image", "payload": {"url": w.emu.cdn_url(&id)}}]});
    let delivery = w.emu.messenger_inbound(&hook, "fb-secret", "1234567890", "24680135792468", message).await.unwrap();
    assert_eq!(delivery.status, 200);
    let (_, list) = w.admin.get(&w.path("/conversations?channel=messenger")).await;
    let conv = list["data"][0]["id"].as_i64().expect("a messenger conversation");
    let (_, messages) = w.admin.get(&w.path(&format!("/conversations/{conv}/messages"))).await;
    let files = messages["data"][0]["attachments"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1, "{messages}");
    let (status, bytes) = w.download(&files[0]).await;
    assert_eq!((status, bytes == image), (200, true));
}

/// An agent's reply with a file reaches Telegram as a multipart upload of
/// the bytes (`sendPhoto`, the text as caption); two files in one message
/// fail with the reason shown, nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_reply_with_a_file_uploads_the_bytes() {
    let dir = TempDir::new("sb-tg-upload").unwrap();
    let w = world(&dir, &[]).await;
    let delivery = w.emu.telegram_inbound_text(&w.tg_hook, TG_SECRET, 5550009, "Olga", "Send me the label").await.unwrap();
    assert_eq!(delivery.status, 200);
    let messages = w.thread("telegram", "Olga").await;
    let conv = messages[0]["conversation_id"].as_i64().unwrap();
    let image = png();
    let upload = w.path(&format!("/conversations/{conv}/attachments?filename=label.png"));
    let (status, file) = w.admin.raw(reqwest::Method::POST, &upload, "image/png", image.clone()).await;
    assert_eq!(status, 201, "{file}");
    let (status, sent) =
        w.admin.post(&w.path(&format!("/conversations/{conv}/messages")), json!({"content": "Here it is", "attachment_ids": [file["id"]]})).await;
    assert_eq!(status, 201, "{sent}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let photo = loop {
        if let Some(m) = w.emu.sent().into_iter().find(|m| m.to == "5550009" && m.body.get("photo").is_some()) {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no sendPhoto reached the emulator: {:?}", w.emu.sent());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(photo.body["caption"], "Here it is");
    assert_eq!(photo.body["chat_id"], "5550009");
    let media_id = photo.body["photo"].as_str().unwrap();
    assert_eq!(w.emu.media_bytes(media_id), Some(("image/png".to_owned(), image.clone())), "the bytes the agent uploaded");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = w.thread("telegram", "Olga").await.into_iter().find(|m| m["id"] == sent["id"]).unwrap();
        if m["status"] == "sent" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not marked sent: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Two files: Telegram takes one per message; the agent is told.
    let mut ids = Vec::new();
    for name in ["a.pdf", "b.pdf"] {
        let upload = w.path(&format!("/conversations/{conv}/attachments?filename={name}"));
        let (status, file) = w.admin.raw(reqwest::Method::POST, &upload, "application/pdf", b"%PDF-1.4".to_vec()).await;
        assert_eq!(status, 201, "{file}");
        ids.push(file["id"].clone());
    }
    let (status, two) = w.admin.post(&w.path(&format!("/conversations/{conv}/messages")), json!({"content": "Both", "attachment_ids": ids})).await;
    assert_eq!(status, 201, "{two}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let failed = loop {
        let m = w.thread("telegram", "Olga").await.into_iter().find(|m| m["id"] == two["id"]).unwrap();
        if m["status"] == "failed" {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "not marked failed: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(failed["failure_reason"].as_str().unwrap_or_default().contains("one file per message"), "{failed}");
    assert_eq!(w.emu.sent().iter().filter(|m| m.to == "5550009").count(), 1, "nothing more was sent");
}

/// An agent's reply with a file reaches WhatsApp the Cloud API way: the
/// bytes uploaded to `/{phone_number_id}/media`, then a document message
/// naming the returned id, the text its caption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_reply_with_a_file_uploads_then_sends_by_id() {
    let dir = TempDir::new("sb-wa-upload").unwrap();
    let w = world(&dir, &[]).await;
    let delivery = w.emu.whatsapp_inbound_text(&w.wa_hook, WA_SECRET, WA_PHONE_ID, "380501114455", "Petro", "The invoice, please").await.unwrap();
    assert_eq!(delivery.status, 200);
    let messages = w.thread("whatsapp", "Petro").await;
    let conv = messages[0]["conversation_id"].as_i64().unwrap();
    let pdf = b"%PDF-1.7 invoice 77 \x00\xff".repeat(40);
    let upload = w.path(&format!("/conversations/{conv}/attachments?filename=invoice-77.pdf"));
    let (status, file) = w.admin.raw(reqwest::Method::POST, &upload, "application/pdf", pdf.clone()).await;
    assert_eq!(status, 201, "{file}");
    let (status, sent) =
        w.admin.post(&w.path(&format!("/conversations/{conv}/messages")), json!({"content": "Invoice attached", "attachment_ids": [file["id"]]})).await;
    assert_eq!(status, 201, "{sent}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let doc = loop {
        if let Some(m) = w.emu.sent().into_iter().find(|m| m.to == "380501114455" && m.body["type"] == "document") {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no document message reached the emulator: {:?}", w.emu.sent());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(doc.body["document"]["caption"], "Invoice attached");
    assert_eq!(doc.body["document"]["filename"], "invoice-77.pdf");
    assert!(doc.body["document"].get("link").is_none(), "{}", doc.body);
    let media_id = doc.body["document"]["id"].as_str().expect("sent by uploaded id");
    assert_eq!(w.emu.media_bytes(media_id), Some(("application/pdf".to_owned(), pdf)), "the bytes the agent uploaded");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = w.thread("whatsapp", "Petro").await.into_iter().find(|m| m["id"] == sent["id"]).unwrap();
        if m["status"] == "sent" || m["status"] == "delivered" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not marked sent: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

impl World {
    async fn messages_of(&self, conv: i64) -> Vec<Value> {
        let (status, body) = self.admin.get(&self.path(&format!("/conversations/{conv}/messages?limit=200"))).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the message `id` of conversation `conv` matches `done`.
    async fn wait_status(&self, conv: i64, id: &Value, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let m = self.messages_of(conv).await.into_iter().find(|m| &m["id"] == id).expect("the message");
            if done(&m) {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {m}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Uploads `data` to conversation `conv` and sends it with `content`.
    async fn send_file(&self, conv: i64, filename: &str, content_type: &str, data: Vec<u8>, content: &str) -> Value {
        let upload = self.path(&format!("/conversations/{conv}/attachments?filename={filename}"));
        let (status, file) = self.admin.raw(reqwest::Method::POST, &upload, content_type, data).await;
        assert_eq!(status, 201, "{file}");
        let (status, sent) =
            self.admin.post(&self.path(&format!("/conversations/{conv}/messages")), json!({"content": content, "attachment_ids": [file["id"]]})).await;
        assert_eq!(status, 201, "{sent}");
        sent
    }
}

/// An agent's file reaches Messenger as the Send API's "upload and send":
/// one multipart POST to `/me/messages` with the bytes as `filedata` and
/// `message.attachment.type` from the file; Meta's echo of the send is
/// recognised, not stored twice. A caption cannot ride with a file on
/// Messenger: that message fails with the reason, nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_reply_with_a_file_uploads_filedata() {
    use switchboard_emulator::{Provider, MESSENGER_PAGE_TOKEN};
    let dir = TempDir::new("sb-fb-upload").unwrap();
    let w = world(&dir, &[]).await;
    let config = json!({"page_id": "1234567890", "page_access_token": MESSENGER_PAGE_TOKEN, "app_secret": "fb-secret",
                        "verify_token": "fb-verify", "api_base_url": w.emu.base_url()});
    let (status, inbox) = w.admin.post(&w.path("/inboxes"), json!({"name": "Page", "channel": "messenger", "config": config})).await;
    assert_eq!(status, 201, "{inbox}");
    let hook = inbox["webhook_url"].as_str().unwrap().to_owned();
    w.emu.subscribe_page_echoes(MESSENGER_PAGE_TOKEN, "1234567890", &hook, "fb-secret");
    let psid = "24680135792468";
    let delivery = w.emu.messenger_inbound_text(&hook, "fb-secret", "1234567890", psid, "Send me the label").await.unwrap();
    assert_eq!(delivery.status, 200);
    let (_, list) = w.admin.get(&w.path("/conversations?channel=messenger")).await;
    let conv = list["data"][0]["id"].as_i64().expect("a messenger conversation");
    let image = png();
    let sent = w.send_file(conv, "label.png", "image/png", image.clone(), "").await;
    w.wait_status(conv, &sent["id"], "not marked sent", |m| m["status"] == "sent" || m["status"] == "delivered").await;
    let out = w.emu.sent();
    assert_eq!(out.len(), 1, "one send: {out:?}");
    assert_eq!((out[0].provider, out[0].to.as_str()), (Provider::Messenger, psid));
    assert_eq!(out[0].body["recipient"]["id"], psid);
    assert_eq!(out[0].body["messaging_type"], "RESPONSE");
    assert_eq!(out[0].body["message"]["attachment"]["type"], "image");
    assert!(out[0].body["message"].get("text").is_none(), "{}", out[0].body);
    assert!(out[0].body["message"]["metadata"].as_str().unwrap_or_default().starts_with("switchboard-outbox:"), "{}", out[0].body);
    let media_id = out[0].body["filedata"].as_str().expect("the bytes came as filedata");
    assert_eq!(w.emu.media_bytes(media_id), Some(("image/png".to_owned(), image)), "the bytes the agent uploaded");
    // The echo of our own send is not a second outbound message.
    let thread = w.messages_of(conv).await;
    assert_eq!(thread.iter().filter(|m| m["kind"] == "out").count(), 1, "{thread:?}");

    // A file with text: Messenger takes one or the other per message.
    let pdf = b"%PDF-1.4 terms".to_vec();
    let captioned = w.send_file(conv, "terms.pdf", "application/pdf", pdf, "Our terms").await;
    let failed = w.wait_status(conv, &captioned["id"], "not marked failed", |m| m["status"] == "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap_or_default().contains("no text with a file"), "{failed}");
    assert_eq!(w.emu.sent().len(), 1, "nothing more was sent");
}

/// Viber takes files by URL only: the reply names a signed, expiring URL
/// of ours (on the public origin recorded when the inbox was saved), which
/// the emulator fetches like Viber does. The URL serves exactly the agent's
/// bytes without a session; one character changed gives a plain 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_reply_with_a_file_sends_a_signed_public_url() {
    use switchboard_emulator::{Provider, VIBER_AUTH_TOKEN};
    let dir = TempDir::new("sb-viber-upload").unwrap();
    let w = world(&dir, &[]).await;
    let config = json!({"auth_token": VIBER_AUTH_TOKEN, "api_base_url": w.emu.base_url(), "sender_name": "Acme support"});
    let (status, inbox) = w.admin.post(&w.path("/inboxes"), json!({"name": "Viber", "channel": "viber", "config": config})).await;
    assert_eq!(status, 201, "{inbox}");
    let hook = inbox["webhook_url"].as_str().unwrap().to_owned();
    let public_base = inbox["config"]["public_base_url"].as_str().expect("the public origin is recorded").to_owned();
    assert!(hook.starts_with(&public_base), "{hook} vs {public_base}");
    // Clients cannot set it.
    let inbox_path = w.path(&format!("/inboxes/{}", inbox["id"]));
    let (status, body) = w.admin.patch(&inbox_path, json!({"config": {"public_base_url": "https://evil.example"}})).await;
    assert_eq!(status, 400, "{body}");
    let user = "01234567890A=";
    let delivery = w.emu.viber_inbound_text(&hook, VIBER_AUTH_TOKEN, user, "John McClane", "Photo please").await.unwrap();
    assert_eq!(delivery.status, 200);
    let messages = w.thread("viber", "John McClane").await;
    let conv = messages[0]["conversation_id"].as_i64().unwrap();
    let image = png();
    let sent = w.send_file(conv, "label.png", "image/png", image.clone(), "Here").await;
    w.wait_status(conv, &sent["id"], "not marked sent", |m| m["status"] == "sent" || m["status"] == "delivered").await;
    let out: Vec<_> = w.emu.sent().into_iter().filter(|m| m.to == user).collect();
    assert_eq!(out.len(), 1, "one send: {out:?}");
    assert_eq!(out[0].provider, Provider::Viber);
    assert_eq!(out[0].body["type"], "picture", "{}", out[0].body);
    assert_eq!(out[0].body["text"], "Here");
    assert_eq!(out[0].body["sender"]["name"], "Acme support");
    let url = out[0].body["media"].as_str().expect("a media URL").to_owned();
    assert!(url.starts_with(&format!("{public_base}/public/files/")), "{url}");
    assert!(out[0].body.get("media_error").is_none(), "{}", out[0].body);
    let media_id = out[0].body["media_id"].as_str().expect("the emulator fetched the URL");
    assert_eq!(w.emu.media_bytes(media_id), Some(("image/png".to_owned(), image.clone())), "the agent's bytes");

    // The URL needs no session and names the file.
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(disposition.contains("label.png"), "{disposition}");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), image);
    // One character changed: 404 with the usual JSON body.
    let last = url.chars().last().unwrap();
    let tampered = format!("{}{}", &url[..url.len() - 1], if last == 'A' { 'B' } else { 'A' });
    for bad in [tampered, format!("{public_base}/public/files/garbage"), format!("{public_base}/public/files/a.b")] {
        let resp = reqwest::get(&bad).await.unwrap();
        assert_eq!(resp.status(), 404, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "JSON error body: {body}");
    }

    // A picture's text is at most 120 characters on Viber.
    let long = "x".repeat(121);
    let captioned = w.send_file(conv, "label.png", "image/png", png(), &long).await;
    let failed = w.wait_status(conv, &captioned["id"], "not marked failed", |m| m["status"] == "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap_or_default().contains("120"), "{failed}");

    // Any other file goes as `type: file` with its size and name.
    let pdf = b"%PDF-1.4 terms".to_vec();
    let doc = w.send_file(conv, "terms.pdf", "application/pdf", pdf.clone(), "").await;
    w.wait_status(conv, &doc["id"], "not marked sent", |m| m["status"] == "sent" || m["status"] == "delivered").await;
    let out: Vec<_> = w.emu.sent().into_iter().filter(|m| m.to == user).collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[1].body["type"], "file", "{}", out[1].body);
    assert_eq!(out[1].body["file_name"], "terms.pdf");
    assert_eq!(out[1].body["size"], pdf.len());
    let media_id = out[1].body["media_id"].as_str().expect("the emulator fetched the URL");
    assert_eq!(w.emu.media_bytes(media_id).map(|m| m.1), Some(pdf));
}

/// Instagram takes files by URL only, with no text: the emulator fetches
/// the signed URL like Meta and gets exactly the agent's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_reply_with_a_file_sends_a_signed_public_url() {
    use switchboard_emulator::{Provider, INSTAGRAM_PAGE_TOKEN};
    let dir = TempDir::new("sb-ig-upload").unwrap();
    let w = world(&dir, &[]).await;
    let config = json!({"instagram_account_id": "17841400000000001", "page_access_token": INSTAGRAM_PAGE_TOKEN, "app_secret": "ig-secret",
                        "verify_token": "ig-verify", "api_base_url": w.emu.base_url()});
    let (status, inbox) = w.admin.post(&w.path("/inboxes"), json!({"name": "Insta", "channel": "instagram", "config": config})).await;
    assert_eq!(status, 201, "{inbox}");
    let hook = inbox["webhook_url"].as_str().unwrap().to_owned();
    let igsid = "13579246801357";
    let delivery = w.emu.instagram_inbound_text(&hook, "ig-secret", "17841400000000001", igsid, "Send me the label").await.unwrap();
    assert_eq!(delivery.status, 200);
    let (_, list) = w.admin.get(&w.path("/conversations?channel=instagram")).await;
    let conv = list["data"][0]["id"].as_i64().expect("an instagram conversation");
    let pdf = b"%PDF-1.4 label".to_vec();
    let sent = w.send_file(conv, "label.pdf", "application/pdf", pdf.clone(), "").await;
    w.wait_status(conv, &sent["id"], "not marked sent", |m| m["status"] == "sent" || m["status"] == "delivered").await;
    let out = w.emu.sent();
    assert_eq!(out.len(), 1, "one send: {out:?}");
    assert_eq!((out[0].provider, out[0].to.as_str()), (Provider::Instagram, igsid));
    let attachment = &out[0].body["message"]["attachment"];
    assert_eq!(attachment["type"], "file", "{}", out[0].body);
    let url = attachment["payload"]["url"].as_str().expect("a URL");
    assert!(url.contains("/public/files/"), "{url}");
    assert!(out[0].body["message"].get("text").is_none(), "{}", out[0].body);
    assert!(out[0].body.get("media_error").is_none(), "{}", out[0].body);
    let media_id = out[0].body["media_id"].as_str().expect("the emulator fetched the URL");
    assert_eq!(w.emu.media_bytes(media_id).map(|m| m.1), Some(pdf), "the agent's bytes");

    // Text with a file: refused, as on Messenger.
    let captioned = w.send_file(conv, "label.pdf", "application/pdf", b"%PDF".to_vec(), "Your label").await;
    let failed = w.wait_status(conv, &captioned["id"], "not marked failed", |m| m["status"] == "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap_or_default().contains("no text with a file"), "{failed}");
    assert_eq!(w.emu.sent().len(), 1, "nothing more was sent");
}
