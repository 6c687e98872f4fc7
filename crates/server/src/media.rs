//! Inbound media from provider channels: the files a customer's message
//! carries are fetched from the provider into the attachment store, so
//! agents get them from us (by the attachment's unguessable URL) instead of
//! from the provider, whose links expire and need the inbox's token.
//!
//! Design: the webhook downloads *before* its durable write, within a short
//! budget ([`MESSAGE_BUDGET`]) and the server's upload size limit, then
//! stores the message with the files linked in the same write as any other
//! visitor upload. A file that cannot be fetched (provider error, timeout,
//! too large) never fails the webhook: the message is stored with a visible
//! line ("[image could not be downloaded]") so nothing acknowledged is lost
//! and the agent knows to ask again. The caller checks the message's dedup
//! key first, so a redelivery downloads and stores nothing twice.
//!
//! Fetched files are owned by the contact (`UploadOwner::Visitor`), like a
//! widget visitor's uploads: the store links each to exactly one message.

use crate::state::AppState;
use std::sync::OnceLock;
use std::time::Duration;
use switchboard_channels::provider::MediaRef;
use switchboard_channels::{telegram, whatsapp};
use switchboard_core::*;
use switchboard_store::{NewAttachment, StoreError, UploadOwner};

/// All of one message's downloads together (both provider round trips of
/// each file) must finish within this; the webhook answers soon after.
pub const MESSAGE_BUDGET: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One client for all downloads (connection reuse per provider host).
fn client() -> Result<&'static reqwest::Client, Failure> {
    static HTTP: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // Provider CDNs may redirect; reqwest drops Authorization when the
            // host changes.
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Failure::Failed(format!("no HTTP client: {e}")))
}

/// Why a file was not fetched. Reasons never hold URLs (Telegram's carry
/// the bot token).
#[derive(Debug)]
enum Failure {
    TooLarge,
    Failed(String),
}

fn http_error(step: &str, e: reqwest::Error) -> Failure {
    Failure::Failed(format!("{step}: {}", e.without_url()))
}

/// A message's files as stored, and a line for each that could not be.
#[derive(Debug, Default)]
pub struct Fetched {
    pub attachment_ids: Vec<AttachmentId>,
    pub notes: Vec<String>,
}

/// Downloads `media` (at most `max_files`) into the attachment store for
/// `contact`. Only a store error fails: provider trouble becomes a note.
pub async fn fetch_all(st: &AppState, inbox: &Inbox, contact: ContactId, media: &[MediaRef], max_files: usize) -> Result<Fetched, StoreError> {
    let mut out = Fetched::default();
    let limit = st.settings.max_upload_bytes;
    let deadline = tokio::time::Instant::now() + MESSAGE_BUDGET;
    for m in media.iter().take(max_files) {
        let got = match tokio::time::timeout_at(deadline, download(inbox, m, limit)).await {
            Ok(got) => got,
            Err(_) => Err(Failure::Failed("timed out".to_owned())),
        };
        match got {
            Ok(file) => {
                let new = NewAttachment {
                    owner: UploadOwner::Visitor { contact },
                    filename: file.filename,
                    content_type: file.content_type,
                    data: file.data,
                    access_key: crate::auth::random_secret(),
                };
                out.attachment_ids.push(st.store.create_attachment(inbox.workspace_id, new, st.now()).await?.id);
            }
            Err(why) => {
                let reason = match &why {
                    Failure::TooLarge => format!("larger than {} bytes", limit),
                    Failure::Failed(r) => r.clone(),
                };
                tracing::warn!(inbox = inbox.id.0, channel = inbox.channel.as_str(), media = %m.id, %reason, "inbound media not downloaded");
                out.notes.push(failure_line(m, &why, limit));
            }
        }
    }
    Ok(out)
}

/// What agents see instead of a file that could not be fetched.
fn failure_line(m: &MediaRef, why: &Failure, limit: usize) -> String {
    let what = match &m.filename {
        Some(f) if !f.trim().is_empty() => format!("file {}", f.trim()),
        _ => kind(m.mime_type.as_deref()).to_owned(),
    };
    match why {
        Failure::TooLarge => format!("[{what} could not be downloaded: larger than {}]", human_size(limit)),
        Failure::Failed(_) => format!("[{what} could not be downloaded]"),
    }
}

fn kind(mime: Option<&str>) -> &'static str {
    match mime.and_then(|t| t.split('/').next()) {
        Some("image") => "image",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "file",
    }
}

