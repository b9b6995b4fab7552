//! R-CHAT-9: service hours in the shop's time zone (R-X-3): weekly hours,
//! holidays (closed all day) and exception days with their own hours.

use super::{DomainError, Instant};
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

/// Minutes after local midnight, half-open: `start <= t < end`; `end` may be 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_minute: u16,
    pub end_minute: u16,
}

/// Hours of one weekday; `weekday` 1 = Monday .. 7 = Sunday (ISO 8601).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayHours {
    pub weekday: u8,
    pub ranges: Vec<TimeRange>,
}

/// A date whose hours replace the weekly ones (a late shift before a sale).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    pub date: NaiveDate,
    pub ranges: Vec<TimeRange>,
}

/// When humans answer. A shop that never set hours is staffed around the
/// clock (the platform lets agents be online 7x24); the robot answers always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHours {
    /// IANA name, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    /// Weekdays with no entry are closed. Empty together with no special
    /// days and no holidays means: always open.
    pub weekly: Vec<DayHours>,
    pub holidays: Vec<NaiveDate>,
    pub special_days: Vec<SpecialDay>,
}

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
const MINUTES_PER_DAY: u16 = 24 * 60;
/// How far ahead "humans are back at" looks.
const LOOKAHEAD_DAYS: i64 = 400;

impl Default for ServiceHours {
    fn default() -> Self {
        Self {
            time_zone: DEFAULT_TIME_ZONE.into(),
            weekly: Vec::new(),
            holidays: Vec::new(),
            special_days: Vec::new(),
        }
    }
}

fn check_ranges(field: &str, ranges: &[TimeRange], errors: &mut Vec<(String, String)>) {
    let mut previous_end = 0u16;
    for (i, r) in ranges.iter().enumerate() {
        if r.start_minute >= r.end_minute || r.end_minute > MINUTES_PER_DAY {
            errors.push((
                format!("{field}[{i}]"),
                "start before end, both within 0..=1440 minutes".into(),
            ));
        } else if i > 0 && r.start_minute < previous_end {
            errors.push((
                format!("{field}[{i}]"),
                "ranges must be in order and not overlap".into(),
            ));
        }
        previous_end = r.end_minute;
    }
}

impl ServiceHours {
    /// The hours a 9-to-6 workday shop keeps: Monday to Friday 09:00-18:00.
    pub fn workdays_nine_to_six(time_zone: &str) -> Self {
        Self {
            time_zone: time_zone.into(),
            weekly: (1..=5)
                .map(|weekday| DayHours {
                    weekday,
                    ranges: vec![TimeRange {
                        start_minute: 9 * 60,
                        end_minute: 18 * 60,
                    }],
                })
                .collect(),
            holidays: Vec::new(),
            special_days: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            errors.push((
                "hours.time_zone".into(),
                format!("{:?} is not an IANA time zone", self.time_zone),
            ));
        }
        let mut seen = [false; 8];
        for (i, d) in self.weekly.iter().enumerate() {
            if !(1..=7).contains(&d.weekday) {
                errors.push((
                    format!("hours.weekly[{i}].weekday"),
                    "1 (Monday) to 7 (Sunday)".into(),
                ));
            } else if std::mem::replace(&mut seen[d.weekday as usize], true) {
                errors.push((
                    format!("hours.weekly[{i}].weekday"),
                    "each weekday at most once".into(),
                ));
            }
            check_ranges(&format!("hours.weekly[{i}].ranges"), &d.ranges, &mut errors);
        }
        for (i, d) in self.special_days.iter().enumerate() {
            check_ranges(
                &format!("hours.special_days[{i}].ranges"),
                &d.ranges,
                &mut errors,
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(errors))
        }
    }

    fn always_open(&self) -> bool {
        self.weekly.is_empty() && self.holidays.is_empty() && self.special_days.is_empty()
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The ranges of one local date: special day, else holiday (none), else the weekday's.
    fn ranges_on(&self, date: NaiveDate) -> &[TimeRange] {
        if let Some(s) = self.special_days.iter().find(|s| s.date == date) {
            return &s.ranges;
        }
        if self.holidays.contains(&date) {
            return &[];
        }
        let weekday = date.weekday().number_from_monday() as u8;
        self.weekly
            .iter()
            .find(|d| d.weekday == weekday)
            .map_or(&[], |d| &d.ranges)
    }

    pub fn is_open(&self, at: Instant) -> bool {
        if self.always_open() {
            return true;
        }
        let local = at.with_timezone(&self.tz());
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.ranges_on(local.date_naive())
            .iter()
            .any(|r| r.start_minute <= minute && minute < r.end_minute)
    }

    /// The next instant at or after `at` when humans answer; `at` itself when open.
    pub fn next_opening(&self, at: Instant) -> Option<Instant> {
        if self.is_open(at) {
            return Some(at);
        }
        let tz = self.tz();
        let local = at.with_timezone(&tz);
        let today = local.date_naive();
        let now_minute = (local.hour() * 60 + local.minute()) as u16;
        for offset in 0..LOOKAHEAD_DAYS {
            let date = today + chrono::Duration::days(offset);
            for r in self.ranges_on(date) {
                if offset == 0 && r.start_minute <= now_minute {
                    continue;
                }
                let naive =
                    date.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(r.start_minute as i64);
                // A start that falls in a DST gap opens at the first valid instant after it.
                let opening = tz.from_local_datetime(&naive).earliest().or_else(|| {
                    tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                        .earliest()
                })?;
                return Some(opening.with_timezone(&chrono::Utc));
            }
        }
        None
    }

    /// R-CHAT-12: milliseconds of `from..to` inside service hours. Local
    /// dates are walked one by one, each open range turned into instants in
    /// the shop's zone (a range that starts in a DST gap starts at the first
    /// instant after it).
    pub fn open_millis(&self, from: Instant, to: Instant) -> i64 {
        if to <= from {
            return 0;
        }
        if self.always_open() {
            return (to - from).num_milliseconds();
        }
        let tz = self.tz();
        let instant_at = |date: NaiveDate, minute: u16| -> Option<Instant> {
            let naive = date.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(minute as i64);
            let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
                tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })?;
            Some(local.with_timezone(&chrono::Utc))
        };
        let first = from.with_timezone(&tz).date_naive();
        let last = to.with_timezone(&tz).date_naive();
        let days = (last - first).num_days().clamp(0, LOOKAHEAD_DAYS);
        let mut total = 0i64;
        for offset in 0..=days {
            let date = first + chrono::Duration::days(offset);
            for r in self.ranges_on(date) {
                let (Some(start), Some(end)) = (
                    instant_at(date, r.start_minute),
                    instant_at(date, r.end_minute),
                ) else {
                    continue;
                };
                let (a, b) = (start.max(from), end.min(to));
                if b > a {
                    total = total.saturating_add((b - a).num_milliseconds());
                }
            }
        }
        total
    }

    /// "back at" in the shop's own clock, as the buyer reads it.
    pub fn local_label(&self, at: Instant) -> String {
        at.with_timezone(&self.tz())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}
