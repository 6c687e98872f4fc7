//! A workspace's (or team's) opening hours (SPEC §3.4): a weekly schedule in
//! one time zone, holidays, and the away message sent outside them — plus
//! the time-zone maths over them: `is_open`, `next_open`, business time
//! between two instants, and the away reply a customer receives.
//!
//! Opening and closing times are local wall-clock times in the document's
//! IANA zone. A day is open over the instants from the first moment the
//! local clock shows `open` up to the first moment it shows `close`, so on
//! DST change days the open period is simply shorter or longer, and an
//! opening time that falls into a skipped hour opens when the clock jumps.
//! The tz database is compiled in (jiff's bundled copy): results never
//! depend on the host's /usr/share/zoneinfo.

use crate::time::Timestamp;
use crate::validate::ValidationError;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    /// 0 = Sunday … 6 = Saturday.
    pub day: u8,
    /// "HH:MM", 24-hour.
    pub open: String,
    pub close: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA zone name, e.g. "Europe/Kyiv".
    pub timezone: String,
    pub days: Vec<DayHours>,
    pub away_message: String,
    /// "YYYY-MM-DD" dates on which the team is closed all day.
    pub holidays: Vec<String>,
    /// What the away message promises: "within N minutes/hours". Absent:
    /// the promise is the next opening time.
    #[serde(default)]
    pub expected_response_minutes: Option<u32>,
}

impl Default for BusinessHours {
    /// Monday to Friday, 09:00–18:00 UTC.
    fn default() -> Self {
        BusinessHours {
            timezone: "UTC".into(),
            days: (0..7u8)
                .map(|day| DayHours { day, open: "09:00".into(), close: "18:00".into(), enabled: (1..=5).contains(&day) })
                .collect(),
            away_message: "We are away right now and will reply as soon as we are back.".into(),
            holidays: Vec::new(),
            expected_response_minutes: None,
        }
    }
}

/// Minutes after midnight for "HH:MM".
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && matches!(s[5..7].parse::<u8>(), Ok(1..=12))
        && matches!(s[8..10].parse::<u8>(), Ok(1..=31))
}

impl BusinessHours {
    pub fn check(&self) -> Result<(), ValidationError> {
        let tz_ok = !self.timezone.is_empty()
            && self.timezone.len() <= 64
            && self.timezone.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        if !tz_ok || TimeZone::get(&self.timezone).is_err() {
            return Err(ValidationError::new("timezone", "must be an IANA zone name like Europe/Kyiv"));
        }
        let mut seen = [false; 7];
        for d in &self.days {
            if d.day > 6 || seen[d.day as usize] {
                return Err(ValidationError::new("days", "each day 0-6 at most once"));
            }
            seen[d.day as usize] = true;
            match (parse_hhmm(&d.open), parse_hhmm(&d.close)) {
                (Some(o), Some(c)) if o < c => {}
                _ => return Err(ValidationError::new("days", format!("day {}: open and close must be HH:MM with open before close", d.day))),
            }
        }
        if self.away_message.chars().count() > 1000 {
            return Err(ValidationError::new("away_message", "must be at most 1000 characters"));
        }
        // `is_date` pins the exact shape; jiff then rejects days that do
        // not exist (2026-02-30).
        if self.holidays.len() > 366 || !self.holidays.iter().all(|h| is_date(h) && h.parse::<Date>().is_ok()) {
            return Err(ValidationError::new("holidays", "must be YYYY-MM-DD dates"));
        }
        if self.expected_response_minutes.is_some_and(|m| !(1..=MAX_EXPECTED_RESPONSE_MINUTES).contains(&m)) {
            return Err(ValidationError::new("expected_response_minutes", "must be between 1 and 43200 (30 days)"));
        }
        Ok(())
    }
}

const MAX_EXPECTED_RESPONSE_MINUTES: u32 = 30 * 24 * 60;
/// How far `next_open` looks ahead: two weeks covers any weekly schedule
/// plus a run of holidays; beyond that the team is treated as closed.
const NEXT_OPEN_HORIZON_DAYS: usize = 14;
/// How far business-time sums and additions walk, so a schedule that is
/// never open cannot loop for long.
const BUSINESS_TIME_HORIZON_DAYS: usize = 400;

/// A checked schedule: the zone resolved and the times parsed once.
struct Schedule {
    tz: TimeZone,
    /// Sunday-first; `None` for a closed weekday.
    days: [Option<(u16, u16)>; 7],
    holidays: Vec<Date>,
}

