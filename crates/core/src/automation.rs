//! Automation rules (SPEC §3.4): when something happens to a conversation
//! (the trigger) and every condition holds, carry out the actions.
//!
//! Owns: the rule document (what admins write through the API), its
//! validation, and the pure decision "does this rule apply to these facts".
//! Must never: carry out an action (the server's runner does, through the
//! store) or look anything up — every fact it needs comes in `Facts`.
//!
//! Text comparisons ignore case everywhere, so an admin writing "Refund"
//! and a customer writing "refund" meet; stored tags are lower-case anyway.

use crate::ids::*;
use crate::model::*;
use crate::time::Timestamp;
use crate::validate::{self, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub const MAX_CONDITIONS: usize = 20;
pub const MAX_ACTIONS: usize = 20;
/// Longest compared text (a keyword, an e-mail address…).
pub const MAX_VALUE_CHARS: usize = 1000;
/// Most alternatives of one `in` condition.
pub const MAX_IN_VALUES: usize = 100;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_KEY_CHARS: usize = 100;
/// The SLA timers a `sla_breached` trigger can name.
pub const SLA_KINDS: &[&str] = &["first_response", "next_response", "resolution"];

/// What happened to the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RuleTrigger)]
pub enum Trigger {
    ConversationCreated,
    /// A customer's message arrived (not agents' replies or notes).
    MessageReceived,
    StatusChanged,
    SlaBreached,
    TagAdded,
}

impl Trigger {
    pub const ALL: &'static [Trigger] = &[
        Trigger::ConversationCreated,
        Trigger::MessageReceived,
        Trigger::StatusChanged,
        Trigger::SlaBreached,
        Trigger::TagAdded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ConversationCreated => "conversation_created",
            Trigger::MessageReceived => "message_received",
            Trigger::StatusChanged => "status_changed",
            Trigger::SlaBreached => "sla_breached",
            Trigger::TagAdded => "tag_added",
        }
    }
    pub fn parse(s: &str) -> Option<Trigger> {
        Trigger::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fact a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RuleField)]
pub enum Field {
    InboxId,
    Channel,
    Status,
    /// The status before the change (`status_changed` only).
    PreviousStatus,
    Priority,
    TeamId,
    AssigneeId,
    /// Holds when any of the conversation's tags matches.
    Tags,
    /// The customer's message (`message_received` only).
    MessageContent,
    ContactName,
    ContactEmail,
    ContactPhone,
    /// One custom field of the contact, named by the condition's `key`.
    CustomField,
    /// The tag that was just added (`tag_added` only).
    Tag,
    /// Which SLA timer ran out (`sla_breached` only).
    SlaKind,
}

impl Field {
    /// The trigger without which this fact never exists: a condition on it
    /// in any other rule could never hold, which is a mistake to refuse.
    fn only_with(self) -> Option<Trigger> {
        match self {
            Field::PreviousStatus => Some(Trigger::StatusChanged),
            Field::MessageContent => Some(Trigger::MessageReceived),
            Field::Tag => Some(Trigger::TagAdded),
            Field::SlaKind => Some(Trigger::SlaBreached),
            _ => None,
        }
    }

    /// Checks one compared value against the field's domain, so a typo
    /// ("hihg") is refused when the rule is saved rather than never matching.
    fn check_value(self, v: &str) -> Result<(), String> {
        let ok = match self {
            Field::InboxId | Field::TeamId | Field::AssigneeId => v.parse::<i64>().is_ok_and(|n| n > 0),
            Field::Channel => Channel::parse(v).is_some(),
            Field::Status | Field::PreviousStatus => ConversationStatus::parse(v).is_some(),
            Field::Priority => Priority::parse(v).is_some(),
            Field::SlaKind => SLA_KINDS.contains(&v),
            _ => true,
        };
        if ok { Ok(()) } else { Err(format!("{v:?} is not a valid {}", self.describe())) }
    }

