//! Provider webhook bodies as the real providers send them (the shapes of
//! the WhatsApp Cloud API and Telegram Bot API examples the channel tests
//! use), signed with the inbox's secret, and the marker every message
//! carries so a WebSocket frame can be matched to its send time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const WA_PHONE_NUMBER_ID: &str = "106540352242922";
pub const WA_APP_SECRET: &str = "load-app-secret";
pub const TG_SECRET: &str = "load-secret-token";

/// `lt <seq> <micros since the run's epoch>`: the send time travels inside
/// the message, so no shared map is needed to compute latency.
pub fn marker(seq: u64, sent_us: u64) -> String {
    format!("lt {seq} {sent_us}")
}

/// Finds a marker in a raw WebSocket frame without parsing the JSON (the
/// load tool shares two cores with the server; parsing every frame would
/// steal its CPU).
pub fn find_marker(frame: &str) -> Option<(u64, u64)> {
    let start = frame.find("\"lt ")? + 4;
    let rest = &frame[start..];
    let end = rest.find('"')?;
    let mut parts = rest[..end].split(' ');
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((seq, sent))
}

pub struct Signed {
    pub body: Vec<u8>,
    pub header: (&'static str, String),
}

pub fn whatsapp(customer: u64, seq: u64, text: &str) -> Signed {
    let wa_id = format!("38050{customer:07}");
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE_NUMBER_ID},
                    "contacts": [{"profile": {"name": format!("Customer {customer}")}, "wa_id": wa_id}],
                    "messages": [{
                        "from": wa_id,
                        "id": format!("wamid.LOAD{seq:012}"),
                        "timestamp": "1749416383",
                        "type": "text",
                        "text": {"body": text}
                    }]
                },
                "field": "messages"
            }]
        }]
    })
    .to_string()
    .into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(WA_APP_SECRET.as_bytes()).expect("hmac accepts any key length");
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    Signed { body, header: ("x-hub-signature-256", signature) }
}

pub fn telegram(customer: u64, seq: u64, text: &str) -> Signed {
    let chat = 500_000_000 + customer;
    let body = serde_json::json!({
        "update_id": 700_000_000 + seq,
        "message": {
            "message_id": seq + 1,
            "from": {"id": chat, "is_bot": false, "first_name": format!("Customer {customer}"), "language_code": "en"},
            "chat": {"id": chat, "first_name": format!("Customer {customer}"), "type": "private"},
            "date": 1749416383,
            "text": text
        }
    })
    .to_string()
    .into_bytes();
    Signed { body, header: ("x-telegram-bot-api-secret-token", TG_SECRET.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_found_inside_a_frame() {
        let frame = format!(r#"{{"type":"message.created","data":{{"id":7,"content":"{}","x":1}}}}"#, marker(42, 123456));
        assert_eq!(find_marker(&frame), Some((42, 123456)));
        assert_eq!(find_marker(r#"{"type":"presence.updated"}"#), None);
    }

    #[test]
    fn whatsapp_signature_is_over_the_exact_body() {
        let s = whatsapp(3, 9, "hi");
        let mut mac = Hmac::<Sha256>::new_from_slice(WA_APP_SECRET.as_bytes()).unwrap();
        mac.update(&s.body);
        assert_eq!(s.header.1, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
        let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"], "hi");
    }
}
