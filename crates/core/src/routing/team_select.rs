//! Which team a new conversation goes to: ordered rules on the inbox, the
//! channel, the language, keywords of the first message, pre-chat answers
//! and contact fields; the first rule that matches wins, then the inbox's
//! default team (SPEC §3.3, S4 "routing by request type").

use super::SkillRequirement;
use crate::ids::{InboxId, TeamId};
use crate::model::{Channel, CustomFields, Priority};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What is known about a conversation when it arrives.
#[derive(Debug, Clone, Default)]
pub struct ArrivalFacts<'a> {
    pub inbox_id: Option<InboxId>,
    pub channel: Option<Channel>,
    /// BCP 47 tag if known ("uk", "ru-RU", "en").
    pub language: Option<&'a str>,
    pub first_message: &'a str,
    pub prechat: Option<&'a BTreeMap<String, String>>,
    pub contact_fields: Option<&'a CustomFields>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TeamCondition {
    Inbox { inbox_ids: Vec<InboxId> },
    Channel { channels: Vec<Channel> },
    /// Matches the primary language subtag: "uk" matches "uk-UA".
    Language { languages: Vec<String> },
    /// Any of the words or phrases occurs in the first message (case-insensitive).
    Keywords { keywords: Vec<String> },
    /// A pre-chat answer equals one of the values (case-insensitive).
    Prechat { field: String, values: Vec<String> },
    /// A contact custom field equals one of the values (case-insensitive);
    /// no values: the field is present.
    ContactField { field: String, values: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRule {
    #[serde(default)]
    pub name: String,
    /// All must hold.
    pub conditions: Vec<TeamCondition>,
    pub team_id: TeamId,
    /// Raise the conversation's priority when this rule routes it.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Skills an agent needs to be offered the conversation.
    #[serde(default)]
    pub skills: Vec<SkillRequirement>,
}

/// The workspace's routing document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingRules {
    pub rules: Vec<TeamRule>,
    /// Inbox id (as a string key) → team for conversations no rule matched.
    #[schema(value_type = Object)]
    pub inbox_default_team: BTreeMap<String, TeamId>,
}

/// The outcome of team selection.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamChoice<'r> {
    pub team_id: TeamId,
    /// The rule that matched (None: the inbox default).
    pub rule: Option<&'r TeamRule>,
}

const MAX_RULES: usize = 200;
const MAX_LIST: usize = 100;
const MAX_TEXT: usize = 200;

fn eq_ci(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl TeamCondition {
    pub fn holds(&self, f: &ArrivalFacts<'_>) -> bool {
        match self {
            TeamCondition::Inbox { inbox_ids } => f.inbox_id.is_some_and(|i| inbox_ids.contains(&i)),
            TeamCondition::Channel { channels } => f.channel.is_some_and(|c| channels.contains(&c)),
            TeamCondition::Language { languages } => f.language.is_some_and(|lang| {
                let primary = lang.split(['-', '_']).next().unwrap_or(lang);
                languages.iter().any(|l| eq_ci(l, lang) || eq_ci(l, primary))
            }),
            TeamCondition::Keywords { keywords } => {
                let text = f.first_message.to_lowercase();
                keywords.iter().map(|k| k.trim().to_lowercase()).any(|k| !k.is_empty() && text.contains(&k))
            }
            TeamCondition::Prechat { field, values } => {
                f.prechat.and_then(|p| p.get(field)).is_some_and(|v| values.iter().any(|x| eq_ci(x, v)))
            }
            TeamCondition::ContactField { field, values } => match f.contact_fields.and_then(|c| c.get(field)) {
                None | Some(serde_json::Value::Null) => false,
                Some(_) if values.is_empty() => true,
                Some(serde_json::Value::String(s)) => values.iter().any(|x| eq_ci(x, s)),
                Some(other) => values.iter().any(|x| eq_ci(x, &other.to_string())),
            },
        }
    }

    fn check(&self) -> Result<(), ValidationError> {
        let list = |field: &'static str, n: usize| {
            if n == 0 || n > MAX_LIST {
                Err(ValidationError::new(field, format!("must list 1 to {MAX_LIST} values")))
            } else {
                Ok(())
            }
        };
        let texts = |field: &'static str, xs: &[String]| {
            if xs.iter().any(|x| x.trim().is_empty() || x.chars().count() > MAX_TEXT) {
                Err(ValidationError::new(field, format!("values must be 1 to {MAX_TEXT} characters")))
            } else {
                Ok(())
            }
        };
        match self {
            TeamCondition::Inbox { inbox_ids } => list("inbox_ids", inbox_ids.len()),
            TeamCondition::Channel { channels } => list("channels", channels.len()),
            TeamCondition::Language { languages } => list("languages", languages.len()).and(texts("languages", languages)),
            TeamCondition::Keywords { keywords } => list("keywords", keywords.len()).and(texts("keywords", keywords)),
            TeamCondition::Prechat { field, values } => {
                texts("field", std::slice::from_ref(field))?;
                list("values", values.len()).and(texts("values", values))
            }
            TeamCondition::ContactField { field, values } => {
                texts("field", std::slice::from_ref(field))?;
                if values.len() > MAX_LIST {
                    return Err(ValidationError::new("values", format!("at most {MAX_LIST}")));
                }
                texts("values", values)
            }
        }
    }
}

