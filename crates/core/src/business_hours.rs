//! A workspace's opening hours (SPEC §3.4): a weekly schedule in one time
//! zone, holidays, and the away message sent outside them.

use crate::validate::ValidationError;
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
        if !tz_ok {
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
        if self.holidays.len() > 366 || !self.holidays.iter().all(|h| is_date(h)) {
            return Err(ValidationError::new("holidays", "must be YYYY-MM-DD dates"));
        }
        Ok(())
    }
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
}