fn human_size(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= 1024 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

struct File {
    filename: String,
    content_type: String,
    data: Vec<u8>,
}

async fn download(inbox: &Inbox, m: &MediaRef, limit: usize) -> Result<File, Failure> {
    let http = client()?;
    let config = |key: &str| inbox.config_str(key).filter(|v| !v.is_empty()).ok_or_else(|| Failure::Failed(format!("the inbox has no {key}")));
    // (bytes, Content-Type the provider declared, a file name it suggests)
    let (data, declared, suggested) = match inbox.channel {
        Channel::Whatsapp => {
            let base = inbox.config_str("api_base_url").unwrap_or(whatsapp::DEFAULT_API_BASE);
            let (name, value) = whatsapp::auth_header(config("access_token")?);
            let resp = http.get(whatsapp::media_info_url(base, &m.id)).header(&name, &value).send().await.map_err(|e| http_error("media info", e))?;
            if !resp.status().is_success() {
                return Err(Failure::Failed(format!("media info: HTTP {}", resp.status().as_u16())));
            }
            let info: serde_json::Value = resp.json().await.map_err(|e| http_error("media info", e))?;
            let url = info["url"].as_str().filter(|u| u.starts_with("http")).ok_or_else(|| Failure::Failed("media info: no url".to_owned()))?;
            let size = info["file_size"].as_u64().or_else(|| info["file_size"].as_str().and_then(|s| s.parse().ok()));
            if size.is_some_and(|s| s > limit as u64) {
                return Err(Failure::TooLarge);
            }
            let mime = info["mime_type"].as_str().map(str::to_owned);
            let resp = http.get(url).header(&name, &value).send().await.map_err(|e| http_error("media download", e))?;
            let (data, header) = read_limited(resp, limit).await?;
            (data, mime.or(header), None)
        }
        Channel::Telegram => {
            let base = inbox.config_str("api_base_url").unwrap_or(telegram::DEFAULT_API_BASE);
            let token = config("bot_token")?;
            let req = telegram::get_file(base, token, &m.id);
            let resp = http.post(&req.url).json(&req.body).send().await.map_err(|e| http_error("getFile", e))?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| http_error("getFile", e))?;
            let path = telegram::parse_get_file_response(status, &body).map_err(|outcome| Failure::Failed(format!("getFile: {outcome:?}")))?;
            let resp = http.get(telegram::file_download_url(base, token, &path)).send().await.map_err(|e| http_error("file download", e))?;
            let (data, header) = read_limited(resp, limit).await?;
            let suggested = path.rsplit('/').next().map(str::to_owned);
            (data, header, suggested)
        }
        // Meta's and Viber's attachments are URLs on their CDNs: a plain GET.
        Channel::Messenger | Channel::Instagram | Channel::Viber => {
            let url = m.id.as_str();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(Failure::Failed("the attachment has no download address".to_owned()));
            }
            let resp = http.get(url).send().await.map_err(|e| http_error("download", e))?;
            let (data, header) = read_limited(resp, limit).await?;
            let suggested = url.split(['?', '#']).next().and_then(|p| p.rsplit('/').next()).filter(|s| s.contains('.')).map(str::to_owned);
            (data, header, suggested)
        }
        other => return Err(Failure::Failed(format!("media from {other} is not fetched yet"))),
    };
    // The type the message declared wins (the provider's CDN may answer a
    // generic one); octet-stream when nobody says.
    let content_type = crate::routes::files::clean_content_type(m.mime_type.as_deref().or(declared.as_deref()).unwrap_or(""));
    Ok(File { filename: filename(m, suggested.as_deref(), &content_type), content_type, data })
}

/// The body of a successful download, refused past `limit` bytes without
/// reading further; and its Content-Type.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<(Vec<u8>, Option<String>), Failure> {
    if !resp.status().is_success() {
        return Err(Failure::Failed(format!("download: HTTP {}", resp.status().as_u16())));
    }
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Failure::TooLarge);
    }
    let header = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut data = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error("download", e))? {
        if data.len() + chunk.len() > limit {
            return Err(Failure::TooLarge);
        }
        data.extend_from_slice(&chunk);
    }
    if data.is_empty() {
        return Err(Failure::Failed("download: empty file".to_owned()));
    }
    Ok((data, header))
}

/// The customer's file name, else the provider's, else `image.jpg` style.
fn filename(m: &MediaRef, suggested: Option<&str>, content_type: &str) -> String {
    [m.filename.as_deref(), suggested]
        .into_iter()
        .flatten()
        .find_map(|f| validate::filename(f).ok())
        .unwrap_or_else(|| format!("{}.{}", kind(Some(content_type)), extension(content_type)))
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "audio/amr" => "amr",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "video/webm" => "webm",
        "text/plain" => "txt",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(mime: Option<&str>, filename: Option<&str>) -> MediaRef {
        MediaRef { id: "1".into(), mime_type: mime.map(str::to_owned), filename: filename.map(str::to_owned), caption: None }
    }

    #[test]
    fn names_files_by_the_customer_then_the_provider_then_the_type() {
        assert_eq!(filename(&media(Some("application/pdf"), Some("../cv.pdf")), Some("documents/file_1.pdf"), "application/pdf"), "cv.pdf");
        assert_eq!(filename(&media(Some("image/jpeg"), None), Some("file_7.jpg"), "image/jpeg"), "file_7.jpg");
        assert_eq!(filename(&media(Some("image/jpeg"), None), None, "image/jpeg"), "image.jpg");
        assert_eq!(filename(&media(None, Some("  ")), None, "application/octet-stream"), "file.bin");
    }

    #[test]
    fn failure_lines_name_the_file_and_the_limit() {
        let image = media(Some("image/jpeg"), None);
        assert_eq!(failure_line(&image, &Failure::Failed("x".into()), 10), "[image could not be downloaded]");
        assert_eq!(
            failure_line(&media(None, Some("cv.pdf")), &Failure::TooLarge, 10 * 1024 * 1024),
            "[file cv.pdf could not be downloaded: larger than 10 MB]"
        );
        assert_eq!(failure_line(&image, &Failure::TooLarge, 2048), "[image could not be downloaded: larger than 2 KB]");
    }
}
