//! WhatsApp Cloud API: the Graph send endpoint, media retrieval, and the
//! Meta webhook payloads (messages and statuses) signed with
//! `X-Hub-Signature-256`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Delivery;
use crate::state::{Injected, Inner, Provider, SentMessage, unix_now};

/// Meta's business account id in generated webhooks; the product routes
/// by `metadata.phone_number_id`, never by this.
const WABA_ID: &str = "102290129340398";
const MAX_TEXT_CHARS: usize = 4096;

/// `sha256=<hex HMAC-SHA256(app_secret, body)>`, the `X-Hub-Signature-256`
/// header Meta puts on every webhook POST.
pub fn hub_signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; this arm is unreachable.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct GraphError<'a> {
    status: StatusCode,
    kind: &'a str,
    code: u32,
    message: &'a str,
    details: Option<&'a str>,
}

impl GraphError<'_> {
    fn respond(self, inner: &Inner) -> Response {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": inner.new_fbtrace_id(),
        });
        if let Some(details) = self.details {
            error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

fn unauthorized(inner: &Inner) -> Response {
    GraphError {
        status: StatusCode::UNAUTHORIZED,
        kind: "OAuthException",
        code: 190,
        message: "Invalid OAuth access token - Cannot parse access token",
        details: None,
    }
    .respond(inner)
}

fn invalid_parameter(inner: &Inner, details: &str) -> Response {
    GraphError {
        status: StatusCode::BAD_REQUEST,
        kind: "OAuthException",
        code: 100,
        message: "(#100) Invalid parameter",
        details: Some(details),
    }
    .respond(inner)
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    token.is_some_and(|t| inner.lock().whatsapp_tokens.contains(t.trim()))
}

fn injected(inner: &Inner, failure: Injected) -> Response {
    match failure {
        Injected::TooManyRequests { retry_after_secs } => {
            let mut response = GraphError {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: "OAuthException",
                code: 130429,
                message: "(#130429) Rate limit hit",
                details: Some("Cloud API message throughput has been reached."),
            }
            .respond(inner);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Injected::ServerError(status) => {
            let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
                (131016, "(#131016) Service unavailable")
            } else {
                (131000, "(#131000) Something went wrong")
            };
            GraphError {
                status,
                kind: "OAuthException",
                code,
                message,
                details: Some("Temporary error, try again later."),
            }
            .respond(inner)
        }
    }
}

/// What the send endpoint needs to know about a valid request.
#[derive(Debug, PartialEq, Eq)]
struct Outbound {
    to: String,
    wa_id: String,
    template: bool,
}

fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Checks the shape Meta documents for `POST /{phone_number_id}/messages`;
/// the error is the `error_data.details` text.
fn validate(body: &Value) -> Result<Outbound, String> {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object")?;
    if obj.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err("The parameter messaging_product is required and must be \"whatsapp\"".into());
    }
    let to = str_field(obj, "to").ok_or("The parameter to is required")?;
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    if wa_id.is_empty() {
        return Err("Param to must be a phone number".into());
    }
    // The API treats a missing `type` as text.
    let kind = match obj.get("type") {
        None => "text",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err("Param type must be a string".into()),
    };
    let content = obj
        .get(kind)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("The parameter {kind} is required"))?;
    match kind {
        "text" => {
            let text =
                str_field(content, "body").ok_or("The parameter text['body'] is required")?;
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(format!(
                    "Param text['body'] must be at most {MAX_TEXT_CHARS} characters long"
                ));
            }
        }
        "template" => {
            str_field(content, "name").ok_or("The parameter template['name'] is required")?;
            let language = content.get("language").and_then(Value::as_object);
            language
                .and_then(|l| str_field(l, "code"))
                .ok_or("The parameter template['language']['code'] is required")?;
        }
        "image" | "document" | "audio" | "video" | "sticker" => {
            if str_field(content, "link").is_none() && str_field(content, "id").is_none() {
                return Err(format!("Param {kind} must contain either 'id' or 'link'"));
            }
        }
        // Accepted without a deeper look: the product does not send these yet.
        "interactive" | "location" | "contacts" | "reaction" => {}
        other => return Err(format!("Param type has an unsupported value: {other}")),
    }
    Ok(Outbound {
        to: to.to_owned(),
        wa_id,
        template: kind == "template",
    })
}