impl RoutingRules {
    /// The first matching rule's team, else the inbox's default team.
    pub fn select(&self, f: &ArrivalFacts<'_>) -> Option<TeamChoice<'_>> {
        if let Some(rule) = self.rules.iter().find(|r| r.conditions.iter().all(|c| c.holds(f))) {
            return Some(TeamChoice { team_id: rule.team_id, rule: Some(rule) });
        }
        let inbox = f.inbox_id?;
        self.inbox_default_team.get(&inbox.0.to_string()).map(|&team_id| TeamChoice { team_id, rule: None })
    }

    /// Team selection for a conversation a customer's message opens: the
    /// facts are its inbox, channel and first message and the contact's
    /// fields (pre-chat answers and the language are kept there). The store
    /// applies it as it creates the conversation, so the conversation is
    /// born in its team and only that team's agents hear of it; the router
    /// applies it to conversations that arrive without a team.
    pub fn select_on_arrival(&self, inbox: InboxId, channel: Channel, first_message: &str, contact_fields: &CustomFields) -> Option<TeamChoice<'_>> {
        let prechat: BTreeMap<String, String> =
            contact_fields.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect();
        let facts = ArrivalFacts {
            inbox_id: Some(inbox),
            channel: Some(channel),
            language: contact_fields.get("language").and_then(|v| v.as_str()),
            first_message,
            prechat: Some(&prechat),
            contact_fields: Some(contact_fields),
        };
        self.select(&facts)
    }

