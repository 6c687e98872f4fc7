//! Which settings each channel's inbox takes (SPEC §4.1), and their checks.

use crate::model::Channel;
use crate::validate::ValidationError;
use serde_json::{Map, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Url,
    Port,
    Bool,
    TextList,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// PEM certificates (a CA to trust).
    Pem,
}

/// (key, kind, required on create)
fn keys(channel: Channel) -> &'static [(&'static str, Kind, bool)] {
    use Kind::*;
    match channel {
        Channel::Whatsapp => &[
            ("phone_number_id", Text, true),
            ("access_token", Text, true),
            ("app_secret", Text, true),
            ("verify_token", Text, true),
            ("api_base_url", Url, false),
        ],
        Channel::Telegram => &[("bot_token", Text, true), ("secret_token", Text, true), ("api_base_url", Url, false)],
        Channel::Messenger => &[
            ("page_id", Text, true),
            ("page_access_token", Text, true),
            ("app_secret", Text, true),
            ("verify_token", Text, true),
            ("api_base_url", Url, false),
        ],
        Channel::Instagram => &[
            ("instagram_account_id", Text, true),
            ("page_access_token", Text, true),
            ("app_secret", Text, true),
            ("verify_token", Text, true),
            ("api_base_url", Url, false),
        ],
        // welcome_message: the answer to `conversation_started` (shown when
        // a user opens the chat, before they subscribe).
        Channel::Viber => &[("auth_token", Text, true), ("api_base_url", Url, false), ("sender_name", Text, false), ("welcome_message", Text, false)],
        Channel::Email => &[
            ("address", Text, true),
            ("imap_host", Text, true),
            ("imap_port", Port, false),
            ("smtp_host", Text, true),
            ("smtp_port", Port, false),
            ("username", Text, true),
            ("password", Text, true),
            // Legacy switch: `false` is plain IMAP and SMTP; otherwise the
            // per-server modes below decide (implicit TLS by default).
            ("tls", Bool, false),
            // `tls`: IMAPS (993); `none`: plain IMAP (143).
            ("imap_security", OneOf(&["tls", "none"]), false),
            // `tls`: SMTPS (465); `starttls`: submission (587); `none`: plain (25).
            ("smtp_security", OneOf(&["tls", "starttls", "none"]), false),
            // A CA (PEM) trusted besides the public roots, for a
            // self-hosted server's own certificate authority.
            ("ca_cert", Pem, false),
        ],
        Channel::Webchat => &[
            ("allowed_origins", TextList, false),
            ("identity_secret", Text, false),
            ("greeting", Text, false),
            ("prechat", Bool, false),
        ],
        // `numbers` is a read-only mirror of the `voice_numbers` rows of the
        // inbox (the store rewrites it): numbers must be unique across all
        // workspaces and carry their own IVR menu and team, which a JSON
        // list cannot enforce. Given on create, the listed numbers are
        // registered with the inbox in the same transaction.
        Channel::Voice => &[("numbers", TextList, false), ("trunk", TextList, false)],
    }
}

/// Keys every channel takes. `greeting_message` is sent into a new
/// conversation inside business hours (the webchat-only `greeting` is shown
/// by the widget itself and never sent).
const COMMON_KEYS: &[(&str, Kind, bool)] = &[("greeting_message", Kind::Text, false)];

/// Checks a whole config (on create) or a partial one (on update, where
/// `null` removes a key and required keys may be absent).
pub fn check(channel: Channel, config: &Map<String, Value>, partial: bool) -> Result<(), ValidationError> {
    let spec = keys(channel);
    for (key, value) in config {
        let Some((_, kind, required)) = spec.iter().chain(COMMON_KEYS).find(|(k, _, _)| k == key) else {
            return Err(ValidationError::new("config", format!("unknown key {key:?} for channel {channel}")));
        };
        if value.is_null() {
            if partial && !required {
                continue;
            }
            return Err(ValidationError::new("config", format!("{key} cannot be removed")));
        }
        let ok = match kind {
            Kind::Text => value.as_str().is_some_and(|s| !s.trim().is_empty() && s.len() <= 2000),
            Kind::Url => value
                .as_str()
                .is_some_and(|s| (s.starts_with("http://") || s.starts_with("https://")) && s.len() <= 2000),
            Kind::Port => value.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
            Kind::Bool => value.is_boolean(),
            Kind::TextList => value
                .as_array()
                .is_some_and(|a| a.len() <= 100 && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty()))),
            Kind::OneOf(words) => value.as_str().is_some_and(|s| words.contains(&s)),
            Kind::Pem => value
                .as_str()
                .is_some_and(|s| s.len() <= 64_000 && s.contains("-----BEGIN CERTIFICATE-----") && s.contains("-----END CERTIFICATE-----")),
        };
        if !ok {
            let expected = match kind {
                Kind::Text => "a non-empty string",
                Kind::Url => "an http(s) URL",
                Kind::Port => "a port number",
                Kind::Bool => "true or false",
                Kind::TextList => "a list of strings",
                Kind::OneOf(words) => return Err(ValidationError::new("config", format!("{key} must be one of {}", words.join(", ")))),
                Kind::Pem => "PEM certificates (-----BEGIN CERTIFICATE-----)",
            };
            return Err(ValidationError::new("config", format!("{key} must be {expected}")));
        }
    }
    if !partial {
        for (key, _, required) in spec {
            if *required && !config.contains_key(*key) {
                return Err(ValidationError::new("config", format!("{key} is required for channel {channel}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn complete_configs_pass() {
        let wa = map(json!({"phone_number_id":"1","access_token":"t","app_secret":"s","verify_token":"v","api_base_url":"http://127.0.0.1:9"}));
        assert!(check(Channel::Whatsapp, &wa, false).is_ok());
        assert!(check(Channel::Webchat, &Map::new(), false).is_ok());
        assert!(check(Channel::Viber, &map(json!({"auth_token":"x","greeting_message":"Hello!"})), false).is_ok());
        assert!(check(Channel::Webchat, &map(json!({"greeting_message":""})), false).is_err());
    }

    #[test]
    fn missing_unknown_and_mistyped_keys_fail() {
        assert!(check(Channel::Telegram, &map(json!({"bot_token":"x"})), false).is_err());
        assert!(check(Channel::Webchat, &map(json!({"colour":"red"})), false).is_err());
        assert!(check(Channel::Webchat, &map(json!({"allowed_origins":"https://a.b"})), false).is_err());
        assert!(check(Channel::Viber, &map(json!({"auth_token":"x","api_base_url":"ftp://x"})), false).is_err());
        assert!(check(Channel::Email, &map(json!({"smtp_security":"starttls","imap_security":"tls"})), true).is_ok());
        assert!(check(Channel::Email, &map(json!({"imap_security":"starttls"})), true).is_err());
        assert!(check(Channel::Email, &map(json!({"ca_cert":"not a certificate"})), true).is_err());
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(check(Channel::Email, &map(json!({"ca_cert": pem})), true).is_ok());
    }

    #[test]
    fn partial_updates_may_omit_required_keys_but_not_remove_them() {
        assert!(check(Channel::Telegram, &map(json!({"api_base_url":null})), true).is_ok());
        assert!(check(Channel::Telegram, &map(json!({"bot_token":null})), true).is_err());
    }
}