/// `POST /{version}/{phone_number_id}/messages`. An accepted send is
/// recorded and answered (after the answer delay, if set); its `sent`
/// status webhook (with the request's `biz_opaque_callback_data`) goes to
/// the number's subscription, if any, at the same time, whether or not the
/// answer reached the product.
pub(crate) async fn send_message(
    State(inner): State<Arc<Inner>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.count_attempt();
    if !authorized(&inner, &headers) {
        return unauthorized(&inner);
    }
    if let Some(failure) = inner.draw_failure() {
        return injected(&inner, failure);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid_parameter(&inner, "The request body is not valid JSON");
    };
    let outbound = match validate(&body) {
        Ok(outbound) => outbound,
        Err(details) => return invalid_parameter(&inner, &details),
    };
    let closed = !outbound.template && inner.lock().closed_windows.contains(&outbound.wa_id);
    if closed {
        return GraphError {
            status: StatusCode::BAD_REQUEST,
            kind: "OAuthException",
            code: 131047,
            message: "(#131047) Re-engagement message",
            details: Some(
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ),
        }
        .respond(&inner);
    }
    let wamid = inner.new_wamid();
    let response = json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": outbound.to, "wa_id": outbound.wa_id }],
        "messages": [{ "id": wamid }],
    });
    let callback_data = body
        .get("biz_opaque_callback_data")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let subscribed = {
        let mut state = inner.lock();
        state.sent.push(SentMessage {
            provider: Provider::WhatsApp,
            account: phone_number_id.clone(),
            to: outbound.to,
            body,
            external_id: wamid.clone(),
        });
        state.whatsapp_webhooks.contains_key(&phone_number_id)
    };
    if subscribed {
        let status = status_payload_with(
            &phone_number_id,
            &wamid,
            "sent",
            &outbound.wa_id,
            callback_data.as_deref(),
        );
        // Meta reports `sent` once the message left, about when it answers
        // the send: with a held answer, after the hold.
        let after = inner.lock().answer_delay;
        inner.deliver_until_taken(phone_number_id, status, after);
    }
    inner.delay_answer().await;
    Json(response).into_response()
}

/// `GET /{version}/{media_id}`: where to download a media object.
pub(crate) async fn media_info(
    State(inner): State<Arc<Inner>>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized(&inner);
    }
    let Some(media) = inner.media(&media_id) else {
        let message = format!(
            "Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        );
        return GraphError {
            status: StatusCode::BAD_REQUEST,
            kind: "GraphMethodException",
            code: 100,
            message: &message,
            details: None,
        }
        .respond(&inner);
    };
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/media/{}", inner.base_url, media.id),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.bytes.len(),
        "id": media.id,
    }))
    .into_response()
}

/// `GET /media/{media_id}`: the bytes, for the same Bearer token.
pub(crate) async fn media_download(
    State(inner): State<Arc<Inner>>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized(&inner);
    }
    match inner.media(&media_id) {
        Some(media) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Messenger, Instagram and Viber hand out attachment URLs on a public CDN:
/// no token, just a GET.
pub(crate) async fn cdn_download(
    State(inner): State<Arc<Inner>>,
    Path(media_id): Path<String>,
) -> Response {
    match inner.media(&media_id) {
        Some(media) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn metadata(phone_number_id: &str) -> Value {
    // A stable, distinct display number per phone_number_id.
    let digits: String = phone_number_id
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let tail = &digits[digits.len().saturating_sub(7)..];
    json!({
        "display_phone_number": format!("1555{tail:0>7}"),
        "phone_number_id": phone_number_id,
    })
}

fn envelope(value: Value) -> Vec<u8> {
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": WABA_ID, "changes": [{ "value": value, "field": "messages" }] }],
    });
    payload.to_string().into_bytes()
}

/// A `messages` webhook from `from_wa_id`; `content` holds `type` and the
/// type's object (e.g. `{"type":"text","text":{"body":"hi"}}`).
pub(crate) fn message_payload(
    inner: &Inner,
    phone_number_id: &str,
    from_wa_id: &str,
    name: &str,
    content: Value,
) -> (String, Vec<u8>) {
    let wamid = inner.new_wamid();
    let mut message = json!({
        "from": from_wa_id,
        "id": wamid,
        "timestamp": unix_now().to_string(),
    });
    if let (Some(message), Value::Object(content)) = (message.as_object_mut(), content) {
        message.extend(content);
    }
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "contacts": [{ "profile": { "name": name }, "wa_id": from_wa_id }],
        "messages": [message],
    });
    (wamid, envelope(value))
}