    /// Shape checks; whether the ids belong to the workspace is the
    /// adapter's to check (it has the store).
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.rules.len() > MAX_RULES {
            return Err(ValidationError::new("rules", format!("at most {MAX_RULES}")));
        }
        for r in &self.rules {
            if r.name.chars().count() > MAX_TEXT {
                return Err(ValidationError::new("name", format!("at most {MAX_TEXT} characters")));
            }
            if r.conditions.len() > 20 {
                return Err(ValidationError::new("conditions", "at most 20 per rule"));
            }
            for c in &r.conditions {
                c.check()?;
            }
            if r.skills.len() > 20 || r.skills.iter().any(|s| s.skill.trim().is_empty() || s.skill.len() > 64 || !(1..=10).contains(&s.min_level)) {
                return Err(ValidationError::new("skills", "at most 20, names 1-64 characters, min_level 1-10"));
            }
        }
        for key in self.inbox_default_team.keys() {
            if !key.parse::<i64>().is_ok_and(|n| n > 0) {
                return Err(ValidationError::new("inbox_default_team", "keys must be inbox ids"));
            }
        }
        Ok(())
    }

    pub fn team_ids(&self) -> impl Iterator<Item = TeamId> + '_ {
        self.rules.iter().map(|r| r.team_id).chain(self.inbox_default_team.values().copied())
    }

    pub fn inbox_ids(&self) -> impl Iterator<Item = InboxId> + '_ {
        let in_rules = self.rules.iter().flat_map(|r| &r.conditions).flat_map(|c| match c {
            TeamCondition::Inbox { inbox_ids } => inbox_ids.as_slice(),
            _ => &[],
        });
        in_rules.copied().chain(self.inbox_default_team.keys().filter_map(|k| k.parse().ok().map(InboxId)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RoutingRules {
        let json = serde_json::json!({
            "rules": [
                {"name": "billing", "conditions": [{"type": "keywords", "keywords": ["refund", "invoice"]}], "team_id": 1, "priority": "high"},
                {"name": "ukrainian whatsapp", "conditions": [
                    {"type": "channel", "channels": ["whatsapp"]},
                    {"type": "language", "languages": ["uk"]}], "team_id": 2,
                 "skills": [{"skill": "ukrainian", "min_level": 3}]},
                {"conditions": [{"type": "prechat", "field": "topic", "values": ["Vacancy"]}], "team_id": 3},
                {"conditions": [{"type": "contact_field", "field": "vip", "values": []}], "team_id": 4}
            ],
            "inbox_default_team": {"7": 9}
        });
        serde_json::from_value(json).expect("valid rules")
    }

    #[test]
    fn first_matching_rule_wins_then_inbox_default() {
        let r = rules();
        assert!(r.check().is_ok());
        let base = ArrivalFacts { inbox_id: Some(InboxId(7)), channel: Some(Channel::Whatsapp), ..Default::default() };

        let f = ArrivalFacts { first_message: "I want a REFUND please", language: Some("uk-UA"), ..base.clone() };
        let choice = r.select(&f).expect("a team");
        assert_eq!(choice.team_id, TeamId(1));
        assert_eq!(choice.rule.and_then(|x| x.priority), Some(Priority::High));

        let f = ArrivalFacts { first_message: "привіт", language: Some("uk-UA"), ..base.clone() };
        let choice = r.select(&f).expect("a team");
        assert_eq!(choice.team_id, TeamId(2));
        assert_eq!(choice.rule.map(|x| x.skills.len()), Some(1));

        let prechat: BTreeMap<String, String> = [("topic".to_owned(), "vacancy".to_owned())].into();
        let f = ArrivalFacts { prechat: Some(&prechat), ..base.clone() };
        assert_eq!(r.select(&f).map(|c| c.team_id), Some(TeamId(3)));

        let fields: CustomFields = [("vip".to_owned(), serde_json::json!(true))].into();
        let f = ArrivalFacts { contact_fields: Some(&fields), ..base.clone() };
        assert_eq!(r.select(&f).map(|c| c.team_id), Some(TeamId(4)));

        let chosen = r.select(&base).expect("default");
        assert_eq!((chosen.team_id, chosen.rule.is_none()), (TeamId(9), true));
        let elsewhere = ArrivalFacts { inbox_id: Some(InboxId(8)), ..base };
        assert_eq!(r.select(&elsewhere), None);
    }

    #[test]
    fn on_arrival_reads_language_and_prechat_from_the_contact_fields() {
        let r = rules();
        let none = CustomFields::new();
        assert_eq!(r.select_on_arrival(InboxId(7), Channel::Whatsapp, "my invoice", &none).map(|c| c.team_id), Some(TeamId(1)));
        let uk: CustomFields = [("language".to_owned(), serde_json::json!("uk"))].into();
        assert_eq!(r.select_on_arrival(InboxId(7), Channel::Whatsapp, "привіт", &uk).map(|c| c.team_id), Some(TeamId(2)));
        assert_eq!(r.select_on_arrival(InboxId(7), Channel::Telegram, "привіт", &uk).map(|c| c.team_id), Some(TeamId(9)));
        let topic: CustomFields = [("topic".to_owned(), serde_json::json!("Vacancy"))].into();
        assert_eq!(r.select_on_arrival(InboxId(8), Channel::Webchat, "hello", &topic).map(|c| c.team_id), Some(TeamId(3)));
        assert_eq!(r.select_on_arrival(InboxId(8), Channel::Webchat, "hello", &none), None);
    }

    #[test]
    fn priority_is_only_ever_raised() {
        assert_eq!(Priority::Low.raised_to(Some(Priority::High)), Priority::High);
        assert_eq!(Priority::Urgent.raised_to(Some(Priority::High)), Priority::Urgent);
        assert_eq!(Priority::Medium.raised_to(None), Priority::Medium);
    }

    #[test]
    fn language_matches_primary_subtag_only() {
        let c = TeamCondition::Language { languages: vec!["uk".into()] };
        assert!(c.holds(&ArrivalFacts { language: Some("UK-ua"), ..Default::default() }));
        assert!(!c.holds(&ArrivalFacts { language: Some("ru"), ..Default::default() }));
        assert!(!c.holds(&ArrivalFacts::default()));
    }

    #[test]
    fn rejects_malformed_rules() {
        let bad = [
            serde_json::json!({"rules": [{"conditions": [{"type": "keywords", "keywords": []}], "team_id": 1}]}),
            serde_json::json!({"rules": [{"conditions": [{"type": "keywords", "keywords": ["  "]}], "team_id": 1}]}),
            serde_json::json!({"rules": [{"conditions": [], "team_id": 1, "skills": [{"skill": "x", "min_level": 0}]}]}),
            serde_json::json!({"inbox_default_team": {"abc": 1}}),
        ];
        for b in bad {
            let r: RoutingRules = serde_json::from_value(b.clone()).expect("parses");
            assert!(r.check().is_err(), "{b}");
        }
        let unknown = serde_json::json!({"rules": [{"conditions": [{"type": "weather", "sunny": true}], "team_id": 1}]});
        assert!(serde_json::from_value::<RoutingRules>(unknown).is_err());
    }
}