    fn describe(self) -> &'static str {
        match self {
            Field::InboxId | Field::TeamId | Field::AssigneeId => "id",
            Field::Channel => "channel",
            Field::Status | Field::PreviousStatus => "status",
            Field::Priority => "priority",
            Field::SlaKind => "SLA kind (first_response, next_response, resolution)",
            _ => "value",
        }
    }

    /// Free text, where substring matching makes sense.
    fn is_text(self) -> bool {
        matches!(
            self,
            Field::Tags
                | Field::MessageContent
                | Field::ContactName
                | Field::ContactEmail
                | Field::ContactPhone
                | Field::CustomField
                | Field::Tag
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RuleOperator)]
pub enum Operator {
    Equals,
    NotEquals,
    /// Substring, ignoring case.
    Contains,
    NotContains,
    /// Equals one of `value` (an array).
    In,
    /// Present and not empty.
    IsSet,
    IsNotSet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RuleCondition)]
pub struct Condition {
    pub field: Field,
    /// The custom field's name; only with `field: custom_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub operator: Operator,
    /// A string or number; an array of them for `in`; absent for `is_set` / `is_not_set`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schema(value_type = Value)]
    pub value: Value,
}

/// What a rule does, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = RuleAction)]
pub enum Action {
    AssignTeam {
        #[schema(value_type = i64)]
        team_id: TeamId,
    },
    AssignAgent {
        #[schema(value_type = i64)]
        user_id: UserId,
    },
    AddTag { tag: String },
    SetPriority { priority: Priority },
    /// Sends the canned reply to the customer, rendered for this contact.
    SendTemplate {
        #[schema(value_type = i64)]
        template_id: TemplateId,
    },
    /// POSTs the event and conversation as signed JSON.
    SendWebhook { url: String },
    /// (Braces so that unknown fields are refused here too.)
    Resolve {},
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::AssignTeam { .. } => "assign_team",
            Action::AssignAgent { .. } => "assign_agent",
            Action::AddTag { .. } => "add_tag",
            Action::SetPriority { .. } => "set_priority",
            Action::SendTemplate { .. } => "send_template",
            Action::SendWebhook { .. } => "send_webhook",
            Action::Resolve {} => "resolve",
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// A rule as an admin writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RuleDefinition)]
pub struct Rule {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub trigger: Trigger,
    /// All must hold; none means "always".
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// A stored rule: its definition plus where it sits among the workspace's
/// rules (lower `position` runs first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AutomationRule {
    #[schema(value_type = i64)]
    pub id: RuleId,
    #[serde(flatten)]
    pub rule: Rule,
    pub position: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every action was carried out.
    Applied,
    /// The rule matched but was not carried out (e.g. the chain limit).
    Skipped,
    /// At least one action failed; `detail` says which and why.
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Applied => "applied",
            RunOutcome::Skipped => "skipped",
            RunOutcome::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RunOutcome> {
        [RunOutcome::Applied, RunOutcome::Skipped, RunOutcome::Failed].into_iter().find(|o| o.as_str() == s)
    }
}

/// One logged run of a rule that matched an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleRun {
    #[schema(value_type = i64)]
    pub id: RuleRunId,
    #[schema(value_type = i64)]
    pub rule_id: RuleId,
    /// The rule's name when it ran (the rule may since be renamed or deleted).
    pub rule_name: String,
    #[schema(value_type = Option<i64>)]
    pub conversation_id: Option<ConversationId>,
    pub trigger: Trigger,
    pub outcome: RunOutcome,
    pub detail: String,
    pub created_at: Timestamp,
}

/// Everything a condition can look at, gathered by the runner.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub trigger: Trigger,
    pub inbox_id: InboxId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub previous_status: Option<ConversationStatus>,
    pub priority: Priority,
    pub team_id: Option<TeamId>,
    pub assignee_id: Option<UserId>,
    pub tags: Vec<String>,
    pub message_content: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub custom_fields: CustomFields,
    pub added_tag: Option<String>,
    pub sla_kind: Option<String>,
}

impl Facts {
    /// The conversation's own facts; the trigger-specific ones (message,
    /// previous status, tag, SLA kind) are filled in by the caller.
    pub fn of(trigger: Trigger, c: &Conversation) -> Facts {
        Facts {
            trigger,
            inbox_id: c.inbox_id,
            channel: c.channel,
            status: c.status,
            previous_status: None,
            priority: c.priority,
            team_id: c.team_id,
            assignee_id: c.assignee_id,
            tags: c.tags.clone(),
            message_content: None,
            contact_name: c.contact.name.clone(),
            contact_email: c.contact.email.clone(),
            contact_phone: c.contact.phone.clone(),
            custom_fields: c.contact.custom_fields.clone(),
            added_tag: None,
            sla_kind: None,
        }
    }