/// A `statuses` webhook for a message the product sent.
pub(crate) fn status_payload(
    phone_number_id: &str,
    wamid: &str,
    status: &str,
    recipient: &str,
) -> Vec<u8> {
    status_payload_with(phone_number_id, wamid, status, recipient, None)
}

/// A `statuses` webhook that echoes the send's `biz_opaque_callback_data`
/// (Meta puts it on every status of a message sent with it).
pub(crate) fn status_payload_with(
    phone_number_id: &str,
    wamid: &str,
    status: &str,
    recipient: &str,
    callback_data: Option<&str>,
) -> Vec<u8> {
    let mut entry = json!({
        "id": wamid,
        "status": status,
        "timestamp": unix_now().to_string(),
        "recipient_id": recipient,
    });
    if let Some(data) = callback_data {
        entry["biz_opaque_callback_data"] = json!(data);
    }
    match status {
        "failed" => {
            entry["errors"] = json!([{
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": { "details": "Message Undeliverable." },
            }]);
        }
        "sent" | "delivered" => {
            entry["conversation"] = json!({
                "id": format!("emu{}", hex::encode(recipient)),
                "origin": { "type": "service" },
            });
            entry["pricing"] =
                json!({ "billable": false, "pricing_model": "PMP", "category": "service" });
        }
        _ => {}
    }
    envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "statuses": [entry],
    }))
}

/// A coexistence echo (`smb_message_echoes`): a message the business sent
/// to `to_wa_id` from the WhatsApp Business app. `wamid` defaults to a new
/// one; `content` holds `type` and the type's object.
pub(crate) fn echo_payload(
    inner: &Inner,
    phone_number_id: &str,
    to_wa_id: &str,
    wamid: Option<&str>,
    content: Value,
) -> (String, Vec<u8>) {
    let wamid = wamid.map_or_else(|| inner.new_wamid(), str::to_owned);
    let business = metadata(phone_number_id);
    let mut message = json!({
        "from": business["display_phone_number"],
        "to": to_wa_id,
        "id": wamid,
        "timestamp": unix_now().to_string(),
    });
    if let (Some(message), Value::Object(content)) = (message.as_object_mut(), content) {
        message.extend(content);
    }
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": business,
        "message_echoes": [message],
    });
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": WABA_ID, "changes": [{ "value": value, "field": "smb_message_echoes" }] }],
    });
    (wamid, payload.to_string().into_bytes())
}

/// The message content for media the emulator holds, typed by its MIME
/// type (image, audio, video, else document).
pub(crate) fn media_content(inner: &Inner, media_id: &str, caption: Option<&str>) -> Option<Value> {
    let media = inner.media(media_id)?;
    let kind = match media.mime_type.split('/').next() {
        Some("image") => "image",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "document",
    };
    let mut object =
        json!({ "id": media.id, "mime_type": media.mime_type, "sha256": media.sha256 });
    if kind == "document" {
        object["filename"] = json!(format!("file_{}", media.id));
    }
    if let Some(caption) = caption.filter(|_| kind != "audio") {
        object["caption"] = json!(caption);
    }
    Some(json!({ "type": kind, kind: object }))
}