impl Schedule {
    /// `None` when the document does not pass `check` (stored documents
    /// always do; a broken one counts as "no hours").
    fn of(hours: &BusinessHours) -> Option<Schedule> {
        let tz = TimeZone::get(&hours.timezone).ok()?;
        let mut days = [None; 7];
        for d in hours.days.iter().filter(|d| d.enabled) {
            let slot = days.get_mut(usize::from(d.day))?;
            match (parse_hhmm(&d.open), parse_hhmm(&d.close)) {
                (Some(o), Some(c)) if o < c => *slot = Some((o, c)),
                _ => return None,
            }
        }
        let holidays = hours.holidays.iter().filter_map(|h| h.parse::<Date>().ok()).collect();
        Some(Schedule { tz, days, holidays })
    }

    fn local_date(&self, at: jiff::Timestamp) -> Date {
        self.tz.to_datetime(at).date()
    }

    /// The open period of one local date, as instants [start, end).
    fn period(&self, date: Date) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
        if self.holidays.contains(&date) {
            return None;
        }
        let weekday = usize::try_from(date.weekday().to_sunday_zero_offset()).ok()?;
        let (open, close) = self.days.get(weekday).copied().flatten()?;
        let start = self.first_instant_at(date, open)?;
        let end = self.first_instant_at(date, close)?;
        (start < end).then_some((start, end))
    }

    /// The first instant at which the local clock reads `minutes` past
    /// midnight on `date`. In a fold (clocks go back) that is the earlier
    /// occurrence; in a gap (clocks jump forward) it is the jump itself.
    fn first_instant_at(&self, date: Date, minutes: u16) -> Option<jiff::Timestamp> {
        let (h, m) = (i8::try_from(minutes / 60).ok()?, i8::try_from(minutes % 60).ok()?);
        let dt: DateTime = date.at(h, m, 0, 0);
        let ambiguous = self.tz.to_ambiguous_timestamp(dt);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { before, .. } => {
                // Read with the pre-jump offset, `dt` lies just after the
                // jump; the transition before that instant is the jump.
                let past = before.to_timestamp(dt).ok()?.checked_add(jiff::SignedDuration::from_nanos(1)).ok()?;
                self.tz.preceding(past).next().map(|t| t.timestamp())
            }
        }
    }

    /// Open periods of the local dates from `from`'s date on, in order.
    fn periods_from(&self, from: jiff::Timestamp, days: usize) -> impl Iterator<Item = (jiff::Timestamp, jiff::Timestamp)> + '_ {
        let first = self.local_date(from);
        std::iter::successors(Some(first), |d| d.tomorrow().ok()).take(days).filter_map(|d| self.period(d))
    }
}

fn to_jiff(t: Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(t.millis()).ok()
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

/// Whether the hours say open at `at`: on a day that is enabled and not a
/// holiday (both in local time), between the local opening and closing time.
pub fn is_open(hours: &BusinessHours, at: Timestamp) -> bool {
    let (Some(s), Some(t)) = (Schedule::of(hours), to_jiff(at)) else { return false };
    s.period(s.local_date(t)).is_some_and(|(start, end)| start <= t && t < end)
}

/// `at` itself when open, else the next opening within two weeks; `None`
/// when the schedule (with its holidays) stays closed that long.
pub fn next_open(hours: &BusinessHours, at: Timestamp) -> Option<Timestamp> {
    let s = Schedule::of(hours)?;
    let t = to_jiff(at)?;
    s.periods_from(t, NEXT_OPEN_HORIZON_DAYS + 1).find(|(_, end)| *end > t).map(|(start, _)| from_jiff(start.max(t)))
}

/// Open time between two instants, in milliseconds (0 if `to <= from`).
pub fn open_millis_between(hours: &BusinessHours, from: Timestamp, to: Timestamp) -> i64 {
    let (Some(s), Some(f), Some(t)) = (Schedule::of(hours), to_jiff(from), to_jiff(to)) else { return 0 };
    if t <= f {
        return 0;
    }
    s.periods_from(f, BUSINESS_TIME_HORIZON_DAYS)
        .take_while(|(start, _)| *start < t)
        .map(|(start, end)| (end.min(t).as_millisecond() - start.max(f).as_millisecond()).max(0))
        .sum()
}

/// The instant at which `millis` of open time have passed since `from`
/// (SLA due times "in business hours"); `None` if that takes over a year.
pub fn add_open_millis(hours: &BusinessHours, from: Timestamp, millis: i64) -> Option<Timestamp> {
    let s = Schedule::of(hours)?;
    let f = to_jiff(from)?;
    let mut left = millis.max(0);
    for (start, end) in s.periods_from(f, BUSINESS_TIME_HORIZON_DAYS) {
        if end <= f {
            continue;
        }
        let start = start.max(f);
        let span = end.as_millisecond() - start.as_millisecond();
        if left <= span {
            return Some(Timestamp::from_millis(start.as_millisecond() + left));
        }
        left -= span;
    }
    None
}

/// "Mon 09:00 (Europe/Kyiv)": an instant as the customer should read it.
pub fn local_label(hours: &BusinessHours, at: Timestamp) -> Option<String> {
    let tz = TimeZone::get(&hours.timezone).ok()?;
    let dt = tz.to_datetime(to_jiff(at)?);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let day = DAYS.get(usize::try_from(dt.weekday().to_sunday_zero_offset()).ok()?)?;
    Some(format!("{day} {:02}:{:02} ({})", dt.hour(), dt.minute(), hours.timezone))
}

/// "30 minutes", "2 hours", "1 hour 30 minutes", "2 days".
fn duration_words(minutes: u32) -> String {
    fn unit(n: u32, one: &str) -> String {
        if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
    }
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, 0) => unit(d, "day"),
        // Past a day, minutes are noise: round up to whole hours.
        (d, h, m) => format!("{} {}", unit(d, "day"), unit(h + u32::from(m > 0), "hour")),
    }
}