    fn get(&self, field: Field, key: Option<&str>) -> Fact {
        let one = |s: Option<&str>| s.map_or(Fact::Absent, |s| Fact::One(s.to_owned()));
        match field {
            Field::InboxId => Fact::One(self.inbox_id.to_string()),
            Field::Channel => Fact::One(self.channel.as_str().to_owned()),
            Field::Status => Fact::One(self.status.as_str().to_owned()),
            Field::PreviousStatus => one(self.previous_status.map(|s| s.as_str())),
            Field::Priority => Fact::One(self.priority.as_str().to_owned()),
            Field::TeamId => self.team_id.map_or(Fact::Absent, |t| Fact::One(t.to_string())),
            Field::AssigneeId => self.assignee_id.map_or(Fact::Absent, |u| Fact::One(u.to_string())),
            Field::Tags => Fact::Many(self.tags.clone()),
            Field::MessageContent => one(self.message_content.as_deref()),
            Field::ContactName => one(self.contact_name.as_deref()),
            Field::ContactEmail => one(self.contact_email.as_deref()),
            Field::ContactPhone => one(self.contact_phone.as_deref()),
            Field::CustomField => match key.and_then(|k| self.custom_fields.get(k)) {
                None | Some(Value::Null) => Fact::Absent,
                Some(Value::Array(items)) => Fact::Many(items.iter().filter_map(scalar).collect()),
                Some(v) => Fact::One(scalar(v).unwrap_or_else(|| v.to_string())),
            },
            Field::Tag => one(self.added_tag.as_deref()),
            Field::SlaKind => one(self.sla_kind.as_deref()),
        }
    }
}

/// A fact reduced to text: absent, one value, or a set (tags).
enum Fact {
    Absent,
    One(String),
    Many(Vec<String>),
}

impl Fact {
    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            Fact::Absent => false,
            Fact::One(s) => f(s),
            Fact::Many(items) => items.iter().any(|s| f(s)),
        }
    }
    fn is_set(&self) -> bool {
        match self {
            Fact::Absent => false,
            Fact::One(s) => !s.trim().is_empty(),
            Fact::Many(items) => !items.is_empty(),
        }
    }
}

/// A JSON string, number or boolean as text; anything else is not a scalar.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        let fact = facts.get(self.field, self.key.as_deref());
        let value = scalar(&self.value).unwrap_or_default();
        match self.operator {
            Operator::Equals => fact.any(|s| same(s, &value)),
            Operator::NotEquals => !fact.any(|s| same(s, &value)),
            Operator::Contains => fact.any(|s| contains(s, &value)),
            Operator::NotContains => !fact.any(|s| contains(s, &value)),
            Operator::In => {
                let options: Vec<String> = self.value.as_array().map(|a| a.iter().filter_map(scalar).collect()).unwrap_or_default();
                fact.any(|s| options.iter().any(|o| same(s, o)))
            }
            Operator::IsSet => fact.is_set(),
            Operator::IsNotSet => !fact.is_set(),
        }
    }

    fn checked(mut self, trigger: Trigger) -> Result<Condition, String> {
        if let Some(needed) = self.field.only_with()
            && needed != trigger
        {
            return Err(format!("field {} is only available with trigger {needed}", field_name(self.field)));
        }
        self.key = match (self.field, self.key.take()) {
            (Field::CustomField, Some(k)) => {
                let k = k.trim().to_owned();
                if k.is_empty() || k.chars().count() > MAX_KEY_CHARS {
                    return Err(format!("key must be 1-{MAX_KEY_CHARS} characters"));
                }
                Some(k)
            }
            (Field::CustomField, None) => return Err("custom_field needs a key".into()),
            (_, Some(_)) => return Err("key is only for custom_field".into()),
            (_, None) => None,
        };
        let text = |v: &Value| -> Result<String, String> {
            let s = scalar(v).ok_or("value must be a string or a number")?;
            if s.trim().is_empty() || s.chars().count() > MAX_VALUE_CHARS {
                return Err(format!("value must be 1-{MAX_VALUE_CHARS} characters"));
            }
            self.field.check_value(s.trim())?;
            Ok(s)
        };
        match self.operator {
            Operator::IsSet | Operator::IsNotSet => {
                if !self.value.is_null() {
                    return Err("is_set and is_not_set take no value".into());
                }
            }
            Operator::Equals | Operator::NotEquals => {
                text(&self.value)?;
            }
            Operator::Contains | Operator::NotContains => {
                if !self.field.is_text() {
                    return Err(format!("contains works on text fields, not {}", field_name(self.field)));
                }
                text(&self.value)?;
            }
            Operator::In => {
                let items = self.value.as_array().ok_or("in needs an array of values")?;
                if items.is_empty() || items.len() > MAX_IN_VALUES {
                    return Err(format!("in needs 1-{MAX_IN_VALUES} values"));
                }
                for v in items {
                    text(v)?;
                }
            }
        }
        Ok(self)
    }
}

