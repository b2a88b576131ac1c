//! Board periods: `week`, `month`, `quarter`, `year`, `all` (the current one, in the
//! organisation's time zone) or an explicit one: `2026-W47`, `2026-11`, `2026-Q4`, `2026`.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::periods;
use crate::vocabulary::vocabulary;

vocabulary!(
    PeriodKind {
        Week = "week",
        Month = "month",
        Quarter = "quarter",
        Year = "year",
        All = "all",
    }
);

/// A resolved period: [start, end) as local dates of the organisation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    pub kind: PeriodKind,
    /// How to ask for this period again, e.g. `2026-W47`, `2026-11`, `2026-Q4`, `2026`, `all`.
    pub label: String,
    /// First day (local); absent for `all`.
    pub start: Option<NaiveDate>,
    /// First day after the period (local); absent for `all`.
    pub end: Option<NaiveDate>,
}

/// The `period_start` under which a board's totals are stored.
pub const ALL_TIME_START: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

impl Period {
    pub fn storage_start(&self) -> NaiveDate {
        self.start.unwrap_or(ALL_TIME_START)
    }

    fn of(kind: PeriodKind, start: NaiveDate) -> Period {
        let (end, label) = match kind {
            PeriodKind::Week => {
                let iso = start.iso_week();
                (
                    start + chrono::Days::new(7),
                    format!("{}-W{:02}", iso.year(), iso.week()),
                )
            }
            PeriodKind::Month => (
                start + Months::new(1),
                format!("{}-{:02}", start.year(), start.month()),
            ),
            PeriodKind::Quarter => (
                start + Months::new(3),
                format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
            ),
            PeriodKind::Year => (start + Months::new(12), format!("{}", start.year())),
            PeriodKind::All => {
                return Period {
                    kind,
                    label: "all".into(),
                    start: None,
                    end: None,
                };
            }
        };
        Period {
            kind,
            label,
            start: Some(start),
            end: Some(end),
        }
    }
}

fn week_start(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

fn quarter_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap_or(d)
}

/// Resolve the `period` parameter (default `month`) at `now` in `tz`.
pub fn parse(raw: Option<&str>, tz: Tz, now: DateTime<Utc>) -> Result<Period, FieldError> {
    let today = periods::local_date(tz, now);
    let raw = raw.unwrap_or("month").trim();
    let bad = || {
        FieldError::new(
            "period",
            "must be week, month, quarter, year, all, or a period such as 2026-W47, 2026-11, 2026-Q4 or 2026",
        )
    };
    let period = match raw {
        "week" => Period::of(PeriodKind::Week, week_start(today)),
        "month" => Period::of(PeriodKind::Month, periods::month_start(today)),
        "quarter" => Period::of(PeriodKind::Quarter, quarter_start(today)),
        "year" => Period::of(
            PeriodKind::Year,
            NaiveDate::from_ymd_opt(today.year(), 1, 1).ok_or_else(bad)?,
        ),
        "all" => Period::of(PeriodKind::All, ALL_TIME_START),
        _ => {
            let (year, rest) = raw.split_at(raw.find('-').unwrap_or(raw.len()));
            let year: i32 = year.parse().map_err(|_| bad())?;
            if !(2000..=2200).contains(&year) {
                return Err(bad());
            }
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            if rest.is_empty() {
                Period::of(
                    PeriodKind::Year,
                    NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?,
                )
            } else if let Some(w) = rest.strip_prefix('W') {
                let w: u32 = w.parse().map_err(|_| bad())?;
                let start = NaiveDate::from_isoywd_opt(year, w, Weekday::Mon).ok_or_else(bad)?;
                Period::of(PeriodKind::Week, start)
            } else if let Some(q) = rest.strip_prefix('Q') {
                let q: u32 = q.parse().map_err(|_| bad())?;
                if !(1..=4).contains(&q) {
                    return Err(bad());
                }
                Period::of(
                    PeriodKind::Quarter,
                    NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1).ok_or_else(bad)?,
                )
            } else {
                let m: u32 = rest.parse().map_err(|_| bad())?;
                Period::of(
                    PeriodKind::Month,
                    NaiveDate::from_ymd_opt(year, m, 1).ok_or_else(bad)?,
                )
            }
        }
    };
    Ok(period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn current_periods_follow_the_local_calendar() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        // 23:30 on Monday 30 November in Oslo is still November locally.
        let now = at(2026, 11, 30, 22, 30);
        let m = parse(Some("month"), oslo, now).unwrap();
        assert_eq!(m.label, "2026-11");
        let w = parse(Some("week"), oslo, now).unwrap();
        assert_eq!(w.label, "2026-W49");
        assert_eq!(w.start, NaiveDate::from_ymd_opt(2026, 11, 30));
        // 00:30 on 1 December local: December, though UTC still says November.
        assert_eq!(
            parse(None, oslo, at(2026, 11, 30, 23, 30)).unwrap().label,
            "2026-12"
        );
    }

    #[test]
    fn explicit_periods() {
        let now = at(2026, 11, 27, 12, 0);
        let w = parse(Some("2026-W47"), Tz::UTC, now).unwrap();
        assert_eq!(w.start, NaiveDate::from_ymd_opt(2026, 11, 16));
        assert_eq!(w.end, NaiveDate::from_ymd_opt(2026, 11, 23));
        assert_eq!(
            parse(Some("2026-Q4"), Tz::UTC, now).unwrap().start,
            NaiveDate::from_ymd_opt(2026, 10, 1)
        );
        assert_eq!(
            parse(Some("2025-02"), Tz::UTC, now).unwrap().end,
            NaiveDate::from_ymd_opt(2025, 3, 1)
        );
        assert_eq!(
            parse(Some("2025"), Tz::UTC, now).unwrap().kind,
            PeriodKind::Year
        );
        // ISO week 1 of 2027 starts in 2027-01-04; week 53 of 2026 exists (2026 has 53 weeks).
        assert_eq!(
            parse(Some("2026-W53"), Tz::UTC, now).unwrap().start,
            NaiveDate::from_ymd_opt(2026, 12, 28)
        );
        for bad in [
            "2026-W54",
            "2026-13",
            "2026-Q5",
            "26-11",
            "soon",
            "2026-11-01",
        ] {
            assert!(parse(Some(bad), Tz::UTC, now).is_err(), "{bad}");
        }
    }
}
