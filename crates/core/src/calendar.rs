//! Business days as China counts them (R-ADS-7, R-ADS-14): Monday to
//! Friday, except public holidays, plus the weekend days worked in their
//! place (调休).
//!
//! The days come from `data/china-calendar.txt`, written from a maintained
//! source by `scripts/update-china-calendar.py` (its header says which). A
//! deployment may add years without a new build: `holiday_calendar_file`
//! names a file of the same form, installed once at start
//! ([`install_extra`]); its days take precedence. The calendar is data the
//! domain reads, like a table of constants: no clock, no I/O in the domain.

use chrono::{Datelike, NaiveDate, Weekday};
use std::{
    collections::BTreeMap,
    sync::{OnceLock, RwLock},
};

const BUILTIN: &str = include_str!("../data/china-calendar.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Off,
    Work,
}

/// Listed days: holidays off, weekend days worked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, Kind>,
}

impl Calendar {
    /// Lines `YYYY-MM-DD off|work [what]`; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut days = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(day), Some(kind)) = (parts.next(), parts.next()) else {
                return Err(format!("line {}: want `YYYY-MM-DD off|work`", n + 1));
            };
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|e| format!("line {}: {day:?}: {e}", n + 1))?;
            let kind = match kind {
                "off" => Kind::Off,
                "work" => Kind::Work,
                other => return Err(format!("line {}: {other:?}: off or work", n + 1)),
            };
            days.insert(day, kind);
        }
        Ok(Self { days })
    }

    /// Whether `day` is a business day.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        match self.days.get(&day) {
            Some(Kind::Off) => false,
            Some(Kind::Work) => true,
            None => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The last year any day is listed for (after it, Monday to Friday).
    pub fn last_year(&self) -> Option<i32> {
        self.days.keys().next_back().map(|d| d.year())
    }

    fn merged(mut self, extra: Calendar) -> Self {
        self.days.extend(extra.days);
        self
    }
}

fn current() -> &'static RwLock<Calendar> {
    static CURRENT: OnceLock<RwLock<Calendar>> = OnceLock::new();
    CURRENT.get_or_init(|| {
        RwLock::new(Calendar::parse(BUILTIN).expect("the built-in calendar parses (tested)"))
    })
}

/// Whether `day` is a business day in China.
pub fn is_business_day(day: NaiveDate) -> bool {
    current()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .is_business_day(day)
}

/// The calendar in use (the built-in days and any installed).
pub fn china() -> Calendar {
    current().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Adds a deployment's days (a year the build does not have yet) to the
/// built-in ones; its days take precedence. Called at start.
pub fn install_extra(text: &str) -> Result<(), String> {
    let extra = Calendar::parse(text)?;
    let mut calendar = current().write().unwrap_or_else(|e| e.into_inner());
    *calendar = std::mem::take(&mut *calendar).merged(extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn r_ads_7_holidays_are_off_and_adjusted_weekends_are_worked() {
        let c = Calendar::parse(BUILTIN).unwrap();
        assert!(c.last_year() >= Some(2026));
        // 2026 Spring Festival: 15-23 February off; Saturday 14 and 28 worked.
        assert!(
            !c.is_business_day(d("2026-02-16")),
            "a Monday in the holiday"
        );
        assert!(
            c.is_business_day(d("2026-02-14")),
            "a Saturday worked (调休)"
        );
        assert!(c.is_business_day(d("2026-02-28")));
        // National Day 2026: 1-7 October off; Sunday 20 September worked.
        assert!(!c.is_business_day(d("2026-10-05")));
        assert!(c.is_business_day(d("2026-09-20")));
        // An ordinary week.
        assert!(c.is_business_day(d("2026-03-04")));
        assert!(!c.is_business_day(d("2026-03-07")));
        // A year nobody has published yet: Monday to Friday.
        assert!(c.is_business_day(d("2099-01-01")));
    }

    #[test]
    fn a_deployments_file_adds_a_year_and_bad_lines_are_refused() {
        let extra = Calendar::parse("# 2099\n2099-01-01 off 元旦\n2099-01-03 work 元旦\n").unwrap();
        let c = Calendar::parse(BUILTIN).unwrap().merged(extra);
        assert!(!c.is_business_day(d("2099-01-01")));
        assert!(c.is_business_day(d("2099-01-03")), "a Saturday worked");
        assert!(Calendar::parse("2099-13-01 off").is_err());
        assert!(Calendar::parse("2099-01-01 maybe").is_err());
        assert!(Calendar::parse("2099-01-01").is_err());
    }
}