fn field_name(f: Field) -> String {
    serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// http(s), a host, no spaces: anything else cannot be POSTed to.
fn webhook_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("url must start with http:// or https://")?;
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("url must be at most {MAX_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url must not contain spaces".into());
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || host.contains('@') {
        return Err("url must name a host (and no credentials)".into());
    }
    Ok(url.to_owned())
}

impl Action {
    fn checked(self) -> Result<Action, String> {
        let positive = |n: i64, what: &str| if n > 0 { Ok(()) } else { Err(format!("{what} must be a positive id")) };
        Ok(match self {
            Action::AssignTeam { team_id } => {
                positive(team_id.0, "team_id")?;
                self
            }
            Action::AssignAgent { user_id } => {
                positive(user_id.0, "user_id")?;
                self
            }
            Action::SendTemplate { template_id } => {
                positive(template_id.0, "template_id")?;
                self
            }
            Action::AddTag { tag } => Action::AddTag { tag: validate::tag(&tag).map_err(|e| e.problem)? },
            Action::SendWebhook { url } => Action::SendWebhook { url: webhook_url(&url)? },
            Action::SetPriority { .. } | Action::Resolve {} => self,
        })
    }
}

impl Rule {
    /// Validates and normalises (trimmed name and url, lower-case tags).
    pub fn checked(mut self) -> Result<Rule, ValidationError> {
        self.name = validate::name("name", &self.name)?;
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(ValidationError::new("conditions", format!("at most {MAX_CONDITIONS}")));
        }
        if self.actions.is_empty() || self.actions.len() > MAX_ACTIONS {
            return Err(ValidationError::new("actions", format!("must have 1-{MAX_ACTIONS} actions")));
        }
        let trigger = self.trigger;
        self.conditions = std::mem::take(&mut self.conditions)
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.checked(trigger).map_err(|p| ValidationError::new("conditions", format!("[{i}]: {p}"))))
            .collect::<Result<_, _>>()?;
        self.actions = std::mem::take(&mut self.actions)
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.checked().map_err(|p| ValidationError::new("actions", format!("[{i}]: {p}"))))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    pub fn check(&self) -> Result<(), ValidationError> {
        self.clone().checked().map(|_| ())
    }
}

/// A `send_template` variable, named as the agents' template picker names
/// them: `contact.name`, `contact.first_name`, `contact.email`,
/// `contact.phone`, `contact.<custom field>`, `agent.name`,
/// `agent.first_name` (the assignee, if any).
pub fn template_value(key: &str, contact: &Contact, agent_name: Option<&str>) -> Option<String> {
    let first = |s: Option<&str>| s.and_then(|n| n.split_whitespace().next()).map(str::to_owned);
    match key {
        "contact.name" => contact.name.clone(),
        "contact.first_name" => first(contact.name.as_deref()),
        "contact.email" => contact.email.clone(),
        "contact.phone" => contact.phone.clone(),
        "agent.name" => agent_name.map(str::to_owned),
        "agent.first_name" => first(agent_name),
        _ => key.strip_prefix("contact.").and_then(|k| contact.custom_fields.get(k)).and_then(scalar),
    }
}