const NEXT_OPEN: &str = "{{next_open}}";
const EXPECTED_RESPONSE: &str = "{{expected_response}}";

/// The away message as the customer receives it at `now`: `{{next_open}}`
/// becomes the local reopening time, `{{expected_response}}` the promise
/// ("within 2 hours", or "by Mon 09:00 (Europe/Kyiv)" when no response time
/// is set). A message that names neither gets a closing sentence with the
/// promise, so the customer always learns when to expect an answer (S0).
pub fn away_reply(hours: &BusinessHours, now: Timestamp) -> String {
    let reopens = next_open(hours, now).and_then(|t| local_label(hours, t));
    let promise = match (hours.expected_response_minutes, &reopens) {
        (Some(m), _) => format!("within {}", duration_words(m)),
        (None, Some(label)) => format!("by {label}"),
        (None, None) => "as soon as we are back".to_owned(),
    };
    let message = hours.away_message.trim();
    if message.contains(NEXT_OPEN) || message.contains(EXPECTED_RESPONSE) {
        let reopens = reopens.as_deref().unwrap_or("soon");
        return message.replace(NEXT_OPEN, reopens).replace(EXPECTED_RESPONSE, &promise);
    }
    let sentence = format!("We will reply {promise}.");
    if message.is_empty() { sentence } else { format!("{message} {sentence}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_weekdays_nine_to_six() {
        let d = BusinessHours::default();
        assert!(d.check().is_ok());
        assert_eq!(d.days.iter().filter(|x| x.enabled).count(), 5);
    }

    #[test]
    fn rejects_bad_times_days_zones_and_dates() {
        let mut b = BusinessHours::default();
        b.days[1].open = "18:00".into();
        assert!(b.check().is_err());
        let mut b = BusinessHours::default();
        b.days[1].day = 2;
        assert!(b.check().is_err());
        let b = BusinessHours { timezone: "Mars Base".into(), ..BusinessHours::default() };
        assert!(b.check().is_err());
        let b = BusinessHours { holidays: vec!["2026-13-01".into()], ..BusinessHours::default() };
        assert!(b.check().is_err());
        assert_eq!(parse_hhmm("09:30"), Some(570));
        assert_eq!(parse_hhmm("24:00"), None);
    }

    fn t(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).expect("test timestamp")
    }

    /// Mon–Fri `open`–`close` in `tz`.
    fn weekdays(tz: &str, open: &str, close: &str) -> BusinessHours {
        BusinessHours {
            timezone: tz.into(),
            days: (0..7u8)
                .map(|day| DayHours { day, open: open.into(), close: close.into(), enabled: (1..=5).contains(&day) })
                .collect(),
            ..BusinessHours::default()
        }
    }

    /// Open only on Sundays, `open`–`close`.
    fn sundays(tz: &str, open: &str, close: &str) -> BusinessHours {
        BusinessHours {
            timezone: tz.into(),
            days: vec![DayHours { day: 0, open: open.into(), close: close.into(), enabled: true }],
            ..BusinessHours::default()
        }
    }

    #[test]
    fn zone_names_must_exist() {
        for ok in ["Europe/Kyiv", "America/New_York", "UTC", "Asia/Kuala_Lumpur"] {
            assert!(BusinessHours { timezone: ok.into(), ..BusinessHours::default() }.check().is_ok(), "{ok}");
        }
        for bad in ["Mars/Olympus", "Europe/Atlantis", "EST+5+"] {
            assert!(BusinessHours { timezone: bad.into(), ..BusinessHours::default() }.check().is_err(), "{bad}");
        }
        let b = BusinessHours { holidays: vec!["2026-02-30".into()], ..BusinessHours::default() };
        assert!(b.check().is_err(), "a day that does not exist");
        let b = BusinessHours { expected_response_minutes: Some(0), ..BusinessHours::default() };
        assert!(b.check().is_err());
        let b = BusinessHours { expected_response_minutes: Some(120), ..BusinessHours::default() };
        assert!(b.check().is_ok());
    }

    #[test]
    fn documents_stored_before_expected_response_still_parse_and_unknown_keys_do_not() {
        let old = r#"{"timezone":"UTC","days":[],"away_message":"Away","holidays":[]}"#;
        let b: BusinessHours = serde_json::from_str(old).expect("old document");
        assert_eq!(b.expected_response_minutes, None);
        let bad = r#"{"timezone":"UTC","days":[],"away_message":"Away","holidays":[],"colour":1}"#;
        assert!(serde_json::from_str::<BusinessHours>(bad).is_err());
    }

    #[test]
    fn kyiv_weekdays_across_spring_forward() {
        let h = weekdays("Europe/Kyiv", "09:00", "18:00");
        // Friday 27 March 2026, still UTC+2.
        assert!(is_open(&h, t("2026-03-27T17:59:59+02:00")));
        assert!(!is_open(&h, t("2026-03-27T18:00:00+02:00")));
        // Clocks go forward on Sunday 29 March: Monday opens at 06:00 UTC.
        assert_eq!(next_open(&h, t("2026-03-27T18:00:00+02:00")), Some(t("2026-03-30T06:00:00Z")));
        assert!(!is_open(&h, t("2026-03-30T05:59:59Z")));
        assert!(is_open(&h, t("2026-03-30T06:00:00Z")));
        // Open now: next_open is now.
        assert_eq!(next_open(&h, t("2026-03-30T07:00:00Z")), Some(t("2026-03-30T07:00:00Z")));
    }

    #[test]
    fn an_opening_time_in_the_skipped_hour_opens_at_the_jump() {
        // Kyiv skips 03:00–04:00 on 29 March 2026 (01:00 UTC).
        let h = sundays("Europe/Kyiv", "03:30", "05:00");
        assert_eq!(next_open(&h, t("2026-03-28T12:00:00Z")), Some(t("2026-03-29T01:00:00Z")));
        assert!(!is_open(&h, t("2026-03-29T00:59:59Z")));
        assert!(is_open(&h, t("2026-03-29T01:00:00Z")));
        assert!(!is_open(&h, t("2026-03-29T02:00:00Z")), "05:00 local, UTC+3");
        assert_eq!(open_millis_between(&h, t("2026-03-29T00:00:00Z"), t("2026-03-29T12:00:00Z")), 3_600_000);
    }

    #[test]
    fn the_repeated_hour_in_autumn_counts_twice() {
        // Kyiv repeats 03:00–04:00 on 25 October 2026: 03:00–05:00 local
        // lasts three hours, from the first 03:00 (UTC+3) to 05:00 (UTC+2).
        let h = sundays("Europe/Kyiv", "03:00", "05:00");
        assert_eq!(next_open(&h, t("2026-10-24T12:00:00Z")), Some(t("2026-10-25T00:00:00Z")));
        assert!(is_open(&h, t("2026-10-25T01:30:00Z")), "03:30 local, second time round");
        assert!(!is_open(&h, t("2026-10-25T03:00:00Z")));
        assert_eq!(open_millis_between(&h, t("2026-10-24T00:00:00Z"), t("2026-10-26T00:00:00Z")), 3 * 3_600_000);
    }

    #[test]
    fn new_york_both_changes() {
        let h = weekdays("America/New_York", "09:00", "17:00");
        // Friday 6 March 2026 closes 22:00 UTC (EST); Monday 9 March opens
        // 13:00 UTC (EDT, clocks went forward on Sunday 8 March).
        assert!(is_open(&h, t("2026-03-06T21:59:00Z")));
        assert_eq!(next_open(&h, t("2026-03-06T22:00:00Z")), Some(t("2026-03-09T13:00:00Z")));
        // Back on Sunday 1 November: Friday opens 13:00 UTC, Monday 14:00.
        assert!(is_open(&h, t("2026-10-30T13:00:00Z")));
        assert_eq!(next_open(&h, t("2026-10-30T21:00:00Z")), Some(t("2026-11-02T14:00:00Z")));
        assert!(!is_open(&h, t("2026-11-02T13:30:00Z")));
    }

    #[test]
    fn holidays_are_local_dates() {
        let h = BusinessHours { holidays: vec!["2026-12-25".into()], ..weekdays("Europe/Kyiv", "09:00", "18:00") };
        // 23:30 UTC on the 24th is already the 25th in Kyiv.
        assert_eq!(next_open(&h, t("2026-12-24T23:30:00Z")), Some(t("2026-12-28T07:00:00Z")));
        assert!(!is_open(&h, t("2026-12-25T08:00:00Z")), "Friday, but a holiday");
        assert!(is_open(&h, t("2026-12-24T08:00:00Z")));
    }

    #[test]
    fn midnight_edges() {
        let h = BusinessHours {
            timezone: "UTC".into(),
            days: vec![DayHours { day: 1, open: "00:00".into(), close: "23:59".into(), enabled: true }],
            ..BusinessHours::default()
        };
        // Monday 2 March 2026.
        assert!(!is_open(&h, t("2026-03-01T23:59:59.999Z")));
        assert!(is_open(&h, t("2026-03-02T00:00:00Z")));
        assert!(is_open(&h, t("2026-03-02T23:58:59.999Z")));
        assert!(!is_open(&h, t("2026-03-02T23:59:00Z")), "close is exclusive");
        assert_eq!(next_open(&h, t("2026-03-02T23:59:00Z")), Some(t("2026-03-09T00:00:00Z")));
    }

    #[test]
    fn closed_all_week_never_opens() {
        let mut h = weekdays("Europe/Kyiv", "09:00", "18:00");
        for d in &mut h.days {
            d.enabled = false;
        }
        let now = t("2026-03-27T10:00:00Z");
        assert!(!is_open(&h, now));
        assert_eq!(next_open(&h, now), None);
        assert_eq!(add_open_millis(&h, now, 60_000), None);
        assert_eq!(open_millis_between(&h, now, t("2026-04-27T10:00:00Z")), 0);
        assert_eq!(away_reply(&h, now), "We are away right now and will reply as soon as we are back. We will reply as soon as we are back.");
    }

    #[test]
    fn business_time_skips_nights_and_weekends() {
        let h = weekdays("Europe/Kyiv", "09:00", "18:00");
        // Friday 17:00 + 2 open hours = Monday 10:00 (UTC+3 by then).
        let friday = t("2026-03-27T17:00:00+02:00");
        assert_eq!(add_open_millis(&h, friday, 2 * 3_600_000), Some(t("2026-03-30T10:00:00+03:00")));
        assert_eq!(open_millis_between(&h, friday, t("2026-03-30T10:00:00+03:00")), 2 * 3_600_000);
        assert_eq!(add_open_millis(&h, t("2026-03-30T10:00:00+03:00"), 0), Some(t("2026-03-30T10:00:00+03:00")));
    }

    #[test]
    fn away_reply_names_the_reopening_and_the_promise() {
        let friday_night = t("2026-03-27T20:00:00+02:00");
        let mut h = weekdays("Europe/Kyiv", "09:00", "18:00");
        h.away_message = "We are closed until {{next_open}} and will answer {{expected_response}}.".into();
        assert_eq!(away_reply(&h, friday_night), "We are closed until Mon 09:00 (Europe/Kyiv) and will answer by Mon 09:00 (Europe/Kyiv).");
        h.expected_response_minutes = Some(120);
        assert_eq!(away_reply(&h, friday_night), "We are closed until Mon 09:00 (Europe/Kyiv) and will answer within 2 hours.");
        // No placeholder: the promise is appended.
        h.away_message = "Thanks for writing!".into();
        assert_eq!(away_reply(&h, friday_night), "Thanks for writing! We will reply within 2 hours.");
        h.expected_response_minutes = None;
        assert_eq!(away_reply(&h, friday_night), "Thanks for writing! We will reply by Mon 09:00 (Europe/Kyiv).");
        h.away_message = "  ".into();
        assert_eq!(away_reply(&h, friday_night), "We will reply by Mon 09:00 (Europe/Kyiv).");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_words(1), "1 minute");
        assert_eq!(duration_words(45), "45 minutes");
        assert_eq!(duration_words(60), "1 hour");
        assert_eq!(duration_words(90), "1 hour 30 minutes");
        assert_eq!(duration_words(2880), "2 days");
        assert_eq!(duration_words(1441), "1 day 1 hour");
    }
}
