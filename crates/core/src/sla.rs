//! Service-level timers and idle auto-resolve (SPEC §3.4), as pure functions
//! of a conversation's timestamps and the current time.
//!
//! Three targets, each optional in the workspace's `SlaPolicy`:
//! - first response: from creation until the first agent reply;
//! - next response: from the customer's message that started a wait (after
//!   the first reply) until the agent answers it;
//! - resolution: from creation until resolved.
//!
//! A target is identified by its kind and the instant its clock started, so
//! each waiting period is breached at most once and a policy edit cannot
//! breach the same period twice. Resolving a conversation stops every clock.
//! With `business_hours_only`, durations count open time of the
//! conversation's hours only.

use crate::business_hours::{self, BusinessHours};
use crate::events::SlaBreach;
use crate::ids::ConversationId;
use crate::model::{Conversation, ConversationStatus};
use crate::time::Timestamp;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaKind {
    FirstResponse,
    NextResponse,
    Resolution,
}

impl SlaKind {
    pub const ALL: [SlaKind; 3] = [SlaKind::FirstResponse, SlaKind::NextResponse, SlaKind::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaKind::FirstResponse => "first_response",
            SlaKind::NextResponse => "next_response",
            SlaKind::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<SlaKind> {
        SlaKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Limits in minutes; fractions are allowed (0.5 = 30 s), `null` = no target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    #[serde(default)]
    pub first_response_minutes: Option<f64>,
    #[serde(default)]
    pub next_response_minutes: Option<f64>,
    #[serde(default)]
    pub resolution_minutes: Option<f64>,
    /// Count only the open time of the conversation's business hours.
    #[serde(default)]
    pub business_hours_only: bool,
}

/// The workspace's automation settings document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationSettings {
    #[serde(default)]
    pub sla: SlaPolicy,
    /// Resolve open or pending conversations after this many hours without
    /// any activity (fractions allowed); `null` = never.
    #[serde(default)]
    pub auto_resolve_after_hours: Option<f64>,
}

const MIN_MILLIS: f64 = 1_000.0;
const MAX_MILLIS: f64 = 366.0 * 24.0 * 3_600_000.0;

/// A positive duration of at least a second and at most a year, in ms.
fn millis(field: &'static str, value: Option<f64>, unit_ms: f64) -> Result<Option<i64>, ValidationError> {
    let Some(v) = value else { return Ok(None) };
    let ms = v * unit_ms;
    if !ms.is_finite() || !(MIN_MILLIS..=MAX_MILLIS).contains(&ms) {
        return Err(ValidationError::new(field, "must be a positive duration between one second and a year"));
    }
    // In range, so the cast cannot truncate.
    Ok(Some(ms.round() as i64))
}

impl SlaPolicy {
    pub fn check(&self) -> Result<(), ValidationError> {
        for kind in SlaKind::ALL {
            self.limit_checked(kind)?;
        }
        Ok(())
    }

    fn limit_checked(&self, kind: SlaKind) -> Result<Option<i64>, ValidationError> {
        match kind {
            SlaKind::FirstResponse => millis("sla.first_response_minutes", self.first_response_minutes, 60_000.0),
            SlaKind::NextResponse => millis("sla.next_response_minutes", self.next_response_minutes, 60_000.0),
            SlaKind::Resolution => millis("sla.resolution_minutes", self.resolution_minutes, 60_000.0),
        }
    }

    /// The limit of `kind` in milliseconds (`None`: no target, or invalid).
    pub fn limit_millis(&self, kind: SlaKind) -> Option<i64> {
        self.limit_checked(kind).ok().flatten()
    }

    pub fn is_empty(&self) -> bool {
        SlaKind::ALL.iter().all(|k| self.limit_millis(*k).is_none())
    }
}

impl AutomationSettings {
    pub fn check(&self) -> Result<(), ValidationError> {
        self.sla.check()?;
        millis("auto_resolve_after_hours", self.auto_resolve_after_hours, 3_600_000.0)?;
        Ok(())
    }

    pub fn auto_resolve_after_millis(&self) -> Option<i64> {
        millis("auto_resolve_after_hours", self.auto_resolve_after_hours, 3_600_000.0).ok().flatten()
    }
}

/// One SLA clock of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaTarget {
    pub kind: SlaKind,
    /// When this clock started (creation, or the message that began a wait).
    pub started_at: Timestamp,
    /// `null` when business hours never open within a year.
    pub due_at: Option<Timestamp>,
    /// When the clock stopped (reply or resolution); `null` while running.
    pub stopped_at: Option<Timestamp>,
    /// The due time passed before the clock stopped.
    pub breached: bool,
}

/// A breach found by `due_breaches`, not yet recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueBreach {
    pub conversation_id: ConversationId,
    pub kind: SlaKind,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
}

impl DueBreach {
    /// The event payload, as recorded at `breached_at`.
    pub fn event(&self, breached_at: Timestamp) -> SlaBreach {
        SlaBreach { conversation_id: self.conversation_id, kind: self.kind.as_str().to_owned(), due_at: self.due_at, breached_at }
    }
}