/// Whether `rule` applies: it is enabled, listens to this trigger, and every
/// condition holds.
pub fn evaluate(rule: &Rule, facts: &Facts) -> bool {
    rule.enabled && rule.trigger == facts.trigger && rule.conditions.iter().all(|c| c.holds(facts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation() -> Conversation {
        let mut custom = CustomFields::new();
        custom.insert("plan".into(), json!("Pro"));
        custom.insert("seats".into(), json!(12));
        custom.insert("regions".into(), json!(["EU", "US"]));
        Conversation {
            id: ConversationId(7),
            inbox_id: InboxId(3),
            channel: Channel::Webchat,
            contact: Contact {
                id: ContactId(5),
                name: Some("Vera Visitor".into()),
                email: Some("vera@example.com".into()),
                phone: None,
                custom_fields: custom,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
            status: ConversationStatus::Open,
            priority: Priority::None,
            assignee_id: None,
            team_id: Some(TeamId(2)),
            tags: vec!["billing".into(), "vip".into()],
            last_message: None,
            last_activity_at: Timestamp(0),
            created_at: Timestamp(0),
            waiting_since: None,
            snoozed_until: None,
            first_reply_at: None,
            resolved_at: None,
        }
    }

    fn message_facts(text: &str) -> Facts {
        Facts { message_content: Some(text.into()), ..Facts::of(Trigger::MessageReceived, &conversation()) }
    }

    fn cond(field: Field, operator: Operator, value: Value) -> Condition {
        Condition { field, key: None, operator, value }
    }

    fn custom(key: &str, operator: Operator, value: Value) -> Condition {
        Condition { field: Field::CustomField, key: Some(key.into()), operator, value }
    }

    fn rule(trigger: Trigger, conditions: Vec<Condition>) -> Rule {
        Rule { name: "r".into(), enabled: true, trigger, conditions, actions: vec![Action::Resolve {}] }
    }

    #[test]
    fn equals_ignores_case_and_matches_any_tag() {
        let f = message_facts("x");
        assert!(cond(Field::Channel, Operator::Equals, json!("webchat")).holds(&f));
        assert!(cond(Field::ContactEmail, Operator::Equals, json!("VERA@example.com")).holds(&f));
        assert!(cond(Field::Tags, Operator::Equals, json!("VIP")).holds(&f));
        assert!(cond(Field::TeamId, Operator::Equals, json!(2)).holds(&f));
        assert!(cond(Field::TeamId, Operator::Equals, json!("2")).holds(&f));
        assert!(!cond(Field::Priority, Operator::Equals, json!("high")).holds(&f));
        assert!(!cond(Field::AssigneeId, Operator::Equals, json!(1)).holds(&f), "absent never equals");
    }

    #[test]
    fn not_equals_is_the_negation_including_absent_facts() {
        let f = message_facts("x");
        assert!(cond(Field::Priority, Operator::NotEquals, json!("high")).holds(&f));
        assert!(!cond(Field::Status, Operator::NotEquals, json!("open")).holds(&f));
        assert!(cond(Field::AssigneeId, Operator::NotEquals, json!(1)).holds(&f));
        assert!(!cond(Field::Tags, Operator::NotEquals, json!("vip")).holds(&f));
    }

    #[test]
    fn contains_is_a_case_insensitive_substring() {
        let f = message_facts("I want a REFUND, please");
        assert!(cond(Field::MessageContent, Operator::Contains, json!("refund")).holds(&f));
        assert!(!cond(Field::MessageContent, Operator::Contains, json!("invoice")).holds(&f));
        assert!(cond(Field::MessageContent, Operator::NotContains, json!("invoice")).holds(&f));
        assert!(cond(Field::ContactName, Operator::Contains, json!("visit")).holds(&f));
        assert!(cond(Field::Tags, Operator::Contains, json!("bill")).holds(&f));
        assert!(!cond(Field::ContactPhone, Operator::Contains, json!("1")).holds(&f), "absent contains nothing");
        // Non-ASCII text compares case-insensitively too.
        let ru = message_facts("Хочу ВОЗВРАТ денег");
        assert!(cond(Field::MessageContent, Operator::Contains, json!("возврат")).holds(&ru));
    }

    #[test]
    fn in_matches_any_listed_value() {
        let f = message_facts("x");
        assert!(cond(Field::Channel, Operator::In, json!(["whatsapp", "webchat"])).holds(&f));
        assert!(!cond(Field::Channel, Operator::In, json!(["whatsapp", "email"])).holds(&f));
        assert!(cond(Field::InboxId, Operator::In, json!([1, 3])).holds(&f));
        assert!(cond(Field::Tags, Operator::In, json!(["hired", "vip"])).holds(&f));
        assert!(!cond(Field::AssigneeId, Operator::In, json!([1, 2])).holds(&f));
    }

    #[test]
    fn is_set_and_is_not_set() {
        let f = message_facts("x");
        assert!(cond(Field::ContactEmail, Operator::IsSet, Value::Null).holds(&f));
        assert!(cond(Field::ContactPhone, Operator::IsNotSet, Value::Null).holds(&f));
        assert!(cond(Field::AssigneeId, Operator::IsNotSet, Value::Null).holds(&f));
        assert!(cond(Field::Tags, Operator::IsSet, Value::Null).holds(&f));
        let mut bare = f.clone();
        bare.tags.clear();
        bare.contact_name = Some("  ".into());
        assert!(cond(Field::Tags, Operator::IsNotSet, Value::Null).holds(&bare));
        assert!(cond(Field::ContactName, Operator::IsNotSet, Value::Null).holds(&bare), "blank is not set");
    }

    #[test]
    fn custom_fields_compare_strings_numbers_and_lists() {
        let f = message_facts("x");
        assert!(custom("plan", Operator::Equals, json!("pro")).holds(&f));
        assert!(custom("seats", Operator::Equals, json!(12)).holds(&f));
        assert!(custom("regions", Operator::Equals, json!("us")).holds(&f));
        assert!(custom("missing", Operator::IsNotSet, Value::Null).holds(&f));
        assert!(!custom("missing", Operator::Equals, json!("x")).holds(&f));
    }

    #[test]
    fn trigger_specific_facts() {
        let c = conversation();
        let status = Facts { previous_status: Some(ConversationStatus::Pending), ..Facts::of(Trigger::StatusChanged, &c) };
        assert!(cond(Field::PreviousStatus, Operator::Equals, json!("pending")).holds(&status));
        let tag = Facts { added_tag: Some("vip".into()), ..Facts::of(Trigger::TagAdded, &c) };
        assert!(cond(Field::Tag, Operator::Equals, json!("vip")).holds(&tag));
        let sla = Facts { sla_kind: Some("first_response".into()), ..Facts::of(Trigger::SlaBreached, &c) };
        assert!(cond(Field::SlaKind, Operator::In, json!(["first_response", "resolution"])).holds(&sla));
    }

    #[test]
    fn evaluate_needs_the_trigger_every_condition_and_enabled() {
        let f = message_facts("refund now");
        let refund = cond(Field::MessageContent, Operator::Contains, json!("refund"));
        let web = cond(Field::Channel, Operator::Equals, json!("webchat"));
        assert!(evaluate(&rule(Trigger::MessageReceived, vec![refund.clone(), web.clone()]), &f));
        assert!(evaluate(&rule(Trigger::MessageReceived, vec![]), &f), "no conditions: always");
        assert!(!evaluate(&rule(Trigger::ConversationCreated, vec![]), &f), "trigger mismatch");
        assert!(!evaluate(&rule(Trigger::TagAdded, vec![]), &f), "trigger mismatch");
        let high = cond(Field::Priority, Operator::Equals, json!("high"));
        assert!(!evaluate(&rule(Trigger::MessageReceived, vec![refund.clone(), high]), &f), "all must hold");
        let mut off = rule(Trigger::MessageReceived, vec![refund]);
        off.enabled = false;
        assert!(!evaluate(&off, &f));
    }

    #[test]
    fn template_variables() {
        let c = conversation().contact;
        let render = |t: &str| crate::template::render(t, |k| template_value(k, &c, Some("Alice Agent")));
        assert_eq!(render("Hi {{contact.first_name}} ({{ contact.email }}), {{agent.first_name}} here"), "Hi Vera (vera@example.com), Alice here");
        assert_eq!(render("{{contact.plan}}/{{contact.seats}}/{{contact.phone}}"), "Pro/12/");
    }

    fn parse_rule(v: Value) -> Result<Rule, String> {
        let r: Rule = serde_json::from_value(v).map_err(|e| e.to_string())?;
        r.checked().map_err(|e| e.to_string())
    }

    #[test]
    fn wire_shape_round_trips() {
        let v = json!({
            "name": " Refunds ",
            "trigger": "message_received",
            "conditions": [{"field": "message_content", "operator": "contains", "value": "refund"}],
            "actions": [{"type": "add_tag", "tag": "Refund"}, {"type": "set_priority", "priority": "high"},
                        {"type": "assign_team", "team_id": 4}, {"type": "resolve"},
                        {"type": "send_webhook", "url": "https://crm.example.com/hook"}]
        });
        let r = parse_rule(v).expect("ok");
        assert_eq!(r.name, "Refunds");
        assert!(r.enabled, "enabled by default");
        assert_eq!(r.actions[0], Action::AddTag { tag: "refund".into() });
        let back = serde_json::to_value(&r).expect("ok");
        assert_eq!(back["actions"][3], json!({"type": "resolve"}));
        assert_eq!(back["conditions"][0].get("key"), None);
        assert_eq!(serde_json::from_value::<Rule>(back).expect("ok"), r);
    }

    #[test]
    fn unknown_names_are_refused() {
        let base = |trigger: &str, action: Value| json!({"name": "x", "trigger": trigger, "actions": [action]});
        assert!(parse_rule(base("message_sent", json!({"type": "resolve"}))).is_err(), "unknown trigger");
        assert!(parse_rule(base("tag_added", json!({"type": "explode"}))).is_err(), "unknown action");
        assert!(parse_rule(base("tag_added", json!({"type": "resolve", "extra": 1}))).is_err(), "unknown action field");
        assert!(parse_rule(base("tag_added", json!({"type": "assign_team"}))).is_err(), "missing team id");
        let mut extra = base("tag_added", json!({"type": "resolve"}));
        extra["colour"] = json!("red");
        assert!(parse_rule(extra).is_err(), "unknown rule field");
    }

    #[test]
    fn validation_refuses_what_could_never_work() {
        let with = |trigger: &str, conditions: Value, actions: Value| {
            parse_rule(json!({"name": "x", "trigger": trigger, "conditions": conditions, "actions": actions}))
        };
        let resolve = json!([{"type": "resolve"}]);
        assert!(with("tag_added", json!([]), json!([])).expect_err("an error").starts_with("actions"));
        let many: Vec<Value> = (0..21).map(|_| json!({"type": "resolve"})).collect();
        assert!(with("tag_added", json!([]), json!(many)).is_err());
        let conds: Vec<Value> = (0..21).map(|_| json!({"field": "tags", "operator": "is_set"})).collect();
        assert!(with("tag_added", json!(conds), resolve.clone()).is_err());
        for (trigger, bad) in [
            ("conversation_created", json!({"field": "message_content", "operator": "contains", "value": "x"})),
            ("message_received", json!({"field": "priority", "operator": "equals", "value": "hihg"})),
            ("message_received", json!({"field": "team_id", "operator": "equals", "value": "sales"})),
            ("message_received", json!({"field": "channel", "operator": "contains", "value": "web"})),
            ("message_received", json!({"field": "tags", "operator": "equals"})),
            ("message_received", json!({"field": "tags", "operator": "is_set", "value": "x"})),
            ("message_received", json!({"field": "tags", "operator": "in", "value": []})),
            ("message_received", json!({"field": "tags", "operator": "in", "value": "vip"})),
            ("message_received", json!({"field": "custom_field", "operator": "is_set"})),
            ("message_received", json!({"field": "tags", "key": "k", "operator": "is_set"})),
            ("sla_breached", json!({"field": "sla_kind", "operator": "equals", "value": "lunch"})),
        ] {
            assert!(with(trigger, json!([bad]), resolve.clone()).is_err(), "{bad}");
        }
        for bad in [
            json!({"type": "send_webhook", "url": "ftp://x.example"}),
            json!({"type": "send_webhook", "url": "https://"}),
            json!({"type": "send_webhook", "url": "https://a b.example"}),
            json!({"type": "add_tag", "tag": "no/slash"}),
            json!({"type": "assign_agent", "user_id": 0}),
        ] {
            assert!(with("tag_added", json!([]), json!([bad])).is_err(), "{bad}");
        }
        assert!(parse_rule(json!({"name": " ", "trigger": "tag_added", "actions": resolve})).is_err());
        assert!(with("status_changed", json!([{"field": "previous_status", "operator": "in", "value": ["open", "pending"]}]), resolve).is_ok());
    }
}