impl Inner {
    pub(crate) async fn post_signed_whatsapp(
        &self,
        url: &str,
        app_secret: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "facebookexternalua")
            .header("X-Hub-Signature-256", hub_signature(app_secret, raw))
            .body(raw.to_vec())
            .send()
            .await?;
        Ok(response.status())
    }

    pub(crate) async fn whatsapp_inbound(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        from_wa_id: &str,
        name: &str,
        content: Value,
    ) -> reqwest::Result<Delivery> {
        let (id, body) = message_payload(self, phone_number_id, from_wa_id, name, content);
        let status = self
            .post_signed_whatsapp(webhook_url, app_secret, &body)
            .await?;
        Ok(Delivery { status, id, body })
    }

    pub(crate) async fn whatsapp_status(
        &self,
        webhook_url: &str,
        app_secret: &str,
        phone_number_id: &str,
        wamid: &str,
        status: &str,
        recipient: &str,
    ) -> reqwest::Result<Delivery> {
        let body = status_payload(phone_number_id, wamid, status, recipient);
        let status = self
            .post_signed_whatsapp(webhook_url, app_secret, &body)
            .await?;
        Ok(Delivery {
            status,
            id: wamid.to_owned(),
            body,
        })
    }
}

/// `POST /{version}/{phone_number_id}/media`: a `multipart/form-data`
/// upload (`messaging_product=whatsapp`, `type`, and the `file`), kept as
/// media; answers `{"id": …}`.
pub(crate) async fn upload_media(
    State(inner): State<Arc<Inner>>,
    Path((_version, _phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&inner, &headers) {
        return unauthorized(&inner);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(parts) = crate::telegram::multipart_boundary(content_type)
        .and_then(|b| crate::telegram::parse_multipart(&body, &b))
    else {
        return invalid_parameter(&inner, "the upload must be multipart/form-data");
    };
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .and_then(|p| std::str::from_utf8(&p.data).ok())
    };
    if text("messaging_product") != Some("whatsapp") {
        return invalid_parameter(&inner, "messaging_product is required and must be whatsapp");
    }
    let Some(file) = parts
        .iter()
        .find(|p| p.name == "file" && p.filename.is_some())
    else {
        return invalid_parameter(&inner, "file is required");
    };
    let mime_type = text("type")
        .or(file.content_type.as_deref())
        .unwrap_or("application/octet-stream");
    let id = inner.add_media(mime_type, file.data.clone());
    Json(json!({ "id": id })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_documented_shapes() {
        let ok = [
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+1 (650) 555-1234","type":"text","text":{"preview_url":false,"body":"hi"}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","text":{"body":"no type means text"}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{"link":"https://example.com/a.jpg"}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","type":"document","document":{"id":"1234","filename":"a.pdf"}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","type":"audio","audio":{"id":"1234"}}),
            json!({"messaging_product":"whatsapp","to":"16505551234","type":"video","video":{"link":"https://example.com/a.mp4","caption":"c"}}),
        ];
        for body in ok {
            assert!(validate(&body).is_ok(), "{body}");
        }
        let parsed = validate(
            &json!({"messaging_product":"whatsapp","to":"+1 (650) 555-1234","text":{"body":"x"}}),
        );
        assert_eq!(
            parsed,
            Ok(Outbound {
                to: "+1 (650) 555-1234".into(),
                wa_id: "16505551234".into(),
                template: false
            })
        );
    }

    #[test]
    fn validate_rejects_malformed() {
        let bad = [
            json!([]),
            json!({"to":"1","type":"text","text":{"body":"no product"}}),
            json!({"messaging_product":"whatsapp","type":"text","text":{"body":"no to"}}),
            json!({"messaging_product":"whatsapp","to":"abc","type":"text","text":{"body":"bad to"}}),
            json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":""}}),
            json!({"messaging_product":"whatsapp","to":"1","type":"text"}),
            json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"x".repeat(4097)}}),
            json!({"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t"}}),
            json!({"messaging_product":"whatsapp","to":"1","type":"image","image":{"caption":"no link or id"}}),
            json!({"messaging_product":"whatsapp","to":"1","type":"hologram","hologram":{}}),
        ];
        for body in bad {
            assert!(validate(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn signature_matches_known_vector() {
        // RFC 4231 test case 2.
        let sig = hub_signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
