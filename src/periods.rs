//! Calendar periods in an organisation's time zone. "This month" for an organisation in Oslo
//! starts at midnight in Oslo, not in UTC: a point earned at 23:30 local time on the 31st
//! belongs to that month. Weeks start on Monday (ISO 8601).

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

pub fn parse_tz(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// The UTC instant of local midnight starting `date` in `tz`. On days where midnight does not
/// exist (DST gaps at 00:00), the first instant of the day.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&t).earliest() {
            return local.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

pub fn next_month_start(date: NaiveDate) -> NaiveDate {
    let first = month_start(date);
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

/// [start, end) of the local day containing `at`.
pub fn day_bounds(tz: Tz, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let d = local_date(tz, at);
    let next = d.checked_add_days(Days::new(1)).unwrap_or(d);
    (start_of_day(tz, d), start_of_day(tz, next))
}

/// [start, end) of the local calendar month containing `at`, and its first day.
pub fn month_bounds(tz: Tz, at: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let first = month_start(local_date(tz, at));
    (
        first,
        start_of_day(tz, first),
        start_of_day(tz, next_month_start(first)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_evening_on_the_last_day_belongs_to_that_month() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        // 2026-11-30 23:30 in Oslo is 22:30 UTC.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 22, 30, 0).unwrap();
        let (first, start, end) = month_bounds(oslo, at);
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap());
        // And 00:30 local on the 1st of December is December, though still November in UTC.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
        assert_eq!(
            month_bounds(oslo, at).0,
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }

    #[test]
    fn days_follow_daylight_saving_time() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        // 2026-03-29: clocks go forward, the local day is 23 hours long.
        let at = Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap();
        let (start, end) = day_bounds(oslo, at);
        assert_eq!((end - start).num_hours(), 23);
    }
}