/// When a clock that started at `start` with `limit` ms runs out.
fn due(start: Timestamp, limit: i64, hours: Option<&BusinessHours>, business_hours_only: bool) -> Option<Timestamp> {
    match (business_hours_only, hours) {
        (true, Some(h)) => business_hours::add_open_millis(h, start, limit),
        _ => Some(start.plus_millis(limit)),
    }
}

/// The clocks the policy sets for this conversation at `now`. `hours` are
/// the conversation's effective hours (used with `business_hours_only`).
pub fn targets(policy: &SlaPolicy, hours: Option<&BusinessHours>, c: &Conversation, now: Timestamp) -> Vec<SlaTarget> {
    let resolved = (c.status == ConversationStatus::Resolved).then_some(c.resolved_at.unwrap_or(now));
    let mut out = Vec::new();
    let mut push = |kind: SlaKind, started_at: Timestamp, stopped_at: Option<Timestamp>| {
        let Some(limit) = policy.limit_millis(kind) else { return };
        let due_at = due(started_at, limit, hours, policy.business_hours_only);
        let breached = due_at.is_some_and(|d| d <= stopped_at.unwrap_or(now));
        out.push(SlaTarget { kind, started_at, due_at, stopped_at, breached });
    };
    push(SlaKind::FirstResponse, c.created_at, c.first_reply_at.or(resolved));
    // A wait after the first reply is a next-response clock; before it, the
    // first-response clock already covers the customer's wait.
    if let (Some(_), Some(waiting)) = (c.first_reply_at, c.waiting_since) {
        push(SlaKind::NextResponse, waiting, resolved);
    }
    push(SlaKind::Resolution, c.created_at, resolved);
    out
}

/// The breaches to record now: targets past due that are not in `already`
/// (kind and clock start of the breaches recorded before).
pub fn due_breaches(
    policy: &SlaPolicy,
    hours: Option<&BusinessHours>,
    c: &Conversation,
    already: &[(SlaKind, Timestamp)],
    now: Timestamp,
) -> Vec<DueBreach> {
    targets(policy, hours, c, now)
        .into_iter()
        .filter(|t| t.breached && !already.contains(&(t.kind, t.started_at)))
        .filter_map(|t| Some(DueBreach { conversation_id: c.id, kind: t.kind, started_at: t.started_at, due_at: t.due_at? }))
        .collect()
}

