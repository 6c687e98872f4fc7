//! Providers' messaging windows: what an agent may send now, from when the
//! customer last wrote. WhatsApp allows free text for 24 hours, then only
//! approved templates; Messenger and Instagram allow replies for 24 hours,
//! then (tagged HUMAN_AGENT) up to 7 days, then nothing until the customer
//! writes again. Other channels have no window.
//!
//! Also the WhatsApp template an agent may send instead of free text.

use crate::model::Channel;
use crate::time::Timestamp;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Free text (WhatsApp) or a standard reply (Messenger, Instagram).
pub const STANDARD_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Messenger and Instagram: replies tagged HUMAN_AGENT.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// What a send needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowRequirement {
    /// Anything may be sent.
    None,
    /// WhatsApp: only an approved message template.
    Template,
    /// Messenger/Instagram: a reply is sent tagged HUMAN_AGENT (done for the agent).
    HumanAgentTag,
    /// Nothing can be sent until the customer writes.
    Closed,
}

/// The window of one conversation, as shown to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessagingWindow {
    pub channel: Channel,
    /// Whether a free-form reply goes out as is.
    pub open: bool,
    /// When the current stage ends (the free-form window while open, the
    /// HUMAN_AGENT window after it); null when it never ends or has ended.
    pub closes_at: Option<Timestamp>,
    pub requires: WindowRequirement,
}

/// The window at `now`, given when the customer last wrote (None: never).
/// A last message stamped in the future (clock skew) counts as just now.
pub fn messaging_window(channel: Channel, last_inbound_at: Option<Timestamp>, now: Timestamp) -> MessagingWindow {
    let window = |open, closes_at, requires| MessagingWindow { channel, open, closes_at, requires };
    let metered = matches!(channel, Channel::Whatsapp | Channel::Messenger | Channel::Instagram);
    if !metered {
        return window(true, None, WindowRequirement::None);
    }
    let after_window = if channel == Channel::Whatsapp { WindowRequirement::Template } else { WindowRequirement::Closed };
    let Some(last) = last_inbound_at else { return window(false, None, after_window) };
    let last = Timestamp(last.0.min(now.0));
    let age = now.0.saturating_sub(last.0);
    if age < STANDARD_WINDOW_MS {
        return window(true, Some(last.plus_millis(STANDARD_WINDOW_MS)), WindowRequirement::None);
    }
    if channel != Channel::Whatsapp && age < HUMAN_AGENT_WINDOW_MS {
        return window(false, Some(last.plus_millis(HUMAN_AGENT_WINDOW_MS)), WindowRequirement::HumanAgentTag);
    }
    window(false, None, after_window)
}

pub const MAX_TEMPLATE_NAME_CHARS: usize = 512;
pub const MAX_TEMPLATE_PARAMETERS: usize = 20;
pub const MAX_TEMPLATE_PARAMETER_CHARS: usize = 1024;

/// An approved WhatsApp message template, sendable outside the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplate {
    /// As approved in WhatsApp Manager: lowercase letters, digits and `_`.
    pub name: String,
    /// The template's language code: `en` or `en_US`.
    pub language: String,
    /// Values for the body's `{{1}}`, `{{2}}`, … in order.
    #[serde(default)]
    pub parameters: Vec<String>,
}

impl WhatsappTemplate {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |problem: &str| ValidationError::new("whatsapp_template", problem.to_owned());
        let n = self.name.chars().count();
        if n == 0 || n > MAX_TEMPLATE_NAME_CHARS || !self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(bad("name must be 1-512 characters of a-z, 0-9 and _"));
        }
        if !language_code(&self.language) {
            return Err(bad("language must be a code like en or en_US"));
        }
        if self.parameters.len() > MAX_TEMPLATE_PARAMETERS {
            return Err(bad("at most 20 parameters"));
        }
        if self.parameters.iter().any(|p| p.chars().count() > MAX_TEMPLATE_PARAMETER_CHARS) {
            return Err(bad("a parameter has at most 1024 characters"));
        }
        Ok(())
    }

    /// What agents see in the thread: `[template order_update: p1, p2]`.
    pub fn display_text(&self) -> String {
        if self.parameters.is_empty() {
            format!("[template {}]", self.name)
        } else {
            format!("[template {}: {}]", self.name, self.parameters.join(", "))
        }
    }
}