/// Whether an idle conversation should be resolved: open or pending (a
/// snoozed one waits for its own time) and nothing happened for `after_ms`.
pub fn should_auto_resolve(last_activity_at: Timestamp, status: ConversationStatus, after_ms: i64, now: Timestamp) -> bool {
    matches!(status, ConversationStatus::Open | ConversationStatus::Pending)
        && now.millis().saturating_sub(last_activity_at.millis()) >= after_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::business_hours::DayHours;
    use crate::ids::*;
    use crate::model::*;

    const T0: Timestamp = Timestamp(1_774_000_000_000);
    const MIN: i64 = 60_000;

    fn at(minutes: i64) -> Timestamp {
        T0.plus_millis(minutes * MIN)
    }

    fn conversation() -> Conversation {
        Conversation {
            id: ConversationId(7),
            inbox_id: InboxId(1),
            channel: Channel::Webchat,
            contact: Contact {
                id: ContactId(1),
                name: None,
                email: None,
                phone: None,
                custom_fields: Default::default(),
                created_at: T0,
                updated_at: T0,
            },
            status: ConversationStatus::Open,
            priority: Priority::None,
            assignee_id: None,
            team_id: None,
            tags: Vec::new(),
            last_message: None,
            last_activity_at: T0,
            created_at: T0,
            waiting_since: Some(T0),
            snoozed_until: None,
            first_reply_at: None,
            resolved_at: None,
        }
    }

    fn policy() -> SlaPolicy {
        SlaPolicy {
            first_response_minutes: Some(10.0),
            next_response_minutes: Some(5.0),
            resolution_minutes: Some(60.0),
            business_hours_only: false,
        }
    }

    fn kinds(b: &[DueBreach]) -> Vec<SlaKind> {
        b.iter().map(|b| b.kind).collect()
    }

    #[test]
    fn first_response_breaches_at_its_due_time_and_not_before() {
        let c = conversation();
        assert!(due_breaches(&policy(), None, &c, &[], at(9)).is_empty());
        let b = due_breaches(&policy(), None, &c, &[], at(10));
        assert_eq!(kinds(&b), [SlaKind::FirstResponse]);
        assert_eq!((b[0].started_at, b[0].due_at), (T0, at(10)));
        assert_eq!(b[0].event(at(10)).kind, "first_response");
        // Recorded once: not again.
        assert!(due_breaches(&policy(), None, &c, &[(SlaKind::FirstResponse, T0)], at(11)).is_empty());
    }

    #[test]
    fn a_reply_in_time_meets_the_target_and_a_late_one_does_not() {
        let mut c = conversation();
        c.first_reply_at = Some(at(3));
        c.waiting_since = None;
        assert!(due_breaches(&policy(), None, &c, &[], at(30)).is_empty());
        c.first_reply_at = Some(at(12));
        assert_eq!(kinds(&due_breaches(&policy(), None, &c, &[], at(30))), [SlaKind::FirstResponse]);
    }

    #[test]
    fn each_wait_after_the_first_reply_has_its_own_next_response_clock() {
        let mut c = conversation();
        c.first_reply_at = Some(at(1));
        c.waiting_since = Some(at(20));
        assert!(due_breaches(&policy(), None, &c, &[], at(24)).is_empty());
        let b = due_breaches(&policy(), None, &c, &[], at(25));
        assert_eq!(kinds(&b), [SlaKind::NextResponse]);
        assert_eq!(b[0].started_at, at(20));
        // A later wait is a new period, even though one breach is recorded.
        c.waiting_since = Some(at(40));
        let b = due_breaches(&policy(), None, &c, &[(SlaKind::NextResponse, at(20))], at(45));
        assert_eq!((kinds(&b), b[0].started_at), (vec![SlaKind::NextResponse], at(40)));
    }

    #[test]
    fn resolution_stops_every_clock() {
        let mut c = conversation();
        c.status = ConversationStatus::Resolved;
        c.resolved_at = Some(at(8));
        c.waiting_since = None;
        assert!(due_breaches(&policy(), None, &c, &[], at(500)).is_empty());
        // Resolved late (without a reply): both clocks ran out before.
        c.resolved_at = Some(at(61));
        assert_eq!(kinds(&due_breaches(&policy(), None, &c, &[], at(500))), [SlaKind::FirstResponse, SlaKind::Resolution]);
    }

    #[test]
    fn no_policy_no_targets() {
        let c = conversation();
        assert!(targets(&SlaPolicy::default(), None, &c, at(10_000)).is_empty());
        assert!(SlaPolicy::default().is_empty());
    }

    #[test]
    fn business_hours_only_counts_open_time() {
        // Open Mon–Fri 09:00–18:00 UTC. Friday 27 March 2026, 17:55.
        let hours = BusinessHours {
            timezone: "UTC".into(),
            days: (0..7u8)
                .map(|day| DayHours { day, open: "09:00".into(), close: "18:00".into(), enabled: (1..=5).contains(&day) })
                .collect(),
            ..BusinessHours::default()
        };
        let friday = Timestamp::parse_rfc3339("2026-03-27T17:55:00Z").expect("ts");
        let mut c = conversation();
        c.created_at = friday;
        let p = SlaPolicy { business_hours_only: true, ..policy() };
        let t = targets(&p, Some(&hours), &c, friday);
        let first = t.iter().find(|t| t.kind == SlaKind::FirstResponse).expect("first response target");
        assert_eq!(first.due_at, Timestamp::parse_rfc3339("2026-03-30T09:05:00Z"));
        let saturday = Timestamp::parse_rfc3339("2026-03-28T12:00:00Z").expect("ts");
        assert!(due_breaches(&p, Some(&hours), &c, &[], saturday).is_empty(), "the weekend does not count");
        // Without business hours the same policy breaches on Friday.
        assert!(!due_breaches(&policy(), Some(&hours), &c, &[], saturday).is_empty());
    }

    #[test]
    fn auto_resolve_only_idle_open_or_pending() {
        let hour = 3_600_000;
        assert!(should_auto_resolve(T0, ConversationStatus::Open, hour, T0.plus_millis(hour)));
        assert!(should_auto_resolve(T0, ConversationStatus::Pending, hour, T0.plus_millis(hour + 1)));
        assert!(!should_auto_resolve(T0, ConversationStatus::Open, hour, T0.plus_millis(hour - 1)));
        assert!(!should_auto_resolve(T0, ConversationStatus::Snoozed, hour, T0.plus_millis(10 * hour)));
        assert!(!should_auto_resolve(T0, ConversationStatus::Resolved, hour, T0.plus_millis(10 * hour)));
    }

    #[test]
    fn settings_reject_negative_tiny_and_huge_limits() {
        let ok = AutomationSettings { sla: policy(), auto_resolve_after_hours: Some(0.001) };
        assert!(ok.check().is_ok());
        assert_eq!(ok.auto_resolve_after_millis(), Some(3_600));
        for bad in [-1.0, 0.0, 0.001, 1e12] {
            let s = AutomationSettings { sla: SlaPolicy { first_response_minutes: Some(bad), ..policy() }, ..ok.clone() };
            assert!(s.check().is_err(), "{bad}");
        }
        let s = AutomationSettings { auto_resolve_after_hours: Some(-2.0), ..ok.clone() };
        assert!(s.check().is_err());
        let parsed: Result<AutomationSettings, _> = serde_json::from_str(r#"{"sla":{"first_response_minutes":1,"colour":1}}"#);
        assert!(parsed.is_err(), "unknown keys are refused");
        let parsed: AutomationSettings = serde_json::from_str(r#"{"sla":{"first_response_minutes":0.5}}"#).expect("partial document");
        assert_eq!(parsed.sla.limit_millis(SlaKind::FirstResponse), Some(30_000));
    }
}