/// `ll`, `lll`, `ll_CC` or `ll_CCC`-ish codes as Meta lists them (en, en_US, es_MX, fil).
fn language_code(s: &str) -> bool {
    let (lang, region) = match s.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| (2..=3).contains(&r.len()) && r.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    lang_ok && region_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60 * 60 * 1000;
    const NOW: Timestamp = Timestamp(1_000 * H);

    fn at(hours_ago: i64) -> Option<Timestamp> {
        Some(Timestamp(NOW.0 - hours_ago * H))
    }

    #[test]
    fn whatsapp_is_open_for_24_hours_then_needs_a_template() {
        let w = messaging_window(Channel::Whatsapp, at(0), NOW);
        assert_eq!((w.open, w.requires, w.closes_at), (true, WindowRequirement::None, Some(Timestamp(NOW.0 + 24 * H))));
        let w = messaging_window(Channel::Whatsapp, Some(Timestamp(NOW.0 - 24 * H + 1)), NOW);
        assert_eq!((w.open, w.closes_at), (true, Some(Timestamp(NOW.0 + 1))));
        let w = messaging_window(Channel::Whatsapp, at(24), NOW);
        assert_eq!((w.open, w.requires, w.closes_at), (false, WindowRequirement::Template, None));
        let w = messaging_window(Channel::Whatsapp, at(24 * 30), NOW);
        assert_eq!(w.requires, WindowRequirement::Template);
        let w = messaging_window(Channel::Whatsapp, None, NOW);
        assert_eq!((w.open, w.requires), (false, WindowRequirement::Template));
    }

    #[test]
    fn messenger_and_instagram_go_human_agent_then_closed() {
        for ch in [Channel::Messenger, Channel::Instagram] {
            let w = messaging_window(ch, at(23), NOW);
            assert_eq!((w.open, w.requires, w.closes_at), (true, WindowRequirement::None, Some(Timestamp(NOW.0 + H))));
            let w = messaging_window(ch, at(24), NOW);
            assert_eq!((w.open, w.requires, w.closes_at), (false, WindowRequirement::HumanAgentTag, Some(Timestamp(NOW.0 + 6 * 24 * H))));
            let w = messaging_window(ch, Some(Timestamp(NOW.0 - 7 * 24 * H + 1)), NOW);
            assert_eq!(w.requires, WindowRequirement::HumanAgentTag);
            let w = messaging_window(ch, at(7 * 24), NOW);
            assert_eq!((w.open, w.requires, w.closes_at), (false, WindowRequirement::Closed, None));
            let w = messaging_window(ch, None, NOW);
            assert_eq!((w.open, w.requires), (false, WindowRequirement::Closed));
        }
    }

    #[test]
    fn other_channels_are_always_open() {
        for ch in [Channel::Telegram, Channel::Viber, Channel::Webchat, Channel::Email] {
            for last in [None, at(0), at(24 * 365)] {
                let w = messaging_window(ch, last, NOW);
                assert_eq!((w.channel, w.open, w.closes_at, w.requires), (ch, true, None, WindowRequirement::None));
            }
        }
    }

    #[test]
    fn a_future_last_message_counts_as_now() {
        let w = messaging_window(Channel::Whatsapp, Some(Timestamp(NOW.0 + 48 * H)), NOW);
        assert_eq!((w.open, w.closes_at), (true, Some(Timestamp(NOW.0 + 24 * H))));
    }

    #[test]
    fn the_window_serializes_for_the_ui() {
        let w = messaging_window(Channel::Messenger, at(30), NOW);
        let v = serde_json::to_value(w).expect("serializes");
        assert_eq!(v["channel"], "messenger");
        assert_eq!(v["requires"], "human_agent_tag");
        assert!(v["closes_at"].is_string());
        let v = serde_json::to_value(messaging_window(Channel::Telegram, None, NOW)).expect("serializes");
        assert_eq!((v["open"].as_bool(), v["closes_at"].is_null(), v["requires"].as_str()), (Some(true), true, Some("none")));
    }

    fn tpl(name: &str, language: &str, parameters: Vec<String>) -> WhatsappTemplate {
        WhatsappTemplate { name: name.into(), language: language.into(), parameters }
    }

    #[test]
    fn templates_are_validated() {
        assert!(tpl("order_update_2", "en_US", vec!["a".into()]).validate().is_ok());
        assert!(tpl("hello", "en", vec![]).validate().is_ok());
        assert!(tpl("hello", "fil", vec![]).validate().is_ok());
        assert!(tpl(&"a".repeat(512), "en", vec![]).validate().is_ok());
        assert!(tpl(&"a".repeat(513), "en", vec![]).validate().is_err());
        for name in ["", "Hello", "order-update", "hé", "a b"] {
            assert!(tpl(name, "en", vec![]).validate().is_err(), "{name:?}");
        }
        for lang in ["", "e", "EN", "en_us", "en-US", "en_", "english", "en_US_x"] {
            assert!(tpl("t", lang, vec![]).validate().is_err(), "{lang:?}");
        }
        assert!(tpl("t", "en", vec!["p".into(); 20]).validate().is_ok());
        assert!(tpl("t", "en", vec!["p".into(); 21]).validate().is_err());
        assert!(tpl("t", "en", vec!["é".repeat(1024)]).validate().is_ok());
        assert!(tpl("t", "en", vec!["x".repeat(1025)]).validate().is_err());
    }

    #[test]
    fn templates_read_as_text() {
        assert_eq!(tpl("order_update", "en", vec!["p1".into(), "p2".into()]).display_text(), "[template order_update: p1, p2]");
        assert_eq!(tpl("hello_world", "en", vec![]).display_text(), "[template hello_world]");
    }
}
